#!/usr/bin/env python3
"""EmoteChat and PocketBase side by side, on this machine, in one sitting.

Run through bench/compare.sh, which builds the release binary and installs PocketBase and wrk
first. Usage: compare.py EMOTECHAT_BINARY POCKETBASE_BINARY

Both servers start on loopback with fresh data and are seeded identically: 1,000 users (two
registered through the API, the rest written straight into each one's SQLite file with the
hash of the first, since hashing 1,000 passwords measures nothing here) and one conversation
of 100,000 messages of 100 characters. Then, for each item, wrk (same threads, connections and
duration for both) runs EmoteChat, PocketBase, EmoteChat, PocketBase... so drift of the
machine falls on both alike; the table gives medians over the rounds. Then start-to-healthy
(fresh data dir, interleaved), RSS and binary size, and the scale runs: 1,000,000 users, and
1,000 conversations of 100 messages each. Writes bench/RESULTS.md.

Environment: BENCH_SECONDS (per wrk run, 10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (64),
BENCH_LOGIN_CONNECTIONS (8), BENCH_SCALE_USERS (1000000), BENCH_OUT (bench/RESULTS.md).
"""
import datetime
import http.client
import json
import os
import secrets
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PB_MIGRATIONS = os.path.join(HERE, "pocketbase", "pb_migrations")
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
LOGIN_CONNECTIONS = int(os.environ.get("BENCH_LOGIN_CONNECTIONS", "8"))
USERS = 1000
MESSAGES = 100_000
SCALE_USERS = int(os.environ.get("BENCH_SCALE_USERS", "1000000"))
SCALE_CONVERSATIONS = 1000
SCALE_MESSAGES_EACH = 100
OUT = os.environ.get("BENCH_OUT", os.path.join(HERE, "RESULTS.md"))
PASSWORD = "bench password 4711"
BODY = ("The quick brown fox jumps over the lazy dog, then naps in the afternoon sun. "
        "Emotes ahoy!")[:100].ljust(100, ".")
