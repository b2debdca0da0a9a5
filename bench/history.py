#!/usr/bin/env python3
"""Send and history-page latency on a conversation of 1,000,000 messages and on one of 100,
and the database size per 1,000,000 messages.

Usage: bench/history.py [BINARY] [MESSAGES]   (defaults: target/release/emotechat, 1000000)

Starts the release binary on a fresh database in a temp dir, creates two users and two
conversations over HTTP, stops the server and seeds the big history straight into the SQLite
file (with the events that sending would have written, so the size is honest), starts the
server again and times, one request at a time over a keep-alive connection, alternating
between the two conversations: sending a message, the newest page (50), and a page deep in
the history (before= a cursor in the middle). Reports the client's view and the server's own
time per request (from its request log). Figures, not assertions.
"""
import http.client
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import call

BODY = "x" * 100


def start(binary, db, log):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db],
                            stderr=open(log, "w"), text=True,
                            env={**os.environ, "RUST_LOG": "info"})
    for _ in range(500):
        with open(log) as f:
            line = next((l for l in f if l.startswith("listening on http://")), None)
        if line:
            break
        time.sleep(0.01)
    assert line, "server did not start"
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, http.client.HTTPConnection(host, int(port))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()


def account(conn, name):
    email = f"{name}@example.org"
    credentials = {"email": email, "password": "benchmark password"}
    assert call(conn, "POST", "/api/auth/register", {"name": name, **credentials})[0] == 200
    status, login = call(conn, "POST", "/api/auth/login", credentials)
    assert status == 200
    return login["user"]["id"], login["token"]


def database_bytes(db):
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pages, size = (conn.execute(f"PRAGMA {p}").fetchone()[0]
                       for p in ("page_count", "page_size"))
        return pages * size


def seed_messages(db, conversation, sender, count):
    """Appends `count` messages of 100 characters; the id of the first."""
    with sqlite3.connect(db) as conn:
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
        now = int(time.time() * 1000)
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, sender_id, body, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            ((first + i, conversation, sender, BODY, now) for i in range(count)))
        conn.execute("UPDATE conversations SET last_message_id = ? WHERE id = ?",
                     (first + count - 1, conversation))
        return first


def seed_events(db, conversation, sender, first, count):
    """The message.created events that sending those messages would have written."""
    with sqlite3.connect(db) as conn:
        now = int(time.time() * 1000)
        conn.executemany(
            "INSERT INTO events (conversation_id, type, data, created_at) VALUES (?, ?, ?, ?)",
            ((conversation, "message.created", json.dumps({"message": {
                "id": first + i, "conversation_id": conversation,
                "sender": {"id": sender, "name": "Ada"}, "body": BODY,
                "created_at": "2026-11-26T11:41:34.512Z", "edited_at": None,
                "deleted": False, "reactions": [], "client_id": None}},
                separators=(",", ":")), now) for i in range(count)))


def timed(samples, action):
    started = time.perf_counter()
    action()
    samples.append((time.perf_counter() - started) * 1000)


def summary(samples):
    samples = sorted(samples)
    return {"n": len(samples), "median_ms": round(statistics.median(samples), 3),
            "p99_ms": round(samples[max(int(len(samples) * 0.99) - 1, 0)], 3)}


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        log = os.path.join(tmp, "server.log")
        proc, conn = start(binary, db, log)
        ada, token = account(conn, "Ada")
        bob, _ = account(conn, "Bob")
        ids = []
        for title in ("big", "small"):
            status, body = call(conn, "POST", "/api/conversations",
                                {"member_ids": [bob], "title": title}, token)
            assert status == 201, body
            ids.append(body["conversation"]["id"])
        stop(proc)

        empty = database_bytes(db)
        first_big = seed_messages(db, ids[0], ada, count)
        with_messages = database_bytes(db)
        seed_events(db, ids[0], ada, first_big, count)
        with_events = database_bytes(db)
        first_small = seed_messages(db, ids[1], ada, 100)
        per_million = 1e6 / count / 2**20
        sizes = {"messages": count,
                 "mib_per_million_messages": round((with_messages - empty) * per_million, 1),
                 "mib_per_million_messages_with_events":
                     round((with_events - empty) * per_million, 1)}

        proc, conn = start(binary, db, log)
        targets = (("big", ids[0], first_big + count // 2), ("small", ids[1], first_small + 50))
        results = {name: {"send": [], "newest_page": [], "page_before_cursor": []}
                   for name, _, _ in targets}
        for _ in range(300):
            for name, id_, middle in targets:
                r = results[name]
                timed(r["send"], lambda: call(conn, "POST", f"/api/conversations/{id_}/messages",
                                              {"body": BODY}, token))
                timed(r["newest_page"],
                      lambda: call(conn, "GET", f"/api/conversations/{id_}/messages", None, token))
                timed(r["page_before_cursor"],
                      lambda: call(conn, "GET",
                                   f"/api/conversations/{id_}/messages?before={middle}",
                                   None, token))
        stop(proc)
        report = {"size": sizes, **{name: {"client": {k: summary(v) for k, v in r.items()}}
                                    for name, r in results.items()}}
        for name, id_, _ in targets:
            report[name]["server"] = server_times(log, id_)
        print(json.dumps(report, indent=1))


def server_times(log, conversation):
    """The server's own time per request, from its request log (no network or client)."""
    times = {"send": [], "page": []}
    path = f" /api/conversations/{conversation}/messages "
    with open(log) as f:
        for line in f:
            if path in line and line.rstrip().endswith("ms"):
                kind = "send" if "] POST " in line else "page"
                times[kind].append(float(line.rsplit(" ", 1)[1].removesuffix("ms\n")
                                         .removesuffix("ms")))
    return {k: summary(v) for k, v in times.items() if v}


if __name__ == "__main__":
    main()
