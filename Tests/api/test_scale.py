"""Scale-out (issue 18): `folio serve --data-parallel-size N` (replica processes behind one port), and replicas behind
vllm-router (`pip install vllm-router`; its tests report themselves skipped where it is not installed)."""
import json, os, shutil, signal, subprocess, sys, threading, time, urllib.request
import pytest
import openai
from prometheus_client.parser import text_string_to_metric_families
from test_openai import ROOT, FOLIO, MODEL, free_port, raw, serving, start_server, wait_health

ROUTER = os.environ.get("VLLM_ROUTER") or shutil.which("vllm-router")
needs_router = pytest.mark.skipif(not ROUTER, reason="vllm-router is not installed (pip install vllm-router; or VLLM_ROUTER=its path)")


def children(pid):
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def families(base):
    return {f.name: f for f in text_string_to_metric_families(raw(base, "/metrics", key=None)[1])}


def per_engine(base, family, sample=None):
    """{engine label: value} of one metric family (Prometheus' own parser reads the text)."""
    out = {}
    for s in families(base)[family].samples:
        if sample is None or s.name == sample:
            e = s.labels.get("engine")
            out[e] = out.get(e, 0) + s.value
    return out


def chat(base, content, max_tokens=8, **kw):
    c = openai.OpenAI(base_url=base + "/v1", api_key="x")
    return c.chat.completions.create(model="smol", messages=[{"role": "user", "content": content}], max_tokens=max_tokens,
                                     temperature=0, **kw)


# ---- folio serve --data-parallel-size N ----

def test_data_parallel_serves_like_one_process():
    """Two replicas behind one port: greedy answers equal one process's; concurrent requests reach both replicas; one
    /metrics with each replica's series labelled engine="0"/"1" (parsed by prometheus_client), vLLM's names too."""
    with serving() as one:
        want = [chat(one, f"Count to {i}").choices[0].message.content for i in range(4)]
    with serving("--data-parallel-size", "2", "--metrics-compat", "vllm") as base:
        got = [None] * 4
        def run(i): got[i] = chat(base, f"Count to {i}").choices[0].message.content
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        assert got == want
        done = per_engine(base, "folio:request_success", "folio:request_success_total")
        assert set(done) == {"0", "1"} and sum(done.values()) == 4 and min(done.values()) >= 1, done
        f = families(base)
        for name in ["vllm:num_requests_waiting", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "vllm:num_requests_running"]:
            assert {s.labels["engine"] for s in f[name].samples} == {"0", "1"}, name
        assert json.loads(raw(base, "/get_load")[1]) == {"load": 0}


def test_data_parallel_replicas_are_pinned_and_restarted():
    """Each replica runs on its own CPUs; a replica killed is restarted while the other serves, and the server stays
    healthy."""
    cpus = len(os.sched_getaffinity(0))
    if cpus < 2:
        pytest.skip("needs 2 CPUs")
    proc, base = start_server("--data-parallel-size", "2")
    try:
        kids = children(proc.pid)
        assert len(kids) == 2
        masks = [os.sched_getaffinity(k) for k in kids]
        assert masks[0].isdisjoint(masks[1]) and masks[0] | masks[1] == os.sched_getaffinity(0)
        os.kill(kids[0], signal.SIGKILL)
        for i in range(3):  # the other replica answers meanwhile
            assert chat(base, "Hello").choices[0].finish_reason in ("stop", "length")
        assert raw(base, "/health")[0] == 200
        deadline = time.time() + 60
        while time.time() < deadline and not (len(children(proc.pid)) == 2 and set(per_engine(base, "folio:num_requests_running")) == {"0", "1"}):
            time.sleep(0.2)
        assert len(children(proc.pid)) == 2 and kids[0] not in children(proc.pid)
        assert set(per_engine(base, "folio:num_requests_running")) == {"0", "1"}
    finally:
        proc.terminate()
        assert proc.wait(timeout=60) == 0