SENT_BODY = "hello from wrk"


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(port, method, path, body=None, auth=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if auth:
        headers["Authorization"] = auth
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, (json.loads(data) if data else None)


def expect(result, *statuses):
    status, body = result
    assert status in statuses, f"HTTP {status}: {body}"
    return body


def wait_healthy(port, path, proc, limit=30.0):
    """Polls every millisecond; the seconds from now until the first 200."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.001)
    raise SystemExit("no healthy answer within 30 s")


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def open_db(path):
    """The server's own SQLite file, opened beside the running server to seed it."""
    conn = sqlite3.connect(path, timeout=30)
    conn.execute("PRAGMA busy_timeout = 30000")
    return conn


def reset_peak(pid):
    """Sets VmHWM back to the current RSS (Linux 4.0 and later), so that a later reading is
    the peak of what came after."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def pb_time(ms=None):
    t = time.time() if ms is None else ms / 1000
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def pb_id():
    """A record id of PocketBase's shape: 15 characters of [a-z0-9]."""
    return secrets.token_hex(8)[:15]


class EmoteChat:
    name = "EmoteChat"
    health = "/healthz"

    def __init__(self, binary):
        self.binary = binary

    def version(self):
        return subprocess.run([self.binary, "--version"], capture_output=True,
                              text=True).stdout.strip()

    def spawn(self, datadir, port):
        """Starts the server the way a self-hoster would, with rate limits and the
        per-address connection cap off (by the variable, which older builds ignore): the load
        comes from one address and would otherwise be refused, as it should be."""
        return subprocess.Popen(
            [self.binary, "--addr", f"127.0.0.1:{port}", "--db", f"{datadir}/chat.db",
             "--rate-limits", "off"],
            stdout=subprocess.DEVNULL, stderr=open(f"{datadir}/server.log", "w"),
            env={**os.environ, "EMOTECHAT_MAX_CONNECTIONS_PER_IP": "100000"},
            start_new_session=True)

    def start(self, datadir):
        self.datadir, self.port = datadir, free_port()
        self.proc = self.spawn(datadir, self.port)
        wait_healthy(self.port, self.health, self.proc)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def db(self):
        return open_db(f"{self.datadir}/chat.db")

    def register(self, name, email):
        expect(call(self.port, "POST", "/api/auth/register",
                    {"name": name, "email": email, "password": PASSWORD}), 200)
        body = expect(call(self.port, "POST", "/api/auth/login",
                           {"email": email, "password": PASSWORD}), 200)
        return body["user"]["id"], "Bearer " + body["token"]

    def setup(self):
        self.user, self.auth = self.register("User 1", "user1@bench.local")
        self.other, _ = self.register("User 2", "user2@bench.local")
        self.conversation = expect(call(
            self.port, "POST", "/api/conversations",
            {"member_ids": [self.other], "title": "bench"}, self.auth), 201)["conversation"]["id"]

    def seed_users(self, total):
        with self.db() as conn:
            hash_ = conn.execute("SELECT password_hash FROM users WHERE id = ?",
                                 (self.user,)).fetchone()[0]
            first = conn.execute("SELECT max(id) + 1 FROM users").fetchone()[0]
            now = int(time.time() * 1000)
            conn.executemany(
                "INSERT INTO users (id, name, name_fold, email, email_lower, password_hash,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                ((i, f"User {i}", f"user {i}", f"user{i}@bench.local", f"user{i}@bench.local",
                  hash_, now) for i in range(first, total + 1)))

    def seed_messages(self, conversation, sender, count, conn):
        first = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM messages").fetchone()[0]
        now = int(time.time() * 1000) - count
        conn.executemany(
            "INSERT INTO messages (id, conversation_id, sender_id, body, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            ((first + i, conversation, sender, BODY, now + i) for i in range(count)))
        conn.execute("UPDATE conversations SET last_message_id = ?, last_activity_at = ?"
                     " WHERE id = ?", (first + count - 1, now + count, conversation))

    def seed_history(self, count):
        with self.db() as conn:
            self.seed_messages(self.conversation, self.user, count, conn)

    def seed_conversations(self, count, messages_each):
        """`count` conversations of the bench user with one other user each."""
        with self.db() as conn:
            first = conn.execute("SELECT max(id) + 1 FROM conversations").fetchone()[0]
            now = int(time.time() * 1000)
            for k in range(count):
                cid, other = first + k, 3 + k
                conn.execute(
                    "INSERT INTO conversations (id, kind, title, created_by, created_at,"
                    " last_activity_at) VALUES (?, 'group', ?, ?, ?, ?)",
                    (cid, f"room {k}", self.user, now, now))
                conn.executemany(
                    "INSERT INTO members (conversation_id, user_id, joined_at) VALUES (?, ?, ?)",
                    ((cid, self.user, now), (cid, other, now)))
                self.seed_messages(cid, other, messages_each, conn)
        return first, first + count - 1

    def requests(self):
        big = f"/api/conversations/{self.conversation}/messages"
        return {
            "validate": ("GET", "/api/auth/validate", None, self.auth),
            "users": ("GET", "/api/profile/users?page=1&page_size=30", None, self.auth),
            "send": ("POST", big, {"body": SENT_BODY}, self.auth),
            "history": ("GET", big + "?limit=50", None, self.auth),
            "login": ("POST", "/api/auth/login",
                      {"email": "user1@bench.local", "password": PASSWORD}, None),
            "conversations": ("GET", "/api/conversations?page=1&page_size=30", None,
                              self.auth),
            "send_spread": ("POST", "/api/conversations/{id}/messages",
                            {"body": SENT_BODY}, self.auth),
        }


class PocketBase:
    name = "PocketBase"
    health = "/api/health"

    def __init__(self, binary):
        self.binary = binary

    def version(self):
        return subprocess.run([self.binary, "--version"], capture_output=True,
                              text=True).stdout.strip()

    def spawn(self, datadir, port, migrations=()):
        return subprocess.Popen(
            [self.binary, "serve", "--http", f"127.0.0.1:{port}", "--dir", datadir,
             *migrations],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)

    def start(self, datadir):
        """Starts it with bench/pocketbase's migrations, which make the `users` and `messages`
        collections and a superuser and turn the request log off before the first answer."""
        self.datadir, self.port = datadir, free_port()
        self.proc = self.spawn(datadir, self.port, ("--migrationsDir", PB_MIGRATIONS))
        wait_healthy(self.port, self.health, self.proc)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait()

    def db(self):
        return open_db(f"{self.datadir}/data.db")

    def register(self, name, email):
        expect(call(self.port, "POST", "/api/collections/users/records",
                    {"email": email, "password": PASSWORD, "passwordConfirm": PASSWORD,
                     "name": name}), 200)
        body = expect(call(self.port, "POST", "/api/collections/users/auth-with-password",
                           {"identity": email, "password": PASSWORD}), 200)
        return body["record"]["id"], body["token"]

    def setup(self):
        self.user, self.auth = self.register("User 1", "user1@bench.local")
        self.other, _ = self.register("User 2", "user2@bench.local")
        self.conversation = "bench"

    def seed_users(self, total):
        with self.db() as conn:
            hash_ = conn.execute("SELECT password FROM users WHERE id = ?",
                                 (self.user,)).fetchone()[0]
            now = pb_time()
            conn.executemany(
                "INSERT INTO users (id, email, emailVisibility, verified, name, password,"
                " tokenKey, avatar, created, updated) VALUES (?, ?, 0, 0, ?, ?, ?, '', ?, ?)",
                ((pb_id(), f"user{i}@bench.local", f"User {i}", hash_, secrets.token_hex(25),
                  now, now) for i in range(3, total + 1)))

    def seed_history(self, count):
        with self.db() as conn:
            start = int(time.time() * 1000) - count
            conn.executemany(
                "INSERT INTO messages (id, conversation, sender, body, created, updated)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                ((pb_id(), self.conversation, self.user, BODY, pb_time(start + i),
                  pb_time(start + i)) for i in range(count)))

    def requests(self):
        records = "/api/collections/messages/records"
        return {
            "validate": ("POST", "/api/collections/users/auth-refresh", None, self.auth),
            "users": ("GET", "/api/collections/users/records?page=1&perPage=30", None,
                      self.auth),
            "send": ("POST", records, {"conversation": self.conversation,
                                       "sender": self.user, "body": SENT_BODY}, self.auth),
            "history": ("GET", records + "?page=1&perPage=50&sort=-created&skipTotal=1", None,
                        self.auth),
            "login": ("POST", "/api/collections/users/auth-with-password",
                      {"identity": "user1@bench.local", "password": PASSWORD}, None),
        }


