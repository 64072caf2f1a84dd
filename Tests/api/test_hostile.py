"""Hostile input and overload against `folio serve` (issue 11): every request field bounded at the door with the
status codes and messages vLLM uses, size limits, non-streaming disconnects, and a seeded fuzz of request bodies.
Each test checks the server is still serving afterwards."""
import json, os, random, socket, time, urllib.request
import pytest
import openai
from test_openai import KEY, gauge, raw, start_server, wait_gauge

MAX_BODY = 200_000


@pytest.fixture(scope="module")
def server():
    proc, base = start_server("--api-key", KEY, "--num-kv-blocks", "512", "--max-request-body-bytes", str(MAX_BODY),
                              "--max-prompts-per-request", "8", "--max-stop-sequences", "4")
    yield base
    proc.terminate()
    assert proc.wait(timeout=30) == 0


@pytest.fixture()
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key=KEY, max_retries=0)


def error(server, path, body, status):
    s, b, _ = raw(server, path, body)
    assert s == status, (body if len(json.dumps(body)) < 300 else "...", s, b[:300])
    e = json.loads(b)["error"]
    assert set(e) >= {"message", "type", "param", "code"} and e["code"] == status
    return e["message"]


def alive(client):
    assert client.completions.create(model="smol", prompt="Hi", max_tokens=2, temperature=0).choices[0].text is not None


def test_huge_max_tokens_is_a_400_not_a_crash(server, client):
    # It trapped on prompt + max_tokens and took the whole server down.
    for path, body in [("/v1/completions", {"prompt": "Hi"}), ("/v1/chat/completions", {"messages": [{"role": "user", "content": "Hi"}]})]:
        m = error(server, path, {"model": "smol", "max_tokens": 2**63 - 1, **body}, 400)
        assert m.startswith(f"max_tokens={2**63 - 1} cannot be greater than max_model_len="), m
    m = error(server, "/v1/completions", {"model": "smol", "prompt": "Hi", "max_tokens": 2**64}, 400)
    assert "max_tokens must be an integer" in m
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="smol", prompt="Hi", max_tokens=2**63 - 1)
    assert "cannot be greater than max_model_len" in str(e.value)
    alive(client)


def test_logprob_limits_and_unknown_role(server, client):
    m = error(server, "/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "Hi"}],
                                               "logprobs": True, "top_logprobs": 1000}, 400)
    assert m == "Requested sample logprobs of 1000, which is greater than max allowed: 20"
    m = error(server, "/v1/completions", {"model": "smol", "prompt": "Hi", "prompt_logprobs": 1000}, 400)
    assert m == "Requested prompt logprobs of 1000, which is greater than max allowed: 20"
    # vLLM accepts a role the template does not know; so do we.
    r = client.chat.completions.create(model="smol", messages=[{"role": "narrator", "content": "Once"}], max_tokens=2)
    assert r.choices[0].finish_reason in ("length", "stop")


def test_request_size_limits(server, client):
    m = error(server, "/v1/completions", {"model": "smol", "prompt": ["a"] * 9}, 400)
    assert "prompt has 9 prompts; at most 8 are allowed per request (--max-prompts-per-request)" in m
    m = error(server, "/v1/completions", {"model": "smol", "prompt": "a", "stop": ["x", "y", "z", "w", "v"]}, 400)
    assert "stop has 5 sequences; at most 4 are allowed (--max-stop-sequences)" in m
    m = error(server, "/v1/completions", {"model": "smol", "prompt": "a", "stop": ["x" * 1025]}, 400)
    assert "strings must be at most 1024 characters, got 1025" in m
    m = error(server, "/v1/completions", {"model": "smol", "prompt": [1, 2, 2**32 + 5]}, 400)
    assert "prompt must be" in m  # a token id past Int32 used to wrap around to a valid id
    m = error(server, "/v1/completions", {"model": "smol", "prompt": "x" * (MAX_BODY + 10)}, 413)
    assert "too large" in m or "at most" in m
    # Chunked upload (no Content-Length) past the limit: 413 too.
    port = int(server.rsplit(":", 1)[1])
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
              + f"Authorization: Bearer {KEY}\r\n\r\n".encode())
    chunk = b"x" * 65536
    try:
        for _ in range(MAX_BODY // len(chunk) + 2):
            s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        s.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the whole body is sent
    head = s.recv(4096).decode(errors="replace")
    s.close()
    assert head.startswith("HTTP/1.1 413"), head[:200]
    alive(client)


def test_routes_and_auth_errors_are_openai_objects(server):
    m = error(server, "/v1/nope", {"x": 1}, 404)
    assert "Not Found" in m
    s, b, _ = raw(server, "/v1/models", key="wrong")
    assert s == 401 and json.loads(b)["error"]["code"] == 401
    s, b, _ = raw(server, "/metrics", key=None)
    assert s == 401
    s, b, _ = raw(server, "/metrics")
    assert s == 200 and 'model_name="smol"' in b and "/" not in "".join(l.split("model_name=")[1][:40] for l in b.splitlines() if "model_name=" in l)


def post_socket(base, body: bytes, sent=None):
    """A raw connection with a POST /v1/completions of `body` on it (only its first `sent` bytes, if given)."""
    s = socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), timeout=30)
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body[:sent])
    return s


