#!/usr/bin/env bash
# Interop over the RPC wire with tools nobody here wrote: a client written
# with Google's Python protobuf runtime speaking the SP protocol over a plain
# TCP socket (no nng bindings: the wire is the contract), and nngcat sending
# an envelope built by Python. opsbusd runs on its embedded PostgreSQL.
set -euo pipefail

: "${OPSBUSD:?set by ctest}"
src=${OPSBUS_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
tmp=$(mktemp -d /tmp/opsbus-pyrpc-XXXXXX)
chmod 755 "$tmp"
pid=""
cleanup() {
	if [ -n "$pid" ]; then
		kill -TERM "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
key=interop-admin-key-0123456789
OPSBUS_PG_NOSYNC=1 "$OPSBUSD" --data-dir "$tmp/data" --listen "tcp://127.0.0.1:$port" \
	--api-key "$key" --http off >"$tmp/opsbusd.log" 2>&1 &
pid=$!
for _ in $(seq 200); do
	grep -q "opsbusd ready" "$tmp/opsbusd.log" && break
	kill -0 "$pid" 2>/dev/null || { cat "$tmp/opsbusd.log"; exit 1; }
	sleep 0.1
done
grep -q "opsbusd ready" "$tmp/opsbusd.log"

mkdir -p "$tmp/py"
protoc --python_out="$tmp/py" -I"$src/proto" "$src"/proto/opsbus/v1/*.proto

cat >"$tmp/client.py" <<'PY'
import socket, struct, sys, uuid
sys.path.insert(0, sys.argv[1])
from opsbus.v1 import rpc_pb2, job_pb2, health_pb2

PORT, KEY = int(sys.argv[2]), sys.argv[3]

class SPReq:
    """The SP protocol by hand: 8-byte handshake, then 64-bit big-endian
    length-prefixed messages; REQ puts a 32-bit request id (high bit set)
    before the body and REP echoes it back."""
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(b"\x00SP\x00\x00\x30\x00\x00")   # REQ (48)
        peer = self._exact(8)
        assert peer[:4] == b"\x00SP\x00" and peer[4:6] == b"\x00\x31", peer
        self.next_id = 1
    def _exact(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise EOFError("connection closed")
            b += c
        return b
    def call(self, payload):
        rid = struct.pack(">I", 0x80000000 | self.next_id)
        self.next_id += 1
        msg = rid + payload
        self.s.sendall(struct.pack(">Q", len(msg)) + msg)
        n = struct.unpack(">Q", self._exact(8))[0]
        body = self._exact(n)
        assert body[:4] == rid, (body[:4], rid)
        return body[4:]

def rpc(conn, method, req, out_type, key=KEY, request_id=""):
    env = rpc_pb2.RpcRequest(method=method, body=req.SerializeToString(),
                             request_id=request_id)
    if key:
        env.metadata["x-api-key"] = key
    resp = rpc_pb2.RpcResponse()
    resp.ParseFromString(conn.call(env.SerializeToString()))
    out = None
    if resp.code == 0 and out_type is not None:
        out = out_type()
        out.ParseFromString(resp.body)
    return resp, out

c = SPReq(PORT)
r, h = rpc(c, "opsbus.v1.HealthService/Check", health_pb2.CheckRequest(),
           health_pb2.CheckResponse, key=None)
assert r.code == 0 and h.status == "SERVING" and h.database_ok, (r, h)

req = job_pb2.CreateJobRequest(queue="py-interop", target="nextgen",
                               payload='{"noteId":"n-9","name":"Zoë"}',
                               idempotency_key="py-key-1")
r, created = rpc(c, "opsbus.v1.JobService/CreateJob", req,
                 job_pb2.CreateJobResponse)
assert r.code == 0, r
assert created.created and created.job.status == "queued"
assert uuid.UUID(created.job.id)
r, again = rpc(c, "opsbus.v1.JobService/CreateJob", req,
               job_pb2.CreateJobResponse)
assert r.code == 0 and not again.created and again.job.id == created.job.id

r, got = rpc(c, "opsbus.v1.JobService/GetJob",
             job_pb2.GetJobRequest(id=created.job.id, include_timeline=True),
             job_pb2.GetJobResponse)
assert r.code == 0 and got.job.id == created.job.id, r
assert "Zoë" in got.job.payload
assert [e.event_type for e in got.timeline] == ["created"]

lj = job_pb2.ListJobsRequest(queue="py-interop", limit=101)
r, _ = rpc(c, "opsbus.v1.JobService/ListJobs", lj, None)
assert r.code == 3 and r.error_code == "VALIDATION_ERROR", r
r, _ = rpc(c, "opsbus.v1.Nope/Nothing", lj, None)
assert r.code == 12 and r.error_code == "UNKNOWN_METHOD", r
r, _ = rpc(c, "opsbus.v1.JobService/ListJobs", lj, None, key="wrong-key-123456")
assert r.code == 16 and r.error_code == "UNAUTHORIZED", r
assert len(r.correlation_id) == 36

# A resend with the same request id is answered from the stored reply.
req2 = job_pb2.CreateJobRequest(queue="py-interop")
r1, a = rpc(c, "opsbus.v1.JobService/CreateJob", req2,
            job_pb2.CreateJobResponse, request_id="py-resend-1")
r2, b = rpc(c, "opsbus.v1.JobService/CreateJob", req2,
            job_pb2.CreateJobResponse, request_id="py-resend-1")
assert a.job.id == b.job.id

# Envelope bytes for nngcat.
env = rpc_pb2.RpcRequest(method="opsbus.v1.JobService/ListJobs",
                         body=job_pb2.ListJobsRequest(queue="py-interop").SerializeToString())
env.metadata["x-api-key"] = KEY
open(sys.argv[4], "wb").write(env.SerializeToString())
print("python client: ok")
PY

cat >"$tmp/read_reply.py" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from opsbus.v1 import rpc_pb2, job_pb2
resp = rpc_pb2.RpcResponse()
resp.ParseFromString(open(sys.argv[2], "rb").read())
assert resp.code == 0, resp
jobs = job_pb2.ListJobsResponse()
jobs.ParseFromString(resp.body)
assert len(jobs.jobs) == 2, len(jobs.jobs)
print("nngcat: ok,", len(jobs.jobs), "jobs")
PY

/usr/bin/python3 "$tmp/client.py" "$tmp/py" "$port" "$key" "$tmp/env.bin"
nngcat --req --connect "tcp://127.0.0.1:$port" --file "$tmp/env.bin" --raw \
	--recv-timeout 10 >"$tmp/reply.bin"
/usr/bin/python3 "$tmp/read_reply.py" "$tmp/py" "$tmp/reply.bin"
echo "1 passed, 0 failed"