def wrk(server, request, connections, ids=None):
    method, path, body, auth = request
    env = {**os.environ, "WRK_METHOD": method, "WRK_BODY": json.dumps(body) if body else "",
           "WRK_AUTH": auth or "", "WRK_PATH": path if ids else "",
           "WRK_IDS": f"{ids[0]}:{ids[1]}" if ids else ""}
    url = f"http://127.0.0.1:{server.port}" + ("/" if ids else path)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--timeout", "10s",
         "-s", os.path.join(HERE, "wrk.lua"), url],
        env=env, capture_output=True, text=True, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("WRKJSON "))
    return json.loads(line.removeprefix("WRKJSON "))


def interleaved(pairs, item, connections, rounds=ROUNDS):
    """`pairs`: [(server, request, ids)]; runs them in turn, `rounds` times over."""
    runs = {server.name: [] for server, _, _ in pairs}
    for r in range(rounds):
        for server, request, ids in pairs:
            result = wrk(server, request, connections, ids)
            log(f"  {item} round {r + 1} {server.name}: {result['rps']:.0f} req/s, "
                f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                f"errors {result['errors'] + result['non2xx']}")
            runs[server.name].append(result)
    return {name: summarize(results) for name, results in runs.items()}


def summarize(results):
    return {"rps": statistics.median(r["rps"] for r in results),
            "p50_ms": statistics.median(r["p50_ms"] for r in results),
            "p99_ms": statistics.median(r["p99_ms"] for r in results),
            "errors": sum(r["errors"] + r["non2xx"] for r in results),
            "runs": [round(r["rps"]) for r in results]}


def start_times(servers, datadir_of=None, runs=5):
    """Spawn to first healthy answer, interleaved, median of `runs`: on a fresh data dir, or
    on the one `datadir_of(server)` names."""
    times = {s.name: [] for s in servers}
    for _ in range(runs):
        for server in servers:
            with tempfile.TemporaryDirectory() as fresh:
                datadir = datadir_of(server) if datadir_of else fresh
                port = free_port()
                time.sleep(0.5)
                started = time.perf_counter()
                proc = server.spawn(datadir, port)
                wait_healthy(port, server.health, proc)
                times[server.name].append((time.perf_counter() - started) * 1000)
                proc.send_signal(signal.SIGTERM)
                proc.wait()
    return {name: statistics.median(t) for name, t in times.items()}


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    return {"nproc": os.cpu_count(), "cpu": model, "kernel": os.uname().release,
            "wrk": (wrk_version.stdout + wrk_version.stderr).split()[1]}


ITEMS = [
    ("validate", "token validation", 5.0),
    ("users", "users, page 1 of 30 (with total)", 5.0),
    ("send", "send a message (durable when answered)", 3.0),
    ("history", "50 newest messages of 100,000", 5.0),
    ("login", "login", None),
]


