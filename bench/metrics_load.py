#!/usr/bin/env python3
"""The /metrics page after a short, known load: what an operator's Prometheus would see.

Usage: bench/metrics_load.py [BINARY] [THREADS] [SENDS_PER_THREAD] [VALIDATIONS]
       (defaults: target/release/emotechat, 8, 50, 2000)

Starts the binary on loopback with --metrics-addr and a fresh database in a temp dir (rate
limits off), registers two users and logs them in, makes one failed login, starts a
conversation, sends THREADS x SENDS_PER_THREAD messages from THREADS connections at once
(so group commit has company), validates the token VALIDATIONS times on one keep-alive
connection, asks for one path that does not exist, opens one SSE stream, then prints the
metrics page and stops the server with SIGTERM. Everything goes to 127.0.0.1 and ends by
itself. Figures, not assertions.
"""
import http.client
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

from benchlib import call

PASSWORD = "correct horse battery"


def start(binary, db):
    proc = subprocess.Popen(
        [binary, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
         "--db", db, "--rate-limits", "off"],
        stderr=subprocess.PIPE, text=True)
    api = metrics = None
    deadline = time.time() + 30
    while (api is None or metrics is None) and time.time() < deadline:
        line = proc.stderr.readline()
        if line.startswith("listening on http://"):
            api = line.strip().removeprefix("listening on http://")
        elif line.startswith("metrics on http://"):
            metrics = line.strip().removeprefix("metrics on http://").removesuffix("/metrics")
    if api is None or metrics is None:
        proc.kill()
        sys.exit("the server did not say where it listens")
    # Keep draining the log so the server never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, api, metrics


def connect(hostport):
    host, port = hostport.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=30)


def user(conn, name):
    email = f"{name}.{os.getpid()}@example.org"
    status, body = call(conn, "POST", "/api/auth/register",
                        {"name": name, "email": email, "password": PASSWORD})
    assert status == 200, body
    status, login = call(conn, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})
    assert status == 200, login
    return body["user"]["id"], login["token"]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    threads = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    sends = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    validations = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        proc, api, metrics = start(binary, os.path.join(tmp, "bench.db"))
        try:
            conn = connect(api)
            _, ann = user(conn, "ann")
            ben_id, ben = user(conn, "ben")
            call(conn, "POST", "/api/auth/login",
                 {"email": "nobody@example.org", "password": "not the password"})
            status, created = call(conn, "POST", "/api/conversations",
                                   {"member_ids": [ben_id]}, token=ann)
            assert status == 201, created
            conversation = created["conversation"]["id"]

            def sender(n):
                own = connect(api)
                for i in range(sends):
                    call(own, "POST", f"/api/conversations/{conversation}/messages",
                         {"body": f"message {n}.{i}"}, token=ann)

            workers = [threading.Thread(target=sender, args=(n,)) for n in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            for _ in range(validations):
                call(conn, "GET", "/api/auth/validate", token=ben)
            call(conn, "GET", "/no/such/path")
            stream = connect(api)
            stream.request("GET", "/api/events", headers={"Authorization": "Bearer " + ben})
            assert stream.getresponse().status == 200
            page = connect(metrics)
            page.request("GET", "/metrics")
            print(page.getresponse().read().decode(), end="")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
