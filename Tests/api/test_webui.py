"""The chat page of `folio serve` (GET /), driven in headless Chromium with Selenium (Debian's chromium and
chromium-driver, installed by scripts/test.sh). Skipped, saying why, where no browser can be started.
A screenshot of the page after a reply is written to Tests/api/artifacts/webui-chat.png."""
import json, os, shutil, signal, threading, time
import pytest
import openai
from test_openai import KEY, ROOT, gauge, raw, start_server, wait_gauge
from test_hostile import post_socket

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.chrome.service import Service

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
ARTIFACTS = os.path.join(ROOT, "Tests", "api", "artifacts")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="no chromium/chromedriver (apt-get install chromium chromium-driver)")


@pytest.fixture(scope="module")
def server():
    proc, base = start_server("--api-key", KEY, "--num-kv-blocks", "512")
    yield base
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def browser(server):
    opts = webdriver.ChromeOptions()
    for a in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,860"]:
        opts.add_argument(a)
    opts.binary_location = CHROMIUM
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.get(server + "/")
    yield d
    d.quit()


def js(d, script, *args):
    return d.execute_script(script, *args)


def wait_for(predicate, seconds=60, what="condition"):
    deadline = time.time() + seconds
    while time.time() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def open_settings(d):
    if not d.find_element(By.ID, "settings").is_displayed():
        d.find_element(By.ID, "toggle-settings").click()


def set_field(d, field, value):
    """Types into a settings field as a user would; Tab commits it (the page saves on `change`)."""
    open_settings(d)
    el = d.find_element(By.ID, field)
    el.clear()
    el.send_keys(str(value) + Keys.TAB)


def fresh_page(d, server, key=KEY, **fields):
    """The page with empty storage, the API key (and any other settings) entered, and the model list loaded."""
    d.get(server + "/")
    js(d, "localStorage.clear()")
    d.get(server + "/")
    set_field(d, "api_key", key)
    for k, v in fields.items():
        set_field(d, k, v)
    if key == KEY:
        wait_for(lambda: [o.text for o in d.find_elements(By.CSS_SELECTOR, "#model option")] == ["smol"], 10, "the model list")


def last_reply(d):
    return d.find_elements(By.CSS_SELECTOR, "#messages .message")[-1]


def send(d, text):
    box = d.find_element(By.ID, "input")
    box.send_keys(text)
    box.send_keys(Keys.ENTER)
    wait_for(lambda: len(d.find_elements(By.CSS_SELECTOR, "#messages .message.assistant")) > 0, 10, "the reply bubble")


def wait_done(d, seconds=120):
    return wait_for(lambda: (s := last_reply(d).get_attribute("data-state")) != "streaming" and s, seconds, "the reply to end")


def stored_conversations(d):
    return json.loads(js(d, "return localStorage.getItem('folio.conversations')") or "[]")


