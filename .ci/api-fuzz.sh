#!/usr/bin/env bash
# Fuzzes the whole HTTP API with schemathesis, generated from the server's own /openapi.json:
# the real binary on a fresh data directory, requests with a valid application token (and
# without one), every Graph, identity and operational route. It fails on any response >= 500,
# on an answer the document does not describe (a status it does not list, a body its schema
# refuses, another content type), on a panic in the server log, or if the server cannot still
# complete an invite afterwards.
# The Graph actions Switchboard answers `501 notImplemented` by design are left out, and so is
# the control API (it can reset state and arm crash points). Path parameters name real calls,
# participants and an operation made before the run (.ci/api_fuzz.py), so that requests reach
# the rules behind each route instead of a 404.
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
helper="$root/.ci/api_fuzz.py"
token=$("$py" "$helper" token "$url" "$data/db/dev-credentials.json")
# Real calls, participants and an operation for every {call_id}, {participant_id} and
# {operation_id} the fuzzer fills in, so that its requests reach the rules behind each route.
"$py" "$helper" targets "$url" "$data/db/dev-credentials.json" > "$data/schemathesis.toml"
unimplemented='/(microsoft\.graph\.)?(redirect|transfer|playPrompt|recordResponse|cancelMediaProcessing|subscribeToTone|sendDtmfTones|changeScreenSharingRole|updateRecordingStatus|addLargeGalleryView|startHoldMusic|stopHoldMusic|muteAll|configureMixer)$|/calls/\{call_id\}/(microsoft\.graph\.)?(mute|unmute)$'
"$venv/bin/schemathesis" --config-file "$data/schemathesis.toml" run "$url/openapi.json" \
  --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance \
  --header "Authorization: Bearer $token" \
  --exclude-path-regex "^/_switchboard|$unimplemented" \
  --max-examples "$examples" --seed 20261126 --workers 2 --request-timeout 10

kill -0 "$pid" || { echo "the server died under fuzzing"; tail -50 "$data/server.log"; exit 1; }
if grep -q "panicked" "$data/server.log"; then
  echo "the server panicked under fuzzing:"; grep -A5 "panicked" "$data/server.log" | head -40; exit 1
fi
# Nothing half-written: the store still answers and a whole invite still completes.
"$py" "$helper" check "$url" "$data/db/dev-credentials.json"
