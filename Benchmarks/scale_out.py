"""Scale-out, side by side in one run (issue 18): 64 concurrent streaming chat requests whose system prompts are four
shared ones (~420 tokens each) plus a short question, 32 tokens out (ignore_eos), against
  - one `folio serve` process with 2 threads,
  - two `folio serve` replicas x 1 core (FOLIO_CPU_THREADS_BIND) behind vllm-router, cache_aware and power_of_two,
  - `folio serve --data-parallel-size 2` (folio's own front, fewest requests in flight).
The system prompts are seen once each before the timed burst (a service in steady state). Fresh servers each round; rounds interleave the setups; medians over rounds. Prints a Markdown table.
usage: python Benchmarks/scale_out.py  (ROUNDS=3; VLLM_ROUTER=path to vllm-router; MODEL=...)"""
import asyncio, json, os, signal, socket, statistics, subprocess, sys, time, urllib.request
import openai

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLIO = os.path.join(ROOT, ".build", "release", "folio")
MODEL = os.environ.get("MODEL", os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf"))
ROUTER = os.environ.get("VLLM_ROUTER", "vllm-router")
ROUNDS = int(os.environ.get("ROUNDS", "3"))
N, OUT = 64, 32
TOPICS = ["a bakery", "a railway timetable office", "a public library", "a bicycle repair shop"]
SYSTEMS = [f"You are the assistant of {t}. " + " ".join(f"Rule {k}: answer politely, briefly and only about {t}." for k in range(30)) for t in TOPICS]


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def wait(base):
    for _ in range(900):
        try:
            urllib.request.urlopen(base + "/health", timeout=1); return
        except Exception:
            time.sleep(0.1)
    raise RuntimeError("no answer from " + base)


def start(setup):
    """Starts a setup; returns (base URL, processes)."""
    procs = []
    def folio(port, *args, env=None):
        p = subprocess.Popen([FOLIO, "serve", "--model", MODEL, "--served-model-name", "smol", "--port", str(port), *args],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
        procs.append(p); return f"http://127.0.0.1:{port}"
    if setup == "1 process x 2 threads":
        base = folio(free_port(), "--threads", "2")
    elif setup == "folio --data-parallel-size 2":
        base = folio(free_port(), "--data-parallel-size", "2")
    else:
        policy = setup.split()[-1]
        workers = [folio(free_port(), env={"FOLIO_CPU_THREADS_BIND": str(i)}) for i in range(2)]
        for w in workers: wait(w)
        port = free_port()
        procs.append(subprocess.Popen([ROUTER, "--port", str(port), "--prometheus-port", str(free_port()), "--policy", policy,
                                       "--worker-urls", *workers], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        base = f"http://127.0.0.1:{port}"
    wait(base)
    return base, procs


async def one(client, i):
    t0 = time.perf_counter(); first = None; n = 0
    s = await client.chat.completions.create(
        model="smol", max_tokens=OUT, temperature=0, stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True},
        messages=[{"role": "system", "content": SYSTEMS[i % len(SYSTEMS)]}, {"role": "user", "content": f"Question {i}: are you open on day {i}?"}])
    async for ch in s:
        if ch.choices and ch.choices[0].delta.content and first is None:
            first = time.perf_counter() - t0
        if ch.usage: n = ch.usage.completion_tokens
    return first, n, time.perf_counter() - t0


async def run(base):
    client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=600)
    # Steady state: a service whose system prompts have been seen before (one request each, one at a time, through
    # the front, so a prefix-aware router has placed them too).
    for k in range(len(SYSTEMS)):
        await one(client, k)
    t0 = time.perf_counter()
    rs = await asyncio.gather(*[one(client, i) for i in range(N)])
    wall = time.perf_counter() - t0
    await client.close()
    ttft = sorted(r[0] for r in rs)
    return {"req/s": N / wall, "out tok/s": sum(r[1] for r in rs) / wall,
            "p50 TTFT s": ttft[len(ttft) // 2], "p99 TTFT s": ttft[min(len(ttft) - 1, int(0.99 * len(ttft)))],
            "p50 E2E s": sorted(r[2] for r in rs)[N // 2]}


def main():
    setups = ["1 process x 2 threads", "2 x 1 core, vllm-router cache_aware", "2 x 1 core, vllm-router power_of_two", "folio --data-parallel-size 2"]
    results = {s: [] for s in setups}
    for r in range(ROUNDS):
        for s in setups:
            base, procs = start(s)
            try:
                results[s].append(asyncio.run(run(base)))
                print(f"round {r} {s}: {results[s][-1]}", file=sys.stderr, flush=True)
            finally:
                for p in reversed(procs): p.send_signal(signal.SIGTERM)
                for p in procs: p.wait(timeout=120)
    keys = ["req/s", "out tok/s", "p50 TTFT s", "p99 TTFT s", "p50 E2E s"]
    med = {s: {k: statistics.median(x[k] for x in results[s]) for k in keys} for s in setups}
    base = med[setups[0]]
    print("| setup | " + " | ".join(keys) + " | throughput ratio | p50 TTFT ratio |")
    print("|---" * (len(keys) + 3) + "|")
    for s in setups:
        m = med[s]
        print(f"| {s} | " + " | ".join(f"{m[k]:.2f}" for k in keys) + f" | {m['out tok/s'] / base['out tok/s']:.2f} | {m['p50 TTFT s'] / base['p50 TTFT s']:.2f} |")


if __name__ == "__main__":
    main()
