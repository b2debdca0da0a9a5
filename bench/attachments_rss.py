#!/usr/bin/env python3
"""Peak memory of the server while ten clients upload a 10 MiB attachment each at once.

Usage: python3 bench/attachments_rss.py BINARY [RUNS] [UPLOADS] [MIB]

For each of RUNS (default 5): starts BINARY on 127.0.0.1 with a fresh database and rate limits
off, signs up two users and makes a group, reads the server's resident memory (VmRSS) and
resets the kernel's high-water mark of it (writing 5 to /proc/PID/clear_refs: signing up hashes
passwords with scrypt, whose 16 MiB would otherwise be the peak). Then UPLOADS clients
(default 10) each upload MIB MiB (default 10, the default limit) of random bytes in parallel to
POST /api/conversations/{id}/attachments, sending 64 KiB at a time. After all have answered
201 it reads the high-water mark (VmHWM in /proc/PID/status: the peak since the reset, kept by
the kernel, so no sampling can miss it), checks that the database holds every byte, and stops
the server. Prints one line per run and the
medians. Bounded: RUNS and UPLOADS cap the work, every request has a 120 s timeout, and each
server is stopped with SIGTERM (killed after 30 s). Linux only (/proc).
"""

import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading

PASSWORD = "correct horse battery"
PIECE = 64 * 1024


def start(binary, db):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", "off"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RUST_LOG": "error"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, host, int(port)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def call(host, port, method, path, body=None, token=None):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    reply = conn.getresponse()
    data = reply.read()
    assert reply.status < 300, (reply.status, data[:200])
    return json.loads(data)


def sign_up(host, port, name):
    account = {"email": name.lower() + "@example.org", "password": PASSWORD}
    user = call(host, port, "POST", "/api/auth/register", {"name": name, **account})["user"]
    token = call(host, port, "POST", "/api/auth/login", account)["token"]
    return user["id"], token


def kib(pid, field):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def upload(host, port, token, group, size, results):
    conn = http.client.HTTPConnection(host, port, timeout=120)
    conn.putrequest("POST", f"/api/conversations/{group}/attachments?name=big.bin")
    conn.putheader("Authorization", "Bearer " + token)
    conn.putheader("Content-Length", str(size))
    conn.endheaders()
    left = size
    while left:
        n = min(PIECE, left)
        conn.send(os.urandom(n))
        left -= n
    reply = conn.getresponse()
    data = reply.read()
    results.append((reply.status, data[:200]))


def one_run(binary, uploads, size):
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        proc, host, port = start(binary, db)
        try:
            _, token = sign_up(host, port, "Ada")
            bob, _ = sign_up(host, port, "Bob")
            group = call(host, port, "POST", "/api/conversations",
                         {"member_ids": [bob], "title": "Uploads"}, token)["conversation"]["id"]
            before = kib(proc.pid, "VmRSS")
            with open(f"/proc/{proc.pid}/clear_refs", "w") as clear:
                clear.write("5")
            assert kib(proc.pid, "VmHWM") <= before + 1024, "the peak was reset"
            results = []
            threads = [threading.Thread(target=upload,
                                        args=(host, port, token, group, size, results))
                       for _ in range(uploads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=300)
            peak = kib(proc.pid, "VmHWM")
            assert all(status == 201 for status, _ in results) and len(results) == uploads, results
        finally:
            stop(proc)
        stored = sqlite3.connect(db).execute(
            "SELECT count(*), sum(size) FROM attachments WHERE digest IS NOT NULL").fetchone()
        assert stored == (uploads, uploads * size), stored
    return before, peak


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    uploads = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    size = (int(sys.argv[4]) if len(sys.argv) > 4 else 10) << 20
    befores, peaks = [], []
    for run in range(1, runs + 1):
        before, peak = one_run(binary, uploads, size)
        befores.append(before)
        peaks.append(peak)
        print(f"run {run}: RSS before {before / 1024:.1f} MiB, peak during "
              f"{uploads} x {size >> 20} MiB uploads {peak / 1024:.1f} MiB", flush=True)
    print(f"median: RSS before {statistics.median(befores) / 1024:.1f} MiB, "
          f"peak {statistics.median(peaks) / 1024:.1f} MiB "
          f"(uploaded {uploads * size >> 20} MiB in all per run)")


if __name__ == "__main__":
    main()
