#!/usr/bin/env bash
# Fuzzes the REST API of a live node with schemathesis (from PyPI) against the node's own
# OpenAPI document, and fails on any 5xx or any answer that breaks the schema.
#
# Usage: scripts/schemathesis.sh PATH/TO/vpnkeeper [MAX_EXAMPLES]
#   e.g. scripts/schemathesis.sh target/release/vpnkeeper
#
# It creates a throw-away node (temp data dir, loopback ports, rate limits off), runs
# `st run` with the node's admin token, stops the node and exits with schemathesis' status.
# schemathesis is installed into a venv on first use: $VPNKEEPER_ST_VENV (default
# ~/.cache/vpnkeeper/schemathesis-venv); set VPNKEEPER_ST_VERSION to pin another version.
set -euo pipefail

if [[ $# -lt 1 || ! -x "$1" ]]; then
    echo "usage: $0 PATH/TO/vpnkeeper [MAX_EXAMPLES]  (the binary must exist and be executable)" >&2
    exit 2
fi
BIN="$(realpath "$1")"
MAX_EXAMPLES="${2:-30}"
ST_VERSION="${VPNKEEPER_ST_VERSION:-4.32.5}"
VENV="${VPNKEEPER_ST_VENV:-$HOME/.cache/vpnkeeper/schemathesis-venv}"

if [[ ! -x "$VENV/bin/st" ]] || ! "$VENV/bin/st" --version 2>/dev/null | grep -q "$ST_VERSION"; then
    echo "installing schemathesis $ST_VERSION into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

WORK="$(mktemp -d)"
NODE_PID=""
cleanup() {
    if [[ -n "$NODE_PID" ]] && kill -0 "$NODE_PID" 2>/dev/null; then
        kill -TERM "$NODE_PID" 2>/dev/null || true
        wait "$NODE_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
API_PORT="$(free_port)"
RAFT_PORT="$(free_port)"
BASE="http://127.0.0.1:$API_PORT"

TOKEN="$("$BIN" init --data-dir "$WORK/data" --api-listen "127.0.0.1:$API_PORT" \
    --raft-listen "127.0.0.1:$RAFT_PORT" 2>/dev/null)"

# Rate limits off: the fuzzer sends hundreds of requests a minute with one key, and 429s
# would hide what it is looking for. The limits have their own integration test.
# `POST /api/v1/nodes/{id}/reboot` with {"confirm": true} is valid input for the fuzzer:
# the node's reboot command is `true` here, never the machine's `systemctl reboot`.
VPNKEEPER_API__RATE_LIMIT_READS_PER_MIN=0 \
VPNKEEPER_API__RATE_LIMIT_WRITES_PER_MIN=0 \
VPNKEEPER_API__RATE_LIMIT_KEY_CREATE_PER_MIN=0 \
VPNKEEPER_API__RATE_LIMIT_ANONYMOUS_PER_IP_PER_MIN=0 \
VPNKEEPER_LOG__LEVEL=warn \
VPNKEEPER_NODE__REBOOT_COMMAND=true \
    "$BIN" run --data-dir "$WORK/data" 2>"$WORK/node.log" &
NODE_PID=$!

for _ in $(seq 1 100); do
    if curl -fsS "$BASE/health" 2>/dev/null | grep -q '"status":"ok"'; then
        break
    fi
    sleep 0.2
done
if ! curl -fsS "$BASE/health" 2>/dev/null | grep -q '"status":"ok"'; then
    echo "the node did not become healthy; its log:" >&2
    cat "$WORK/node.log" >&2
    exit 1
fi

# A little data so GETs by id/name also hit existing rows.
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"name":"fuzz-seed","telegram_id":7}' "$BASE/api/v1/users" >/dev/null
curl -fsS -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
    -d '{"user":"fuzz-seed","type":"phone"}' "$BASE/api/v1/devices" >/dev/null

# Checks: no 5xx, documented status codes, content types and headers, response bodies that
# match their schemas, and invalid input refused with a 4xx. `positive_data_acceptance` is
# left out: valid-by-schema input can still be refused by state (a name already taken, a
# user that does not exist), which is correct behaviour, not a bug.
# The key-revocation operation is excluded so the fuzzer cannot revoke the admin key it
# runs with (its by-id guesses would only ever see 404 otherwise).
set +e
"$VENV/bin/st" run "$BASE/api/v1/openapi.json" \
    --url "$BASE" \
    --header "Authorization: Bearer $TOKEN" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --workers 2 \
    --request-timeout 10 \
    --exclude-path-regex '^/api/v1/keys/\{id\}$' \
    --suppress-health-check all \
    --no-color
STATUS=$?
set -e
if [[ $STATUS -ne 0 ]]; then
    echo "schemathesis found problems (exit $STATUS); node log:" >&2
    tail -n 50 "$WORK/node.log" >&2
fi
exit $STATUS
