#!/usr/bin/env python3
"""Latency of the accounts API against a running EmoteChat, one request at a time.

Usage: bench/accounts.py http://127.0.0.1:8080 [validate_count] [login_count]

Registers a throwaway user, then reports the median, p90 and p99 of login (one scrypt
verification each) and of GET /api/auth/validate over one keep-alive connection.
Figures, not assertions: run it several times and compare medians.
"""
import http.client
import json
import statistics
import sys
import time
import uuid
from urllib.parse import urlparse

from benchlib import call


def timed(n, action):
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return {
        "n": n,
        "median_ms": round(statistics.median(samples), 3),
        "p90_ms": round(samples[int(n * 0.9) - 1], 3),
        "p99_ms": round(samples[max(int(n * 0.99) - 1, 0)], 3),
    }


def main():
    base = urlparse(sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080")
    validations = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    logins = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    conn = http.client.HTTPConnection(base.hostname, base.port)
    email = f"bench-{uuid.uuid4().hex[:12]}@example.org"
    password = "benchmark password"
    status, _ = call(conn, "POST", "/api/auth/register",
                     {"name": "Bench", "email": email, "password": password})
    assert status == 200, status
    credentials = {"email": email, "password": password}
    status, login = call(conn, "POST", "/api/auth/login", credentials)
    assert status == 200, status
    token = login["token"]

    def login_once():
        assert call(conn, "POST", "/api/auth/login", credentials)[0] == 200

    def validate_once():
        assert call(conn, "GET", "/api/auth/validate", token=token)[0] == 200

    print(json.dumps({"login": timed(logins, login_once),
                      "validate": timed(validations, validate_once)}))


if __name__ == "__main__":
    main()
