#!/usr/bin/env python3
"""What removing ended calls costs the store's writer (BENCHMARKS.md, "Retention").

Usage (after `cargo build --release -p switchboard`):

    python3 crates/bench/scripts/retention.py target/release/switchboard 2000

Starts the server (virtual clock, SQLite in a temporary directory, `--retention 60`) and a
notification receiver, then makes N ended meeting calls, each as a bot would: create a meeting,
join it, invite a user who answers at once, hang up. Every notification is delivered. It then
advances the virtual clock past the retention period and times that advance, which removes
all N conversations (the advance answers once they are gone), against an advance with nothing
to remove. Stops the server by its pid.
"""
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SERVER = "127.0.0.1:18090"
RECEIVER = ("127.0.0.1", 18091)


class Receiver(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a new connection per POST is slower than the server

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def request(method, path, body=None, token=None, form=None):
    data = json.dumps(body).encode() if body is not None else form.encode() if form else None
    r = urllib.request.Request(f"http://{SERVER}{path}", data=data, method=method)
    if body is not None:
        r.add_header("Content-Type", "application/json")
    if form:
        r.add_header("Content-Type", "application/x-www-form-urlencoded")
    if token:
        r.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(r) as response:
        text = response.read()
        return json.loads(text) if text else None


def main(binary, n):
    receiver = ThreadingHTTPServer(RECEIVER, Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    data = tempfile.mkdtemp(prefix="switchboard-retention-")
    args = [binary, "serve", "--data-dir", data, "--listen", SERVER, "--clock", "virtual", "--retention", "60"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{data}/server.log", "w"))
    try:
        run(data, n)
    finally:
        server.terminate()
        server.wait()
        receiver.shutdown()


def run(data, n):
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://{SERVER}/readyz")
            break
        except OSError:
            time.sleep(0.05)
    creds = json.load(open(f"{data}/dev-credentials.json"))
    form = urllib.parse.urlencode({
        "grant_type": "client_credentials", "client_id": creds["clientId"],
        "client_secret": creds["clientSecret"], "scope": "https://graph.microsoft.com/.default",
    })
    token = request("POST", f"/{creds['tenantId']}/oauth2/v2.0/token", form=form)["access_token"]
    admin = creds["adminToken"]
    user = creds["users"][0]["id"]
    request("PUT", f"/_switchboard/users/{user}/behaviour", {"kind": "answer", "afterMs": 0}, admin)

    def advance(ms):
        started = time.perf_counter()
        request("POST", "/_switchboard/clock/advance", {"ms": ms}, admin)
        return time.perf_counter() - started

    def join(_):
        meeting = request("POST", "/beta/communications/onlineMeetings", {"subject": "retention"}, token)
        return request("POST", "/beta/communications/calls", {
            "callbackUri": f"http://{RECEIVER[0]}:{RECEIVER[1]}/callback", "requestedModalities": ["audio"],
            "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
            "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
            "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo",
                            "organizer": {"user": {"id": user}}},
        }, token)["id"]

    def invite(call):
        request("POST", f"/beta/communications/calls/{call}/participants/invite", {"participants": [
            {"@odata.type": "#microsoft.graph.invitationParticipantInfo", "identity": {"user": {"id": user}}}]}, token)

    def hang_up(call):
        request("DELETE", f"/beta/communications/calls/{call}", None, token)

    started = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        calls = list(pool.map(join, range(n)))
        advance(0)
        list(pool.map(invite, calls))
        advance(0)
        list(pool.map(hang_up, calls))
        advance(0)
    pending = len(request("GET", "/_switchboard/notifications?state=pending", None, admin)["value"])
    print(f"{n} ended meeting calls in {time.perf_counter() - started:.1f} s; {pending} notifications pending")
    idle = min(advance(0) for _ in range(3))
    removing = advance(61_000)
    left = len(request("GET", "/_switchboard/conversations?limit=10", None, admin)["value"])
    per = (removing - idle) / n * 1e6
    print(f"advance with nothing to remove {idle * 1e3:.1f} ms; removing {n}: {removing * 1e3:.1f} ms "
          f"= {per:.0f} us per conversation; conversations left {left}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