def test_non_streaming_disconnect_aborts(server, client):
    s = post_socket(server, json.dumps({"model": "smol", "prompt": "Tell me a long story", "max_tokens": 4000,
                                        "ignore_eos": True}).encode())
    assert wait_gauge(server, "num_requests_running", 1, 10) == 1
    s.close()  # the client gives up; 4000 tokens would take far longer than the deadline below
    assert wait_gauge(server, "num_requests_running", 0, 5) == 0
    alive(client)


def test_waiting_stream_disconnect_aborts_before_its_first_token():
    """A streaming client that hangs up while its request still waits (nothing written yet that could fail) is
    noticed at once: the request leaves the queue while the running one goes on."""
    proc, base = start_server("--max-num-seqs", "1", "--num-kv-blocks", "256")
    try:
        body = json.dumps({"model": "smol", "prompt": "Tell me a story", "max_tokens": 3000, "stream": True,
                           "ignore_eos": True}).encode()
        a = post_socket(base, body)
        wait_gauge(base, "num_requests_running", 1, 10)
        b = post_socket(base, body)
        assert wait_gauge(base, "num_requests_waiting", 1, 10) == 1
        b.close()
        assert wait_gauge(base, "num_requests_waiting", 0, 5) == 0 and gauge(base, "num_requests_running") == 1
        a.close()
        assert wait_gauge(base, "num_requests_running", 0, 5) == 0 and gauge(base, "kv_cache_usage_perc") == 0
    finally:
        proc.terminate(); proc.wait(timeout=30)


def test_body_bytes_in_flight_budget():
    """Bodies being read at once are bounded: while one slow upload holds the budget, the next gets a 429."""
    proc, base = start_server("--max-request-body-bytes", "1000", "--max-request-bytes-in-flight", "1500", "--http-idle-timeout", "2")
    try:
        body = json.dumps({"model": "smol", "prompt": "Hi", "max_tokens": 1}).encode().ljust(880)  # JSON allows the spaces
        post = lambda: raw(base, "/v1/completions", body)[:2]
        slow = post_socket(base, body, sent=10)  # holds its 880-byte reservation while the rest does not arrive
        time.sleep(0.5)
        s, b = post()
        assert s == 429 and "too many request bytes in flight" in json.loads(b)["error"]["message"], (s, b)
        slow.sendall(body[10:])
        assert slow.recv(64).startswith(b"HTTP/1.1 200")
        slow.close()
        assert post()[0] == 200  # the reservation was given back
        # A stalled upload is cut after --http-idle-timeout, which gives its reservation back too.
        stalled = post_socket(base, body, sent=10)
        time.sleep(0.3)
        assert post()[0] == 429
        assert stalled.recv(64) == b""  # closed by the server after 2 s of silence
        stalled.close()
        # The reservation is given back as the server tears the connection down, which can finish just after the
        # client sees the close: within a second it must be back.
        deadline = time.time() + 1
        while (status := post()[0]) == 429 and time.time() < deadline:
            time.sleep(0.05)
        assert status == 200
    finally:
        proc.terminate(); proc.wait(timeout=30)


