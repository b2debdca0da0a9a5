#!/usr/bin/env python3
"""Message search at scale: requests/s and latency of `GET /api/search/messages` over
1,000,000 messages, for a common word and a rare one, and what the full-text index costs in
database size.

Usage: bench/search.py [BINARY] [MESSAGES]   (defaults: target/release/emotechat, 1000000)
Environment: BENCH_SEARCH_SECONDS (10, per word and run), BENCH_SEARCH_RUNS (3),
BENCH_SEARCH_CONNECTIONS (16),
BENCH_SEARCH_OUT (bench/SEARCH.md; empty: print only),
BENCH_SEARCH_BASELINE (optional: the binary of an earlier release to compare with, e.g. one
built from an older commit; see below).

With a baseline, the database is created and filled with the baseline binary (its schema),
copied, and the copy opened by BINARY, which upgrades it (the time that takes is reported:
the index rebuilt for MESSAGES messages); then both servers run side by side and every word's
runs alternate between them, so both see the same machine load.

How the database is filled: the release binary creates a fresh database (schema, triggers)
and, over HTTP, three users and 20 groups (the searcher, Ada, is in 10 of them, so half of
all matches belong to conversations she may not read and must be skipped). The server is
stopped and the messages are inserted straight into its SQLite file in one transaction with
plain INSERTs: the schema's own triggers index each one, the same path a message sent over
the API takes (through the same triggers), without 1,000,000 HTTP round trips. Bodies are 8 to
16 words drawn from a 5,000-word vocabulary with Zipf-like frequencies, ASCII and accented;
the common word "meeting" is put in 5 % of messages, the rare word "zanzibar" in 20. A third
query, "meeting a", is what the search box holds while the next word is being typed: the
common word and a one-letter prefix.

Sizes: the file after `VACUUM` with the index, and a copy with the index and its triggers
dropped, also vacuumed: the difference is what search costs on disk. On that copy the index
as schema.sql defines it is then created and filled ('rebuild') and timed: what building the
index for a database of that size costs (with Python's SQLite).

Load: `wrk -t2` with BENCH_SEARCH_CONNECTIONS keep-alive connections to 127.0.0.1 and
bench/wrk.lua (as bench/compare.sh uses it; `apt-get install wrk`), or without wrk as many
Python threads with a connection each (far slower: the client then limits the figures),
sending the search back to back for BENCH_SEARCH_SECONDS per word, then stopping; the words
(and servers) alternate for BENCH_SEARCH_RUNS runs.
Reported per word: requests/s, median and p99 latency seen by the client, each the median over
the runs (every run is in the raw figures). Figures, not assertions; the client (Python) shares the machine's cores.
"""
import atexit
import http.client
import itertools
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from benchlib import call

HERE = os.path.dirname(os.path.abspath(__file__))
SECONDS = float(os.environ.get("BENCH_SEARCH_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_SEARCH_RUNS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_SEARCH_CONNECTIONS", "16"))
WRK = shutil.which("wrk")
OUT = os.environ.get("BENCH_SEARCH_OUT", os.path.join(HERE, "SEARCH.md"))
COMMON, COMMON_SHARE = "meeting", 0.05
RARE, RARE_COUNT = "zanzibar", 20
TYPING = COMMON + " a"
WORDS = (COMMON, RARE, TYPING)
BASELINE = os.environ.get("BENCH_SEARCH_BASELINE")
GROUPS, ADA_IN = 20, 10


# Servers started and not yet stopped: stopped at exit too, should the benchmark fail.
RUNNING = []
atexit.register(lambda: [stop(proc) for proc in list(RUNNING)])


def start(binary, db, log):
    proc = subprocess.Popen([binary, "--addr", "127.0.0.1:0", "--db", db,
                             "--rate-limits", "off"],
                            stderr=open(log, "w"), text=True)
    RUNNING.append(proc)
    line = None
    for _ in range(1000):
        with open(log) as f:
            # a whole line only: the server may be writing it as it is read
            line = next((l for l in f if l.startswith("listening on http://")
                         and l.endswith("\n")), None)
        if line:
            break
        time.sleep(0.01)
    assert line, "server did not start"
    host, port = line.strip().removeprefix("listening on http://").rsplit(":", 1)
    return proc, (host, int(port))


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    RUNNING.remove(proc)


