#!/usr/bin/env bash
# Seed 003's operator loop over HTTP with curl, as written (GET /v1/health,
# GET /v1/exceptions?status=open, GET /v1/exceptions/{id},
# POST /v1/exceptions/{id}/resolve): an idempotency conflict and a kind
# the queue does not allow open exceptions; an operator compares the first
# and last raw requests, resolves one with a patched replay and one without
# replay; the health figures, the keys, the jobs, the audit log and the
# events follow. Then every refusal of bad input, and that it changed
# nothing.
set -euo pipefail
source "$(dirname "$0")/lib/gateway_env.sh"

# With a publisher, so that the outbox gets its positions and ListEvents
# shows the exception events.
gw_start_server --events "ipc://$tmp/events.sock"
KEY=(-H "X-API-Key: $API_KEY")
JSON=(-H 'content-type: application/json')
ERR='j["ok"] is False and set(j) == {"ok","error","correlationId"}'
NOTES='Upstream resent with the corrected amount; LAST is canonical'

create() {
	curl -s -X POST "$BASE_URL/api/v1/jobs" "${JSON[@]}" "${KEY[@]}" -d "$1"
}
sql_health() { curl -s "$BASE_URL/v1/health" "${KEY[@]}"; }

# --- a conflict: the same key with a different amount --------------------
out=$(create '{"queue":"payments","kind":"payment.captured","subject":"ord-1","idempotencyKey":"pay-ord-1","payload":"{\"amount\":100,\"email\":\"pat@example.org\"}"}')
gw_expect "the first request creates its job" "$out" 'j["ok"] and j["data"]["created"]'
FIRST_JOB=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["job"]["id"])')
for amount in 120 125; do
	r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${JSON[@]}" "${KEY[@]}" \
		-d '{"queue":"payments","kind":"payment.captured","subject":"ord-1","idempotencyKey":"pay-ord-1","payload":"{\"amount\":'$amount'}"}')
	gw_status "a different request with the key: 409 (amount $amount)" 409 "$(gw_code "$r")"
	gw_expect "... IDEMPOTENCY_CONFLICT" "$(gw_body "$r")" 'j["error"]["code"] == "IDEMPOTENCY_CONFLICT"'
done
out=$(create '{"queue":"payments","kind":"payment.captured","subject":"ord-1","idempotencyKey":"pay-ord-1","payload":"{\"amount\":100,\"email\":\"pat@example.org\"}"}')
gw_expect "the first request again still answers its job" "$out" \
	'j["ok"] and not j["data"]["created"] and j["data"]["job"]["id"] == "'"$FIRST_JOB"'"'

# --- 1) Check health ------------------------------------------------------
out=$(sql_health)
gw_expect "seed 003 1: /v1/health has exceptionsOpen 1 and the idempotency breakdown" "$out" \
	'j["ok"] and j["data"]["exceptionsOpen"] == 1 and j["data"]["idempotency"] == {"processed": 0, "quarantined": 1, "ignored": 0} and j["data"]["openByType"] == [{"exceptionType": "IDEMPOTENCY_CONFLICT", "open": 1}] and j["data"]["oldestOpenAt"]'
r=$(gw_curl "$BASE_URL/v1/health")
gw_status "/v1/health needs a key (it counts tenants' keys)" 401 "$(gw_code "$r")"

# --- 2) Work the exceptions queue ---------------------------------------
out=$(curl -s "$BASE_URL/v1/exceptions?status=open" "${KEY[@]}")
gw_expect "seed 003 2: the open list has the conflict, without raw requests or the key" "$out" \
	'j["ok"] and len(j["data"]["exceptions"]) == 1 and j["data"]["exceptions"][0]["exceptionType"] == "IDEMPOTENCY_CONFLICT" and j["data"]["exceptions"][0]["status"] == "open" and j["data"]["exceptions"][0]["arrivals"] == 3 and j["data"]["exceptions"][0]["firstRaw"] == "" and "pay-ord-1" not in json.dumps(j)'
