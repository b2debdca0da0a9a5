#!/usr/bin/env python3
"""How long a server with open realtime streams takes to exit after SIGTERM.

Usage: python3 bench/shutdown.py BINARY [STREAMS] [RUNS]

For each run: starts BINARY on loopback with a fresh database, registers and logs in one user,
opens STREAMS (default 5) SSE streams for it, sends SIGTERM and times the exit. A restart behind
systemd waits for exactly this. Bounded: every wait has a timeout and the server is killed if
it has not exited after 30 s.
"""

import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

PASSWORD = "correct horse battery"


def start(binary, db):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RUST_LOG": "error"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, host, int(port)


def post(host, port, path, body):
    request = urllib.request.Request(f"http://{host}:{port}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.load(reply)


def open_stream(host, port, token):
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: {host}\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    head = sock.recv(4096)
    assert head.startswith(b"HTTP/1.1 200"), head[:80]
    return sock


def one_run(binary, streams):
    with tempfile.TemporaryDirectory() as tmp:
        proc, host, port = start(binary, os.path.join(tmp, "bench.db"))
        try:
            account = {"email": "ada@example.org", "password": PASSWORD}
            post(host, port, "/api/auth/register", {"name": "Ada", **account})
            token = post(host, port, "/api/auth/login", account)["token"]
            socks = [open_stream(host, port, token) for _ in range(streams)]
            started = time.monotonic()
            proc.terminate()
            proc.wait(timeout=30)
            elapsed = time.monotonic() - started
            for sock in socks:
                sock.close()
            return elapsed
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    streams = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    times = []
    for run in range(runs):
        elapsed = one_run(binary, streams)
        times.append(elapsed)
        print(f"run {run + 1}: exit {elapsed * 1000:.0f} ms after SIGTERM with {streams} open streams")
    print(f"median {statistics.median(times) * 1000:.0f} ms over {runs} runs")


if __name__ == "__main__":
    main()