def account(conn, name):
    credentials = {"email": f"{name}@example.org", "password": "benchmark password"}
    status, body = call(conn, "POST", "/api/auth/register", {"name": name, **credentials})
    assert status == 200, body
    status, login = call(conn, "POST", "/api/auth/login", credentials)
    assert status == 200, login
    return login["user"]["id"], login["token"]


def vocabulary(size=5000, seed=7):
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvyzéèàöü"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    words -= {COMMON, RARE}
    return sorted(words)


def fill(db, conversations, senders, count):
    """Inserts `count` messages in one transaction; the triggers index them."""
    rng = random.Random(42)
    words = vocabulary()
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(words))))
    rare_at = set(rng.sample(range(count), RARE_COUNT))
    now = int(time.time() * 1000)

    def rows():
        for i in range(count):
            body = rng.choices(words, cum_weights=cumulative, k=rng.randint(8, 16))
            if rng.random() < COMMON_SHARE:
                body[rng.randrange(len(body))] = COMMON
            if i in rare_at:
                body[rng.randrange(len(body))] = RARE
            yield (conversations[i % len(conversations)], senders[i % len(senders)],
                   " ".join(body), now - (count - i))

    conn = sqlite3.connect(db)
    with conn:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA cache_size = -262144")
        conn.executemany("INSERT INTO messages (conversation_id, sender_id, body, created_at)"
                         " VALUES (?, ?, ?, ?)", rows())
        conn.execute("UPDATE conversations SET last_message_id ="
                     " (SELECT max(id) FROM messages m WHERE m.conversation_id = conversations.id)")
    # Everything in the file itself, so that a copy of the file is the whole database.
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def vacuumed_bytes(db, into):
    with sqlite3.connect(db) as conn:
        conn.execute("VACUUM INTO ?", (into,))
    return os.path.getsize(into)


def without_index_bytes(db, into):
    """The size of a vacuumed copy without the index (its tables and triggers), and how long
    creating and filling the index as schema.sql defines it then takes on it."""
    vacuumed_bytes(db, into)
    conn = sqlite3.connect(into, isolation_level=None)
    for trigger in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER messages_fts_{trigger}")
    conn.execute("DROP TABLE IF EXISTS messages_fts_terms")
    conn.execute("DROP TABLE messages_fts")
    conn.execute("VACUUM")
    size = os.path.getsize(into)
    with open(os.path.join(HERE, "..", "schema.sql")) as f:
        schema = f.read()
    start = schema.index("CREATE VIRTUAL TABLE messages_fts USING")
    create = schema[start:schema.index(");", start) + 2]
    started = time.perf_counter()
    conn.executescript("BEGIN;" + create +
                       "INSERT INTO messages_fts (messages_fts) VALUES ('rebuild'); COMMIT;")
    rebuild = time.perf_counter() - started
    conn.close()
    return size, rebuild


def load(address, token, word):
    return load_wrk(address, token, word) if WRK else load_python(address, token, word)


def load_wrk(address, token, word):
    url = f"http://{address[0]}:{address[1]}/api/search/messages?" + urllib.parse.urlencode({"q": word})
    env = {**os.environ, "WRK_METHOD": "GET", "WRK_BODY": "", "WRK_AUTH": "Bearer " + token,
           "WRK_PATH": "", "WRK_IDS": ""}
    out = subprocess.run([WRK, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS:g}s", "--timeout", "10s",
                          "-s", os.path.join(HERE, "wrk.lua"), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    assert result["errors"] == 0 and result["non2xx"] == 0, result
    return {"requests": result["requests"], "requests_per_s": round(result["rps"]),
            "median_ms": round(result["p50_ms"], 2), "p99_ms": round(result["p99_ms"], 2)}


def load_python(address, token, word):
    path = "/api/search/messages?" + urllib.parse.urlencode({"q": word})
    samples, errors = [], []
    lock = threading.Lock()
    warm_until = time.perf_counter() + 1
    stop_at = warm_until + SECONDS

    def worker():
        conn = http.client.HTTPConnection(*address)
        mine = []
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                break
            status, body = call(conn, "GET", path, None, token)
            if status != 200:
                errors.append(status)
            elif started >= warm_until:
                mine.append((time.perf_counter() - started) * 1000)
        with lock:
            samples.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:5]
    samples.sort()
    return {"requests": len(samples), "requests_per_s": round(len(samples) / SECONDS),
            "median_ms": round(statistics.median(samples), 2),
            "p99_ms": round(samples[max(int(len(samples) * 0.99) - 1, 0)], 2)}


