#!/usr/bin/env bash
# The runbooks' REST calls, as written, against a live opsbusd through its
# HTTP gateway (seeds 000 and 001): curl with BASE_URL and API_KEY set, on a
# server holding dead letters that workers made (claim and fail over the
# same HTTP API). Asserts seed 001's envelope and fields, the HTTP statuses
# of its errors, auth headers, correlation ids, percent-escaped captures,
# /healthz, /metrics and /openapi.json. The operator routes of seed 001 are
# checked when the server has them (they come with OperatorService).
set -euo pipefail
source "$(dirname "$0")/lib/gateway_env.sh"

gw_start_server

# --- dead letters made by workers -------------------------------------
# Three writeback jobs; a worker claims them and fails each for good.
for n in 1 2 3; do
	out=$(curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" \
		-H 'content-type: application/json' -H "X-API-Key: $API_KEY" \
		-d '{"noteId":"note-dl-'$n'","ehr":"nextgen","idempotencyKey":"first-'$n'"}')
	gw_expect "writeback job $n created" "$out" \
		'j["ok"] is True and j["data"]["status"] == "queued"'
done
claim=$(curl -s -X POST "$BASE_URL/api/v1/queues/writeback/claim" \
	-H 'content-type: application/json' -H "X-API-Key: $API_KEY" \
	-d '{"workerId":"http-worker-1","max":3}')
gw_expect "a worker claims the three jobs over HTTP" "$claim" \
	'j["ok"] and len(j["data"]["jobs"]) == 3'
while read -r id token; do
	out=$(curl -s -X POST "$BASE_URL/api/v1/jobs/$id/fail" \
		-H 'content-type: application/json' -H "X-API-Key: $API_KEY" \
		-d '{"leaseToken":"'"$token"'","reasonCode":"ehr_auth_failed","error":"EHR refused the token","errorDetail":"401 from upstream: secret detail","retryable":false,"failureCategory":"auth"}')
	gw_expect "the worker fails job $id for good" "$out" \
		'j["ok"] and j["data"]["job"]["status"] == "dead_failed"'
done < <(printf '%s' "$claim" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["data"]["jobs"]:
    print(c["job"]["id"], c["leaseToken"])')

# --- seed 000, section 2, step B (and the quick bundle) -----------------
out=$(curl -s "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=50" \
  -H "X-API-Key: $API_KEY")
gw_expect "seed 000 B: the dead-letter list answers ok with an array" "$out" \
	'j["ok"] is True and isinstance(j["data"], list) and len(j["data"]) == 3'
gw_expect "seed 000 B: each item has jobId, noteId, status dead_failed" "$out" \
	'all(d["jobId"] and d["noteId"].startswith("note-dl-") and d["status"] == "dead_failed" and d["reasonCode"] == "EHR_AUTH_FAILED" for d in j["data"])'
gw_expect "seed 000 B: operator-safe view (seed 001 fields, no key or detail)" "$out" \
	'all(set(d) == {"jobId","noteId","ehr","status","attempts","operatorStatus","lastError","reasonCode","replayOfJobId","replayedJobId","createdAt","updatedAt"} for d in j["data"]) and "secret detail" not in s and "first-1" not in s'
gw_expect "seed 000 B: counts are JSON numbers" "$out" \
	'all(isinstance(d["attempts"], int) and d["attempts"] == 1 for d in j["data"])'
JOB_ID=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["jobId"])')
NOTE_ID=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["noteId"])')

# --- seed 000, section 3, step A: replay job, exactly as written -------
REPLAY_IDEMPOTENCY_KEY=replay-$(date +%s)-$NOTE_ID

out=$(curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" \
  -H 'content-type: application/json' \
  -H "X-API-Key: $API_KEY" \
  -d '{
    "noteId": "'"$NOTE_ID"'",
    "ehr": "nextgen",
    "idempotencyKey": "'"$REPLAY_IDEMPOTENCY_KEY"'"
  }')
gw_expect "seed 000 3A: ok true, a new jobId, status queued" "$out" \
	'j["ok"] is True and j["data"]["jobId"] and j["data"]["jobId"] != "'"$JOB_ID"'" and j["data"]["status"] == "queued" and j["data"]["noteId"] == "'"$NOTE_ID"'" and j["data"]["ehr"] == "nextgen"'
gw_expect "seed 000 3A: the idempotency key is never shown" "$out" \
	'"idempotencyKey" not in j["data"] and "'"$REPLAY_IDEMPOTENCY_KEY"'" not in s'
NEW_JOB_ID=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobId"])')

