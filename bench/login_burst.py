#!/usr/bin/env python3
"""A burst of wrong-password logins, all released at the same moment, against a release
binary with the rate limits at their defaults: how many were evaluated (401) and how many
refused (429)? (503 busy: the password-hashing gate had no turn for it within 5 s.) With the limits right, no more than the budget (10 per account, 50 per address)
is ever evaluated, however many arrive at once.

Usage: bench/login_burst.py [BINARY] [RUNS] [BURST] [account|address]
  account (default): BURST logins for one registered account (budget 10 per account)
  address:           BURST logins for as many unknown emails (budget 50 per address)

Each run starts a fresh server on a temporary database on 127.0.0.1, opens BURST connections,
sends every request at once, and stops the server. Prints one line per run and the medians.
Figures, not assertions.
"""
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading

PASSWORD = "correct horse battery"


def start(binary, db):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", "on"],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "error"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, host, int(port)


def post(conn, path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def one_run(binary, burst, mode):
    with tempfile.TemporaryDirectory() as tmp:
        proc, host, port = start(binary, os.path.join(tmp, "burst.db"))
        try:
            victim = "victim@example.org"
            setup = http.client.HTTPConnection(host, port, timeout=30)
            assert post(setup, "/api/auth/register",
                        {"name": "Victim", "email": victim, "password": PASSWORD}) == 200
            setup.close()
            emails = [victim if mode == "account" else f"nobody{i}@example.org" for i in range(burst)]
            conns = [http.client.HTTPConnection(host, port, timeout=30) for _ in range(burst)]
            for conn in conns:
                conn.connect()
            gate = threading.Barrier(burst)
            statuses = [None] * burst

            def guess(i):
                gate.wait()
                try:
                    statuses[i] = post(conns[i], "/api/auth/login",
                                       {"email": emails[i], "password": "wrong password"})
                except OSError as err:
                    statuses[i] = type(err).__name__
                conns[i].close()

            threads = [threading.Thread(target=guess, args=(i,)) for i in range(burst)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"401": statuses.count(401), "429": statuses.count(429), "503": statuses.count(503),
            "other": [s for s in statuses if s not in (401, 429, 503)]}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    burst = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    mode = sys.argv[4] if len(sys.argv) > 4 else "account"
    assert mode in ("account", "address"), mode
    results = []
    for run in range(1, runs + 1):
        result = one_run(binary, burst, mode)
        results.append(result)
        print(json.dumps({"run": run, "mode": mode, "burst": burst, "evaluated_401": result["401"],
                          "refused_429": result["429"], "busy_503": result["503"],
                          "other": result["other"]}), flush=True)
    print(json.dumps({"binary": binary, "mode": mode, "burst": burst, "runs": runs,
                      "median_evaluated_401": statistics.median(r["401"] for r in results),
                      "median_refused_429": statistics.median(r["429"] for r in results),
                      "min_max_evaluated": [min(r["401"] for r in results),
                                            max(r["401"] for r in results)]}))


if __name__ == "__main__":
    main()