X1=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["exceptions"][0]["id"])')
out=$(curl -s "$BASE_URL/v1/exceptions?status=open&tenant=default" "${KEY[@]}")
gw_expect "seed 003 2: filter by tenant" "$out" 'len(j["data"]["exceptions"]) == 1'
out=$(curl -s "$BASE_URL/api/v1/exceptions?status=resolved" "${KEY[@]}")
gw_expect "status=resolved: none yet (and /api/v1/exceptions is the same list)" "$out" 'j["ok"] and j["data"]["exceptions"] == []'

# --- 3) Inspect exception detail ----------------------------------------
out=$(curl -s "$BASE_URL/v1/exceptions/$X1" "${KEY[@]}")
gw_expect "seed 003 3: detail has reason code, details, key state and the job" "$out" \
	'j["ok"] and j["data"]["exception"]["reasonCode"] == "IDEMPOTENCY_CONFLICT" and j["data"]["exception"]["idempotencyState"] == "quarantined" and json.loads(j["data"]["exception"]["details"])["conflicts"] == 2 and j["data"]["job"]["jobId"] == "'"$FIRST_JOB"'"'
gw_expect "seed 003 3: FIRST vs LAST raw side by side, sensitive keys redacted" "$out" \
	'json.loads(j["data"]["exception"]["firstRaw"])["payload"] == {"amount": 100, "email": "[REDACTED]"} and json.loads(j["data"]["exception"]["lastRaw"])["payload"] == {"amount": 125} and json.loads(j["data"]["exception"]["lastRaw"])["subject"] == "ord-1"'

# --- bad resolutions: each refused, nothing changes ----------------------
resolve() { gw_curl -X POST "$BASE_URL/v1/exceptions/$1/resolve" "${JSON[@]}" "${KEY[@]}" -d "$2"; }
bad() { # name, id, body, status, code
	local r
	r=$(resolve "$2" "$3")
	gw_status "$1: $4" "$4" "$(gw_code "$r")"
	gw_expect "$1: $5" "$(gw_body "$r")" "$ERR"' and j["error"]["code"] == "'"$5"'"'
}
bad "no actor" "$X1" '{"action":"mark_resolved_no_replay","resolutionNotes":"'"$NOTES"'"}' 400 VALIDATION_ERROR
bad "no notes" "$X1" '{"action":"mark_resolved_no_replay","actor":"alice"}' 400 VALIDATION_ERROR
bad "placeholder notes" "$X1" '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"fix it"}' 400 VALIDATION_ERROR
bad "unknown action" "$X1" '{"action":"delete","actor":"alice","resolutionNotes":"'"$NOTES"'"}' 400 VALIDATION_ERROR
bad "a patch without replay" "$X1" '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{}"}' 400 VALIDATION_ERROR
bad "canonical middle" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","canonical":"middle"}' 400 VALIDATION_ERROR
bad "a patch that is not JSON" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{amount"}' 400 VALIDATION_ERROR
bad "a patch that is an array" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"[1]"}' 400 VALIDATION_ERROR
bad "a patch that moves the queue" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{\"queue\":\"elsewhere\"}"}' 400 VALIDATION_ERROR
bad "a patch that sets the key" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{\"idempotency_key\":\"k2\"}"}' 400 VALIDATION_ERROR
bad "a patch with a string priority" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{\"priority\":\"high\"}"}' 400 VALIDATION_ERROR
bad "a patch that makes the payload invalid for CreateJob" "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","overridePatch":"{\"max_attempts\":5000}"}' 400 VALIDATION_ERROR
bad "an unknown field" "$X1" '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","force":true}' 400 VALIDATION_ERROR
bad "a bad UUID" "not-a-uuid" '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"'"$NOTES"'"}' 400 VALIDATION_ERROR
bad "an unknown exception" "00000000-0000-4000-8000-000000000000" '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"'"$NOTES"'"}' 404 EXCEPTION_NOT_FOUND
r=$(gw_curl "$BASE_URL/v1/exceptions/00000000-0000-4000-8000-000000000000" "${KEY[@]}")
gw_status "GET an unknown exception: 404" 404 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/v1/exceptions?status=closed" "${KEY[@]}")
gw_status "status=closed: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/v1/exceptions?limit=101" "${KEY[@]}")
gw_status "limit=101: 400" 400 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/v1/exceptions?pageToken=zz" "${KEY[@]}")
gw_status "a page token this server did not give: 400" 400 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/v1/exceptions/$X1/resolve" "${JSON[@]}" -d '{"action":"mark_resolved_no_replay","actor":"alice","resolutionNotes":"'"$NOTES"'"}')
gw_status "resolve without a key: 401" 401 "$(gw_code "$r")"
out=$(curl -s "$BASE_URL/v1/exceptions/$X1" "${KEY[@]}")
gw_expect "after the refusals the exception is still open, its key quarantined" "$out" \
	'j["data"]["exception"]["status"] == "open" and j["data"]["exception"]["idempotencyState"] == "quarantined" and j["data"]["exception"]["replayAttempts"] == 0'
