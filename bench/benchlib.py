"""What the benchmark scripts share: one JSON call over a kept-alive connection."""
import json


def call(conn, method, path, body=None, token=None):
    """Sends `body` as JSON (if any) with the bearer `token` (if any); the status and the
    decoded JSON answer (None when empty)."""
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None