def main():
    ours_binary, pb_binary = sys.argv[1:3]
    ours, pb = EmoteChat(ours_binary), PocketBase(pb_binary)
    info = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": machine(), "ours_version": ours.version(), "pb_version": pb.version(),
            "seconds": SECONDS, "rounds": ROUNDS, "connections": CONNECTIONS,
            "login_connections": LOGIN_CONNECTIONS}
    log(f"EmoteChat {info['ours_version']} vs PocketBase {info['pb_version']}")
    results, resources = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for server in (ours, pb):
            start_configured(server, tmp)
            time.sleep(1)
            resources[server.name] = {"idle_rss_kib": status_kib(server.pid, "VmRSS"),
                                      "binary_bytes": os.path.getsize(server.binary)}
            log(f"seeding {server.name}: {USERS} users, {MESSAGES} messages")
            server.seed_users(USERS)
            server.seed_history(MESSAGES)
            resources[server.name]["peak_setup_kib"] = status_kib(server.pid, "VmHWM")
            reset_peak(server.pid)
        for key, label, _ in ITEMS:
            if key == "login":
                for server in (ours, pb):
                    resources[server.name]["peak_load_kib"] = status_kib(server.pid, "VmHWM")
            log(f"{label}:")
            connections = LOGIN_CONNECTIONS if key == "login" else CONNECTIONS
            results[key] = interleaved([(s, s.requests()[key], None) for s in (ours, pb)],
                                       key, connections)
        for server in (ours, pb):
            r = resources[server.name]
            r["peak_rss_kib"] = max(r["peak_setup_kib"], status_kib(server.pid, "VmHWM"))
            server.stop()
        log("restart on the seeded data (5 runs each, interleaved)")
        for name, ms in start_times([ours, pb], lambda server: server.datadir).items():
            resources[name]["restart_ms"] = ms
    log("start to first healthy answer (fresh data dir, 5 runs each, interleaved)")
    for name, ms in start_times([ours, pb]).items():
        resources[name]["start_ms"] = ms
    scale = run_scale(ours, pb)
    report = render(info, results, resources, scale)
    with open(OUT, "w") as f:
        f.write(report)
    print(report)
    log(f"wrote {OUT}")


def start_configured(server, tmp):
    """Starts `server` on a fresh data dir under `tmp` with its two API-registered users."""
    datadir = os.path.join(tmp, server.name)
    os.mkdir(datadir)
    server.start(datadir)
    server.setup()


def run_scale(ours, pb):
    """1,000,000 users: the users list on both, the conversations list on ours (PocketBase
    has no conversations); 1,000 conversations of 100 messages: sends spread over them."""
    scale = {}
    with tempfile.TemporaryDirectory() as tmp:
        for server in (ours, pb):
            start_configured(server, tmp)
            log(f"seeding {server.name}: {SCALE_USERS} users")
            server.seed_users(SCALE_USERS)
        log(f"seeding EmoteChat: {SCALE_CONVERSATIONS} conversations of "
            f"{SCALE_MESSAGES_EACH} messages")
        ids = ours.seed_conversations(SCALE_CONVERSATIONS, SCALE_MESSAGES_EACH)
        log(f"users page at {SCALE_USERS} users:")
        scale["users"] = interleaved([(s, s.requests()["users"], None) for s in (ours, pb)],
                                     "users", CONNECTIONS, rounds=2)
        log(f"conversations page with {SCALE_CONVERSATIONS} conversations:")
        scale["conversations"] = interleaved(
            [(ours, ours.requests()["conversations"], None)], "conversations", CONNECTIONS,
            rounds=2)
        # User 3 shares one of them: the same query for a user with one conversation.
        one = expect(call(ours.port, "POST", "/api/auth/login",
                          {"email": "user3@bench.local", "password": PASSWORD}), 200)
        method, path, body, _ = ours.requests()["conversations"]
        log("conversations page of a user in one conversation:")
        scale["conversations_one"] = interleaved(
            [(ours, (method, path, body, "Bearer " + one["token"]), None)],
            "conversations_one", CONNECTIONS, rounds=2)
        log(f"sends spread over {SCALE_CONVERSATIONS} conversations:")
        scale["send_spread"] = interleaved(
            [(ours, ours.requests()["send_spread"], ids)], "send_spread", CONNECTIONS,
            rounds=2)
        for server in (ours, pb):
            server.stop()
    return scale