out=$(curl -s "$BASE_URL/api/v1/operator/audit?actionType=exception_resolve&outcome=refused" "${KEY[@]}")
gw_expect "each refusal the handler saw is in the audit log" "$out" \
	'j["ok"] and len(j["data"]["entries"]) >= 11 and all(e["errorCode"] for e in j["data"]["entries"])'

# --- 4) override_and_replay: LAST, with a merge patch --------------------
r=$(resolve "$X1" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"'"$NOTES"'","canonical":"last","overridePatch":"{\"payload\":{\"currency\":\"EUR\"},\"priority\":5}"}')
gw_status "seed 003 4: override_and_replay answers 200" 200 "$(gw_code "$r")"
out=$(gw_body "$r")
gw_expect "seed 003 4: a new job from LAST with the patch applied" "$out" \
	'j["data"]["created"] and j["data"]["job"]["jobId"] != "'"$FIRST_JOB"'" and json.loads(j["data"]["job"]["payload"]) == {"amount": 125, "currency": "EUR"} and j["data"]["job"]["priority"] == 5 and j["data"]["job"]["kind"] == "payment.captured"'
REPLAY_JOB=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["job"]["jobId"])')
gw_expect "seed 003 5: resolved, key processed, replay attempts 1, attributed" "$out" \
	'j["data"]["exception"]["status"] == "resolved" and j["data"]["exception"]["resolution"] == "override_and_replay" and j["data"]["exception"]["idempotencyState"] == "processed" and j["data"]["exception"]["replayAttempts"] == 1 and j["data"]["exception"]["resolvedBy"] == "alice" and j["data"]["exception"]["resolutionNotes"] == "'"$NOTES"'" and j["data"]["exception"]["jobId"] == "'"$REPLAY_JOB"'"'
bad "resolving it again" "$X1" '{"action":"mark_resolved_no_replay","actor":"bob","resolutionNotes":"'"$NOTES"'"}' 409 EXCEPTION_ALREADY_RESOLVED
out=$(create '{"queue":"payments","kind":"payment.captured","subject":"ord-1","idempotencyKey":"pay-ord-1","payload":"{\"amount\":125,\"currency\":\"EUR\"}","priority":5}')
gw_expect "the key now answers the canonical request with the replay's job" "$out" \
	'j["ok"] and not j["data"]["created"] and j["data"]["job"]["id"] == "'"$REPLAY_JOB"'"'

# --- UNKNOWN_EVENT_TYPE: a queue that allows two kinds --------------------
r=$(gw_curl -X PATCH "$BASE_URL/api/v1/queues/ledger" "${JSON[@]}" "${KEY[@]}" \
	-d '{"allowedKinds":{"kinds":["entry.posted","entry.reversed"]},"reason":"Only ledger entries go to this queue"}')
