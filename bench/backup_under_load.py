#!/usr/bin/env python3
"""A backup taken while the server is taking writes: its integrity, size, newest message id, and
how long it took.

Usage: python3 bench/backup_under_load.py BINARY [RUNS] [PRELOAD] [WRITERS]

Starts BINARY on 127.0.0.1 with a fresh database and rate limits off, fills it with PRELOAD
messages (default 20000) through the API, then for each of RUNS (default 5): WRITERS threads
(default 4) send messages through the API without pause while `BINARY backup` copies the
database; the writers stop when the backup command exits. The copy is then opened with Python's
sqlite3: `PRAGMA integrity_check`, `user_version`, and whether it holds every message up to the
newest one the command reported (a snapshot has no gaps). Prints one line per run and the
medians. Bounded: PRELOAD and RUNS cap the work, every request has a 30 s timeout, and the server
is stopped with SIGTERM (killed after 30 s) at the end.
"""

import http.client
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PASSWORD = "correct horse battery"


def start(binary, db):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", "off"],
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "RUST_LOG": "error"})
    line = proc.stderr.readline()
    assert line.startswith("listening on http://"), line
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, host, int(port)


class Client:
    """One keep-alive connection."""

    def __init__(self, host, port, token=None):
        self.conn = http.client.HTTPConnection(host, port, timeout=30)
        self.token = token

    def call(self, method, path, body=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = "Bearer " + self.token
        self.conn.request(method, path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        reply = self.conn.getresponse()
        data = reply.read()
        assert reply.status < 300, (reply.status, data[:200])
        return json.loads(data)


def sign_up(host, port, name):
    client = Client(host, port)
    account = {"email": name.lower() + "@example.org", "password": PASSWORD}
    user = client.call("POST", "/api/auth/register", {"name": name, **account})["user"]
    token = client.call("POST", "/api/auth/login", account)["token"]
    return user["id"], token


def send_until(host, port, token, path, stop, counter, limit=None):
    client = Client(host, port, token)
    sent = 0
    while not stop.is_set() and (limit is None or sent < limit):
        client.call("POST", path, {"body": f"message {sent} " + "x" * 80})
        sent += 1
    counter.append(sent)


def writers(host, port, token, path, count, stop, limit=None):
    counter = []
    threads = [threading.Thread(target=send_until, args=(host, port, token, path, stop, counter, limit))
               for _ in range(count)]
    for t in threads:
        t.start()
    return threads, counter


def check(copy, newest):
    db = sqlite3.connect(copy)
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        low, high, count = db.execute("SELECT min(id), max(id), count(*) FROM messages").fetchone()
        whole = high == newest and count == high - low + 1
        return integrity, version, whole
    finally:
        db.close()


def main():
    binary = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    preload = int(sys.argv[3]) if len(sys.argv) > 3 else 20000
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        proc, host, port = start(binary, db)
        try:
            ada, ada_token = sign_up(host, port, "Ada")
            bob, _ = sign_up(host, port, "Bob")
            group = Client(host, port, ada_token).call(
                "POST", "/api/conversations", {"member_ids": [bob], "title": "Load"})["conversation"]["id"]
            path = f"/api/conversations/{group}/messages"
            started = time.monotonic()
            threads, _ = writers(host, port, ada_token, path, count, threading.Event(),
                                 limit=preload // count)
            for t in threads:
                t.join()
            print(f"preloaded {preload // count * count} messages in {time.monotonic() - started:.1f} s "
                  f"with {count} writers", flush=True)
            results = []
            for run in range(runs):
                target = os.path.join(tmp, f"backup-{run}.db")
                stop = threading.Event()
                threads, counter = writers(host, port, ada_token, path, count, stop)
                time.sleep(0.5)
                began = time.monotonic()
                out = subprocess.run([binary, "backup", "--db", db, target],
                                     capture_output=True, text=True, timeout=300)
                wall = time.monotonic() - began
                stop.set()
                for t in threads:
                    t.join()
                assert out.returncode == 0, out.stderr
                report = out.stdout.strip()
                size = int(re.search(r": (\d+) bytes", report).group(1))
                newest = int(re.search(r"newest message id (\d+)", report).group(1))
                took = float(re.search(r"took ([\d.]+) s", report).group(1))
                integrity, version, whole = check(target, newest)
                total = Client(host, port, ada_token).call("GET", path + "?limit=1")["messages"][-1]["id"]
                results.append((size, took, wall, newest, total))
                print(f"run {run + 1}: integrity {integrity}, schema version {version}, "
                      f"{size} bytes, newest message id {newest} (server at {total} after the run, "
                      f"{sum(counter)} sent during the run), every message up to it: {whole}, "
                      f"took {took:.3f} s (command wall {wall:.3f} s)", flush=True)
                assert integrity == "ok" and whole
                os.remove(target)
            print(f"median over {runs} runs: size {statistics.median(r[0] for r in results):.0f} bytes, "
                  f"backup {statistics.median(r[1] for r in results):.3f} s, "
                  f"command wall {statistics.median(r[2] for r in results):.3f} s")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    main()
