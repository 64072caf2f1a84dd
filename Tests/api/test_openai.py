"""End-to-end tests of `folio serve` with the official `openai` client (run by scripts/test.sh).
Starts the server on a free loopback port with SmolLM2 and drives it as vLLM users would."""
import contextlib, json, os, socket, subprocess, sys, time, threading, urllib.request
import pytest
import openai

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FOLIO = os.environ.get("FOLIO_BIN", os.path.join(ROOT, ".build", "release", "folio"))
MODEL = os.environ.get("FOLIO_MODEL", os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf"))
KEY = "test-key"


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait_health(base, proc):
    for _ in range(600):
        try:
            urllib.request.urlopen(base + "/health", timeout=1); return
        except Exception:
            time.sleep(0.1)
    proc.kill(); raise RuntimeError(proc.stdout.read().decode())


# FOLIO_API_ROUTER=<path to vllm-router>: every server these tests start is two `folio serve` replicas behind
# vllm-router (cache_aware policy) instead of one process, to run the suite unchanged through the router.
ROUTER = os.environ.get("FOLIO_API_ROUTER")


def router_rejected(status, body):
    """vllm-router reads a body into its own types first and answers one it cannot read itself (422), before folio
    sees it."""
    return bool(ROUTER) and status in (400, 422) and ("Failed to deserialize" in body or "Failed to parse" in body)


class Routed:
    """Two replicas and the router in front of them, standing in for one server process."""
    def __init__(self, replicas, router):
        self.replicas, self.router = replicas, router
        self.stdout = replicas[0].stdout

    def send_signal(self, sig):
        for p in self.replicas: p.send_signal(sig)

    def terminate(self):
        self.send_signal(15)

    def kill(self):
        for p in self.replicas + [self.router]: p.kill()

    def wait(self, timeout=None):
        rcs = [p.wait(timeout=timeout) for p in self.replicas]
        self.router.terminate(); self.router.wait(timeout=timeout)
        return next((rc for rc in rcs if rc != 0), 0)


def start_server(*args, model=MODEL, name="smol"):
    """`folio serve` with SmolLM2 as "smol" (or `model` as `name`) on a free loopback port; returns (process, base URL)
    once it answers."""
    replicas = []
    for _ in range(2 if ROUTER else 1):
        port = free_port()
        proc = subprocess.Popen([FOLIO, "serve", "--model", model, "--served-model-name", name, "--port", str(port), *args],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        wait_health(base, proc)
        replicas.append((proc, base))
    if not ROUTER:
        return replicas[0]
    port = free_port()
    # The router's --api-key is the key it sends the workers (for the routes it does not pass the client's through).
    key = ["--api-key", args[args.index("--api-key") + 1]] if "--api-key" in args else []
    router = subprocess.Popen([ROUTER, "--port", str(port), "--prometheus-port", str(free_port()), "--policy", "cache_aware", *key, "--worker-urls", *[b for _, b in replicas]],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    routed = Routed([p for p, _ in replicas], router)
    wait_health(f"http://127.0.0.1:{port}", routed)
    return routed, f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def serving(*args, **kw):
    """`start_server(*args, **kw)` for a `with` block (or a fixture): yields the base URL; on leaving, SIGTERM must
    stop the server gracefully (exit 0)."""
    proc, base = start_server(*args, **kw)
    try:
        yield base
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


@pytest.fixture(scope="module")
def server():
    # --reference: the float32 path, whose greedy text is transformers' (the golden checks below); the fast kernels'
    # agreement with it is measured in Tests/FolioModelsTests (FastPathTests).
    proc, base = start_server("--api-key", KEY, "--num-kv-blocks", "512", "--reference")
    yield base
    proc.terminate()
    assert proc.wait(timeout=30) == 0  # graceful shutdown on SIGTERM exits 0


def gauge(base, name):
    """The value of metric folio:<name> (the key is sent; servers without keys ignore it)."""
    for l in raw(base, "/metrics")[1].splitlines():
        if l.startswith(f"folio:{name}"):
            return float(l.split()[-1])
    return None


def wait_gauge(base, name, value, seconds):
    """Polls folio:<name> until it equals `value` or `seconds` pass; returns the last value read."""
    deadline = time.time() + seconds
    while (v := gauge(base, name)) != value and time.time() < deadline:
        time.sleep(0.05)
    return v


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY)


def raw(server, path, body=None, key=KEY, method=None):
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()  # bytes go as they are
    req = urllib.request.Request(server + path, data=data, method=method,
                                 headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode(), r.headers  # header names match in any case, as HTTP's do
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), e.headers


def test_models(client):
    ids = [m.id for m in client.models.list().data]
    assert ids == ["smol"]


def test_completion_greedy_matches_transformers(client):
    r = client.completions.create(model="smol", prompt="The capital of France is", max_tokens=8, temperature=0)
    assert r.choices[0].text == " Paris.\n\nThe answer is:"  # transformers' greedy continuation (smollm2-golden.json)
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens == 5 and r.usage.completion_tokens == 8 and r.usage.total_tokens == 13


def test_chat_nonstream_and_stream_agree(client):
    msgs = [{"role": "user", "content": "What is the capital of France?"}]
    a = client.chat.completions.create(model="smol", messages=msgs, max_tokens=16, temperature=0)
    assert a.choices[0].message.role == "assistant" and "Paris" in a.choices[0].message.content
    chunks = list(client.chat.completions.create(model="smol", messages=msgs, max_tokens=16, temperature=0, stream=True,
                                                 stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].choices[0].delta.content == ""
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == a.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == a.choices[0].finish_reason
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == a.usage.completion_tokens


def test_sse_framing_bytes(server):
    status, body, headers = raw(server, "/v1/completions", {"model": "smol", "prompt": "Hi", "max_tokens": 3, "temperature": 0,
                                                           "stream": True, "stream_options": {"include_usage": True}})
    assert status == 200 and headers["Content-Type"].startswith("text/event-stream")
    events = body.split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    for e in events[:-2]:
        assert e.startswith("data: ") and "\n" not in e
        json.loads(e[6:])
    last = json.loads(events[-3][6:])
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 3


def test_n_logprobs_seed_stop(client):
    r = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=8, temperature=1.0, n=3, seed=7, logprobs=2)
    assert len(r.choices) == 3 and sorted(c.index for c in r.choices) == [0, 1, 2]
    for c in r.choices:
        assert len(c.logprobs.tokens) == len(c.logprobs.token_logprobs) == 8
        assert all(len(t) <= 3 for t in c.logprobs.top_logprobs)
    r2 = client.completions.create(model="smol", prompt="Once upon a time", max_tokens=8, temperature=1.0, n=3, seed=7, logprobs=2)
    assert [c.text for c in r.choices] == [c.text for c in r2.choices]
    s = client.completions.create(model="smol", prompt="The capital of France is", max_tokens=20, temperature=0, stop=["s."])
    assert s.choices[0].text == " Pari" and s.choices[0].finish_reason == "stop"
    c = client.chat.completions.create(model="smol", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0,
                                       logprobs=True, top_logprobs=2)
    assert len(c.choices[0].logprobs.content) >= 1 and len(c.choices[0].logprobs.content[0].top_logprobs) == 2


def test_errors(server, client):
    assert raw(server, "/v1/models", key=None)[0] == 401
    assert raw(server, "/v1/models", key="wrong")[0] == 401
    assert raw(server, "/health", key=None)[0] == 200
    assert raw(server, "/metrics")[0] == 200
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="nope", prompt="x", max_tokens=2)
    for bad in [{"temperature": -1}, {"top_p": 2}, {"max_tokens": 0}, {"n": 0}, {"logprobs": 99}, {"max_tokens": "x"}]:
        status, body, _ = raw(server, "/v1/completions", {"model": "smol", "prompt": "x", **bad})
        if router_rejected(status, body):
            continue
        assert status == 400, (bad, body)
        assert set(json.loads(body)["error"]) >= {"message", "type", "param", "code"}
    status, body, _ = raw(server, "/v1/completions", {"model": "smol", "prompt": "word " * 9000, "max_tokens": 4})
    assert status == 400 and "maximum context length" in json.loads(body)["error"]["message"]
    status, body, _ = raw(server, "/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "x"}],
                                                           "response_format": {"type": "json_schema", "json_schema": {}}})
    assert status == 400 or router_rejected(status, body)
    status, body, _ = raw(server, "/v1/completions", None, method="POST")
    assert status == 400 or router_rejected(status, body)
    # Still serving after all that.
    assert client.completions.create(model="smol", prompt="Hi", max_tokens=2, temperature=0).choices[0].text


