# Sourced by tests/interop/gateway_*.sh: starts a private opsbusd (embedded
# PostgreSQL in a temporary directory, RPC on ipc://, the HTTP gateway on a
# port the kernel picks) and gives the tests BASE_URL and API_KEY, the two
# variables the runbooks' curl commands use, plus helpers to check answers.
# Everything it starts is stopped on exit.

: "${OPSBUSD:?set by ctest}"
PY=/usr/bin/python3
src=${OPSBUS_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/opsbus-gw.XXXXXX")
# The embedded PostgreSQL runs as another user when we are root.
chmod 755 "$tmp"
gw_pids=()
gw_failures=0
gw_checks=0

gw_cleanup() {
	for p in "${gw_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${gw_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap gw_cleanup EXIT

# Waits until the log file $1 has a line matching $2 (process $3 alive).
gw_wait_log() {
	for _ in $(seq 600); do
		grep -q "$2" "$1" && return 0
		if ! kill -0 "$3" 2>/dev/null; then
			echo "process exited early; log:" >&2
			tail -30 "$1" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "timed out waiting for \"$2\" in $1" >&2
	tail -30 "$1" >&2
	return 1
}

# The port of the first "port=N" in log $1.
gw_log_port() {
	{ grep -o 'port=[0-9]*' "$1" || true; } | head -1 | cut -d= -f2
}

# Starts opsbusd with the HTTP gateway on 127.0.0.1 (any extra arguments
# are passed on). Sets BASE_URL, API_KEY, RPC_URL, SERVER_LOG.
gw_start_server() {
	API_KEY=local-dev-key-$RANDOM$RANDOM-0123456789
	RPC_URL="ipc://$tmp/rpc.sock"
	SERVER_LOG=$tmp/opsbusd.log
	OPSBUS_PG_NOSYNC=1 OPSBUS_EVENTS=off "$OPSBUSD" --data-dir "$tmp/data" \
		--listen "$RPC_URL" --api-key "$API_KEY" \
		--http "http://127.0.0.1:0" "$@" >"$SERVER_LOG" 2>&1 &
	gw_pids+=($!)
	gw_wait_log "$SERVER_LOG" "opsbusd ready" "$!"
	BASE_URL=http://127.0.0.1:$(gw_log_port "$SERVER_LOG")
	export BASE_URL API_KEY
}

# Records a check: gw_check NAME CONDITION-EXIT-STATUS.
gw_ok() {
	gw_checks=$((gw_checks + 1))
	echo "ok - $1"
}
gw_fail() {
	gw_checks=$((gw_checks + 1))
	gw_failures=$((gw_failures + 1))
	echo "FAIL - $1" >&2
	if [ -n "${2:-}" ]; then
		printf '  got: %.2000s\n' "$2" >&2
		echo >&2
	fi
}

# gw_expect NAME JSON PYTHON-EXPR: evaluates EXPR with `j` the parsed JSON
# (and `s` the raw text); the check passes when it is true.
gw_expect() {
	local name=$1 json=$2 expr=$3
	if printf '%s' "$json" | "$PY" -c '
import json, sys
s = sys.stdin.read()
try:
    j = json.loads(s)
except Exception:
    j = None
sys.exit(0 if eval(sys.argv[1]) else 1)' "$expr" 2>/dev/null; then
		gw_ok "$name"
	else
		gw_fail "$name" "$json"
	fi
}

# gw_status NAME EXPECTED ACTUAL
gw_status() {
	if [ "$2" = "$3" ]; then
		gw_ok "$1"
	else
		gw_fail "$1 (status $3, want $2)"
	fi
}

# curl that prints the body then, on its own last line, the status.
gw_curl() {
	curl -s -w '\n%{http_code}' "$@"
}
# The body and the status of gw_curl's output.
gw_body() { printf '%s' "$1" | sed '$d'; }
gw_code() { printf '%s' "$1" | tail -n1; }

# Stops what the test started (SIGTERM: a clean drain and exit 0 is part of
# the test), checks their logs for sanitizer reports, prints the summary
# line CTest readers look for, and returns the exit status.
gw_finish() {
	local p log
	for p in "${gw_pids[@]}"; do
		[ -n "$p" ] || continue
		kill -TERM "$p" 2>/dev/null || true
		if wait "$p"; then
			gw_ok "process $p exits 0 on SIGTERM"
		else
			gw_fail "process $p exits 0 on SIGTERM"
		fi
	done
	gw_pids=()
	for log in "$tmp"/*.log; do
		if grep -q -E 'Sanitizer|runtime error:' "$log"; then
			gw_fail "$(basename "$log") has sanitizer reports" \
				"$(grep -A20 -E 'Sanitizer|runtime error:' "$log" | head -40)"
		fi
	done
	echo "$((gw_checks - gw_failures)) passed, $gw_failures failed"
	[ "$gw_failures" -eq 0 ]
}
