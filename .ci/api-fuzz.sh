#!/usr/bin/env bash
# Fuzzes the whole HTTP API with schemathesis, generated from the server's own /openapi.json:
# the real binary on a fresh data directory, requests with a valid application token (and
# without one), every Graph, identity and operational route. It fails on any response >= 500,
# on a panic in the server log, or if the server cannot still complete an invite afterwards.
# The Graph actions Switchboard answers `501 notImplemented` by design are left out, and so is
# the control API (it can reset state and arm crash points).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/debug/switchboard"
venv="$root/target/ci-venv"
examples="${SWITCHBOARD_FUZZ_EXAMPLES:-25}"
[ -x "$venv/bin/schemathesis" ] || "$venv/bin/pip" install --quiet --disable-pip-version-check schemathesis==4.32.5

data=$(mktemp -d)
"$bin" serve --listen 127.0.0.1:0 --data-dir "$data/db" --clock virtual >"$data/stdout" 2>"$data/server.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do grep -q "listening on" "$data/stdout" 2>/dev/null && break; sleep 0.1; done
url=$(head -1 "$data/stdout" | sed 's/^Switchboard listening on //')
py="$venv/bin/python"
token=$("$py" - "$url" "$data/db/dev-credentials.json" <<'PY'
import json, sys, urllib.parse, urllib.request
url, creds = sys.argv[1], json.load(open(sys.argv[2]))
form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": creds["clientId"],
                               "client_secret": creds["clientSecret"],
                               "scope": "https://graph.microsoft.com/.default"}).encode()
print(json.load(urllib.request.urlopen(f"{url}/{creds['tenantId']}/oauth2/v2.0/token", form))["access_token"])
PY
)
unimplemented='/(microsoft\.graph\.)?(redirect|transfer|playPrompt|recordResponse|cancelMediaProcessing|subscribeToTone|sendDtmfTones|changeScreenSharingRole|updateRecordingStatus|addLargeGalleryView|startHoldMusic|stopHoldMusic|muteAll|configureMixer)$|/calls/\{call_id\}/(microsoft\.graph\.)?(mute|unmute)$'
"$venv/bin/schemathesis" run "$url/openapi.json" \
  --checks not_a_server_error \
  --header "Authorization: Bearer $token" \
  --exclude-path-regex "^/_switchboard|$unimplemented" \
  --max-examples "$examples" --seed 20261126 --workers 2 --request-timeout 10

kill -0 "$pid" || { echo "the server died under fuzzing"; tail -50 "$data/server.log"; exit 1; }
if grep -q "panicked" "$data/server.log"; then
  echo "the server panicked under fuzzing:"; grep -A5 "panicked" "$data/server.log" | head -40; exit 1
fi
# Nothing half-written: the store still answers and a whole invite still completes.
"$py" - "$url" "$token" "$data/db/dev-credentials.json" <<'PY'
import json, sys, urllib.request
url, token, creds = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
admin = creds["adminToken"]
def call(method, path, body=None, auth=token):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Authorization": f"Bearer {auth}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        text = r.read()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text
assert call("GET", "/readyz")[0] == 200
meeting = call("POST", "/beta/communications/onlineMeetings", {"subject": "after fuzzing"})[1]
user = creds["users"][0]["id"]
call("PUT", f"/_switchboard/users/{user}/behaviour", {"kind": "answer", "afterMs": 0}, auth=admin)
status, created = call("POST", "/beta/communications/calls", {
    "callbackUri": "https://bot.example.com/cb",
    "chatInfo": {"threadId": meeting["chatInfo"]["threadId"], "messageId": "0"},
    "meetingInfo": {"@odata.type": "#microsoft.graph.organizerMeetingInfo"}})
assert status == 201, status
call("POST", "/_switchboard/clock/advance", {"ms": 0}, auth=admin)
status, op = call("POST", f"/beta/communications/calls/{created['id']}/participants/invite",
                  {"participants": [{"identity": {"user": {"id": user}}}]})
assert status == 200, status
call("POST", "/_switchboard/clock/advance", {"ms": 0}, auth=admin)
status, done = call("GET", f"/beta/communications/calls/{created['id']}/operations/{op['id']}")
assert done["status"] == "Completed", done
print("after fuzzing: the store answers and an invite still completes")
PY