def test_data_parallel_sigterm_drains():
    """SIGTERM: a stream in flight finishes, new requests get 503, every process exits 0 and no replica is left."""
    proc, base = start_server("--data-parallel-size", "2")
    kids = children(proc.pid)
    got = {}
    def stream():
        c = openai.OpenAI(base_url=base + "/v1", api_key="x")
        s = c.completions.create(model="smol", prompt="Once upon a time", max_tokens=120, stream=True,
                                 stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
        chunks = list(s)
        # Tokens are counted by the usage chunk: a stream may carry several tokens in one chunk when its reader lags.
        got["n"] = chunks[-1].usage.completion_tokens
        got["finish"] = [c for c in chunks if c.choices][-1].choices[0].finish_reason
    t = threading.Thread(target=stream); t.start()
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    t.join(timeout=120)
    assert proc.wait(timeout=60) == 0
    assert got.get("finish") == "length" and got["n"] == 120
    for k in kids:
        assert not os.path.exists(f"/proc/{k}") or open(f"/proc/{k}/stat").read().split()[2] == "Z"


@pytest.mark.parametrize("args,env,message", [
    (["--data-parallel-size", "0"], {}, "--data-parallel-size: must be at least 1, got 0"),
    (["--data-parallel-size", "4096"], {}, "4096 replicas need at least 4096 CPUs; this process may use"),
    (["--data-parallel-size", "2"], {"FOLIO_CPU_THREADS_BIND": "0-1"}, "--data-parallel-size 2 needs 2 CPU lists separated by '|'"),
    ([], {"FOLIO_CPU_THREADS_BIND": "x"}, "'x' is not a CPU list such as 0-3,8"),
    (["--metrics-compat", "sglang"], {}, "--metrics-compat: 'sglang' (the one choice is vllm)"),
])
def test_scale_flags_refused(args, env, message):
    r = subprocess.run([FOLIO, "serve", "--model", MODEL, "--port", str(free_port()), *args], capture_output=True, text=True,
                       timeout=60, env={**os.environ, **env})
    assert r.returncode != 0 and message in r.stderr + r.stdout, r.stderr + r.stdout


# ---- replicas behind vllm-router ----

class Fleet:
    """n `folio serve` replicas (one core each where the machine has them) behind vllm-router."""
    def __init__(self, n=2, policy="cache_aware", args=()):
        cpus = sorted(os.sched_getaffinity(0))
        self.replicas = []
        for i in range(n):
            env = {**os.environ, "FOLIO_CPU_THREADS_BIND": str(cpus[i % len(cpus)])}
            port = free_port()
            p = subprocess.Popen([FOLIO, "serve", "--model", MODEL, "--served-model-name", "smol", "--port", str(port), *args],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            self.replicas.append((p, f"http://127.0.0.1:{port}"))
        for p, b in self.replicas: wait_health(b, p)
        port = free_port()
        self.router = subprocess.Popen([ROUTER, "--port", str(port), "--prometheus-port", str(free_port()), "--policy", policy,
                                        "--worker-urls", *[b for _, b in self.replicas]],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        wait_health(self.base, self.router)

    def done(self):
        """Requests each replica has finished."""
        return [sum(v for k, v in per_engine(b, "folio:request_success", "folio:request_success_total").items()) for _, b in self.replicas]

    def close(self):
        self.router.terminate(); self.router.wait(timeout=30)
        for p, _ in self.replicas:
            if p.poll() is None: p.terminate()
        for p, _ in self.replicas: p.wait(timeout=30)


@needs_router
def test_openai_suite_through_the_router():
    """Tests/api/test_openai.py, unchanged, with every server it starts being two replicas behind vllm-router."""
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(ROOT, "Tests", "api", "test_openai.py")],
                       capture_output=True, text=True, timeout=900, env={**os.environ, "FOLIO_API_ROUTER": ROUTER})
    assert r.returncode == 0, r.stdout[-4000:]


@needs_router
def test_cache_aware_routing_keeps_a_prefix_on_one_replica():
    """Requests sharing a long system prompt land on one replica, whose prefix cache then serves that prompt."""
    fleet = Fleet(2, "cache_aware")
    try:
        c = openai.OpenAI(base_url=fleet.base + "/v1", api_key="x")
        where = {}
        for group, topic in (("a", "You are a careful assistant for a bakery. " * 30), ("b", "You answer questions about trains. " * 30)):
            for i in range(4):
                before = fleet.done()
                c.chat.completions.create(model="smol", messages=[{"role": "system", "content": topic}, {"role": "user", "content": f"Question {i}"}],
                                          max_tokens=2, temperature=0)
                after = fleet.done()
                where.setdefault(group, set()).add(next(k for k in range(2) if after[k] > before[k]))
        assert len(where["a"]) == 1 and len(where["b"]) == 1, where
        hits = [sum(per_engine(b, "folio:prefix_cache_hits", "folio:prefix_cache_hits_total").values()) for _, b in fleet.replicas]
        # Three of each group's four prompts find its ~300-token system prompt cached.
        assert hits[next(iter(where["a"]))] >= 3 * 200, hits
    finally:
        fleet.close()


@needs_router
def test_replica_killed_under_load():
    """A replica killed mid-run: the router stops sending it work; every request either completes or fails cleanly
    with an error status (none hangs), the requests not yet on the dead replica all complete, and later ones too."""
    fleet = Fleet(2, "power_of_two")
    try:
        results = []
        lock = threading.Lock()
        def one(i):
            body = {"model": "smol", "prompt": f"Story {i}:", "max_tokens": 48, "ignore_eos": True}
            status, text, _ = raw(fleet.base, "/v1/completions", body, key=None)
            with lock: results.append((time.time(), status))
        threads = [threading.Thread(target=one, args=(i,)) for i in range(12)]
        for t in threads[:6]: t.start()
        time.sleep(0.5)
        victim, _ = fleet.replicas[0]
        victim.kill(); killed = time.time()
        for t in threads[6:]: t.start(); time.sleep(0.05)
        for t in threads: t.join(timeout=180)
        assert all(not t.is_alive() for t in threads)
        assert len(results) == 12 and all(s == 200 or s >= 500 for _, s in results), results
        time.sleep(1)
        for i in range(4):  # the survivor serves whatever comes next
            assert raw(fleet.base, "/v1/completions", {"model": "smol", "prompt": "Hi", "max_tokens": 4}, key=None)[0] == 200
        print("statuses:", sorted(s for _, s in results))
    finally:
        fleet.close()
