#!/usr/bin/env bash
# The gateway facing clients that misbehave, and the standalone
# opsbus-gateway: a 10 MB body (413, with and without Content-Length), a
# wrong content type (415), invalid UTF-8, JSON nested 10,000 deep, a
# chunked POST, a client sending one byte a second (cut off at the read
# deadline while others are served), 1,000 idle connections (requests still
# succeed), the connection cap, an RPC server that does not answer (504),
# and a clean stop. opsbus-gateway runs against opsbusd's RPC socket, as it
# would in front of a remote server.
set -euo pipefail
source "$(dirname "$0")/lib/gateway_env.sh"

GATEWAY=${OPSBUS_GATEWAY:-${OPSBUS_BUILD_DIR:-$src/build}/opsbus-gateway}
gw_start_server --http off --workers 4

# A standalone gateway with a short read deadline, so the slow client is
# cut within the test's time.
"$GATEWAY" --rpc "$RPC_URL" --http http://127.0.0.1:0 --read-timeout-ms 2000 \
	>"$tmp/gateway.log" 2>&1 &
gw_pids+=($!)
gw_wait_log "$tmp/gateway.log" "opsbus-gateway ready" "$!"
BASE_URL=http://127.0.0.1:$(gw_log_port "$tmp/gateway.log")
H=(-H "X-API-Key: $API_KEY")
J=(-H 'content-type: application/json')

r=$(gw_curl "$BASE_URL/api/v1/jobs?limit=1" "${H[@]}")
gw_status "opsbus-gateway --rpc serves through a remote RPC socket" 200 "$(gw_code "$r")"

# --- bodies ----------------------------------------------------------------
head -c 10485760 /dev/zero | tr '\0' ' ' >"$tmp/10mb"
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" --data-binary @"$tmp/10mb")
gw_status "10 MB body with Content-Length: 413" 413 "$(gw_code "$r")"
gw_expect "10 MB body: MESSAGE_TOO_LARGE envelope" "$(gw_body "$r")" \
	'j["ok"] is False and j["error"]["code"] == "MESSAGE_TOO_LARGE"'
# Chunked, so no length is known up front: the gateway keeps up to its
# limit, drops the rest as it comes, and answers 413 at the end.
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" \
	-H 'Transfer-Encoding: chunked' --data-binary @"$tmp/10mb")
gw_status "10 MB chunked body: 413" 413 "$(gw_code "$r")"
gw_expect "10 MB chunked body: MESSAGE_TOO_LARGE" "$(gw_body "$r")" \
	'j["error"]["code"] == "MESSAGE_TOO_LARGE"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" -H 'content-type: text/plain' -d '{"queue":"q"}')
gw_status "text/plain body: 415" 415 "$(gw_code "$r")"
gw_expect "text/plain body: UNSUPPORTED_MEDIA_TYPE" "$(gw_body "$r")" \
	'j["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" -d '{"queue":"q"}')
gw_status "form-encoded body (curl -d's default type): 415" 415 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" -H 'Content-Type: Application/JSON; charset=utf-8' -d '{"queue":"q"}')
gw_status "application/json with a charset: 200" 200 "$(gw_code "$r")"
printf '{"queue":"q","subject":"\xc3\x28"}' >"$tmp/badutf8"
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" --data-binary @"$tmp/badutf8")
gw_status "invalid UTF-8 body: 400" 400 "$(gw_code "$r")"
gw_expect "invalid UTF-8 body: INVALID_UTF8" "$(gw_body "$r")" 'j["error"]["code"] == "INVALID_UTF8"'
"$PY" -c 'import sys; sys.stdout.write("{\"queue\":\"q\",\"x\":" + "[" * 10000 + "]" * 10000 + "}")' >"$tmp/deep"
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" --data-binary @"$tmp/deep")
gw_status "JSON nested 10,000 deep: 400" 400 "$(gw_code "$r")"
gw_expect "JSON nested 10,000 deep: NESTING_TOO_DEEP" "$(gw_body "$r")" 'j["error"]["code"] == "NESTING_TOO_DEEP"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" -d '{"queue":"q","queue":"r"}')
gw_status "duplicate JSON key: 400" 400 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}" "${J[@]}" -d '[1,2]')
gw_status "a JSON array body: 400" 400 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/api/v1/writeback/jobs" "${H[@]}" "${J[@]}" -H 'Transfer-Encoding: chunked' \
	-d '{"noteId":"note-chunked","ehr":"nextgen","idempotencyKey":"chunked-1"}')
gw_status "chunked POST: 200" 200 "$(gw_code "$r")"
gw_expect "chunked POST: the job is made from the whole body" "$(gw_body "$r")" \
	'j["ok"] and j["data"]["noteId"] == "note-chunked" and j["data"]["status"] == "queued"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${H[@]}")
gw_status "POST with no body is {} (queue required: 400)" 400 "$(gw_code "$r")"