def create(binary, db, log, count):
    """A database of `count` messages made by `binary`; how long the fill took."""
    proc, address = start(binary, db, log)
    conn = http.client.HTTPConnection(*address)
    ada, _ = account(conn, "Ada")
    bob, bob_token = account(conn, "Bob")
    cy, _ = account(conn, "Cy")
    conversations = []
    for g in range(GROUPS):
        members = [ada, cy] if g < ADA_IN else [cy]
        status, body = call(conn, "POST", "/api/conversations",
                            {"member_ids": members, "title": f"group {g}"}, bob_token)
        assert status == 201, body
        conversations.append(body["conversation"]["id"])
    stop(proc)
    started = time.perf_counter()
    fill(db, conversations, [ada, bob, cy], count)
    return time.perf_counter() - started


def serve(binary, db, log):
    """The server on `db`, Ada's token, and how long it took to start (with any upgrade)."""
    started = time.perf_counter()
    proc, address = start(binary, db, log)
    startup = time.perf_counter() - started
    conn = http.client.HTTPConnection(*address)
    status, login = call(conn, "POST", "/api/auth/login",
                         {"email": "Ada@example.org", "password": "benchmark password"})
    assert status == 200, login
    return proc, address, login["token"], startup


def first_pages(address, token):
    """Each word's first page of hits, as ids."""
    conn = http.client.HTTPConnection(*address)
    pages = {}
    for word in WORDS:
        status, body = call(conn, "GET", "/api/search/messages?" +
                            urllib.parse.urlencode({"q": word}), None, token)
        assert status == 200, body
        pages[word] = [hit["message"]["id"] for hit in body["hits"]]
    return pages


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "bench.db")
        fill_seconds = create(BASELINE or binary, db, os.path.join(tmp, "fill.log"), count)
        servers = {}
        if BASELINE:
            baseline_db = os.path.join(tmp, "baseline.db")
            shutil.copy(db, baseline_db)
            servers["baseline"] = serve(BASELINE, baseline_db, os.path.join(tmp, "baseline.log"))
        servers["this"] = serve(binary, db, os.path.join(tmp, "server.log"))
        upgrade_seconds = servers["this"][3] if BASELINE else None
        stop(servers["this"][0])
        with_index = vacuumed_bytes(db, os.path.join(tmp, "with.db"))
        os.remove(os.path.join(tmp, "with.db"))
        without_index, rebuild_seconds = without_index_bytes(db, os.path.join(tmp, "without.db"))
        os.remove(os.path.join(tmp, "without.db"))
        baseline_bytes = None
        if BASELINE:
            stop(servers["baseline"][0])
            baseline_bytes = vacuumed_bytes(baseline_db, os.path.join(tmp, "old.db"))
            os.remove(os.path.join(tmp, "old.db"))
            servers["baseline"] = serve(BASELINE, baseline_db, os.path.join(tmp, "baseline.log"))
        servers["this"] = serve(binary, db, os.path.join(tmp, "server.log"))

        pages = {name: first_pages(address, token)
                 for name, (_, address, token, _) in servers.items()}
        same = all(page == pages["this"] for page in pages.values())
        runs = {name: {word: [] for word in WORDS} for name in servers}
        for _ in range(RUNS):
            for word in WORDS:
                for name, (_, address, token, _) in servers.items():
                    runs[name][word].append(load(address, token, word))
        for proc, _, _, _ in servers.values():
            stop(proc)
        load_average = os.getloadavg()
        results = {name: {word: {key: round(statistics.median(r[key] for r in each), 1)
                                 for key in ("requests", "requests_per_s", "median_ms", "p99_ms")}
                          for word, each in words.items()}
                   for name, words in runs.items()}

    mib = lambda n: round(n / 2**20, 1)
    report = {
        "messages": count, "fill_seconds": round(fill_seconds),
        "index_build_seconds": round(rebuild_seconds, 1),
        "upgrade_seconds": upgrade_seconds and round(upgrade_seconds, 1),
        "client": "wrk -t2" if WRK else "python threads",
        "connections": CONNECTIONS, "seconds_per_word": SECONDS, "runs_per_word": RUNS,
        "load_average_after": [round(x, 2) for x in load_average],
        "db_mib_with_index": mib(with_index), "db_mib_without_index": mib(without_index),
        "index_mib": mib(with_index - without_index),
        "index_share": f"{(with_index - without_index) / without_index:.0%}",
        "baseline_db_mib": baseline_bytes and mib(baseline_bytes),
        "first_pages_equal": same,
        "first_page_hits": {word: len(ids) for word, ids in pages["this"].items()},
        "results": results, "runs": runs,
    }
    print(json.dumps(report, indent=1))
    if OUT:
        write(report)