gw_expect "UpdateQueue sets allowed kinds" "$(gw_body "$r")" 'j["data"]["queue"]["allowedKinds"] == ["entry.posted","entry.reversed"]'
r=$(gw_curl -X PATCH "$BASE_URL/api/v1/queues/ledger" "${JSON[@]}" "${KEY[@]}" -d '{"allowedKinds":{"kinds":["bad kind"]}}')
gw_status "UpdateQueue refuses a kind that is not a name" 400 "$(gw_code "$r")"
out=$(create '{"queue":"ledger","kind":"entry.posted","subject":"e-1","payload":"{\"n\":1}"}')
gw_expect "an allowed kind is created" "$out" 'j["ok"] and j["data"]["created"]'
for try in 1 2; do
	r=$(gw_curl -X POST "$BASE_URL/api/v1/jobs" "${JSON[@]}" "${KEY[@]}" \
		-d '{"queue":"ledger","kind":"entry.voided","subject":"e-2","idempotencyKey":"led-e-2","payload":"{\"n\":2}"}')
	gw_status "a kind the queue does not allow: 400 (try $try)" 400 "$(gw_code "$r")"
	gw_expect "... UNKNOWN_EVENT_TYPE, naming the allowed kinds" "$(gw_body "$r")" \
		'j["error"]["code"] == "UNKNOWN_EVENT_TYPE" and "entry.posted" in j["error"]["message"]'
done
out=$(curl -s "$BASE_URL/v1/exceptions?status=open&exceptionType=UNKNOWN_EVENT_TYPE" "${KEY[@]}")
gw_expect "the two tries opened one exception with two arrivals, the key untouched" "$out" \
	'len(j["data"]["exceptions"]) == 1 and j["data"]["exceptions"][0]["arrivals"] == 2 and j["data"]["exceptions"][0]["idempotencyState"] == "" and j["data"]["exceptions"][0]["jobId"] == ""'
X2=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["exceptions"][0]["id"])')
bad "a replay of a kind still not allowed" "$X2" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"Voids are reversals in this ledger"}' 400 UNKNOWN_EVENT_TYPE
out=$(curl -s "$BASE_URL/v1/exceptions/$X2" "${KEY[@]}")
gw_expect "... and the exception stays open with no replay counted" "$out" \
	'j["data"]["exception"]["status"] == "open" and j["data"]["exception"]["replayAttempts"] == 0'
r=$(resolve "$X2" '{"action":"override_and_replay","actor":"alice","resolutionNotes":"Voids are reversals in this ledger","overridePatch":"{\"kind\":\"entry.reversed\"}"}')
gw_status "a replay with the kind patched to an allowed one: 200" 200 "$(gw_code "$r")"
gw_expect "... makes the job with the key, which is now processed" "$(gw_body "$r")" \
	'j["data"]["created"] and j["data"]["job"]["kind"] == "entry.reversed" and j["data"]["exception"]["idempotencyState"] == "processed"'

# --- mark_resolved_no_replay -------------------------------------------
create '{"queue":"payments","kind":"payment.captured","subject":"ord-2","idempotencyKey":"pay-ord-2","payload":"{\"amount\":7}"}' >/dev/null
create '{"queue":"payments","kind":"payment.captured","subject":"ord-2","idempotencyKey":"pay-ord-2","payload":"{\"amount\":70}"}' >/dev/null
out=$(curl -s "$BASE_URL/v1/exceptions?status=open" "${KEY[@]}")
X3=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["exceptions"][0]["id"])')
jobs_before=$(curl -s "$BASE_URL/api/v1/jobs?queue=payments&limit=100" "${KEY[@]}" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["jobs"]))')
r=$(resolve "$X3" '{"action":"mark_resolved_no_replay","actor":"bob","resolutionNotes":"The second amount was an upstream bug, FIRST is valid"}')
gw_expect "seed 003 4: mark_resolved_no_replay closes it, key ignored, raw kept" "$(gw_body "$r")" \
	'j["data"]["exception"]["status"] == "resolved" and j["data"]["exception"]["idempotencyState"] == "ignored" and j["data"]["exception"]["lastRaw"] and j["data"]["exception"]["replayAttempts"] == 0 and "job" not in j["data"]'