# The same request again (a retry) answers the same job; the same key with
# another note is a conflict.
out=$(curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" \
  -H 'content-type: application/json' \
  -H "X-API-Key: $API_KEY" \
  -d '{"noteId":"'"$NOTE_ID"'","ehr":"nextgen","idempotencyKey":"'"$REPLAY_IDEMPOTENCY_KEY"'"}')
gw_expect "seed 000 bundle: the same replay request answers the same job" "$out" \
	'j["ok"] and j["data"]["jobId"] == "'"$NEW_JOB_ID"'"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/writeback/jobs" \
	-H 'content-type: application/json' -H "X-API-Key: $API_KEY" \
	-d '{"noteId":"another-note","ehr":"nextgen","idempotencyKey":"'"$REPLAY_IDEMPOTENCY_KEY"'"}')
gw_status "reused idempotency key: 409" 409 "$(gw_code "$r")"
gw_expect "reused idempotency key: IDEMPOTENCY_CONFLICT envelope" "$(gw_body "$r")" \
	'j["ok"] is False and j["error"]["code"] == "IDEMPOTENCY_CONFLICT" and j["error"]["message"] and j["correlationId"]'

# --- seed 000, section 5: the rollback listing, with its '|' list ------
out=$(curl -s "$BASE_URL/api/v1/writeback/jobs?state=queued|in_progress|retryable_failed|succeeded" \
	-H "X-API-Key: $API_KEY")
gw_expect "seed 000 5: state=queued|in_progress|... lists the replay job" "$out" \
	'j["ok"] and [d["jobId"] for d in j["data"]] == ["'"$NEW_JOB_ID"'"]'
out=$(curl -s "$BASE_URL/api/v1/writeback/jobs/$NEW_JOB_ID" -H "X-API-Key: $API_KEY")
gw_expect "GET /api/v1/writeback/jobs/{jobId}" "$out" \
	'j["ok"] and j["data"]["jobId"] == "'"$NEW_JOB_ID"'" and j["data"]["status"] == "queued"'

# Paging: one at a time, the token in X-Next-Page-Token.
hdr=$(curl -s -D - -o "$tmp/page1" "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=1" -H "X-API-Key: $API_KEY")
token=$(printf '%s' "$hdr" | tr -d '\r' | sed -n 's/^X-Next-Page-Token: //Ip')
first=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["jobId"])' "$tmp/page1")
if [ -n "$token" ]; then gw_ok "paging: X-Next-Page-Token on a full page"; else gw_fail "paging: X-Next-Page-Token" "$hdr"; fi
out=$(curl -s "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=50&pageToken=$token" -H "X-API-Key: $API_KEY")
gw_expect "paging: the next page continues after the first" "$out" \
	'j["ok"] and len(j["data"]) == 2 and "'"$first"'" not in [d["jobId"] for d in j["data"]]'

# --- seed 001: the operator routes, when the server has them ------------
openapi=$(curl -s "$BASE_URL/openapi.json")
has_route() {
	printf '%s' "$openapi" | "$PY" -c 'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin)["paths"] else 1)' "$1"
}
if has_route /api/v1/operator/writeback/status/summary; then
	out=$(curl -s "$BASE_URL/api/v1/operator/writeback/status/summary?recentHours=24" \
	  -H "X-API-Key: $API_KEY")
	gw_expect "seed 000 2A: summary has countsByStatus.dead_failed > 0" "$out" \
		'j["ok"] and j["data"]["countsByStatus"]["dead_failed"] > 0 and "byReasonCode" in j["data"]["recentFailures"]'
	r=$(gw_curl "$BASE_URL/api/v1/operator/writeback/status/summary?recentHours=0" -H "X-API-Key: $API_KEY")
	gw_status "seed 001 summary: recentHours=0 is 400" 400 "$(gw_code "$r")"
	out=$(curl -s "$BASE_URL/api/v1/operator/writeback/status/summary?recentHours=1" \
	  -H "X-API-Key: $API_KEY")
	gw_expect "seed 000 3C: summary for the last hour" "$out" 'j["ok"] is True'
else
	echo "skip - seed 001 summary (OperatorService has no HTTP route yet)"
fi
if has_route "/api/v1/operator/writeback/jobs/{id}"; then
	out=$(curl -s "$BASE_URL/api/v1/operator/writeback/jobs/$JOB_ID" \
	  -H "X-API-Key: $API_KEY")
	gw_expect "seed 000 2C: detail has job.status dead_failed, attempts, timeline" "$out" \
		'j["ok"] and j["data"]["job"]["status"] == "dead_failed" and j["data"]["attempts"][0]["reasonCode"] == "EHR_AUTH_FAILED" and isinstance(j["data"]["timeline"], list)'
	out=$(curl -s "$BASE_URL/api/v1/operator/writeback/jobs/$NEW_JOB_ID" \
	  -H "X-API-Key: $API_KEY")
	gw_expect "seed 000 3B: the replay job's detail" "$out" 'j["ok"] is True'
