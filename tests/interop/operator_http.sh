#!/usr/bin/env bash
# Seed 001's operator API contract over HTTP with curl, as written: every
# endpoint under /api/v1/operator/writeback with exactly the fields the
# contract lists, its query ranges, the envelopes and the HTTP status of
# every error code it names; then seed 004's controls, stats, metrics,
# audit and bulk replay routes. Dead letters are made by a worker over the
# same HTTP API.
set -euo pipefail
source "$(dirname "$0")/lib/gateway_env.sh"

gw_start_server
OP=$BASE_URL/api/v1/operator/writeback
WHO=(-H "X-Operator-Identity: ops@example.com")
KEY=(-H "X-API-Key: $API_KEY")
JSON=(-H 'content-type: application/json')
REASON='{"reason":"EHR outage resolved, INC-1234"}'

# Python expressions shared by the checks below.
SUMMARY='{"jobId","noteId","status","operatorStatus","reasonCode","attempts","replayOfJobId","replayedJobId","updatedAt"}'
VIEW='{"jobId","noteId","ehr","status","attempts","operatorStatus","lastError","reasonCode","replayOfJobId","replayedJobId","createdAt","updatedAt"}'
ERR='j["ok"] is False and set(j) == {"ok","error","correlationId"} and set(j["error"]) == {"code","message"} and j["correlationId"]'

# --- three dead letters, made by a worker over HTTP ---------------------
for n in 1 2 3; do
	curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" "${JSON[@]}" "${KEY[@]}" \
		-d '{"noteId":"note-op-'$n'","ehr":"nextgen","idempotencyKey":"op-key-'$n'"}' >/dev/null
done
claim=$(curl -s -X POST "$BASE_URL/api/v1/queues/writeback/claim" "${JSON[@]}" "${KEY[@]}" \
	-d '{"workerId":"http-worker","max":3}')
ids=()
while read -r id token; do
	ids+=("$id")
	curl -s -X POST "$BASE_URL/api/v1/jobs/$id/fail" "${JSON[@]}" "${KEY[@]}" \
		-d '{"leaseToken":"'"$token"'","code":"ehr_timeout","error":"EHR did not answer","errorDetail":"{\"ssn\":\"123-45-6789\"}","retryable":false}' >/dev/null