def render(info, results, resources, scale):
    o, p = "EmoteChat", "PocketBase"
    m = info["machine"]
    lines = [
        "# EmoteChat vs PocketBase",
        "",
        f"Written by `bench/compare.sh` on {info['date']}. Machine: {m['nproc']} CPUs "
        f"({m['cpu']}), Linux {m['kernel']}, wrk {m['wrk']} on the same cores as the servers. "
        f"EmoteChat {info['ours_version']} (release build); PocketBase {info['pb_version']} "
        "(request logs off). Both on loopback with fresh data: 1,000 users, one conversation "
        "of 100,000 messages.",
        "",
        f"Each row: `wrk -t2 -c{info['connections']} -d{info['seconds']}s` (login: "
        f"`-c{info['login_connections']}`), {info['rounds']} rounds run EmoteChat, PocketBase, "
        "EmoteChat, PocketBase... Figures are medians over the rounds; errors are summed "
        "(socket errors and non-2xx answers). Ratio = EmoteChat / PocketBase requests/s.",
        "",
        "| item | EmoteChat req/s | p50 ms | p99 ms | errors | PocketBase req/s | p50 ms | "
        "p99 ms | errors | ratio | goal |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for key, label, goal in ITEMS:
        a, b = results[key][o], results[key][p]
        ratio = a["rps"] / b["rps"] if b["rps"] else float("inf")
        verdict = "—" if goal is None else (
            f"≥ {goal:g}x {'met' if ratio >= goal else '**missed**'}")
        lines.append(
            f"| {label} | {a['rps']:,.0f} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | "
            f"{a['errors']} | {b['rps']:,.0f} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | "
            f"{b['errors']} | {ratio:.2f}x | {verdict} |")
    lines += ["", "Requests/s of each round: " + "; ".join(
        f"{key} {results[key][o]['runs']} vs {results[key][p]['runs']}" for key, _, _ in ITEMS),
        "", "| resource | EmoteChat | PocketBase | ratio | goal |", "|---|---:|---:|---:|---|"]

    def resource(label, key, unit, scale_by, goal):
        a, b = resources[o][key] * scale_by, resources[p][key] * scale_by
        ratio = a / b
        lines.append(f"| {label} | {a:.1f} {unit} | {b:.1f} {unit} | {ratio:.2f} | "
                     f"≤ {goal:g} {'met' if ratio <= goal else '**missed**'} |")

    resource("idle RSS (started, configured, 1 s settled)", "idle_rss_kib", "MiB", 1 / 1024, 0.2)
    resource("peak RSS over the run (VmHWM)", "peak_rss_kib", "MiB", 1 / 1024, 0.25)
    resource("peak RSS under validate, users, send, history (before login)", "peak_load_kib",
             "MiB", 1 / 1024, 0.25)
    resource("binary size", "binary_bytes", "MiB", 1 / 2**20, 0.25)
    resource("start to first healthy answer, fresh data dir (median of 5)", "start_ms", "ms", 1,
             0.1)
    resource("restart to first healthy answer, seeded data (median of 5)", "restart_ms", "ms",
             1, 0.1)
    lines += [
        "",
        f"## At scale: {SCALE_USERS:,} users; {SCALE_CONVERSATIONS:,} conversations of "
        f"{SCALE_MESSAGES_EACH} messages",
        "",
        "Fresh servers, seeded the same way; 2 rounds each. PocketBase has no conversations, "
        "so only EmoteChat runs the last three rows. The bench user is in all 1,000 "
        "conversations (each with another user, 100 messages it has not read); the send row "
        "picks one of them at random per request.",
        "",
        "| item | EmoteChat req/s | p50 ms | p99 ms | errors | PocketBase req/s | p50 ms | "
        "p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in (("users", f"users, page 1 of 30 of {SCALE_USERS:,} (with total)"),
                       ("conversations", "conversations, page 1 of 30 of 1,000, 100 unread "
                        "each"),
                       ("conversations_one", "conversations of a user in one of them"),
                       ("send_spread", "send, spread over 1,000 conversations")):
        a = scale[key][o]
        b = scale[key].get(p)
        theirs = (f"{b['rps']:,.0f} | {b['p50_ms']:.2f} | {b['p99_ms']:.2f} | {b['errors']}"
                  if b else "— | — | — | —")
        lines.append(f"| {label} | {a['rps']:,.0f} | {a['p50_ms']:.2f} | {a['p99_ms']:.2f} | "
                     f"{a['errors']} | {theirs} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