else
	echo "skip - seed 000 2C/3B operator job detail (no HTTP route yet)"
fi

# --- errors of seed 001 with their statuses ------------------------------
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=50")
gw_status "no API key: 401" 401 "$(gw_code "$r")"
gw_expect "no API key: UNAUTHORIZED envelope" "$(gw_body "$r")" \
	'j == {"ok": False, "error": {"code": "UNAUTHORIZED", "message": j["error"]["message"]}, "correlationId": j["correlationId"]} and len(j["correlationId"]) == 36'
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs" -H "X-API-Key: wrong-key-0123456789abcdef")
gw_status "wrong API key: 401" 401 "$(gw_code "$r")"
gw_expect "wrong API key: UNAUTHORIZED" "$(gw_body "$r")" 'j["error"]["code"] == "UNAUTHORIZED"'
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?limit=1" -H "Authorization: Bearer $API_KEY")
gw_status "Authorization: Bearer works" 200 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=0" -H "X-API-Key: $API_KEY")
gw_status "limit=0: 400" 400 "$(gw_code "$r")"
gw_expect "limit=0: VALIDATION_ERROR (explicit 0 reached the server)" "$(gw_body "$r")" \
	'j["error"]["code"] == "VALIDATION_ERROR" and "got 0" in j["error"]["message"]'
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?state=dead_failed&limit=101" -H "X-API-Key: $API_KEY")
gw_status "limit=101: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/jobs?limit=0" -H "X-API-Key: $API_KEY")
gw_status "ListJobs limit=0 (oneof): 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?state=exploded" -H "X-API-Key: $API_KEY")
gw_status "unknown state: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?limit=ten" -H "X-API-Key: $API_KEY")
gw_status "limit=ten: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs?colour=blue" -H "X-API-Key: $API_KEY")
gw_expect "unknown query parameter: 400 VALIDATION_ERROR" "$(gw_body "$r")" \
	'j["error"]["code"] == "VALIDATION_ERROR" and "colour" in j["error"]["message"]'
r=$(gw_curl "$BASE_URL/api/v1/writeback/jobs/not-a-uuid" -H "X-API-Key: $API_KEY")
gw_status "bad UUID: 400" 400 "$(gw_code "$r")"
gw_expect "bad UUID: VALIDATION_ERROR" "$(gw_body "$r")" 'j["error"]["code"] == "VALIDATION_ERROR"'
r=$(gw_curl "$BASE_URL/api/v1/jobs/00000000-0000-4000-8000-000000000000" -H "X-API-Key: $API_KEY")
gw_status "unknown job: 404" 404 "$(gw_code "$r")"
gw_expect "unknown job: JOB_NOT_FOUND" "$(gw_body "$r")" 'j["error"]["code"] == "JOB_NOT_FOUND"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/writeback/jobs" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d '{"noteId":"n","ehr":"nextgen"}')
gw_status "create without idempotencyKey: 400" 400 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/api/v1/writeback/jobs" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d '{"noteId":"n","ehr":"nextgen","idempotencyKey":"k","colour":1}')
gw_expect "unknown body field: 400 naming it" "$(gw_body "$r")" \
	'j["error"]["code"] == "VALIDATION_ERROR" and "colour" in j["error"]["message"]'
r=$(gw_curl -X POST "$BASE_URL/api/v1/writeback/jobs" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d '{"noteId":"n",')
gw_expect "truncated JSON: 400" "$(gw_body "$r")" 'j["error"]["code"] == "VALIDATION_ERROR"'
r=$(gw_curl "$BASE_URL/api/v1/no/such/route" -H "X-API-Key: $API_KEY")
gw_status "unknown route: 404" 404 "$(gw_code "$r")"
gw_expect "unknown route: JSON envelope" "$(gw_body "$r")" \
	'j["ok"] is False and j["error"]["code"] == "NOT_FOUND" and j["correlationId"]'
