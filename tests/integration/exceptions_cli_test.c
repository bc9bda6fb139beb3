/*
 * The exceptions queue (seed 003) through the CLI against the real
 * opsbusd: an idempotency conflict opens an exception that `opsbus
 * exceptions health|list|show` report, resolve refuses a decision without
 * notes and replays the corrected (last) request, and `opsbus queues
 * update --allowed-kinds` sets and clears the kinds a queue takes.
 */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "opsutil.h"

HARNESS_SUITE;

/* A unique name: prefix and 8 hex digits, in the caller's buffer. */
static char *
name(char *buf, size_t len, const char *prefix)
{
	char u[37];

	ou_uuid(u);
	snprintf(buf, len, "%s-%.8s", prefix, u);
	return (buf);
}

/* Runs the CLI, checks its exit status and returns its stdout (malloc'd);
 * its stderr goes to *err when err is not NULL, else is freed. */
static char *
run(int want, const char *const *argv, char **err)
{
	char *out = NULL, *e = NULL;
	int   rv = harness_cli(&srv, argv, &out, &e);

	if (rv != want) {
		fprintf(stderr, "opsbus %s %s: exit %d, not %d\n%s%s", argv[0],
		    argv[1] != NULL ? argv[1] : "", rv, want,
		    out != NULL ? out : "", e != NULL ? e : "");
	}
	ASSERT_INT_EQ(rv, want);
	if (err != NULL) {
		*err = e;
	} else {
		free(e);
	}
	return (out != NULL ? out : strdup(""));
}

static bool
has(const char *s, const char *part)
{
	if (s == NULL || strstr(s, part) == NULL) {
		fprintf(stderr, "expected \"%s\" in:\n%s\n", part,
		    s != NULL ? s : "(null)");
		return (false);
	}
	return (true);
}

static void
test_conflict_resolved_by_replay(void)
{
	char        queue[64], *out, *err, *id, *job;
	const char *first, *last;

	name(queue, sizeof(queue), "exc-cli");
	struct ou_job j = {.queue = queue,
	    .target = "billing",
	    .payload = "{\"invoice\": \"INV-7\", \"amount\": 100}",
	    .idempotency_key = "invoice-INV-7"};
	char         *original = ou_create(cli, &j);
	CU_ASSERT_PTR_NOT_NULL_FATAL(original);

	/* The same key with another amount: refused, an exception opens. */
	const char *create[]
	    = {"jobs", "create", "--queue", queue, "--target", "billing",
	        "--payload", "{\"invoice\": \"INV-7\", \"amount\": 120}",
	        "--idempotency-key", "invoice-INV-7", NULL};
	out = run(1, create, &err);
	CU_ASSERT(has(err, "IDEMPOTENCY_CONFLICT"));
	free(out);
	free(err);
	id = harness_sql(NULL,
	    "SELECT id FROM exceptions WHERE queue = '%s' AND status = 'open'",
	    queue);
	CU_ASSERT_FATAL(id != NULL && id[0] != '\0');

	const char *health[] = {"exceptions", "health", NULL};
	out = run(0, health, NULL);
	CU_ASSERT(has(out, "open exceptions:     1 (oldest "));
	CU_ASSERT(has(out, "IDEMPOTENCY_CONFLICT"));
	CU_ASSERT(has(out, "1 quarantined"));
	free(out);
	const char *jhealth[] = {"--json", "exceptions", "health", NULL};
	out = run(0, jhealth, NULL);
	CU_ASSERT(has(out, "\"exceptionsOpen\": 1"));
	free(out);

	const char *list[] = {"exceptions", "list", "--status", "open", NULL};
	out = run(0, list, NULL);
	CU_ASSERT(has(out, id));
	CU_ASSERT(has(out, queue));
	CU_ASSERT(has(out, "quarantined"));
	free(out);
	const char *resolved[]
	    = {"exceptions", "list", "--status", "resolved", NULL};
	out = run(0, resolved, NULL);
	CU_ASSERT_PTR_NULL(strstr(out, id));
	free(out);
	const char *badlist[]
	    = {"exceptions", "list", "--status", "closed", NULL};
	out = run(1, badlist, &err);
	CU_ASSERT(has(err, "VALIDATION_ERROR"));
	free(out);
	free(err);

	/* FIRST (100, the key's job) and LAST (120) one after the other. */
	const char *show[] = {"exceptions", "show", id, NULL};
	out = run(0, show, NULL);
	first = strstr(out, "FIRST request");
	last = strstr(out, "LAST request");
	CU_ASSERT(has(out, "FIRST request"));
	CU_ASSERT(has(out, "LAST request"));
	CU_ASSERT(first != NULL && last != NULL && first < last);
	if (first != NULL && last != NULL && first < last) {
		const char *a100 = strstr(first, "\"amount\": 100");
		CU_ASSERT(a100 != NULL && a100 < last);
		CU_ASSERT(has(last, "\"amount\": 120"));
	}
	CU_ASSERT(has(out, "linked job:"));
	CU_ASSERT(has(out, original));
	free(out);
	const char *unknown[] = {"exceptions", "show",
	    "00000000-0000-4000-8000-000000000000", NULL};
	out = run(1, unknown, &err);
	CU_ASSERT(has(err, "EXCEPTION_NOT_FOUND"));
	free(out);
	free(err);

	/* No notes: the server refuses, and nothing changes. */
	const char *nonotes[] = {"exceptions", "resolve", id, "--action",
	    "override_and_replay", "--actor", "alice", NULL};
	out = run(1, nonotes, &err);
	CU_ASSERT(has(err, "VALIDATION_ERROR"));
	free(out);
	free(err);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM exceptions WHERE id = "
	                       "'%s' AND status = 'open'",
	                  id),
	    1);

	const char *resolve[] = {"exceptions", "resolve", id, "--action",
	    "override_and_replay", "--actor", "alice", "--notes",
	    "LAST is the corrected amount", "--cancel-superseded", NULL};
	out = run(0, resolve, NULL);
	/* The first request's job, superseded, is cancelled with it. */
	CU_ASSERT(has(out, "superseded job "));
	CU_ASSERT(has(out, original));
	CU_ASSERT(has(out, ": cancelled (now cancelled)"));
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' "
	                       "AND status = 'cancelled'",
	                  original),
	    1);
	job = harness_sql(
	    NULL, "SELECT job_id FROM exceptions WHERE id = '%s'", id);
	CU_ASSERT_FATAL(job != NULL && job[0] != '\0');
	CU_ASSERT(strcmp(job, original) != 0);
	CU_ASSERT(has(out, job));
	CU_ASSERT(has(out, "created"));
	free(out);
	ASSERT_INT_EQ(ou_count("SELECT count(*) FROM jobs WHERE id = '%s' "
	                       "AND payload->>'amount' = '120'",
	                  job),
	    1);
	out = run(1, resolve, &err);
	CU_ASSERT(has(err, "EXCEPTION_ALREADY_RESOLVED"));
	free(out);
	free(err);

	out = run(0, health, NULL);
	CU_ASSERT(has(out, "open exceptions:     0\n"));
	CU_ASSERT(has(out, "0 quarantined"));
	free(out);
	out = run(0, show, NULL);
	CU_ASSERT(has(out, "override_and_replay by alice"));
	CU_ASSERT(has(out, "LAST is the corrected amount"));
	free(out);
	free(job);
	free(id);
	free(original);
}