# --- a slow client, others served meanwhile ------------------------------
cat >"$tmp/slow.py" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
mode = sys.argv[2]
s = socket.create_connection(("127.0.0.1", port))
if mode == "body":
    s.sendall(b"POST /api/v1/jobs HTTP/1.1\r\nHost: x\r\n"
              b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
    msg = b"{" * 100
else:
    msg = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
t0 = time.time()
got = b""
try:
    for b in msg:
        s.sendall(bytes([b]))
        time.sleep(1)
        s.settimeout(0.01)
        try:
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        except socket.timeout:
            pass
        s.settimeout(None)
except (BrokenPipeError, ConnectionResetError):
    pass
print("%.1f %s" % (time.time() - t0, got[:12].decode("latin1").replace(" ", "_") or "closed"))
PY
"$PY" "$tmp/slow.py" "${BASE_URL##*:}" headers >"$tmp/slow-headers" &
slow1=$!
"$PY" "$tmp/slow.py" "${BASE_URL##*:}" body >"$tmp/slow-body" &
slow2=$!
sleep 0.5
served=0
for _ in $(seq 10); do
	c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$BASE_URL/api/v1/jobs?limit=1" "${H[@]}")
	[ "$c" = 200 ] && served=$((served + 1))
done
gw_status "while slow clients dribble, others are served" 10 "$served"
wait "$slow1" "$slow2"
read -r t1 what1 <"$tmp/slow-headers"
read -r t2 what2 <"$tmp/slow-body"
if "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 8 else 1)' "$t1" && [ "$what1" = closed ]; then
	gw_ok "one header byte a second: cut at the read deadline (${t1}s)"
else
	gw_fail "one header byte a second: cut" "$t1 $what1"
fi
if "$PY" -c 'import sys; sys.exit(0 if float(sys.argv[1]) < 8 else 1)' "$t2" && [ "$what2" = closed ]; then
	gw_ok "one body byte a second: cut at the read deadline (${t2}s)"
else
	gw_fail "one body byte a second: cut" "$t2 $what2"
fi

# --- 1,000 idle connections -----------------------------------------------
cat >"$tmp/idle.py" <<'PY'
import concurrent.futures, resource, socket, subprocess, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
def connections():
    m = subprocess.run(["curl", "-s", "--max-time", "5", "-H", "X-API-Key: " + key,
                        "http://127.0.0.1:%d/metrics" % port],
                       capture_output=True, text=True).stdout
    for l in m.splitlines():
        if l.startswith("opsbus_http_connections "):
            return int(float(l.split()[1]))
    return -1

def request(_):
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                        "--max-time", "5", "-H", "X-API-Key: " + key,
                        "http://127.0.0.1:%d/api/v1/jobs?limit=1" % port],
                       capture_output=True, text=True)
    return r.stdout == "200"

# The idle connections are cut at the gateway's read deadline (3 s here):
# count them and make the 20 requests well within it. Opening them takes
# a moment, and the gateway accepts them as they come.
socks = []
for _ in range(1000):
    socks.append(socket.create_connection(("127.0.0.1", port)))
held = -1
for _ in range(20):
    held = max(held, connections())
    if held >= 1001:
        break
    time.sleep(0.05)
with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
    ok = sum(pool.map(request, range(20)))
print(ok, held - 1 if held > 0 else "?")
for s in socks:
    s.close()
PY
read -r ok conns < <("$PY" "$tmp/idle.py" "${BASE_URL##*:}" "$API_KEY")
gw_status "with 1,000 idle connections open, 20 requests succeed" 20 "$ok"
if [ "$conns" != "?" ] && [ "$conns" -ge 1000 ]; then
	gw_ok "the gateway held them all ($conns connections)"
else
	gw_fail "the gateway held 1,000 connections" "$conns"
fi

# --- the connection cap -----------------------------------------------------
"$GATEWAY" --rpc "$RPC_URL" --http http://127.0.0.1:0 --max-connections 20 \
	>"$tmp/gateway-cap.log" 2>&1 &
gw_pids+=($!)
gw_wait_log "$tmp/gateway-cap.log" "opsbus-gateway ready" "$!"
cap_port=$(gw_log_port "$tmp/gateway-cap.log")
cat >"$tmp/cap.py" <<'PY'
import socket, subprocess, sys, time
port, key = int(sys.argv[1]), sys.argv[2]
def get():
    return subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                           "--max-time", "3", "-H", "X-API-Key: " + key,
                           "http://127.0.0.1:%d/api/v1/jobs?limit=1" % port],
                          capture_output=True, text=True).stdout
socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
time.sleep(0.3)
full = get()
for s in socks:
    s.close()
time.sleep(0.5)
print(full, get())
PY
read -r full after < <("$PY" "$tmp/cap.py" "$cap_port" "$API_KEY")
if [ "$full" != 200 ] && [ "$after" = 200 ]; then
	gw_ok "at the connection cap a new connection is refused, then served ($full, $after)"
else
	gw_fail "connection cap" "$full $after"
fi

# --- an RPC server that does not answer, and a clean stop ---------------------
"$GATEWAY" --rpc "ipc://$tmp/nobody.sock" --http http://127.0.0.1:0 --rpc-timeout-ms 300 \
	>"$tmp/gateway-none.log" 2>&1 &
none_pid=$!
gw_pids+=($none_pid)
gw_wait_log "$tmp/gateway-none.log" "opsbus-gateway ready" "$none_pid"
none_url=http://127.0.0.1:$(gw_log_port "$tmp/gateway-none.log")
r=$(gw_curl --max-time 10 "$none_url/healthz")
gw_status "no RPC server: 504 after the call's deadline" 504 "$(gw_code "$r")"
gw_expect "no RPC server: DEADLINE_EXCEEDED envelope" "$(gw_body "$r")" \
	'j["error"]["code"] == "DEADLINE_EXCEEDED"'
gw_finish