r=$(curl -s -D "$tmp/h405" -w '\n%{http_code}' -X PUT "$BASE_URL/api/v1/writeback/jobs" -H "X-API-Key: $API_KEY")
gw_status "wrong verb: 405" 405 "$(gw_code "$r")"
gw_expect "wrong verb: JSON envelope" "$(gw_body "$r")" 'j["error"]["code"] == "METHOD_NOT_ALLOWED"'
if grep -qi '^Allow: POST, GET, HEAD' "$tmp/h405"; then gw_ok "wrong verb: Allow header"; else gw_fail "wrong verb: Allow header" "$(cat "$tmp/h405")"; fi

# --- correlation ids in and out -------------------------------------------
curl -s -D "$tmp/hc" -o "$tmp/bc" "$BASE_URL/api/v1/writeback/jobs?limit=0" \
	-H "X-API-Key: $API_KEY" -H "X-Correlation-Id: runbook-ticket-4711"
if grep -qi '^X-Correlation-Id: runbook-ticket-4711' "$tmp/hc"; then gw_ok "X-Correlation-Id given comes back as a header"; else gw_fail "X-Correlation-Id header" "$(cat "$tmp/hc")"; fi
gw_expect "X-Correlation-Id given is the envelope's correlationId" "$(cat "$tmp/bc")" \
	'j["correlationId"] == "runbook-ticket-4711"'
curl -s -D "$tmp/hc2" -o /dev/null "$BASE_URL/api/v1/writeback/jobs?limit=1" -H "X-API-Key: $API_KEY"
if grep -qiE '^X-Correlation-Id: [0-9a-f-]{36}' "$tmp/hc2"; then gw_ok "a correlation id is made when none is given"; else gw_fail "made correlation id" "$(cat "$tmp/hc2")"; fi

# --- percent-escaped path captures ----------------------------------------
esc=$("$PY" -c 'import sys; print("".join("%%%02X" % ord(c) for c in sys.argv[1]))' "$JOB_ID")
out=$(curl -s "$BASE_URL/api/v1/jobs/$esc" -H "X-API-Key: $API_KEY")
gw_expect "a capture written all in %XX decodes to the job id" "$out" \
	'j["ok"] and j["data"]["job"]["id"] == "'"$JOB_ID"'"'
out=$(curl -s "$BASE_URL/api/v1/writeback/jobs/%31${JOB_ID:1}" -H "X-API-Key: $API_KEY")
if [ "${JOB_ID:0:1}" = 1 ]; then
	gw_expect "/jobs/%31... is /jobs/1..." "$out" 'j["ok"] is True'
else
	gw_expect "/jobs/%31... decodes (a 1, so another id: 404)" "$out" \
		'j["error"]["code"] == "JOB_NOT_FOUND"'
fi
r=$(gw_curl "$BASE_URL/api/v1/jobs/abc%2Fdef" -H "X-API-Key: $API_KEY")
gw_expect "%2F stays inside its capture (400 bad UUID, not 404)" "$(gw_body "$r")" \
	'j["error"]["code"] == "VALIDATION_ERROR"'
r=$(gw_curl "$BASE_URL/api/v1/jobs/%G1" -H "X-API-Key: $API_KEY")
gw_status "a bad escape: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/jobs/%00" -H "X-API-Key: $API_KEY")
gw_status "an escaped NUL: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/api/v1/%6Aobs/$JOB_ID" -H "X-API-Key: $API_KEY")
gw_status "an escaped literal segment matches" 200 "$(gw_code "$r")"

# --- probes, metrics, OpenAPI ---------------------------------------------
out=$(curl -s "$BASE_URL/healthz")
gw_expect "/healthz answers without a key" "$out" \
	'j["ok"] and j["data"]["status"] == "SERVING" and j["data"]["databaseOk"] is True'
gw_expect "/openapi.json is OpenAPI 3 with the seed routes" "$openapi" \
	'j["openapi"].startswith("3.") and "/api/v1/writeback/jobs" in j["paths"] and set(j["paths"]["/api/v1/writeback/jobs"]) == {"get","post"} and "/healthz" in j["paths"]'
r=$(gw_curl "$BASE_URL/metrics")
gw_status "/metrics needs a key like everything else" 401 "$(gw_code "$r")"
metrics=$(curl -s "$BASE_URL/metrics" -H "X-API-Key: $API_KEY")
for m in 'opsbus_http_requests_total{route="GET /api/v1/writeback/jobs",method="opsbus.v1.WritebackService/ListWritebackJobs",code="200"}' \
	'opsbus_http_request_duration_seconds_bucket{route="POST /api/v1/writeback/jobs"' \
	'opsbus_http_requests_total{route="unmatched",method="",code="404"} 1' \
	'opsbus_queue_jobs{queue="writeback",state="dead_failed"} 3' \
	'opsbus_queue_ready_jobs{queue="writeback"} 1' \
	'opsbus_queue_oldest_ready_age_seconds{queue="writeback"}' \
	'opsbus_dead_letters{queue="writeback",category="auth",operator_status="open"} 3' \
	'opsbus_events_unpublished ' 'opsbus_database_metrics_up 1'; do
	# A here-string, not a pipe: grep -q leaves at the first match, and
	# under pipefail the writer's SIGPIPE would fail the check.
	if grep -qF -- "$m" <<<"$metrics"; then gw_ok "/metrics has $m"; else gw_fail "/metrics has $m" "$metrics"; fi
