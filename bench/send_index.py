#!/usr/bin/env python3
"""What the full-text search index costs a sent message: sends/s and latency of
`POST /api/conversations/{id}/messages` on a database with the index (kept by triggers in the
transaction of each message), on copies of it with the index built without the per-letter
prefix postings (as schema version 10 had it), and without any index (triggers and tables
dropped), side by side.

Usage: bench/send_index.py [BINARY] [MESSAGES]   (defaults: target/release/emotechat, 1000000)
Environment: BENCH_SEND_SECONDS (10, per variant and run), BENCH_SEND_RUNS (3),
BENCH_SEND_CONNECTIONS ("16,1": wrk runs at each of these concurrencies),
BENCH_SEND_AUTOMERGE (optional, e.g. "2,8": one more copy with the index per value, with
FTS5's 'automerge' set to it).

The database is made as bench/search.py makes it (MESSAGES messages in 20 groups), then
copied once per variant; one server per copy, all running, and each wrk run (bench/wrk.lua,
`-t1` at 1 connection, else `-t2`, keep-alive, 127.0.0.1) goes to each variant in turn, so
all see the same machine load. Every request sends the same 12-word message from the
benchmark's vocabulary to one of Ada's ten groups, picked at random. Reported per variant
and concurrency: the median over the runs of sends/s, median and p99 latency, and the ratio
to the copy without the index. Figures, not assertions; the server commits with
`synchronous = FULL`, so the disk's flush time is in them.
"""
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import search  # noqa: E402  (the same database as the search benchmark)

SECONDS = float(os.environ.get("BENCH_SEND_SECONDS", "10"))
RUNS = int(os.environ.get("BENCH_SEND_RUNS", "3"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_SEND_CONNECTIONS", "16,1").split(",")]
AUTOMERGE = [int(a) for a in os.environ.get("BENCH_SEND_AUTOMERGE", "").split(",") if a]
BODY = "the meeting moved to thursday so bring the notes and the snacks please"


def without_index(db):
    conn = sqlite3.connect(db, isolation_level=None)
    for trigger in ("insert", "update", "delete"):
        conn.execute(f"DROP TRIGGER messages_fts_{trigger}")
    conn.execute("DROP TABLE IF EXISTS messages_fts_terms")
    conn.execute("DROP TABLE messages_fts")
    conn.close()


def without_prefix_postings(db):
    """The index as schema version 10 defined it: no `prefix` option (the triggers stay)."""
    conn = sqlite3.connect(db, isolation_level=None)
    create = conn.execute("SELECT sql FROM sqlite_schema WHERE name = 'messages_fts'").fetchone()[0]
    conn.execute("DROP TABLE IF EXISTS messages_fts_terms")
    conn.execute("DROP TABLE messages_fts")
    conn.execute(create.replace(", prefix = '1 2'", ""))
    conn.execute("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
    conn.close()


def with_automerge(value):
    def change(db):
        conn = sqlite3.connect(db, isolation_level=None)
        conn.execute("INSERT INTO messages_fts (messages_fts, rank) VALUES ('automerge', ?)",
                     (value,))
        conn.close()
    return change


def sends(address, token, groups, connections):
    env = {**os.environ, "WRK_METHOD": "POST", "WRK_BODY": json.dumps({"body": BODY}),
           "WRK_AUTH": "Bearer " + token,
           "WRK_PATH": "/api/conversations/{id}/messages", "WRK_IDS": f"{groups[0]}:{groups[-1]}"}
    url = f"http://{address[0]}:{address[1]}/"
    threads = 1 if connections == 1 else 2
    out = subprocess.run([search.WRK, f"-t{threads}", f"-c{connections}", f"-d{SECONDS:g}s",
                          "--timeout", "10s", "-s", os.path.join(HERE, "wrk.lua"), url],
                         env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    result = json.loads(line.removeprefix("WRKJSON "))
    assert result["errors"] == 0 and result["non2xx"] == 0, result
    return {"sends_per_s": round(result["rps"]), "median_ms": round(result["p50_ms"], 2),
            "p99_ms": round(result["p99_ms"], 2)}


def main():
    assert search.WRK, "needs wrk (apt-get install wrk)"
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/emotechat"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    variants = {"index": None, "index without prefix postings": without_prefix_postings,
                "no index": without_index}
    variants.update({f"index, automerge={a}": with_automerge(a) for a in AUTOMERGE})
    with tempfile.TemporaryDirectory() as tmp:
        made = os.path.join(tmp, "made.db")
        search.create(binary, made, os.path.join(tmp, "made.log"), count)
        conn = sqlite3.connect(made)
        groups = [row[0] for row in conn.execute(
            "SELECT conversation_id FROM members WHERE user_id = 1 ORDER BY conversation_id")]
        conn.close()
        assert groups == list(range(groups[0], groups[-1] + 1)), groups
        servers = {}
        for i, (name, change) in enumerate(variants.items()):
            db = os.path.join(tmp, f"v{i}.db")
            shutil.copy(made, db)
            if change:
                change(db)
            proc, address, token, _ = search.serve(binary, db, db + ".log")
            servers[name] = (proc, address, token)
        runs = {name: {c: [] for c in CONNECTIONS} for name in servers}
        try:
            for _ in range(RUNS):
                for c in CONNECTIONS:
                    for name, (_, address, token) in servers.items():
                        runs[name][c].append(sends(address, token, groups, c))
        finally:
            for proc, _, _ in servers.values():
                search.stop(proc)
    results = {name: {c: {k: statistics.median(r[k] for r in each)
                          for k in ("sends_per_s", "median_ms", "p99_ms")}
                      for c, each in by_c.items()}
               for name, by_c in runs.items()}
    print(f"{count:,} messages; wrk {SECONDS:g} s per variant and run, {RUNS} runs, "
          f"medians; load average after: {[round(x, 2) for x in os.getloadavg()]}")
    print("| variant | connections | sends/s | median ms | p99 ms | sends/s vs no index |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in CONNECTIONS:
        base = results["no index"][c]["sends_per_s"]
        for name in servers:
            r = results[name][c]
            print(f"| {name} | {c} | {r['sends_per_s']:g} | {r['median_ms']:g} | {r['p99_ms']:g} "
                  f"| {r['sends_per_s'] / base:.2f} |")
    print("Raw: `" + json.dumps({"messages": count, "runs": runs}) + "`")


if __name__ == "__main__":
    main()