done < <(printf '%s' "$claim" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["data"]["jobs"]:
    print(c["job"]["id"], c["leaseToken"])')
[ "${#ids[@]}" -eq 3 ] || { echo "FAIL - could not make dead letters: $claim" >&2; exit 1; }
D1=${ids[0]} D2=${ids[1]} D3=${ids[2]}
MISSING=00000000-0000-4000-8000-000000000000

# --- GET /status/summary ------------------------------------------------
out=$(curl -s "$OP/status/summary?recentHours=24" "${KEY[@]}")
gw_expect "summary: exactly countsByStatus, deadLetterOperatorCounts, recentFailures" "$out" \
	'j["ok"] and set(j["data"]) == {"countsByStatus","deadLetterOperatorCounts","recentFailures"}'
gw_expect "summary: every status counted, dead_failed 3, numbers as JSON numbers" "$out" \
	'len(j["data"]["countsByStatus"]) == 8 and j["data"]["countsByStatus"]["dead_failed"] == 3 and j["data"]["countsByStatus"]["aborted"] == 0'
gw_expect "summary: deadLetterOperatorCounts {open, acknowledged}" "$out" \
	'j["data"]["deadLetterOperatorCounts"] == {"open": 3, "acknowledged": 0}'
gw_expect "summary: recentFailures fields and legacy code upper-cased" "$out" \
	'set(j["data"]["recentFailures"]) == {"since","total","retryable","nonRetryable","unknown","byReasonCode","windowHours"} and j["data"]["recentFailures"]["byReasonCode"] == {"EHR_TIMEOUT": 3} and j["data"]["recentFailures"]["windowHours"] == 24 and j["data"]["recentFailures"]["nonRetryable"] == 3'
out=$(curl -s "$OP/status/summary" "${KEY[@]}")
gw_expect "summary: recentHours defaults to 24" "$out" 'j["data"]["recentFailures"]["windowHours"] == 24'
for bad in 0 169 x; do
	r=$(gw_curl "$OP/status/summary?recentHours=$bad" "${KEY[@]}")
	gw_status "summary: recentHours=$bad is 400" 400 "$(gw_code "$r")"
	gw_expect "summary: recentHours=$bad has the error envelope" "$(gw_body "$r")" "$ERR"' and j["error"]["code"] == "VALIDATION_ERROR"'
done
r=$(gw_curl "$OP/status/summary")
gw_status "summary: no key is 401" 401 "$(gw_code "$r")"
gw_expect "summary: 401 is UNAUTHORIZED" "$(gw_body "$r")" "$ERR"' and j["error"]["code"] == "UNAUTHORIZED"'

# --- GET /dead-letters --------------------------------------------------
out=$(curl -s "$OP/dead-letters?status=dead_failed&limit=50" "${KEY[@]}")
gw_expect "dead-letters: data is an array of summaries with exactly seed 001's fields" "$out" \
	'j["ok"] and len(j["data"]) == 3 and all(set(d) == '"$SUMMARY"' for d in j["data"])'
gw_expect "dead-letters: reasonCode upper-cased, operatorStatus open" "$out" \
	'all(d["reasonCode"] == "EHR_TIMEOUT" and d["operatorStatus"] == "open" and d["attempts"] == 1 for d in j["data"])'
out=$(curl -s "$OP/dead-letters?status=failed&reason=Ehr_Timeout" "${KEY[@]}")
gw_expect "dead-letters: failed and a reason in any case" "$out" 'len(j["data"]) == 3'
out=$(curl -s "$OP/dead-letters?status=retryable_failed" "${KEY[@]}")
gw_expect "dead-letters: none retryable_failed" "$out" 'j["ok"] and j["data"] == []'
for q in "status=succeeded" "limit=0" "limit=101" "limit=ten"; do
	r=$(gw_curl "$OP/dead-letters?$q" "${KEY[@]}")
	gw_status "dead-letters: $q is 400" 400 "$(gw_code "$r")"
done

# --- GET /dead-letters/:id, /history, /replay-status --------------------
out=$(curl -s "$OP/dead-letters/$D1" "${KEY[@]}")
gw_expect "detail: deadLetter, lastError, attempts, replayLinkage" "$out" \
	'j["ok"] and set(j["data"]) == {"deadLetter","lastError","attempts","replayLinkage"} and set(j["data"]["deadLetter"]) == '"$SUMMARY"
gw_expect "detail: attempts with exactly seed 001's fields" "$out" \
	'set(j["data"]["attempts"][0]) == {"attempt","fromStatus","toStatus","error","reasonCode","occurredAt"} and j["data"]["attempts"][0]["reasonCode"] == "EHR_TIMEOUT"'
gw_expect "detail: replayLinkage {replayOfJobId, replayedJobId}; no raw detail" "$out" \
	'set(j["data"]["replayLinkage"]) == {"replayOfJobId","replayedJobId"} and "123-45-6789" not in s and "errorDetail" not in s'
out=$(curl -s "$OP/dead-letters/$D1/history" "${KEY[@]}")
gw_expect "history: linkage fields and the timeline" "$out" \
	'set(j["data"]["replayLinkage"]) == {"originalJobId","isReplay","hasReplay","replayOfJobId","replayedJobId","replayJobStatus"} and all(set(e) == {"eventId","eventType","actor","payload","createdAt"} for e in j["data"]["timeline"]) and len(j["data"]["timeline"]) == 3'
out=$(curl -s "$OP/dead-letters/$D1/replay-status" "${KEY[@]}")
gw_expect "replay-status: deadLetter and replayLinkage only" "$out" \
	'set(j["data"]) == {"deadLetter","replayLinkage"} and j["data"]["replayLinkage"]["hasReplay"] is False'
for path in "" /history /replay-status; do
	r=$(gw_curl "$OP/dead-letters/not-a-uuid$path" "${KEY[@]}")
	gw_status "dead-letters/not-a-uuid$path is 400" 400 "$(gw_code "$r")"
	r=$(gw_curl "$OP/dead-letters/$MISSING$path" "${KEY[@]}")
	gw_status "dead-letters/<unknown>$path is 404" 404 "$(gw_code "$r")"
	gw_expect "dead-letters/<unknown>$path is DEAD_LETTER_NOT_FOUND" "$(gw_body "$r")" "$ERR"' and j["error"]["code"] == "DEAD_LETTER_NOT_FOUND"'
done

# --- POST /dead-letters/:id/replay --------------------------------------
r=$(gw_curl -X POST "$OP/dead-letters/$D1/replay" "${JSON[@]}" "${KEY[@]}" -d '{}')
gw_status "replay without a reason is 400" 400 "$(gw_code "$r")"
r=$(gw_curl -X POST "$OP/dead-letters/$D1/replay" "${JSON[@]}" "${KEY[@]}" -d '{"reason":"test"}')
gw_status "replay with a placeholder reason is 400" 400 "$(gw_code "$r")"
out=$(curl -s -X POST "$OP/dead-letters/$D1/replay" "${JSON[@]}" "${KEY[@]}" "${WHO[@]}" -d "$REASON")
gw_expect "replay: originalJob and replayJob, operator-safe views" "$out" \
	'j["ok"] and set(j["data"]) == {"originalJob","replayJob"} and set(j["data"]["originalJob"]) == '"$VIEW"' and set(j["data"]["replayJob"]) == '"$VIEW"' and "idempotency" not in s.lower()'
gw_expect "replay: the new job is queued, linked both ways, same note and EHR" "$out" \
	'j["data"]["replayJob"]["status"] == "queued" and j["data"]["replayJob"]["replayOfJobId"] == "'"$D1"'" and j["data"]["originalJob"]["replayedJobId"] == j["data"]["replayJob"]["jobId"] and j["data"]["replayJob"]["noteId"] == "note-op-1" and j["data"]["replayJob"]["ehr"] == "nextgen"'
R1=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["replayJob"]["jobId"])')
r=$(gw_curl -X POST "$OP/dead-letters/$D1/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay twice is 409" 409 "$(gw_code "$r")"
gw_expect "replay twice is WRITEBACK_REPLAY_ALREADY_EXISTS" "$(gw_body "$r")" "$ERR"' and j["error"]["code"] == "WRITEBACK_REPLAY_ALREADY_EXISTS"'
r=$(gw_curl -X POST "$OP/dead-letters/$R1/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay of a queued job is 409" 409 "$(gw_code "$r")"
gw_expect "replay of a queued job is DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED" "$(gw_body "$r")" 'j["error"]["code"] == "DEAD_LETTER_REPLAY_REQUIRES_DEAD_FAILED"'
r=$(gw_curl -X POST "$OP/dead-letters/$MISSING/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay of an unknown id is 404" 404 "$(gw_code "$r")"
r=$(gw_curl -X POST "$OP/dead-letters/nope/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay of a bad id is 400" 400 "$(gw_code "$r")"
# Another job of note 2 is still queued: the replay would write it twice.
curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" "${JSON[@]}" "${KEY[@]}" \
	-d '{"noteId":"note-op-2","ehr":"nextgen","idempotencyKey":"op-key-2b"}' >/dev/null
r=$(gw_curl -X POST "$OP/dead-letters/$D2/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay while the note has a queued job is 409" 409 "$(gw_code "$r")"
gw_expect "... WRITEBACK_PRECONDITION_FAILED" "$(gw_body "$r")" 'j["error"]["code"] == "WRITEBACK_PRECONDITION_FAILED"'
# A later job of note 3 succeeded: the note is written already.
curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" "${JSON[@]}" "${KEY[@]}" \
	-d '{"noteId":"note-op-3","ehr":"nextgen","idempotencyKey":"op-key-3b"}' >/dev/null
claim=$(curl -s -X POST "$BASE_URL/api/v1/queues/writeback/claim" "${JSON[@]}" "${KEY[@]}" \
	-d '{"workerId":"http-worker","max":10}')
while read -r id token; do
	curl -s -X POST "$BASE_URL/api/v1/jobs/$id/complete" "${JSON[@]}" "${KEY[@]}" \
		-d '{"leaseToken":"'"$token"'","summary":"written"}' >/dev/null
done < <(printf '%s' "$claim" | "$PY" -c '
import json, sys
for c in json.load(sys.stdin)["data"]["jobs"]:
    print(c["job"]["id"], c["leaseToken"])')
r=$(gw_curl -X POST "$OP/dead-letters/$D3/replay" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "replay after a later success is 409" 409 "$(gw_code "$r")"
gw_expect "... ILLEGAL_NOTE_STATE_TRANSITION" "$(gw_body "$r")" 'j["error"]["code"] == "ILLEGAL_NOTE_STATE_TRANSITION"'
out=$(curl -s "$OP/dead-letters/$D1/history" "${KEY[@]}")
gw_expect "history after the replay: hasReplay, replayJobStatus" "$out" \
	'j["data"]["replayLinkage"]["hasReplay"] and j["data"]["replayLinkage"]["replayedJobId"] == "'"$R1"'" and j["data"]["replayLinkage"]["originalJobId"] == "'"$D1"'"'

# --- POST /dead-letters/:id/acknowledge ---------------------------------
out=$(curl -s -X POST "$OP/dead-letters/$D2/acknowledge" "${JSON[@]}" "${KEY[@]}" "${WHO[@]}" -d "$REASON")
gw_expect "acknowledge: data is the operator-safe view, acknowledged" "$out" \
	'j["ok"] and set(j["data"]) == '"$VIEW"' and j["data"]["operatorStatus"] == "acknowledged"'
r=$(gw_curl -X POST "$OP/dead-letters/$D2/acknowledge" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "acknowledge twice is 409" 409 "$(gw_code "$r")"
gw_expect "... DEAD_LETTER_ALREADY_ACKNOWLEDGED" "$(gw_body "$r")" 'j["error"]["code"] == "DEAD_LETTER_ALREADY_ACKNOWLEDGED"'
r=$(gw_curl -X POST "$OP/dead-letters/$MISSING/acknowledge" "${JSON[@]}" "${KEY[@]}" -d "$REASON")
gw_status "acknowledge of an unknown id is 404" 404 "$(gw_code "$r")"
r=$(gw_curl -X POST "$OP/dead-letters/$D2/acknowledge" "${JSON[@]}" -d "$REASON")
gw_status "acknowledge without a key is 401" 401 "$(gw_code "$r")"

# --- seed 000 step C: the operator job detail ---------------------------
out=$(curl -s "$OP/jobs/$D1" "${KEY[@]}")
gw_expect "job detail: job, attempts, timeline; the raw detail redacted" "$out" \
	'j["ok"] and j["data"]["job"]["status"] == "dead_failed" and j["data"]["job"]["lastError"] == "EHR did not answer" and "123-45-6789" not in s and "[REDACTED]" in j["data"]["job"]["lastErrorDetail"]'

# --- seed 004: controls, stats, eligible, metrics, audit, bulk ----------
J=$(curl -s -X POST "$BASE_URL/api/v1/writeback/jobs" "${JSON[@]}" "${KEY[@]}" \
	-d '{"noteId":"note-ctl","ehr":"nextgen","idempotencyKey":"op-key-ctl"}' |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["jobId"])')
out=$(curl -s -X POST "$BASE_URL/api/v1/operator/jobs/$J/reroute" "${JSON[@]}" "${KEY[@]}" "${WHO[@]}" \
	-d '{"newTarget":"epic","reason":"Misrouted to the wrong EHR, JIRA-4567"}')
gw_expect "reroute: rerouted to the new target" "$out" \
	'j["ok"] and j["data"]["job"]["status"] == "rerouted" and j["data"]["job"]["ehr"] == "epic" and j["data"]["previousTarget"] == "nextgen"'
out=$(curl -s -X POST "$BASE_URL/api/v1/operator/jobs/$J/cancel" "${JSON[@]}" "${KEY[@]}" "${WHO[@]}" \
	-d '{"reason":"User cancellation via support ticket #12345"}')
gw_expect "cancel: cancelled at once" "$out" 'j["ok"] and j["data"]["job"]["status"] == "cancelled" and j["data"]["changed"]'
for c in abort reroute force-complete; do
	case $c in
	abort) body='{"reason":"Runaway request, INC-9"}' ;;
	reroute) body='{"reason":"Runaway request, INC-9","newTarget":"epic"}' ;;
	*) body='{"reason":"Runaway request, INC-9","completionSummary":"Answered by email"}' ;;
	esac
	r=$(gw_curl -X POST "$BASE_URL/api/v1/operator/jobs/$J/$c" "${JSON[@]}" "${KEY[@]}" -d "$body")
	gw_status "$c of a cancelled job is 409" 409 "$(gw_code "$r")"
	gw_expect "$c of a cancelled job is TERMINAL_STATE" "$(gw_body "$r")" 'j["error"]["code"] == "TERMINAL_STATE"'
done
out=$(curl -s "$BASE_URL/api/v1/operator/audit?target=$J" "${KEY[@]}")
gw_expect "audit by target: attributed, newest first, refusals too" "$out" \
	'j["ok"] and [e["actionType"] for e in j["data"]["entries"]][-2:] == ["cancel_request", "manual_reroute"] and j["data"]["entries"][-1]["operatorIdentity"] == "ops@example.com" and sum(e["outcome"] == "refused" for e in j["data"]["entries"]) == 3'
out=$(curl -s "$BASE_URL/api/v1/operator/dead-letters/stats" "${KEY[@]}")
gw_expect "dead-letter stats" "$out" 'j["ok"] and j["data"]["total"] == 3 and j["data"]["replayed"] == 1 and j["data"]["depthByCategory"] == {"uncategorized": 2}'
out=$(curl -s "$BASE_URL/api/v1/operator/dead-letters/replay-eligible?limit=10" "${KEY[@]}")
gw_expect "replay-eligible: data is the list (none: the failures were final)" "$out" 'j["ok"] and j["data"] == []'
out=$(curl -s "$BASE_URL/api/v1/operator/metrics?windowHours=24" "${KEY[@]}")
gw_expect "metrics: the three alert rules" "$out" \
	'j["ok"] and sorted(a["name"] for a in j["data"]["alerts"]) == ["dead_letter_depth","operator_action_rate","replay_failure_rate"]'
out=$(curl -s -X POST "$BASE_URL/api/v1/operator/bulk-replays" "${JSON[@]}" "${KEY[@]}" "${WHO[@]}" \
	-d '{"filter":{"queue":"writeback","includeIneligible":true},"dryRun":true,"reason":"How many would a replay take? INC-1234"}')
gw_expect "bulk replay dry run: data is the operation" "$out" \
	'j["ok"] and j["data"]["dryRun"] and j["data"]["matched"] == 2 and j["data"]["status"] == "completed"'
OPID=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])')
out=$(curl -s "$BASE_URL/api/v1/operator/bulk-operations/$OPID" "${KEY[@]}")
gw_expect "bulk operation by id" "$out" 'j["ok"] and j["data"]["id"] == "'"$OPID"'"'
r=$(gw_curl -X POST "$BASE_URL/api/v1/operator/bulk-replays" "${JSON[@]}" "${KEY[@]}" \
	-d '{"filter":{},"reason":"Replay everything, INC-1234"}')
gw_status "bulk replay without a criterion is 400" 400 "$(gw_code "$r")"

gw_finish