def test_page_and_assets_are_served_with_a_strict_csp(server):
    s, body, h = raw(server, "/", key=None)
    assert s == 200 and h["Content-Type"].startswith("text/html") and "<title>Folio</title>" in body
    csp = h["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    for path, kind in [("/webui/chat.js", "text/javascript"), ("/webui/markdown.js", "text/javascript"), ("/webui/chat.css", "text/css")]:
        s, body, h = raw(server, path, key=None)
        assert s == 200 and h["Content-Type"].startswith(kind) and len(body) > 500


def test_no_webui_turns_the_page_off():
    proc, base = start_server("--no-webui")
    try:
        s, body, _ = raw(base, "/", key=None)
        assert s == 404 and json.loads(body)["error"]["message"] == "Not Found: GET /"
        assert raw(base, "/webui/chat.js", key=None)[0] == 404
        assert raw(base, "/v1/models", key=None)[0] == 200
    finally:
        proc.terminate(); proc.wait(timeout=30)


def test_markdown_renderer_escapes_model_text(browser, server):
    d = browser
    d.get(server + "/")
    render = lambda s: js(d, "return FolioMarkdown.render(arguments[0])", s)
    assert render("<script>alert(1)</script>") == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
    assert render('<img src=x onerror="alert(1)">') == "<p>&lt;img src=x onerror=&quot;alert(1)&quot;&gt;</p>"
    assert render("[x](javascript:alert(1))") == "<p>[x](javascript:alert(1))</p>"
    assert render("[x](https://a.example/p_q_r)") == '<p><a href="https://a.example/p_q_r" target="_blank" rel="noopener noreferrer">x</a></p>'
    assert render("**b** *i* `<i>`") == "<p><strong>b</strong> <em>i</em> <code>&lt;i&gt;</code></p>"
    assert render("__b__ _i_ snake__case__name window.__x and a.__y") == \
        "<p><strong>b</strong> <em>i</em> snake__case__name window.__x and a.__y</p>"
    assert render("```python\nif a < b:\n    print('<b>')\n```\ntail") == \
        '<pre><code class="language-python">if a &lt; b:\n    print(&#39;&lt;b&gt;&#39;)</code></pre><p>tail</p>'
    assert render("```\nstill streaming <b>") == "<pre><code>still streaming &lt;b&gt;</code></pre>"
    assert render("# Title\n- one\n- two\n\n1. a\n2. b") == "<h1>Title</h1><ul><li>one</li><li>two</li></ul><ol><li>a</li><li>b</li></ol>"


def test_reply_streams_token_by_token_and_matches_the_api_under_load(browser, server):
    """The page's reply is the API's greedy reply, drawn as it streams, while other clients load the server."""
    d = browser
    fresh_page(d, server, temperature=0, max_tokens=48)
    client = openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0)
    question = "Explain in two sentences why the sky is blue."
    expected = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": question}], max_tokens=48, temperature=0)
    # Other clients stream long completions meanwhile; the page must keep working.
    stop_load = threading.Event()
    def load():
        while not stop_load.is_set():
            for _ in client.completions.create(model="smol", prompt="Once upon a time", max_tokens=64, temperature=1.0, stream=True):
                if stop_load.is_set():
                    break
    workers = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        wait_gauge(server, "num_requests_running", 3, 20)
        # Record the reply's length at every change of the page, to see it grow token by token.
        js(d, """window.__lengths = [];
                 new MutationObserver(() => { const m = [...document.querySelectorAll('#messages .message.assistant')].pop();
                   if (m) window.__lengths.push(m.querySelector('.content').textContent.length); })
                   .observe(document.getElementById('messages'), {childList: true, subtree: true, characterData: true});""")
        send(d, question)
        assert wait_done(d) == "done"
    finally:
        stop_load.set()
        for w in workers:
            w.join(timeout=60)
    reply = stored_conversations(d)[0]["messages"][-1]
    assert reply["content"] == expected.choices[0].message.content
    assert reply["stats"]["completion_tokens"] == expected.usage.completion_tokens
    assert reply["stats"]["prompt_tokens"] == expected.usage.prompt_tokens
    lengths = js(d, "return window.__lengths")
    growth = sorted(set(l for l in lengths if l > 0))
    assert len(growth) >= 10, f"the reply appeared in {len(growth)} steps, not token by token: {growth}"
    stats = last_reply(d).find_element(By.CLASS_NAME, "stats").text
    assert f"{expected.usage.prompt_tokens} prompt tokens · {expected.usage.completion_tokens} tokens · " in stats and " tok/s" in stats
    d.find_element(By.ID, "toggle-settings").click()  # settings closed: the page as a user sees it after a reply
    os.makedirs(ARTIFACTS, exist_ok=True)
    d.save_screenshot(os.path.join(ARTIFACTS, "webui-chat.png"))


def test_stop_aborts_the_request_on_the_server(browser, server):
    d = browser
    # Greedy, this prompt gives a story longer than 2,000 tokens (measured), so the reply is still streaming at Stop.
    fresh_page(d, server, temperature=0, max_tokens=2000, system="You are a storyteller. Your stories are long.")
    assert wait_gauge(server, "num_requests_running", 0, 30) == 0
    send(d, "Tell me a long story about a dragon who learns to count.")
    wait_for(lambda: len(last_reply(d).find_element(By.CLASS_NAME, "content").text) > 20, 60, "some of the reply")
    assert last_reply(d).get_attribute("data-state") == "streaming"
    assert gauge(server, "num_requests_running") == 1
    d.find_element(By.ID, "stop").click()
    assert wait_done(d, 10) == "stopped"
    assert wait_gauge(server, "num_requests_running", 0, 10) == 0
    assert "stopped" in last_reply(d).find_element(By.CLASS_NAME, "stats").text
    assert d.find_element(By.ID, "send").is_displayed() and not d.find_element(By.ID, "stop").is_displayed()