jobs_after=$(curl -s "$BASE_URL/api/v1/jobs?queue=payments&limit=100" "${KEY[@]}" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["data"]["jobs"]))')
if [ "$jobs_before" = "$jobs_after" ]; then gw_ok "... and creates no job"; else gw_fail "... and creates no job" "$jobs_before -> $jobs_after"; fi

# --- 5) Verify closure --------------------------------------------------
out=$(sql_health)
gw_expect "seed 003 5: no open exceptions; keys processed 2 (ord-1, e-2), ignored 1 (ord-2)" "$out" \
	'j["data"]["exceptionsOpen"] == 0 and j["data"]["idempotency"] == {"processed": 2, "quarantined": 0, "ignored": 1} and j["data"]["oldestOpenAt"] == ""'
out=$(curl -s "$BASE_URL/v1/exceptions?status=resolved&limit=2" "${KEY[@]}")
gw_expect "paging: two resolved on the first page, a next page token" "$out" \
	'len(j["data"]["exceptions"]) == 2 and j["data"]["nextPageToken"]'
TOKEN=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["nextPageToken"])')
out=$(curl -s "$BASE_URL/v1/exceptions?status=resolved&limit=2&pageToken=$TOKEN" "${KEY[@]}")
gw_expect "paging: the third on the next page, and the last" "$out" \
	'len(j["data"]["exceptions"]) == 1 and j["data"]["nextPageToken"] == ""'

# --- tenants: a tenant's key sees and resolves only its own ------------
secret_for() {
	curl -s -X POST "$BASE_URL/api/v1/admin/keys" "${JSON[@]}" "${KEY[@]}" \
		-d '{"identity":"'"$1"'","role":"operator","tenant":"'"$2"'"}' |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["secret"])'
}
ACME=(-H "X-API-Key: $(secret_for ops-acme acme)")
GLOBEX=(-H "X-API-Key: $(secret_for ops-globex globex)")
for body in '{"amount":1}' '{"amount":2}'; do
	curl -s -X POST "$BASE_URL/api/v1/jobs" "${JSON[@]}" "${ACME[@]}" \
		-d '{"queue":"payments","kind":"payment.captured","idempotencyKey":"acme-1","payload":"'"${body//\"/\\\"}"'"}' >/dev/null
done
out=$(curl -s "$BASE_URL/v1/exceptions?status=open" "${ACME[@]}")
gw_expect "tenant acme's key lists acme's exception" "$out" \
	'len(j["data"]["exceptions"]) == 1 and j["data"]["exceptions"][0]["tenant"] == "acme"'
XA=$(printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["exceptions"][0]["id"])')
out=$(curl -s "$BASE_URL/v1/exceptions?status=open" "${GLOBEX[@]}")
gw_expect "tenant globex's key lists none of it" "$out" 'j["ok"] and j["data"]["exceptions"] == []'
out=$(curl -s "$BASE_URL/v1/health" "${GLOBEX[@]}")
gw_expect "... and its health counts only its own" "$out" 'j["data"]["exceptionsOpen"] == 0 and j["data"]["idempotency"]["quarantined"] == 0'
r=$(gw_curl "$BASE_URL/v1/exceptions?tenant=acme" "${GLOBEX[@]}")
gw_status "globex asking for acme's list: 403" 403 "$(gw_code "$r")"
r=$(gw_curl "$BASE_URL/v1/exceptions/$XA" "${GLOBEX[@]}")
gw_status "globex reading acme's exception: 404" 404 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/v1/exceptions/$XA/resolve" "${JSON[@]}" "${GLOBEX[@]}" \
	-d '{"action":"mark_resolved_no_replay","actor":"mallory","resolutionNotes":"Not mine but closing it anyway"}')
