#!/usr/bin/env python3
"""One WebSocket client floods the server with pings and never reads; meanwhile another user's
SSE stream receives a message every 200 ms. Reports the server's peak RSS (from
/proc/PID/status) and how long the other stream's events took, before and during the flood.

    python3 bench/ws_flood.py BINARY [SECONDS] [-- EXTRA SERVER FLAGS]

Starts BINARY on a free loopback port with a fresh database, runs a 3 s baseline, then the
flood for SECONDS (default 60). A flooder that is cut off connects again and carries on. Stops
early, and kills the server, if its RSS reaches 2 GiB. Loopback only; stops by itself.
"""

import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

RSS_CAP_KIB = 2 * 1024 * 1024
PASSWORD = "correct horse battery"
BASELINE_S = 3.0
SEND_EVERY_S = 0.2
PINGS_PER_WRITE = 100


def start_server(binary, data_dir, extra):
    db = os.path.join(data_dir, "bench.db")
    proc = subprocess.Popen(
        [binary, "--addr", "127.0.0.1:0", "--db", db, "--rate-limits", "off", *extra],
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:
        if line.startswith("listening on "):
            base = line.split()[-1]
            break
    else:
        sys.exit("the server did not start")
    # Keep draining its log so it never blocks on a full pipe.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc, base


def call(base, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, headers=headers, method=method)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def user(base, name):
    email = f"{name.lower()}@example.org"
    user_id = call(base, "POST", "/api/auth/register",
                   {"name": name, "email": email, "password": PASSWORD})["user"]["id"]
    token = call(base, "POST", "/api/auth/login", {"email": email, "password": PASSWORD})["token"]
    return user_id, token


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def host_port(base):
    host, port = base[len("http://"):].split(":")
    return host, int(port)


def open_websocket(base, token):
    sock = socket.create_connection(host_port(base), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((
        "GET /api/ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        f"Authorization: Bearer {token}\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)
        if not byte:
            raise ConnectionError("closed during the handshake")
        head += byte
    if b" 101 " not in head.split(b"\r\n")[0]:
        raise ConnectionError(head.split(b"\r\n")[0].decode())
    return sock


def ping_batch():
    mask = bytes([0x12, 0x34, 0x56, 0x78])
    frame = bytes([0x89, 0x80 | 125]) + mask + bytes(ord("x") ^ mask[i % 4] for i in range(125))
    return frame * PINGS_PER_WRITE


def flood(base, token, until, stop, counts):
    """Sends pings and never reads; connects again whenever the server cuts it off."""
    batch = ping_batch()
    while time.time() < until and not stop.is_set():
        try:
            sock = open_websocket(base, token)
            counts["connections"] += 1
            sock.settimeout(3)
            while time.time() < until and not stop.is_set():
                sock.sendall(batch)
                counts["pings"] += PINGS_PER_WRITE
        except (OSError, ConnectionError):
            counts["cut_off"] += 1
            time.sleep(0.05)
        finally:
            try:
                sock.close()
            except (NameError, OSError):
                pass


def watch_stream(base, token, arrivals, stop):
    """Reads the SSE stream and records when each message arrived."""
    sock = socket.create_connection(host_port(base), timeout=60)
    sock.sendall(f"GET /api/events HTTP/1.1\r\nHost: bench\r\n"
                 f"Authorization: Bearer {token}\r\n\r\n".encode())
    reader = sock.makefile("rb")
    while not stop.is_set():
        line = reader.readline()
        if not line:
            return
        if line.startswith(b"data: "):
            data = json.loads(line[6:])
            message = data.get("message")
            if message:
                arrivals[message["id"]] = time.time()


def delays_ms(sent, arrivals, since, until):
    return [(arrivals[m] - t) * 1000 if m in arrivals else None
            for m, t in sent.items() if since <= t < until]


def summary(delays):
    got = [d for d in delays if d is not None]
    missing = len(delays) - len(got)
    if not got:
        return f"{len(delays)} sent, none arrived"
    got.sort()
    p99 = got[min(len(got) - 1, int(len(got) * 0.99))]
    return (f"{len(delays)} sent, {missing} missing; median {statistics.median(got):.1f} ms, "
            f"p99 {p99:.1f} ms, max {got[-1]:.1f} ms")


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    args = args[:args.index("--")] if "--" in args else args
    if not args:
        sys.exit(__doc__)
    binary = args[0]
    seconds = float(args[1]) if len(args) > 1 else 60.0
    with tempfile.TemporaryDirectory() as data_dir:
        proc, base = start_server(binary, data_dir, extra)
        try:
            run(proc, base, seconds)
        finally:
            proc.kill()
            proc.wait()


def run(proc, base, seconds):
    _, ada = user(base, "Ada")
    bob_id, bob = user(base, "Bob")
    _, cid = user(base, "Cid")
    group = call(base, "POST", "/api/conversations",
                 {"member_ids": [bob_id], "title": "Bench"}, cid)["conversation"]["id"]
    stop = threading.Event()
    arrivals, sent = {}, {}
    threading.Thread(target=watch_stream, args=(base, bob, arrivals, stop), daemon=True).start()
    time.sleep(0.5)
    start_rss = rss_kib(proc.pid)
    began = time.time()
    flood_from = began + BASELINE_S
    until = flood_from + seconds
    counts = {"connections": 0, "pings": 0, "cut_off": 0}
    flooder = threading.Thread(target=lambda: (time.sleep(BASELINE_S),
                                               flood(base, ada, until, stop, counts)), daemon=True)
    flooder.start()
    peak, capped, next_send = start_rss, False, began
    while time.time() < until:
        now = time.time()
        rss = rss_kib(proc.pid)
        peak = max(peak, rss)
        if rss >= RSS_CAP_KIB or proc.poll() is not None:
            capped = True
            break
        if now >= next_send:
            # A slow answer here is itself part of "the others are affected".
            message = call(base, "POST", f"/api/conversations/{group}/messages",
                           {"body": "tick"}, cid)["message"]["id"]
            sent[message] = now
            next_send = now + SEND_EVERY_S
        time.sleep(0.05)
    ended = time.time()
    stop.set()
    time.sleep(1.0)
    print(f"binary: {sys.argv[1]}")
    print(f"flood: {ended - flood_from:.1f} s of {seconds:.0f} s"
          f"{' (stopped early: RSS cap or server gone)' if capped else ''}; "
          f"{counts['pings']} pings written, {counts['connections']} connections, "
          f"{counts['cut_off']} cut off by the server")
    print(f"server RSS: {start_rss / 1024:.1f} MiB before, peak {peak / 1024:.1f} MiB, "
          f"at the end {rss_kib(proc.pid) / 1024:.1f} MiB")
    print(f"other stream, baseline: {summary(delays_ms(sent, arrivals, began, flood_from))}")
    print(f"other stream, flooding: {summary(delays_ms(sent, arrivals, flood_from, ended))}")


if __name__ == "__main__":
    main()