def test_conversations_survive_a_reload_and_can_be_deleted(browser, server):
    d = browser
    fresh_page(d, server, temperature=0, max_tokens=8)
    send(d, "Say hello.")
    wait_done(d)
    d.find_element(By.ID, "new-chat").click()
    assert d.find_elements(By.CSS_SELECTOR, "#messages .message") == []
    send(d, "Name a colour.")
    wait_done(d)
    first, second = stored_conversations(d)[1], stored_conversations(d)[0]
    d.refresh()
    titles = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#conversations .title")]
    assert titles == ["Name a colour.", "Say hello."]
    for conv, index in [(second, 0), (first, 1)]:
        d.find_elements(By.CSS_SELECTOR, "#conversations .title")[index].click()
        shown = [e.find_element(By.CLASS_NAME, "content").get_property("textContent")
                 for e in d.find_elements(By.CSS_SELECTOR, "#messages .message")]
        drawn = [m["content"] if m["role"] == "user" else
                 js(d, "const e = document.createElement('div'); e.innerHTML = FolioMarkdown.render(arguments[0]); return e.textContent", m["content"])
                 for m in conv["messages"]]
        assert shown == drawn and len(shown) == 2 and shown[1] != ""
    d.find_elements(By.CSS_SELECTOR, "#conversations .delete")[1].click()
    d.refresh()
    assert [e.text for e in d.find_elements(By.CSS_SELECTOR, "#conversations .title")] == ["Name a colour."]
    assert [c["id"] for c in stored_conversations(d)] == [second["id"]]


def test_wrong_api_key_and_bad_settings_show_the_servers_message(browser, server):
    d = browser
    fresh_page(d, server, key="wrong-key")
    status = wait_for(lambda: d.find_element(By.ID, "status").text, 10, "the status line")
    assert status == "Error 401: Unauthorized: a valid API key is required"
    send(d, "Hello?")
    assert wait_done(d) == "error"
    assert last_reply(d).find_element(By.CLASS_NAME, "error-text").text == "Error 401: Unauthorized: a valid API key is required"
    set_field(d, "api_key", KEY)
    wait_for(lambda: d.find_element(By.ID, "status").text == "", 10, "the status line to clear")
    set_field(d, "max_tokens", 10**9)
    send(d, "Hello again?")
    assert wait_done(d) == "error"
    err = last_reply(d).find_element(By.CLASS_NAME, "error-text").text
    assert err.startswith("Error 400: max_tokens=1000000000 cannot be greater than max_model_len="), err
    # The failed turns are not sent again: the next reply answers only the new message.
    set_field(d, "max_tokens", 8)
    set_field(d, "temperature", 0)
    send(d, "Say hi.")
    assert wait_done(d) == "done"
    stats = last_reply(d).find_element(By.CLASS_NAME, "stats").text
    expected = raw(server, "/tokenize", {"model": "smol", "messages": [{"role": "user", "content": "Say hi."}]})
    assert stats.startswith(f"{json.loads(expected[1])['count']} prompt tokens"), stats


