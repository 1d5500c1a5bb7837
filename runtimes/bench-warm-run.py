#!/usr/bin/env python3
"""Warm /run rate of whisk-proxy's actionloop mode against exec-per-run, on this machine.

    cargo build --release -p whisk-proxy
    runtimes/bench-warm-run.py [--requests 2000] [--seconds 20] [--proxy target/release/whisk-proxy]
    runtimes/bench-warm-run.py --docker      # in the runtime images (images/build-runtimes.sh)

Starts one proxy per scenario (a host process on a loopback port, or with --docker a
container of the runtime image with 8080 published on 127.0.0.1, the image's proxy switched
to exec mode for the exec-per-run scenarios), sends /init, then sends /run requests one at a
time on a kept-alive connection (concurrency 1, as the invoker does per container) until
--requests are done or --seconds have passed, and prints requests per second with the p50
and p99 latency. A benchmark, not a test: it asserts nothing about speed. Traffic goes to
127.0.0.1 only; every loop is bounded in count and time.
"""

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NODE = "function main(p) { return { greeting: 'Hello ' + p.name }; }\n"
PYTHON = "def main(p):\n    return {'greeting': 'Hello ' + p['name']}\n"
SH = "#!/bin/sh\nprintf '{\"greeting\":\"Hello\"}\\n'\n"
NODE_EXEC = "#!/usr/bin/env node\nconst p = JSON.parse(process.argv[2]);\n" \
            "console.log(JSON.stringify({ greeting: 'Hello ' + p.name }));\n"
PYTHON_EXEC = "#!/usr/bin/env python3\nimport json, sys\np = json.loads(sys.argv[1])\n" \
              "print(json.dumps({'greeting': 'Hello ' + p['name']}))\n"

def real_python():
    """The interpreter itself (not a pyenv shim script), for a fair exec-per-run."""
    out = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def scenarios(docker):
    """(name, image or None, environment, code) per scenario."""
    python = "/usr/bin/python3" if docker else real_python()
    python_exec = PYTHON_EXEC.replace("/usr/bin/env python3", python)
    node_image, python_image = "whisk/action-nodejs:18", "whisk/action-python:3.11"
    exec_mode = {"WHISK_PROXY_MODE": "exec"}
    if docker:
        node_loop, python_loop = {}, {}
    else:
        node_loop = {"WHISK_PROXY_MODE": "actionloop",
                     "WHISK_LAUNCHER": os.path.join(ROOT, "runtimes/nodejs/launcher.js"),
                     "WHISK_LAUNCHER_SOURCE": "index.js"}
        python_loop = {"WHISK_PROXY_MODE": "actionloop",
                       "WHISK_LAUNCHER": os.path.join(ROOT, "runtimes/python/launcher.py"),
                       "WHISK_LAUNCHER_SOURCE": "__main__.py"}
    return [
        ("exec-per-run, sh script", python_image, exec_mode, SH),
        ("exec-per-run, python3 script", python_image, exec_mode, python_exec),
        ("exec-per-run, node script", node_image, exec_mode, NODE_EXEC),
        ("actionloop, python launcher", python_image, python_loop, PYTHON),
        ("actionloop, node launcher", node_image, node_loop, NODE),
    ]


RUN_BODY = json.dumps({
    "value": {"name": "World"}, "namespace": "guest", "action_name": "/guest/hello",
    "action_version": "0.0.1", "activation_id": "c7bb1339cb4f40e3a6ccead6c99f804e",
    "transaction_id": "tid", "deadline": "4102444800000", "api_key": "uuid:key",
})


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.01)
    return False


def start_process(binary, env_extra, action_dir):
    """The proxy as a host process; returns (port, stop)."""
    port = free_port()
    env = dict(os.environ, __OW_PROXY_PORT=str(port), WHISK_PROXY_BIND="127.0.0.1",
               WHISK_ACTION_DIR=action_dir, **env_extra)
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop():
        proc.kill()
        proc.wait()
    if not wait_listening(port):
        stop()
        raise SystemExit("the proxy did not start")
    return port, stop


def start_container(image, env_extra):
    """A container of `image` with 8080 on 127.0.0.1; returns (port, stop)."""
    args = ["docker", "run", "-d", "-p", "127.0.0.1::8080"]
    for key, value in env_extra.items():
        args += ["-e", "%s=%s" % (key, value)]
    cid = subprocess.run(args + [image], capture_output=True, text=True, check=True).stdout.strip()

    def stop():
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True, check=False)
    mapping = subprocess.run(["docker", "port", cid, "8080/tcp"], capture_output=True, text=True).stdout
    port = next((int(line.rsplit(":", 1)[1]) for line in mapping.split()
                 if line.startswith("127.0.0.1:")), None)
    if port is None or not wait_listening(port):
        stop()
        raise SystemExit("the container did not start")
    # docker-proxy accepts before the proxy inside listens: wait for an HTTP answer.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return port, stop
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
    stop()
    raise SystemExit("the container did not answer")


def measure(binary, image, env_extra, code, requests, seconds):
    with tempfile.TemporaryDirectory() as action_dir:
        if image is None:
            port, stop = start_process(binary, env_extra, action_dir)
        else:
            port, stop = start_container(image, env_extra)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            headers = {"Content-Type": "application/json"}
            conn.request("POST", "/init", json.dumps({"value": {"code": code, "main": "main"}}), headers)
            reply = conn.getresponse()
            body = reply.read()
            if reply.status != 200:
                raise SystemExit("init failed: %s %s" % (reply.status, body))
            latencies = []
            started = time.monotonic()
            while len(latencies) < requests and time.monotonic() - started < seconds:
                t0 = time.perf_counter()
                conn.request("POST", "/run", RUN_BODY, headers)
                reply = conn.getresponse()
                body = reply.read()
                latencies.append(time.perf_counter() - t0)
                if reply.status != 200:
                    raise SystemExit("run failed: %s %s" % (reply.status, body))
            elapsed = time.monotonic() - started
            conn.close()
        finally:
            stop()
    latencies.sort()
    return {
        "requests": len(latencies),
        "rate": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--proxy", default=os.path.join(ROOT, "target/release/whisk-proxy"))
    parser.add_argument("--docker", action="store_true", help="run in the runtime images")
    args = parser.parse_args()
    if not args.docker and not os.access(args.proxy, os.X_OK):
        raise SystemExit("build it first: cargo build --release -p whisk-proxy")
    results = {}
    print("%-32s %8s %10s %9s %9s" % ("scenario", "requests", "runs/s", "p50 ms", "p99 ms"))
    for name, image, env_extra, code in scenarios(args.docker):
        r = measure(args.proxy, image if args.docker else None, env_extra, code,
                    args.requests, args.seconds)
        results[name] = r
        print("%-32s %8d %10.1f %9.3f %9.3f" % (name, r["requests"], r["rate"], r["p50_ms"], r["p99_ms"]))
        sys.stdout.flush()
    for lang in ("python", "node"):
        loop = results["actionloop, %s launcher" % lang]["rate"]
        for base in ("sh script", "%s script" % ("python3" if lang == "python" else "node")):
            exe = results["exec-per-run, %s" % base]["rate"]
            print("actionloop %s / exec-per-run %s: %.1fx" % (lang, base, loop / exe))


if __name__ == "__main__":
    main()