def describe(word):
    return {COMMON: "5 % of messages", RARE: f"{RARE_COUNT} messages",
            TYPING: "the common word and a one-letter prefix"}[word]


def write(report):
    names = list(report["results"])
    rows = []
    for word in WORDS:
        for name in names:
            r = report["results"][name][word]
            label = "this build" if name == "this" else "baseline"
            rows.append(f"| {word} ({describe(word)}) | {label} | {r['requests_per_s']} "
                        f"| {r['median_ms']} | {r['p99_ms']} | {r['requests']} |")
        if "baseline" in names:
            new, old = report["results"]["this"][word], report["results"]["baseline"][word]
            rows.append(f"| | ratio | {new['requests_per_s'] / max(old['requests_per_s'], 1):.1f}× "
                        f"| {old['median_ms'] / max(new['median_ms'], 0.01):.1f}× faster "
                        f"| {old['p99_ms'] / max(new['p99_ms'], 0.01):.1f}× faster | |")
    baseline = ""
    if report["baseline_db_mib"]:
        baseline = (f"| the baseline's database, with its index | {report['baseline_db_mib']} |\n")
    upgrade = ""
    if report["upgrade_seconds"] is not None:
        upgrade = (f" Upgrading the baseline's database (starting this build on it, the index "
                   f"rebuilt) took {report['upgrade_seconds']} s.")
    rows = "\n".join(rows)
    with open(OUT, "w") as f:
        f.write(f"""# Message search at scale

Written by `bench/search.py` (see its docstring for how the database is filled and the load
made). {report['messages']:,} messages in 20 groups; the searcher is a member of 10 of them.
{report['client']}, {report['connections']} keep-alive connections on 127.0.0.1 for {report['seconds_per_word']:g} s
per word and run, first page (20 hits, newest first); medians of {report['runs_per_word']} runs, the
words and servers alternating. Load average after the runs: {report['load_average_after']}.
First pages of both servers equal: {report['first_pages_equal']}.

| query | server | requests/s | median ms | p99 ms | requests |
|---|---|---|---|---|---|
{rows}

| database (after VACUUM) | MiB |
|---|---|
| with the search index | {report['db_mib_with_index']} |
| without it (index and triggers dropped) | {report['db_mib_without_index']} |
| what the index costs | {report['index_mib']} ({report['index_share']}) |
{baseline}
Filling the messages through the triggers took {report['fill_seconds']} s; building the index
for all of them at once (schema.sql's definition, 'rebuild', Python's SQLite) took
{report['index_build_seconds']} s.{upgrade}

Raw: `{json.dumps(report)}`
""")


if __name__ == "__main__":
    main()
