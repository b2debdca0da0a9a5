#!/usr/bin/env python3
"""One address takes every connection slot; can a second address still get in?

Usage: python3 bench/conn_per_ip.py BINARY [MAX_CONNECTIONS] [RUNS]

For each run: starts BINARY on loopback with a fresh database and `--max-connections N`
(default 200; nothing else, so a build without a per-address cap runs the same way), opens N
silent connections from 127.0.0.1, counts how many the server closed at once, then sends
`GET /healthz` from 127.0.0.2 and reports whether it was served and how fast. Bounded: N is at
most 4096, every wait has a timeout, and the server is killed after each run.
"""

import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def start(binary, db, max_connections):
    proc = subprocess.Popen(
        [binary, "--addr", "127.0.0.1:0", "--db", db, "--max-connections", str(max_connections),
         "--request-timeout", "30"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "RUST_LOG": "error"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, (host, int(port))


def closed_at_once(sock):
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def second_address(addr):
    """(served, milliseconds) for a health check from 127.0.0.2."""
    started = time.monotonic()
    try:
        sock = socket.create_connection(addr, timeout=5, source_address=("127.0.0.2", 0))
        with sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = sock.recv(64)
    except OSError:
        answer = b""
    return answer.startswith(b"HTTP/1.1 200"), (time.monotonic() - started) * 1000


def run(binary, max_connections):
    with tempfile.TemporaryDirectory() as tmp:
        proc, addr = start(binary, os.path.join(tmp, "e.db"), max_connections)
        try:
            first = [socket.create_connection(addr, timeout=5) for _ in range(max_connections)]
            time.sleep(0.5)
            held = sum(1 for s in first if not closed_at_once(s))
            served, ms = second_address(addr)
            for s in first:
                s.close()
            return held, served, ms
        finally:
            proc.kill()
            proc.wait()


def main():
    binary = sys.argv[1]
    max_connections = min(int(sys.argv[2]) if len(sys.argv) > 2 else 200, 4096)
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * max_connections + 64)), hard))
    results = []
    for i in range(runs):
        held, served, ms = run(binary, max_connections)
        results.append((held, served, ms))
        print(f"run {i + 1}: first address holds {held}/{max_connections}, "
              f"second address {'served' if served else 'REFUSED'} in {ms:.1f} ms")
    print(f"summary: second address served in {sum(r[1] for r in results)}/{runs} runs; "
          f"median held by the first {statistics.median(r[0] for r in results)}; "
          f"median time to the second's answer {statistics.median(r[2] for r in results):.1f} ms")


if __name__ == "__main__":
    main()
