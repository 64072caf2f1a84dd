import FolioTemplates
import FolioWeights
import FolioTestSupport
import Foundation
import Testing

/// One template per statement, operator, filter, test and method, with the output Python jinja2 gives
/// (Tests/Fixtures/jinja-unit.json, made by scripts/make_jinja_unit_goldens.py).
@Suite("Jinja features match jinja2")
struct JinjaUnitTests {
    static let fixture: JSONValue = try! JSONValue.parse(file: Fixtures.path("jinja-unit.json"))
    static var names: [String] { fixture["cases"]!.arrayValue!.compactMap { $0["name"]?.stringValue } }

    @Test("case", arguments: names)
    func feature(name: String) throws {
        let c = try #require(Self.fixture["cases"]!.arrayValue!.first { $0["name"]?.stringValue == name })
        var ctx: [String: Value] = [:]
        for (k, v) in Self.fixture["context"]!.objectValue! { ctx[k] = Value(json: v) }
        let src = c["template"]!.stringValue!
        let result = Result { try Template(src).render(ctx, now: ChatTemplateFixtureTests.fixedNow) }
        if let expected = c["output"]?.stringValue {
            let got = try result.get()
            #expect(got == expected, "\(name): \(src)")
        } else {
            let err = c["error"]!.stringValue!
            #expect(throws: (any Error).self, "\(name) should fail like jinja2: \(err)") { try result.get() }
            if err.hasPrefix("TemplateError: ") {
                #expect(throws: TemplateError.raised(String(err.dropFirst("TemplateError: ".count)))) { try result.get() }
            }
        }
    }
}

@Suite("Templates are bounded and never crash")
struct TemplateSafetyTests {
    @Test("infinite-ish loops, deep recursion and huge output end in errors")
    func limits() throws {
        #expect(throws: TemplateError.self) { try Template("{% for i in range(100000000) %}x{% endfor %}").render([:]) }
        #expect(throws: TemplateError.self) {
            try Template("{% for a in range(2000) %}{% for b in range(2000) %}{% endfor %}{% endfor %}").render([:])
        }
        #expect(throws: TemplateError.self) { try Template("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}").render([:]) }
        var t = try Template("{% for i in range(1000) %}{{ 'x' * 100000 }}{% endfor %}")
        t.limits.maxOutputBytes = 1 << 20
        #expect(throws: TemplateError.self) { try t.render([:]) }
    }

    @Test("no file or environment access")
    func sandbox() {
        #expect(throws: TemplateError.self) { try Template("{% include 'x.j2' %}").render([:]) }
        #expect(throws: TemplateError.self) { try Template("{% import 'x' as y %}").render([:]) }
        #expect(throws: TemplateError.self) { try Template("{{ ''.__class__ }}{{ x.__dict__.y }}").render([:]) }
    }

    @Test("integer and size traps reachable from template text are template errors")
    func integerTraps() throws {
        func err(_ src: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(sourceLocation: sourceLocation) { try Template(src).render([:]) } throws: { "\($0)".contains(fragment) }
        }
        err("{{ range(-9223372036854775807, 9223372036854775807)|length }}", "range of more than")
        err("{{ range(0, 9223372036854775807, 9223372036854775807)|list }}x{{ (-9223372036854775807 - 1) // -1 }}", "unsupported operand")
        #expect(try Template("{{ (-9223372036854775807 - 1) % -1 }} {{ 7 % -1 }} {{ -7 // 2 }} {{ -7 % 3 }}").render([:]) == "0 0 -4 2")
        #expect(try Template("{{ range(9223372036854775806, 9223372036854775807, 5)|list }}").render([:]) == "[9223372036854775806]")
        err("{{ [1, 2] * 4611686018427387904 }}", "list repetition too large")
        err("{{ 'ab' * 4611686018427387904 }}", "string repetition too large")
        err("{{ 'x'|indent(-5) }}{{ 'x\ny'|indent(99999999999) }}", "exceeds the output limit")
        err("{{ 'x'|center(9223372036854775807) }}", "exceeds the output limit")
        err("{{ [1]|batch(9223372036854775807, 0) }}", "exceeds the output limit")
        err("{{ '%d' % 1e300 }}", "not an integer in range")
        #expect(try Template("{{ 1e300|int }} {{ 'abcdef'|truncate(-9223372036854775807 - 1, true, '...', 0) }}").render([:]) == "0 ...")
        err("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", "a string of more than")
        err("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}", "nested deeper than 100")
        err("{{ " + String(repeating: "-", count: 5000) + "1 }}", "nested deeper than 100")
        err("{{ 1" + String(repeating: " + 1", count: 50000) + " }}", "more than 1000 operators")
        err(String(repeating: "{% if true %}", count: 500) + "x" + String(repeating: "{% endif %}", count: 500), "nested deeper than 100")
        #expect(try Template("{{ {'a': [1, (2, 3)]}|tojson(indent=-4) }}").render([:]) == "{\n\"a\": [\n1,\n[\n2,\n3\n]\n]\n}")
    }

    @Test("seeded mutations of real chat templates never crash or hang")
    func fuzz() throws {
        var f = Fuzzer("jinja", iterations: 3000)
        let sources = try FileManager.default.contentsOfDirectory(atPath: Fixtures.path("chat-templates/templates")).sorted()
            .map { try String(contentsOfFile: Fixtures.path("chat-templates/templates/\($0)"), encoding: .utf8) }
        let ctx: [String: Value] = ["messages": .array([.dict(OrderedDict([("role", .string("user")), ("content", .string("hi"))]))]),
                                    "add_generation_prompt": .bool(true), "bos_token": .string("<s>")]
        var parsed = 0, rendered = 0
        for i in 0..<f.iterations {
            let src = Array(sources[i % sources.count].utf8)
            let bytes = f.next() % 3 == 0 ? f.mutateJSON(String(decoding: src, as: UTF8.self)) : f.mutate(src)
            guard let t = try? Template(String(decoding: bytes, as: UTF8.self)) else { continue }
            parsed += 1
            if (try? t.render(ctx)) != nil { rendered += 1 }
        }
        print("fuzz jinja: \(f.iterations) executions, \(parsed) parsed, \(rendered) rendered")
        #expect(parsed > 0)  // the mutations are small: most templates still parse
    }
}