static void
test_queue_allowed_kinds(void)
{
	char        queue[64], *out, *err, *id;
	const char *get[] = {"queues", "get", NULL, NULL};

	name(queue, sizeof(queue), "exc-kinds");
	get[2] = queue;
	const char *set[] = {"queues", "update", queue, "--allowed-kinds",
	    "note.v1,note.v2", NULL};
	out = run(0, set, NULL);
	CU_ASSERT(has(out, "allowed kinds:     note.v1,note.v2\n"));
	free(out);
	out = run(0, get, NULL);
	CU_ASSERT(has(out, "allowed kinds:     note.v1,note.v2\n"));
	free(out);
	const char *ls[] = {"queues", "list", NULL};
	out = run(0, ls, NULL);
	CU_ASSERT(has(out, "KINDS"));
	CU_ASSERT(has(out, "note.v1,note.v2"));
	free(out);

	/* Another kind is refused and opens an UNKNOWN_EVENT_TYPE exception,
	 * which is resolved without replay. */
	const char *create[] = {"jobs", "create", "--queue", queue, "--target",
	    "notes", "--kind", "note.v3", NULL};
	out = run(1, create, &err);
	CU_ASSERT(has(err, "UNKNOWN_EVENT_TYPE"));
	free(out);
	free(err);
	const char *list[] = {"exceptions", "list", "--type",
	    "UNKNOWN_EVENT_TYPE", "--status", "open", NULL};
	out = run(0, list, NULL);
	CU_ASSERT(has(out, queue));
	free(out);
	id = harness_sql(NULL,
	    "SELECT id FROM exceptions WHERE queue = '%s' AND status = 'open'",
	    queue);
	CU_ASSERT_FATAL(id != NULL && id[0] != '\0');
	const char *show[] = {"exceptions", "show", id, NULL};
	out = run(0, show, NULL);
	CU_ASSERT(has(out, "FIRST request (refused)"));
	CU_ASSERT(has(out, "note.v3"));
	free(out);
	const char *drop[] = {"exceptions", "resolve", id, "--action",
	    "mark_resolved_no_replay", "--actor", "alice", "--notes",
	    "Producer sent a kind this queue never takes", NULL};
	out = run(0, drop, NULL);
	CU_ASSERT(has(out, "nothing replayed"));
	free(out);

	/* Empty items are the server's to refuse; '' lets any kind in. */
	const char *bad[] = {"queues", "update", queue, "--allowed-kinds",
	    "note.v1,,note.v2", NULL};
	out = run(1, bad, &err);
	CU_ASSERT(has(err, "VALIDATION_ERROR"));
	free(out);
	free(err);
	const char *clear[]
	    = {"queues", "update", queue, "--allowed-kinds", "", NULL};
	out = run(0, clear, NULL);
	CU_ASSERT(has(out, "allowed kinds:     (any)\n"));
	free(out);
	out = run(0, get, NULL);
	CU_ASSERT(has(out, "allowed kinds:     (any)\n"));
	free(out);
	free(id);
}

int
main(void)
{
	static const struct harness_case cases[] = {
	    {"an idempotency conflict through exceptions health, list, show "
	     "and resolve (override_and_replay of the last request)",
	        test_conflict_resolved_by_replay},
	    {"queues update --allowed-kinds sets, shows and clears the "
	     "kinds; another kind opens an exception",
	        test_queue_allowed_kinds},
	    {NULL, NULL},
	};

	return (harness_run(
	    "integration.exceptions_cli", cases, suite_init, suite_cleanup));
}
