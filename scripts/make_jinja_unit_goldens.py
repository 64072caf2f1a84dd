#!/usr/bin/env python3
"""Expected outputs for FolioTemplates' unit tests, rendered by Python jinja2 in the environment Hugging Face
transformers uses for chat templates (Tests/Fixtures/chat-templates/render_reference.py's make_env).
usage: python scripts/make_jinja_unit_goldens.py Tests/Fixtures/jinja-unit.json   (needs jinja2)"""
import json, os, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "chat-templates"))
from render_reference import make_env, TemplateError  # noqa: E402

CTX = {"name": "World", "n": 7, "f": 2.5, "items": [3, 1, 2], "words": ["b", "A", "c"], "empty": [], "none": None,
       "t": True, "s": "  Hello, World!  ", "d": {"b": 1, "a": 2, "c": {"x": [1, 2]}},
       "msgs": [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
       "uni": "héllo 🌍", "nested": [[1, 2], [3, 4]], "big": 12345678901234}

CASES = {
  # statements
  "if_elif_else": "{% if n > 10 %}big{% elif n > 5 %}mid{% else %}small{% endif %}",
  "if_undefined": "{% if nope %}yes{% else %}no{% endif %}",
  "for_loop_vars": "{% for x in items %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }};{% endfor %}",
  "for_prev_next": "{% for x in items %}[{{ loop.previtem }}|{{ x }}|{{ loop.nextitem }}]{% endfor %}",
  "for_cycle": "{% for x in items %}{{ loop.cycle('a', 'b') }}{% endfor %}",
  "for_else": "{% for x in empty %}{{ x }}{% else %}none{% endfor %}",
  "for_filter": "{% for x in items if x > 1 %}{{ x }}{{ loop.length }}{% endfor %}",
  "for_break_continue": "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}",
  "for_unpack": "{% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}",
  "for_dict": "{% for k in d %}{{ k }}{% endfor %}",
  "for_string": "{% for c in 'abc' %}{{ c }}-{% endfor %}",
  "for_nested_loop": "{% for a in nested %}{% for b in a %}{{ loop.index }}{{ b }}{% endfor %}|{{ loop.index }}{% endfor %}",
  "set_scope": "{% set x = 1 %}{% for i in items %}{% set x = i %}{% endfor %}{{ x }}",
  "set_tuple": "{% set a, b = 1, 2 %}{{ a }}{{ b }}",
  "set_block": "{% set body %}Hi {{ name }}{% endset %}[{{ body }}]",
  "set_block_filter": "{% set body | upper %}Hi {{ name }}{% endset %}[{{ body }}]",
  "namespace": "{% set ns = namespace(count=0, found=false) %}{% for x in items %}{% set ns.count = ns.count + x %}{% endfor %}{{ ns.count }} {{ ns.found }}",
  "macro": "{% macro greet(who, punct='!') %}Hello {{ who }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', '?') }} {{ greet(who='C', punct='.') }}",
  "macro_recursive": "{% macro fact(k) %}{% if k <= 1 %}1{% else %}{{ k * (fact(k - 1) | int) }}{% endif %}{% endmacro %}{{ fact(5) }}",
  "macro_varargs": "{% macro m(a) %}{{ a }}{{ varargs }}{{ kwargs }}{% endmacro %}{{ m(1, 2, 3, x=4) }}",
  "call_block": "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inner {{ name }}{% endcall %}",
  "call_block_args": "{% macro each(xs) %}{% for x in xs %}{{ caller(x) }}{% endfor %}{% endmacro %}{% call(v) each(items) %}({{ v }}){% endcall %}",
  "filter_block": "{% filter upper %}abc {{ name }}{% endfilter %}",
  "raw": "{% raw %}{{ not rendered }} {% if %}{% endraw %}",
  "generation": "a{% generation %}b{{ name }}{% endgeneration %}c",
  "comment": "a{# comment #}b",
  # whitespace control
  "ws_minus": "a  {{- name -}}  b\n{%- if t %}\n  x\n{%- endif %}\n",
  "ws_trim_lstrip": "<ul>\n  {% for x in items %}\n  <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n",
  "ws_plus": "a\n  {%+ if t %}b{% endif +%}\nc",
  "ws_comment_lines": "x\n  {# c #}\ny",
  "ws_var_no_trim": "{{ name }}\n{{ n }}\n",
  # expressions and operators
  "arith": "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 6 / 3 }}",
  "float_print": "{{ f }} {{ 1.0 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 3 * 1.5 }} {{ 10 / 4 }} {{ big * 1.0 }}",
  "concat": "{{ 'a' ~ 1 ~ none ~ t }} {{ 'x' + 'y' }} {{ [1] + [2] }}",
  "compare": "{{ 1 < 2 < 3 }} {{ 1 == 1.0 }} {{ 'a' < 'b' }} {{ [1, 2] == [1, 2] }} {{ n != 7 }} {{ 3 >= 3 }}",
  "logic": "{{ t and 'yes' }} {{ none or 'fallback' }} {{ not empty }} {{ 0 or '' or 'last' }} {{ none and 1 }}",
  "in": "{{ 'ell' in 'hello' }} {{ 2 in items }} {{ 'a' in d }} {{ 'z' not in d }} {{ 5 not in items }}",
  "ternary": "{{ 'yes' if t else 'no' }} {{ 'yes' if none else 'no' }} [{{ 'x' if none }}]",
  "subscript": "{{ items[0] }} {{ items[-1] }} {{ d['a'] }} {{ d.c.x[1] }} {{ msgs[1].content }} {{ name[0] }} {{ name[-1] }}",
  "slice": "{{ items[1:] }} {{ items[:-1] }} {{ items[::-1] }} {{ name[1:3] }} {{ name[::2] }} {{ items[5:] }} {{ msgs[-2:]|length }}",
  "literals": "{{ [1, 'a', none, true, 1.5] }} {{ {'k': 'v', 'n': 1} }} {{ (1, 2) }} {{ (1,) }} {{ 'it''s' }} {{ \"q\" }}",
  "print_values": "{{ none }} {{ t }} {{ d }} {{ msgs[0] }} {{ nested }} {{ ['it\\'s', \"x\"] }} {{ 'a\\nb' }}",
  "string_escapes": "{{ 'tab\\tnew\\nline \\u00e9' }}",
  "undefined_print": "[{{ nope }}] [{{ d.nope }}] [{{ nope | length }}] [{{ nope is defined }}] [{{ d.nope is undefined }}]",
  "undefined_iter": "{% for x in nope %}{{ x }}{% endfor %}done",
  "default_filter": "{{ nope | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt', true) }} {{ name | d('x') }}",
  # methods
  "str_methods": "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'xxhixx'.strip('x') }}|{{ name.upper() }}|{{ name.lower() }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}",
  "str_methods2": "{{ name.startswith('Wo') }} {{ name.endswith(('x', 'ld')) }} {{ 'a,b,,c'.split(',') }} {{ ' a  b '.split() }} {{ 'a-b-c'.split('-', 1) }} {{ 'aaa'.replace('a', 'b', 2) }} {{ 'x{}y{}'.format(1, 2) }} {{ '{0}{name}'.format('a', name='b') }}",
  "str_methods3": "{{ 'abcabc'.count('b') }} {{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ '-'.join(words) }} {{ '123'.isdigit() }} {{ 'abc'.isalpha() }}",
  "dict_methods": "{{ d.keys() | list }} {{ d.values() | list | length }} {{ d.get('a') }} {{ d.get('zz', 9) }} {{ d.get('zz') }} {{ d.items() | list | first }}",
  "list_methods": "{{ items.index(1) }} {{ items.count(3) }}",
  # filters
  "f_tojson": "{{ d | tojson }} {{ msgs[0] | tojson(indent=2) }} {{ 'é\"\\n' | tojson }} {{ [1.5, none, true] | tojson }} {{ {} | tojson }} {{ [] | tojson(indent=4) }}",
  "f_tojson_sort": "{{ d | tojson(sort_keys=true) }}",
  "f_trim_len": "[{{ s | trim }}] {{ s | length }} {{ items | count }} {{ d | length }} {{ uni | length }}",
  "f_first_last": "{{ items | first }} {{ items | last }} {{ name | first }} {{ name | last }}",
  "f_join": "{{ items | join(', ') }} {{ msgs | join('|', attribute='role') }} {{ words | join }}",
  "f_map_select": "{{ msgs | map(attribute='role') | join(',') }} {{ items | map('string') | join }} {{ items | select('odd') | list }} {{ items | reject('odd') | list }} {{ [0, 1, '', 'a'] | select | list }}",
  "f_selectattr": "{{ msgs | selectattr('role', 'equalto', 'user') | list }} {{ msgs | rejectattr('role', 'eq', 'user') | map(attribute='content') | list }} {{ msgs | selectattr('content') | list | length }}",
  "f_list_string": "{{ 'abc' | list }} {{ d | list }} {{ items | string }} {{ 12 | string }}",
  "f_int_float": "{{ '42' | int }} {{ '4.7' | int }} {{ 'x' | int }} {{ 'x' | int(5) }} {{ 3.9 | int }} {{ '2.5' | float }} {{ 3 | float }} {{ t | int }}",
  "f_abs_round": "{{ -3 | abs }} {{ -2.5 | abs }} {{ 2.567 | round }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 2.561 | round(1, 'floor') }} {{ 2.1 | round(0, 'ceil') }}",
  "f_case": "{{ 'aBc dEf' | upper }} {{ 'aBc dEf' | lower }} {{ 'aBc dEf' | capitalize }} {{ 'aBc dEf' | title }}",
  "f_replace": "{{ 'a.b.c' | replace('.', '-') }} {{ 'aaa' | replace('a', 'b', 1) }}",
  "f_indent": "{{ 'a\\nb\\n\\nc' | indent(2) }}|{{ 'a\\nb' | indent(2, true) }}|{{ 'a\\n\\nb' | indent(4, blank=true) }}|{{ 'x\\ny' | indent('> ') }}",
  "f_sort_unique": "{{ items | sort }} {{ items | sort(reverse=true) }} {{ words | sort }} {{ words | sort(case_sensitive=true) }} {{ msgs | sort(attribute='role') | map(attribute='role') | list }} {{ [1, 2, 1, 3, 2] | unique | list }}",
  "f_dictsort": "{{ d | dictsort }} {{ {'b': 2, 'a': 3} | dictsort(by='value') }}",
  "f_items_batch": "{{ d | items | list | length }} {{ items | batch(2) | list }} {{ items | batch(2, 0) | list }}",
  "f_misc": "{{ 'one two  three' | wordcount }} {{ items | reverse | list }} {{ 'abc' | reverse }} {{ items | sum }} {{ items | min }} {{ items | max }} {{ 'x' | center(5) }}|",
  "f_safe_escape": "{{ '<b>' | safe }} {{ '<b>&' | e }} {{ ('<i>' | safe) + '<b>' }}",
  "f_format": "{{ '%s-%s' | format('a', 1) }} {{ 'v=%d' % 3 }}",
  # tests
  "tests_types": "{{ none is none }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ 'a' is string }} {{ d is mapping }} {{ items is iterable }} {{ items is sequence }} {{ t is boolean }} {{ t is true }} {{ 1 is true }} {{ none is false }}",
  "tests_values": "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ 2 is equalto 2 }} {{ 2 is eq 3 }} {{ 2 is ne 3 }} {{ 1 is lt 2 }} {{ 3 is gt 2 }} {{ 2 is le 2 }} {{ 'x' is in 'xy' }} {{ 'abc' is lower }} {{ 'ABC' is upper }}",
  "tests_defined": "{{ name is defined }} {{ nope is defined }} {{ nope is not defined }} {{ d.a is defined }} {{ d.zz is undefined }} {{ greet is callable }}",
  "globals": "{{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ strftime_now('%Y-%m-%d %B %d %A') }} {{ dict(a=1) }}",
  "raise": "{% if n > 5 %}{{ raise_exception('n is too big: ' ~ n) }}{% endif %}",
  # errors
  "err_undefined_attr": "{{ nope.attr }}",
  "err_add_types": "{{ 1 + 'a' }}",
  "err_syntax": "{% if %}",
  "err_unclosed": "{% for x in items %}{{ x }}",
  "err_list_append": "{% set l = [] %}{{ l.append(1) }}",
  "err_tojson_generator": "{{ items | map('string') | tojson }}",
  "err_unknown_filter": "{{ 1 | nosuchfilter }}",
  "err_div_zero": "{{ 1 // 0 }}",
}

env = make_env()
out = []
for name, src in CASES.items():
    try:
        text = env.from_string(src).render(**CTX)
        out.append({"name": name, "template": src, "output": text})
    except TemplateError as e:
        out.append({"name": name, "template": src, "error": "TemplateError: " + str(e)})
    except Exception as e:  # noqa: BLE001
        out.append({"name": name, "template": src, "error": type(e).__name__ + ": " + str(e)})
json.dump({"reference": "jinja2 " + __import__("jinja2").__version__, "context": CTX, "cases": out},
          open(sys.argv[1], "w"), ensure_ascii=False, indent=1)
print(len(out), "cases;", sum("error" in c for c in out), "errors")
