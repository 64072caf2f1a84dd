#!/usr/bin/env python3
"""Load and fault run against `folio serve` (issue 11), bounded in time and to 127.0.0.1.

C concurrent clients (default 200) loop for D seconds (default 600): mostly well-formed streaming completions and
chats of mixed prompt and output lengths, a share of which hang up at a random point (default 20%), interleaved
with hostile requests (huge max_tokens, top_logprobs 1000, broken JSON, oversized bodies, unknown routes, token ids
past Int32, too many prompts or stop strings). At the end it checks that every well-formed request completed or got
a clean error, that no request is left running and no KV block is held (kv_cache_usage_perc back to 0), that the
resident memory after warm-up stayed within 10%, and that the server still answers. Prints a JSON summary and the
markdown row BENCHMARKS.md quotes.

    python3 Benchmarks/stress.py [--duration 600] [--clients 200] [--model models/smollm2-135m-instruct-q4_1.gguf]
"""
import argparse, asyncio, json, os, random, re, signal, socket, subprocess, sys, time, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORDS = "the of and to in is was for on that with as by at from his her an were which are this be or had not but".split()


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1]) / 1024
    return 0.0


def metrics(base):
    text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
    out = {}
    for l in text.splitlines():
        m = re.match(r"folio:(num_requests_running|num_requests_waiting|kv_cache_usage_perc)\{[^}]*\} (\S+)", l)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


