#!/usr/bin/env python3
"""A login flood: 200 clients sending wrong-password logins at once, for a while, against the
release binary; meanwhile GET /healthz is timed every 50 ms and the server's RSS sampled.

Usage: bench/login_flood.py [BINARY] [SECONDS] [on|off]   (rate limits; default off, the
worst case: every login reaches the password-hashing gate)

Reports the peak RSS (VmHWM), the largest sampled RSS, the healthz latency median / p99 /
max, and how the logins were answered (401 wrong password, 503 busy, 429 limited).
Figures, not assertions.
"""
import collections
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start(binary, db, limits):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", limits],
                            stderr=subprocess.PIPE, text=True,
                            # All 200 attackers share one address; older builds ignore the cap.
                            env={**os.environ, "RUST_LOG": "error",
                                 "EMOTECHAT_MAX_CONNECTIONS_PER_IP": "100000"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, host, int(port)


def post(host, port, path, body):
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10
    limits = sys.argv[3] if len(sys.argv) > 3 else "off"
    with tempfile.TemporaryDirectory() as tmp:
        proc, host, port = start(binary, os.path.join(tmp, "flood.db"), limits)
        email = "victim@example.org"
        assert post(host, port, "/api/auth/register",
                    {"name": "Victim", "email": email, "password": "correct horse battery"}) == 200
        stop = time.monotonic() + seconds
        answers = collections.Counter()
        lock = threading.Lock()

        def attacker():
            while time.monotonic() < stop:
                try:
                    status = post(host, port, "/api/auth/login",
                                  {"email": email, "password": "wrong password"})
                except OSError as err:
                    status = type(err).__name__
                with lock:
                    answers[status] += 1

        health, rss = [], []

        def monitor():
            conn = http.client.HTTPConnection(host, port, timeout=30)
            while time.monotonic() < stop:
                started = time.perf_counter()
                conn.request("GET", "/healthz")
                response = conn.getresponse()
                response.read()
                health.append((time.perf_counter() - started) * 1000)
                assert response.status == 200
                rss.append(status_kib(proc.pid, "VmRSS:"))
                time.sleep(0.05)

        threads = [threading.Thread(target=attacker) for _ in range(200)]
        threads.append(threading.Thread(target=monitor))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak = status_kib(proc.pid, "VmHWM:")
        proc.send_signal(signal.SIGTERM)
        proc.wait()
        health.sort()
        print(json.dumps({
            "rate_limits": limits,
            "seconds": seconds,
            "peak_rss_mib": round(peak / 1024, 1),
            "max_sampled_rss_mib": round(max(rss) / 1024, 1),
            "healthz_ms": {"n": len(health), "median": round(statistics.median(health), 2),
                           "p99": round(health[max(int(len(health) * 0.99) - 1, 0)], 2),
                           "max": round(health[-1], 2)},
            "login_answers": {str(k): v for k, v in answers.items()},
        }))


if __name__ == "__main__":
    main()