gw_status "globex resolving acme's exception: 404" 404 "$(gw_code "$r")"
r=$(gw_curl -X POST "$BASE_URL/v1/exceptions/$XA/resolve" "${JSON[@]}" "${ACME[@]}" \
	-d '{"action":"override_and_replay","actor":"wile","resolutionNotes":"The second charge is the corrected one"}')
gw_expect "acme's key resolves it, the replay in tenant acme" "$(gw_body "$r")" \
	'j["ok"] and j["data"]["job"]["tenant"] == "acme" and json.loads(j["data"]["job"]["payload"]) == {"amount": 2}'

# --- audit and events ---------------------------------------------------
out=$(curl -s "$BASE_URL/api/v1/operator/audit?target=exception:$X1" "${KEY[@]}")
gw_expect "the audit log finds an exception's resolution by target exception:<id>" "$out" \
	'[e["outcome"] for e in j["data"]["entries"]].count("accepted") == 1 and [e for e in j["data"]["entries"] if e["outcome"] == "accepted"][0]["operatorIdentity"] == "alice" and [e for e in j["data"]["entries"] if e["outcome"] == "accepted"][0]["targetJobId"] == "'"$REPLAY_JOB"'" and [e for e in j["data"]["entries"] if e["outcome"] == "accepted"][0]["reason"] == "'"$NOTES"'"'
out=$(curl -s "$BASE_URL/api/v1/events?topicPrefix=exception.&limit=100" "${KEY[@]}")
gw_expect "events: exception.opened four times, exception.resolved four times" "$out" \
	'[e["topic"] for e in j["data"]["events"]].count("exception.opened") == 4 and [e["topic"] for e in j["data"]["events"]].count("exception.resolved") == 4'

# --- cancel_superseded: the replay cancels the job the key answered ------
# conflict Q KEY: the first request's job id (printed); a second request
# with the key and another amount opens an exception, whose id goes to X.
conflict() {
	local out
	out=$(create '{"queue":"'"$1"'","kind":"payment.captured","subject":"'"$2"'","idempotencyKey":"'"$2"'","payload":"{\"amount\":1}"}')
	create '{"queue":"'"$1"'","kind":"payment.captured","subject":"'"$2"'","idempotencyKey":"'"$2"'","payload":"{\"amount\":2}"}' >/dev/null
	printf '%s' "$out" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["job"]["id"])'
}
open_exception() {
	curl -s "$BASE_URL/v1/exceptions?status=open&exceptionType=IDEMPOTENCY_CONFLICT" "${KEY[@]}" |
		"$PY" -c 'import json,sys; print(json.load(sys.stdin)["data"]["exceptions"][0]["id"])'
}
job_json() { curl -s "$BASE_URL/api/v1/operator/jobs/$1" "${KEY[@]}"; }
SUPERSEDE='Second amount is the corrected one; the first must not run'

# A job not started yet: cancelled with the replay, in one transaction.
OLD=$(conflict payments ord-4)
X4=$(open_exception)
bad "cancel_superseded without a replay" "$X4" '{"action":"mark_resolved_no_replay","actor":"carol","resolutionNotes":"'"$SUPERSEDE"'","cancelSuperseded":true}' 400 VALIDATION_ERROR
gw_expect "... and the first job is still queued" "$(job_json "$OLD")" 'j["data"]["job"]["status"] == "queued"'
r=$(resolve "$X4" '{"action":"override_and_replay","actor":"carol","resolutionNotes":"'"$SUPERSEDE"'","cancelSuperseded":true}')
gw_status "override_and_replay with cancelSuperseded: 200" 200 "$(gw_code "$r")"
gw_expect "... the new job is created and the superseded one cancelled" "$(gw_body "$r")" \
	'j["data"]["created"] and j["data"]["job"]["status"] == "queued" and j["data"]["supersededEffect"] == "cancelled" and j["data"]["supersededJob"]["jobId"] == "'"$OLD"'" and j["data"]["supersededJob"]["status"] == "cancelled"'
