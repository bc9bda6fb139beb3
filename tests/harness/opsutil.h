/*
 * Helpers the operator tests share: calls with a correlation id, jobs made
 * and driven through JobService (created, claimed, completed, failed into
 * dead letters), and counts read with SQL.
 */
#ifndef OPSBUS_TEST_OPSUTIL_H
#define OPSBUS_TEST_OPSUTIL_H

#include <stdbool.h>

#include "opsbus.h"
#include "opsbus/v1/operator.pb-c.h"

/* The operator reason every accepted command in the tests gives. */
#define OU_REASON "Infrastructure recovered after the EHR outage, INC-4242"

/*
 * Calls method and writes the answer to *out (a ProtobufCMessage ** given
 * as void *; free with protobuf_c_message_free_unpacked). corr may be NULL.
 * Returns 0, or -1 with st filled.
 */
int ou_call(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const ProtobufCMessageDescriptor *out_desc,
    void *out, const char *corr, struct opsbus_status *st);

/* Calls an OperatorService method; the answer is freed. Returns 0 or -1
 * with st (its error_code) filled. */
int ou_op(struct opsbus_client *c, const char *method,
    const ProtobufCMessage *in, const char *corr, struct opsbus_status *st);

/* What a test job looks like; zeroes are defaults. */
struct ou_job {
	/* NULL: the key's tenant, or "default". */
	const char *tenant;
	const char *queue;
	const char *target;
	const char *subject;
	const char *payload;
	const char *idempotency_key;
	int         max_attempts;
	int         priority;
};

/* Creates a job; returns its id (malloc'd) or NULL. */
char *ou_create(struct opsbus_client *c, const struct ou_job *j);

/*
 * Claims up to n ready jobs of queue as worker; writes their ids and lease
 * tokens (malloc'd) into ids and tokens. Returns how many it claimed.
 */
int ou_claim(struct opsbus_client *c, const char *queue, const char *worker,
    int n, char **ids, char **tokens);

/* Reports a failure. Returns 0 or -1 with st. */
int ou_fail(struct opsbus_client *c, const char *id, const char *token,
    const char *reason_code, const char *category, bool retryable,
    const char *error, const char *detail, struct opsbus_status *st);
int ou_complete(struct opsbus_client *c, const char *id, const char *token,
    struct opsbus_status *st);
/* Heartbeats; writes whether a cancel was requested. */
int ou_heartbeat(struct opsbus_client *c, const char *id, const char *token,
    bool *cancel_requested, struct opsbus_status *st);

/*
 * A dead letter: a job (max_attempts 1, priority 1000 so that it is
 * claimed first) claimed and failed with the reason and category given;
 * retryable failures make it replay-eligible. Returns its id (malloc'd).
 */
char *ou_dead(struct opsbus_client *c, const struct ou_job *j,
    const char *reason_code, const char *category, bool retryable);

/* The status of job id, read with SQL (malloc'd; "" when none). */
char *ou_status(const char *id);

/* The number the SQL (a count) returns, -1 on failure. */
long ou_count(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same in database db of the test's PostgreSQL. */
long ou_count_in(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * ReplayDeadLetter of id with reason; the answer (free it with
 * protobuf_c_message_free_unpacked) or NULL with st filled.
 */
Opsbus__V1__ReplayDeadLetterResponse *ou_replay(struct opsbus_client *c,
    const char *id, const char *reason, const char *corr,
    struct opsbus_status *st);

/* A new random UUID in buf. */
void ou_uuid(char buf[37]);

/* Milliseconds of the monotonic clock. */
long long ou_now_ms(void);
void      ou_sleep_ms(int ms);

#endif