async def request(port, method, path, body: bytes, hangup_after=None, headers=""):
    """One HTTP/1.1 request on its own connection. Returns (status, first_data_time, bytes, clean) where clean
    means the response was complete (or we hung up on purpose)."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n").encode()
    try:
        writer.write(head + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            return None, None, 0, False
        status = int(status_line.split()[1])
        first, total = None, 0
        while True:
            chunk = await reader.read(4096)
            if not chunk:
                break
            if first is None and b"data: {" in chunk:
                first = time.perf_counter() - t0
            total += len(chunk)
            if hangup_after is not None and total >= hangup_after:
                return status, first, total, True
        return status, first, total, True
    except (ConnectionError, OSError):
        return None, None, 0, hangup_after is not None
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except Exception:
            pass


def hostile(rng, max_body):
    """(name, method, path, body bytes, acceptable statuses)."""
    cases = [
        ("max_tokens_2^63-1", "/v1/completions", {"model": "m", "prompt": "Hi", "max_tokens": 2**63 - 1}, {400}),
        ("top_logprobs_1000", "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": "Hi"}],
                                                       "logprobs": True, "top_logprobs": 1000}, {400}),
        ("token_id_past_int32", "/v1/completions", {"model": "m", "prompt": [1, 2**32 + 7], "max_tokens": 2}, {400}),
        ("too_many_prompts", "/v1/completions", {"model": "m", "prompt": ["a"] * 65, "max_tokens": 1}, {400}),
        ("too_many_stops", "/v1/completions", {"model": "m", "prompt": "a", "stop": ["x"] * 65}, {400}),
        ("prompt_too_long", "/v1/completions", {"model": "m", "prompt": "word " * 9000, "max_tokens": 2}, {400}),
        ("unknown_model", "/v1/completions", {"model": "nope", "prompt": "a"}, {404}),
        ("unknown_route", "/v1/nope", {"x": 1}, {404}),
        ("n_129", "/v1/completions", {"model": "m", "prompt": "a", "n": 129, "temperature": 1}, {400}),
        ("bad_json", "/v1/chat/completions", None, {400}),
        ("body_too_large", "/v1/completions", "big", {413}),
        ("unknown_role", "/v1/chat/completions", {"model": "m", "messages": [{"role": "narrator", "content": "x"}], "max_tokens": 2}, {200}),
    ]
    name, path, body, ok = rng.choice(cases)
    if body is None:
        raw = b'{"model": "m", "messages": [{"role": "user", "content": "x"'
    elif body == "big":
        raw = json.dumps({"model": "m", "prompt": "x" * (max_body + 1000)}).encode()
    else:
        raw = json.dumps(body).encode()
    return name, "POST", path, raw, ok


async def client(i, port, args, stop_at, stats, rng):
    while time.time() < stop_at:
        r = rng.random()
        if r < args.hostile_share:
            name, method, path, body, ok = hostile(rng, args.max_body)
            status, _, _, clean = await request(port, method, path, body)
            stats["hostile"][name] = stats["hostile"].get(name, 0) + 1
            key = str(status)
            stats["codes"][key] = stats["codes"].get(key, 0) + 1
            if status not in ok:
                stats["unexpected"].append((name, status))
            continue
        chat = rng.random() < 0.5
        n_words = rng.choice([8, 32, 128, 400])
        text = " ".join(rng.choice(WORDS) for _ in range(n_words))
        max_tokens = rng.choice([8, 32, 64, 128])
        if chat:
            path, body = "/v1/chat/completions", {"model": "m", "messages": [{"role": "user", "content": text}]}
        else:
            path, body = "/v1/completions", {"model": "m", "prompt": text}
        body.update({"max_tokens": max_tokens, "stream": True, "temperature": 0.8, "ignore_eos": rng.random() < 0.5})
        hang = rng.random() < args.disconnect_share
        hangup_after = rng.randint(1, 3000) if hang else None
        status, first, total, clean = await request(port, "POST", path, json.dumps(body).encode(), hangup_after)
        key = str(status)
        stats["codes"][key] = stats["codes"].get(key, 0) + 1
        if hang:
            stats["disconnected"] += 1
        elif status == 200 and clean:
            stats["completed"] += 1
            if first is not None:
                stats["ttft"].append(first)
        elif status in (429, 503):
            stats["clean_errors"] += 1
        else:
            stats["unexpected"].append(("well-formed", status))


async def main_async(args, port, proc):
    stats = {"codes": {}, "hostile": {}, "unexpected": [], "completed": 0, "disconnected": 0, "clean_errors": 0, "ttft": []}
    start = time.time()
    stop_at = start + args.duration
    rss = []

    async def sampler():
        while time.time() < stop_at:
            rss.append((time.time() - start, rss_mib(proc.pid)))
            await asyncio.sleep(5)
    rng = random.Random(args.seed)
    tasks = [asyncio.create_task(client(i, port, args, stop_at, stats, random.Random(rng.random()))) for i in range(args.clients)]
    tasks.append(asyncio.create_task(sampler()))
    # At the deadline every request still in flight is cut (its connection closed): one more mass disconnect.
    done, pending = await asyncio.wait(tasks, timeout=args.duration + 1)
    stats["cut_at_end"] = len(pending) - (1 if tasks[-1] in pending else 0)
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for t in done:
        if t.exception():
            raise t.exception()
    return stats, rss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "smollm2-135m-instruct-q4_1.gguf"))
    ap.add_argument("--folio", default=os.path.join(ROOT, ".build", "release", "folio"))
    ap.add_argument("--disconnect-share", type=float, default=0.2)
    ap.add_argument("--hostile-share", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=60, help="seconds before the RSS baseline is taken")
    ap.add_argument("--max-body", type=int, default=1 << 20)
    ap.add_argument("--kv-cache-memory", type=int, default=256 << 20,
                    help="bytes; small enough that the load touches every page of the cache during warm-up, so RSS growth "
                         "after it is the server's own")
    ap.add_argument("--serve-args", default="--max-num-batched-tokens 512",
                    help="more `folio serve` flags (default: short steps, so decodes are not stalled behind long prefills)")
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--json", help="write the summary here too")
    args = ap.parse_args()
    print(f"stress: seed {args.seed}, {args.clients} clients, {args.duration:.0f} s, serve {args.serve_args}", flush=True)
    port = free_port()
    proc = subprocess.Popen([args.folio, "serve", "--model", args.model, "--served-model-name", "m", "--port", str(port),
                             "--max-request-body-bytes", str(args.max_body), "--kv-cache-memory", str(args.kv_cache_memory), *args.serve_args.split()],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(base + "/health", timeout=1); break
            except Exception:
                time.sleep(0.1)
        stats, rss = asyncio.run(main_async(args, port, proc))
        # Every client has finished (or hung up); the server must drain to nothing.
        deadline = time.time() + 60
        m = metrics(base)
        while (m.get("num_requests_running", 1) or m.get("num_requests_waiting", 1) or m.get("kv_cache_usage_perc", 1)) and time.time() < deadline:
            time.sleep(0.5)
            m = metrics(base)
        health = urllib.request.urlopen(base + "/health", timeout=10).status
        alive = proc.poll() is None
        base_rss = next((r for t, r in rss if t >= args.warmup), rss[0][1] if rss else 0)
        end_rss = rss_mib(proc.pid) if alive else 0
        ttft = sorted(stats["ttft"])
        pct = lambda q: round(ttft[min(len(ttft) - 1, int(q * len(ttft)))], 3) if ttft else None
        requests = sum(stats["codes"].values())
        summary = {
            "seed": args.seed, "duration_s": args.duration, "clients": args.clients, "requests": requests,
            "completed": stats["completed"], "disconnected_on_purpose": stats["disconnected"], "cut_at_end": stats["cut_at_end"], "clean_errors_429_503": stats["clean_errors"],
            "codes": dict(sorted(stats["codes"].items())), "hostile": stats["hostile"], "unexpected": stats["unexpected"][:20],
            "ttft_p50_s": pct(0.5), "ttft_p99_s": pct(0.99), "rss_start_mib": round(rss[0][1], 1) if rss else None,
            "rss_after_warmup_mib": round(base_rss, 1), "rss_end_mib": round(end_rss, 1),
            "rss_growth_after_warmup": round(end_rss / base_rss - 1, 3) if base_rss else None,
            "end_metrics": m, "health": health, "server_alive": alive,
        }
        ok = (alive and health == 200 and not stats["unexpected"] and m.get("num_requests_running") == 0
              and m.get("kv_cache_usage_perc") == 0 and summary["rss_growth_after_warmup"] is not None
              and abs(summary["rss_growth_after_warmup"]) <= 0.10)
        summary["pass"] = ok
        print(json.dumps(summary, indent=1))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(summary, f, indent=1)
        print(f"| {args.duration:.0f} s, {args.clients} clients | {requests} | {stats['completed']} | {stats['disconnected']} | "
              f"{', '.join(f'{k}: {v}' for k, v in sorted(stats['codes'].items()))} | {pct(0.5)} / {pct(0.99)} s | "
              f"{summary['rss_after_warmup_mib']} -> {summary['rss_end_mib']} MiB | {'pass' if ok else 'FAIL'} |")
        sys.exit(0 if ok else 1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
