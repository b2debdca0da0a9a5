#!/usr/bin/env python3
"""Does a login for an unknown email cost as much as a wrong password for a known one?

An unknown email is checked against a dummy scrypt hash, so that the answer's timing does not
tell an attacker which emails are registered. This measures both kinds of failed login, one
at a time over one keep-alive connection, interleaved so that any other load on the machine
falls on both alike.

Usage: bench/login_timing.py [BINARY] [RUNS] [TRIES]
  BINARY defaults to target/release/emotechat (scrypt is built optimised in debug builds too,
  so target/debug/emotechat gives the same figures); RUNS (5) fresh servers; TRIES (15) logins
  of each kind per run.

Each run starts a fresh server on a temporary database on 127.0.0.1 with the rate limits off
(else the failures would soon be refused with 429), registers one account, times the logins
and stops the server. Prints one line per run (min and median of each kind, and the ratio
unknown / known of the minima: other work on a busy machine only ever adds time, so a minimum
is the cost of the login itself) and the medians over the runs. Figures, not assertions: a
ratio near 1 is what the dummy hash is for; without it an unknown email answers in well under
a millisecond.
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
import time

PASSWORD = "correct horse battery"


def start(binary, db):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", "off"],
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


def timed_login(conn, email):
    started = time.perf_counter()
    status = post(conn, "/api/auth/login", {"email": email, "password": "not the password"})
    elapsed = (time.perf_counter() - started) * 1000
    assert status == 401, status
    return elapsed


def one_run(binary, tries):
    with tempfile.TemporaryDirectory() as tmp:
        proc, host, port = start(binary, os.path.join(tmp, "timing.db"))
        try:
            conn = http.client.HTTPConnection(host, port, timeout=30)
            known = "known@example.org"
            assert post(conn, "/api/auth/register",
                        {"name": "Known", "email": known, "password": PASSWORD}) == 200
            known_ms, unknown_ms = [], []
            for i in range(tries):
                known_ms.append(timed_login(conn, known))
                unknown_ms.append(timed_login(conn, f"nobody{i}@example.org"))
            conn.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {
        "known_min_ms": round(min(known_ms), 1),
        "known_median_ms": round(statistics.median(known_ms), 1),
        "unknown_min_ms": round(min(unknown_ms), 1),
        "unknown_median_ms": round(statistics.median(unknown_ms), 1),
        "ratio_of_minima": round(min(unknown_ms) / min(known_ms), 3),
    }


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tries = int(sys.argv[3]) if len(sys.argv) > 3 else 15
    results = []
    for run in range(1, runs + 1):
        result = one_run(binary, tries)
        results.append(result)
        print(json.dumps({"run": run, "tries": tries, **result}), flush=True)
    print(json.dumps({"binary": binary, "runs": runs, "tries": tries,
                      **{f"median_{key}": statistics.median(r[key] for r in results)
                         for key in results[0]}}))


if __name__ == "__main__":
    main()