done
out=$(curl -s "$BASE_URL/api/v1/ops/metrics" -H "X-API-Key: $API_KEY")
gw_expect "GET /api/v1/ops/metrics (JSON, 64-bit counts as strings)" "$out" \
	'j["ok"] and {"queue": "writeback", "state": "dead_failed", "count": "3"} in j["data"]["queueDepth"]'

# --- a worker completes a batch: POST /api/v1/jobs/complete --------------
for n in 1 2 3; do
	curl -s -X POST "$BASE_URL/api/v1/jobs" -H 'content-type: application/json' \
		-H "X-API-Key: $API_KEY" -d '{"queue":"http-batch","target":"nextgen"}' >/dev/null
done
claim=$(curl -s -X POST "$BASE_URL/api/v1/queues/http-batch/claim" \
	-H 'content-type: application/json' -H "X-API-Key: $API_KEY" -d '{"workerId":"http-batcher","max":3}')
body=$(printf '%s' "$claim" | "$PY" -c '
import json, sys
jobs = json.load(sys.stdin)["data"]["jobs"]
items = [{"jobId": c["job"]["id"], "leaseToken": c["leaseToken"], "summary": "written"} for c in jobs[:2]]
items.append({"jobId": jobs[2]["job"]["id"], "leaseToken": "00000000-0000-4000-8000-000000000000"})
items.append({"jobId": "not-a-uuid", "leaseToken": jobs[2]["leaseToken"]})
print(json.dumps({"completions": items}))')
out=$(curl -s -X POST "$BASE_URL/api/v1/jobs/complete" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d "$body")
gw_expect "POST /api/v1/jobs/complete: two completed, each item its own outcome" "$out" \
	'j["ok"] and j["data"]["completed"] == 2 and [r.get("errorCode", "") for r in j["data"]["results"]] == ["", "", "LEASE_LOST", "VALIDATION_ERROR"] and all(r["job"]["status"] == "succeeded" for r in j["data"]["results"][:2])'
many=$("$PY" -c 'import json; print(json.dumps({"completions": [{"jobId": "x", "leaseToken": "y"}] * 1001}))')
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs/complete" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d "$many")
gw_status "1001 completions in one call: 400" 400 "$(gw_code "$r")"

# --- a worker completes and claims its next job in one call (claimNext) --
for n in 1 2; do
	curl -s -X POST "$BASE_URL/api/v1/jobs" -H 'content-type: application/json' \
		-H "X-API-Key: $API_KEY" -d '{"queue":"http-next","target":"nextgen"}' >/dev/null
done
claim=$(curl -s -X POST "$BASE_URL/api/v1/queues/http-next/claim" \
	-H 'content-type: application/json' -H "X-API-Key: $API_KEY" -d '{"workerId":"http-chain"}')
first=$(printf '%s' "$claim" | "$PY" -c 'import json, sys; c = json.load(sys.stdin)["data"]["jobs"][0]; print(c["job"]["id"], c["leaseToken"])')
set -- $first
out=$(curl -s -X POST "$BASE_URL/api/v1/jobs/$1/complete" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d "{\"leaseToken\":\"$2\",\"claimNext\":{\"queue\":\"http-next\",\"workerId\":\"http-chain\"}}")
gw_expect "POST /api/v1/jobs/{id}/complete with claimNext: completed, next job claimed" "$out" \
	'j["ok"] and j["data"]["job"]["status"] == "succeeded" and len(j["data"]["next"]["jobs"]) == 1 and j["data"]["next"]["jobs"][0]["job"]["status"] == "in_progress" and j["data"]["next"]["jobs"][0]["leaseToken"]'
r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs/$1/complete" -H 'content-type: application/json' \
	-H "X-API-Key: $API_KEY" -d "{\"leaseToken\":\"$2\",\"claimNext\":{\"queue\":\"http-next\",\"waitMs\":1000}}")
gw_status "claimNext that waits: 400" 400 "$(gw_code "$r")"

gw_finish