def test_tokenize_detokenize(server):
    s, b, _ = raw(server, "/tokenize", {"model": "smol", "prompt": "Hello world"})
    ids = json.loads(b)["tokens"]
    assert s == 200 and ids == [19556, 905]
    s, b, _ = raw(server, "/detokenize", {"model": "smol", "tokens": ids})
    assert json.loads(b)["prompt"] == "Hello world"


def test_concurrent_streams_equal_alone(client, server):
    prompts = ["The capital of France is", "def fibonacci(n):", "Once upon a time", "1, 2, 3,"]
    alone = [client.completions.create(model="smol", prompt=p, max_tokens=10, temperature=0).choices[0].text for p in prompts]
    out = [None] * len(prompts)

    def run(i):
        out[i] = "".join(c.choices[0].text for c in client.completions.create(model="smol", prompt=prompts[i], max_tokens=10,
                                                                              temperature=0, stream=True) if c.choices)
    ts = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
    [t.start() for t in ts]; [t.join() for t in ts]
    assert out == alone


def test_disconnect_aborts(server):
    import http.client
    port = int(server.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("POST", "/v1/completions", json.dumps({"model": "smol", "prompt": "Tell me a story", "max_tokens": 400,
                                                        "stream": True, "ignore_eos": True}),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
    sock = conn.sock  # the response takes it over (the server says Connection: close)
    resp = conn.getresponse()
    resp.read(200)
    resp.close(); sock.close(); conn.close()
    assert wait_gauge(server, "num_requests_running", 0, 10) == 0


def test_metrics_names(server, client):
    client.completions.create(model="smol", prompt="Hi", max_tokens=2, temperature=0)
    m = raw(server, "/metrics")[1]
    for name in ["num_requests_running", "num_requests_waiting", "kv_cache_usage_perc", "prefix_cache_queries_total",
                 "prefix_cache_hits_total", "prompt_tokens_total", "generation_tokens_total", "request_success_total",
                 "num_preemptions_total", "time_to_first_token_seconds", "inter_token_latency_seconds",
                 "e2e_request_latency_seconds", "request_queue_time_seconds"]:
        assert f"folio:{name}" in m, name
    assert 'model_name="smol"' in m and 'finished_reason="length"' in m


def test_queue_full_gives_429():
    proc, base = start_server("--max-num-seqs", "1", "--max-num-queued-requests", "1", "--num-kv-blocks", "256")
    try:
        results = []

        def one():
            results.append(raw(base, "/v1/completions", {"model": "smol", "prompt": "Count to ten:", "max_tokens": 20,
                                                         "ignore_eos": True}, key=None))
        ts = [threading.Thread(target=one) for _ in range(8)]
        [t.start() for t in ts]; [t.join() for t in ts]
        codes = sorted(r[0] for r in results)
        assert 200 in codes and 429 in codes, codes
        busy = [r for r in results if r[0] == 429][0]
        assert busy[2].get("Retry-After") and json.loads(busy[1])["error"]["code"] == 429
    finally:
        proc.terminate(); proc.wait(timeout=30)


@pytest.mark.skipif(bool(ROUTER), reason="behind a router, the router answers /metrics with its own key (its --api-key)")
def test_metrics_follow_the_api_key(server):
    assert raw(server, "/metrics", key=None)[0] == 401  # /metrics follows the API key unless --metrics-public


@pytest.mark.skipif(bool(ROUTER), reason="behind a router, the client's connection is the router's, not folio's")
def test_generation_responses_close_their_connection(server):
    """Watching a request's connection for a disconnect consumes it, so the server closes it after the response; it
    must say so, or a client reusing the connection sends its next request into a closing socket."""
    import http.client
    port = int(server.rsplit(":", 1)[1])
    for stream in (False, True):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/v1/completions", json.dumps({"model": "smol", "prompt": "Hi", "max_tokens": 2, "stream": stream}),
                     {"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Connection") == "close"
        resp.read(); conn.close()
