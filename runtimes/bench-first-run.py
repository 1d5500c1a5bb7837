#!/usr/bin/env python3
"""The first /run after /init against a warm /run, straight to a runtime container.

    runtimes/bench-first-run.py IMAGE CODE N [docker run options...]
    runtimes/bench-first-run.py whisk/action-nodejs:18 "function main(p) { return p; }" 12
    # another launcher over the image's, for a before/after:
    runtimes/bench-first-run.py whisk/action-nodejs:18 "$CODE" 12 \
        -v $PWD/old-launcher.js:/usr/local/lib/whisk/launcher.js:ro

Per sample: `docker run -d --rm -p 127.0.0.1:PORT:8080 IMAGE` (no token set, so the proxy
answers anyone), wait until it answers, /init with CODE, then two /run on the same kept-alive
connection; prints the p50 of /init and of each /run. The stem-cell path of the platform pays
/init plus the first /run. A benchmark: it asserts nothing. Loopback only; N containers, each
removed after its sample; waits are bounded.
"""
import http.client, json, subprocess, sys, time, socket
image, code, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
extra = sys.argv[4:]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
firsts, seconds, inits = [], [], []
for i in range(n):
    port = free_port()
    cid = subprocess.run(["docker", "run", "-d", "--rm", "-p", f"127.0.0.1:{port}:8080", *extra, image],
                         capture_output=True, text=True, check=True).stdout.strip()
    try:
        deadline = time.time() + 10
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("POST", "/nothing", body=b"{}"); c.getresponse().read(); break
            except Exception:
                if time.time() > deadline: raise
                time.sleep(0.01)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        body = json.dumps({"value": {"name": "x", "main": "main", "code": code}})
        t = time.perf_counter(); c.request("POST", "/init", body=body); r = c.getresponse(); r.read()
        inits.append((time.perf_counter() - t) * 1000)
        run = json.dumps({"value": {"name": "W"}, "activation_id": "a" * 32, "namespace": "guest",
                          "action_name": "/guest/x", "deadline": "0", "transaction_id": "t"})
        for lst in (firsts, seconds):
            t = time.perf_counter(); c.request("POST", "/run", body=run); r = c.getresponse(); r.read()
            lst.append((time.perf_counter() - t) * 1000)
    finally:
        subprocess.run(["docker", "rm", "-f", cid], capture_output=True)
def p50(v): v = sorted(v); return v[len(v) // 2]
print(f"init p50 {p50(inits):.2f} ms; first /run p50 {p50(firsts):.2f} max {max(firsts):.2f}; second /run p50 {p50(seconds):.2f} max {max(seconds):.2f}")