gw_expect "... the cancel is attributed on the old job: summary and timeline" "$(job_json "$OLD")" \
	'j["data"]["job"]["status"] == "cancelled" and "superseded by job" in j["data"]["job"]["completionSummary"] and "'"$SUPERSEDE"'" in j["data"]["job"]["completionSummary"] and any(e["eventType"] == "cancelled" and e["actor"] == "carol" for e in j["data"]["timeline"])'
out=$(curl -s "$BASE_URL/api/v1/operator/audit?target=exception:$X4" "${KEY[@]}")
gw_expect "... and the resolution's audit row names it" "$out" \
	'[json.loads(e["details"]) for e in j["data"]["entries"] if e["outcome"] == "accepted"][0]["superseded"] == "cancelled" and [json.loads(e["details"]) for e in j["data"]["entries"] if e["outcome"] == "accepted"][0]["superseded_job_id"] == "'"$OLD"'"'

# A running job: its cancel is requested; its worker learns at its heartbeat.
OLD=$(conflict payments-run ord-5)
r=$(gw_curl -X POST "$BASE_URL/api/v1/queues/payments-run/claim" "${JSON[@]}" "${KEY[@]}" -d '{"workerId":"w-1"}')
gw_expect "the first job is claimed by a worker" "$(gw_body "$r")" 'j["data"]["jobs"][0]["job"]["id"] == "'"$OLD"'"'
r=$(resolve "$(open_exception)" '{"action":"override_and_replay","actor":"carol","resolutionNotes":"'"$SUPERSEDE"'","cancelSuperseded":true}')
gw_expect "a running superseded job gets its cancel requested" "$(gw_body "$r")" \
	'j["data"]["created"] and j["data"]["supersededEffect"] == "cancel_requested" and j["data"]["supersededJob"]["status"] == "in_progress" and j["data"]["supersededJob"]["cancelRequested"]'

# A finished job is left as it is; the resolution still goes through.
OLD=$(conflict payments ord-6)
r=$(gw_curl -X POST "$BASE_URL/api/v1/operator/jobs/$OLD/force-complete" "${JSON[@]}" "${KEY[@]}" \
	-d '{"actor":"carol","reason":"Paid by hand at the counter","completionSummary":"paid by hand"}')
gw_expect "the first job is force-completed" "$(gw_body "$r")" 'j["ok"]'
r=$(resolve "$(open_exception)" '{"action":"override_and_replay","actor":"carol","resolutionNotes":"'"$SUPERSEDE"'","cancelSuperseded":true}')
gw_expect "a finished superseded job is left as it is (effect none)" "$(gw_body "$r")" \
	'j["data"]["created"] and j["data"]["supersededEffect"] == "none" and j["data"]["supersededJob"]["status"] == "succeeded"'

# The canonical request is the one the key answers: no new job, nothing
# superseded.
OLD=$(conflict payments ord-7)
r=$(resolve "$(open_exception)" '{"action":"override_and_replay","actor":"carol","resolutionNotes":"The first amount was right after all","canonical":"first","cancelSuperseded":true}')
gw_expect "canonical first: no job made, none cancelled" "$(gw_body "$r")" \
	'not j["data"]["created"] and j["data"]["job"]["jobId"] == "'"$OLD"'" and j["data"]["supersededEffect"] == "none" and "supersededJob" not in j["data"]'
gw_expect "... and the first job still queued" "$(job_json "$OLD")" 'j["data"]["job"]["status"] == "queued"'

gw_finish
