"""deploy/: the Kubernetes manifests are valid against Kubernetes' own schemas (kubernetes-validate, strict: unknown
fields are errors), and the Deployment's folio command line really serves (readiness path, vLLM metric names, drain
on SIGTERM within the grace period)."""
import os, re, shutil, signal, subprocess, time
import pytest
import yaml
from test_openai import ROOT, FOLIO, MODEL, free_port, raw, wait_health

DEPLOY = os.path.join(ROOT, "deploy")


def docs(name):
    with open(os.path.join(DEPLOY, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


@pytest.mark.parametrize("name", ["folio.yaml", "router.yaml"])
def test_manifests_validate(name):
    validate = shutil.which("kubernetes-validate")
    if not validate:
        pytest.skip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    r = subprocess.run([validate, "--strict", os.path.join(DEPLOY, name)], capture_output=True, text=True, timeout=120)
    out = r.stdout + r.stderr
    # It exits 0 even when a resource fails: read what it says of each.
    assert "ERROR" not in out and "WARN" not in out, out
    assert out.count(" passed for resource ") == len(docs(name)), out


def test_deployment_command_serves_and_drains():
    dep = next(d for d in docs("folio.yaml") if d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    port_names = {p["name"]: p["containerPort"] for p in c["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] == "/health" and c[probe]["httpGet"]["port"] in port_names
    # The manifest's arguments, with this checkout's model and a free loopback port.
    port = free_port()
    args = []
    for a in c["args"]:
        if a.startswith("--model="): a = "--model=" + MODEL
        elif a.startswith("--host="): a = "--host=127.0.0.1"
        elif a.startswith("--port="): a = f"--port={port}"
        args.append(a)
    proc = subprocess.Popen([FOLIO, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    wait_health(base, proc)
    metrics = raw(base, "/metrics", key=None)[1]
    for name in ["vllm:num_requests_waiting", "vllm:num_requests_running", "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"]:
        assert re.search(rf"^{name}\{{", metrics, re.M), name
    t0 = time.time()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=pod["terminationGracePeriodSeconds"]) == 0
    assert time.time() - t0 < pod["terminationGracePeriodSeconds"]


def test_router_flags_exist():
    router = os.environ.get("VLLM_ROUTER") or shutil.which("vllm-router")
    if not router:
        pytest.skip("vllm-router is not installed (pip install vllm-router)")
    dep = next(d for d in docs("router.yaml") if d["kind"] == "Deployment")
    line = dep["spec"]["template"]["spec"]["containers"][0]["args"][0]
    flags = set(re.findall(r"(--[a-z-]+)", line.split("exec vllm-router", 1)[1]))
    help_text = subprocess.run([router, "--help"], capture_output=True, text=True, timeout=60).stdout
    for f in flags:
        assert f in help_text, f