def test_fuzzed_request_bodies(server, client):
    """Seeded mutations of valid request bodies: every answer is a status the API documents, never a dropped
    connection; the server keeps serving."""
    seed = int(os.environ.get("FOLIO_FUZZ_SEED", random.randrange(1, 2**31)))
    n = int(os.environ.get("FOLIO_FUZZ_ITERS", "300"))
    print(f"fuzz http: seed {seed}, {n} requests (FOLIO_FUZZ_SEED={seed} reproduces)")
    rng = random.Random(seed)
    seeds = [
        ("/v1/completions", {"model": "smol", "prompt": "Hello", "max_tokens": 3, "temperature": 0.5, "logprobs": 2, "stop": ["x"],
                             "n": 2, "seed": 1, "logit_bias": {"5": 1.0}, "echo": True}),
        ("/v1/chat/completions", {"model": "smol", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
                                  "logprobs": True, "top_logprobs": 2, "stream": True, "stream_options": {"include_usage": True}}),
        ("/tokenize", {"model": "smol", "prompt": "Hello world"}),
        ("/detokenize", {"model": "smol", "tokens": [1, 2, 3]}),
    ]
    hostile = [None, True, -1, 0, 2**31, 2**63, -2**63, 1e308, -1e308, "", "x" * 1000, [], {}, [1] * 50, {"a": {"b": []}},
               float("nan"), 2**64]
    counts = {}
    for i in range(n):
        path, base = seeds[i % len(seeds)]
        body = json.loads(json.dumps(base))
        for _ in range(rng.randint(1, 3)):
            k = rng.choice(list(body) + ["max_tokens", "n", "top_p", "top_k", "min_tokens", "prompt_logprobs", "bad_words",
                                         "allowed_token_ids", "stop_token_ids", "priority", "cache_salt", "response_format"])
            body[k] = rng.choice(hostile)
        raw_body = json.dumps(body).encode()
        if rng.random() < 0.3:  # byte-level damage too
            b = bytearray(raw_body)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            raw_body = bytes(b)
        req = urllib.request.Request(server + path, data=raw_body, method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {KEY}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status = r.status; r.read()
        except urllib.error.HTTPError as e:
            status = e.code
            assert "error" in json.loads(e.read().decode()), (seed, i)
        counts[status] = counts.get(status, 0) + 1
        assert status in (200, 400, 404, 413), (seed, i, status, raw_body[:300])
    print(f"fuzz http: statuses {counts}")
    alive(client)


def test_fuzzed_raw_http(server, client):
    """Seeded byte mutations of whole HTTP/1.1 requests (request line, headers, framing, body) sent on raw sockets:
    the server answers with a status line or closes the connection, and keeps serving."""
    seed = int(os.environ.get("FOLIO_FUZZ_SEED", random.randrange(1, 2**31)))
    n = int(os.environ.get("FOLIO_FUZZ_ITERS", "300"))
    print(f"fuzz raw http: seed {seed}, {n} requests (FOLIO_FUZZ_SEED={seed} reproduces)")
    rng = random.Random(seed)
    port = int(server.rsplit(":", 1)[1])
    body = json.dumps({"model": "smol", "prompt": "Hi", "max_tokens": 2}).encode()
    base = (b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
    pieces = [b"\r\n", b"\r\n\r\n", b"Content-Length: -1\r\n", b"Content-Length: 99999999999999999999\r\n",
              b"Transfer-Encoding: chunked\r\n", b"GET", b"HTTP/9.9", b"\x00", b"\xff\xfe", b":" * 100, b"A" * 20000]
    answered = closed = 0
    for i in range(n):
        b = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(b))
            op = rng.random()
            if op < 0.4:
                b[at] = rng.randrange(256)
            elif op < 0.7:
                b[at:at] = rng.choice(pieces)
            else:
                del b[at:at + rng.randint(1, 20)]
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            s.sendall(bytes(b))
            s.shutdown(socket.SHUT_WR)
            head = s.recv(64)
        except OSError:
            head = b""
        finally:
            s.close()
        if head.startswith(b"HTTP/1.1 "):
            answered += 1
        else:
            assert head == b"", (seed, i, head)
            closed += 1
    print(f"fuzz raw http: {answered} answered, {closed} closed without an answer")
    alive(client)