def test_queue_full_and_shutdown_are_readable(browser):
    """429 when the queue is full reaches the page as the server's message; a server shutting down, as unreachable."""
    d = browser
    proc, base = start_server("--max-num-seqs", "1", "--max-num-queued-requests", "1", "--num-kv-blocks", "256")
    busy = []
    try:
        d.get(base + "/")
        js(d, "localStorage.clear()")
        d.get(base + "/")
        wait_for(lambda: [o.text for o in d.find_elements(By.CSS_SELECTOR, "#model option")] == ["smol"], 10, "the model list")
        story = json.dumps({"model": "smol", "prompt": "Tell me a story", "max_tokens": 3000, "stream": True, "ignore_eos": True})
        busy.append(post_socket(base, story.encode()))  # runs (one sequence at a time)
        assert wait_gauge(base, "num_requests_running", 1, 10) == 1
        busy.append(post_socket(base, story.encode()))  # waits: the queue (1) is full
        assert wait_gauge(base, "num_requests_waiting", 1, 10) == 1
        send(d, "Hello?")
        assert wait_done(d) == "error"
        err = last_reply(d).find_element(By.CLASS_NAME, "error-text").text
        assert err == "Error 429: too many queued requests (1); retry later", err
        # Graceful shutdown: the running request goes on; idle connections (the browser's) are closed at once and no
        # new ones are accepted, so the page cannot reach the server (a request already on a connection gets 503).
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        send(d, "Are you there?")
        assert wait_done(d) == "error"
        err = last_reply(d).find_element(By.CLASS_NAME, "error-text").text
        assert err == "Cannot reach the server: Failed to fetch", err
    finally:
        for b in busy:
            b.close()
        proc.kill(); proc.wait(timeout=30)


def assert_inert(d, expected_text, what, whole=True):
    content = last_reply(d).find_element(By.CLASS_NAME, "content")
    assert content.text == expected_text if whole else expected_text in content.text, what
    assert d.find_elements(By.CSS_SELECTOR, "#messages script, #messages img") == [], what
    time.sleep(0.3)
    assert js(d, "return window.__xss") is None, what


def test_model_writing_html_is_shown_as_text(browser, server):
    """SmolLM2, asked to repeat an XSS payload, writes a <script> element (greedy; with the float16 KV cache it drops
    the <img> part, which the crafted-stream test below covers); the page shows it as text and runs nothing."""
    d = browser
    fresh_page(d, server, temperature=0, max_tokens=64)
    send(d, 'Repeat this HTML exactly, with no other text: <script>window.__xss = 1</script><img src="x" onerror="window.__xss = 2">')
    assert wait_done(d) == "done"
    reply = stored_conversations(d)[0]["messages"][-1]["content"]
    assert "<script>window.__xss = 1" in reply and "</script>" in reply, reply
    # The markup must appear as text (the rest of the reply is Markdown prose, rendered).
    shown = reply[reply.index("<script>"):reply.index("</script>") + len("</script>")]
    assert_inert(d, shown, "streamed", whole=False)
    d.refresh()
    assert_inert(d, shown, "reloaded", whole=False)


XSS = ['Here: <scr', 'ipt>window.__xss = 1</script> and <img src="x" one', 'rror="window.__xss = 2"> done.']


def test_html_split_across_stream_chunks_is_shown_as_text(browser, server):
    """A reply whose <script> and <img onerror> arrive in separate deltas (a crafted SSE body handed to the page's own
    fetch, SSE parser and renderer) is shown as text, runs nothing, and stays inert after a reload."""
    d = browser
    fresh_page(d, server)
    # The server's reply is replaced by one whose deltas carry the markup (the page's code path is unchanged).
    js(d, """const deltas = arguments[0], fetch0 = window.fetch.bind(window);
             window.fetch = async (url, init) => {
               if (!String(url).endsWith('/v1/chat/completions')) return fetch0(url, init);
               const chunk = (o) => 'data: ' + JSON.stringify(o) + '\\n\\n';
               const body = [chunk({choices: [{index: 0, delta: {role: 'assistant', content: ''}}]}),
                             ...deltas.map((t) => chunk({choices: [{index: 0, delta: {content: t}, finish_reason: null}]})),
                             chunk({choices: [{index: 0, delta: {}, finish_reason: 'stop'}]}),
                             chunk({choices: [], usage: {prompt_tokens: 3, completion_tokens: 7, total_tokens: 10}}), 'data: [DONE]\\n\\n'];
               return new Response(new ReadableStream({start(c) { for (const b of body) c.enqueue(new TextEncoder().encode(b)); c.close(); }}),
                                   {status: 200, headers: {'Content-Type': 'text/event-stream'}});
             };""", XSS)
    send(d, "Show me some HTML.")
    assert wait_done(d, 10) == "done"
    assert_inert(d, "".join(XSS), "streamed in pieces")
    d.refresh()
    assert_inert(d, "".join(XSS), "reloaded")
