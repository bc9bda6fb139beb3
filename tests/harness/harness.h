/*
 * What integration tests share: a private PostgreSQL (the embedded module,
 * in a temporary directory), the real opsbusd binary started against it on
 * a private ipc:// address, a libopsbus client, the CLI run as a process,
 * and a CUnit main. Paths come from the environment CTest sets: OPSBUSD,
 * OPSBUS_CLI, OPSBUS_SOURCE_DIR, OPSBUS_BUILD_DIR.
 */
#ifndef OPSBUS_TEST_HARNESS_H
#define OPSBUS_TEST_HARNESS_H

#include <CUnit/CUnit.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

#include "opsbus.h"

struct pg_embedded;

struct harness_server {
	pid_t pid;
	/* The RPC URL clients dial. */
	char url[256];
	/* Its log file. */
	char log[512];
	/* The bootstrap admin key it was started with. */
	char api_key[64];
};

/* Named CUnit cases: the table at the end of each test file. */
struct harness_case {
	const char *name;
	void (*fn)(void);
};

/* A fresh temporary directory for this test process (created once). */
const char *harness_tmpdir(void);

/* Starts (once per process) a private PostgreSQL; returns its conninfo.
 * Aborts the test program when it cannot start. */
const char         *harness_pg(void);
struct pg_embedded *harness_pg_handle(void);

/*
 * Starts opsbusd against harness_pg() with the extra arguments (NULL
 * terminated list; may be NULL), an API key, and waits until it answers.
 * Returns 0 or -1.
 */
int harness_server_start(struct harness_server *s, const char *const *extra);
/* Sends sig and waits for the exit; returns the exit status (or 128+sig). */
int harness_server_stop(struct harness_server *s, int sig);

/* A client of s with the bootstrap admin key (key NULL) or the key given. */
struct opsbus_client *harness_client(
    const struct harness_server *s, const char *key);

/*
 * A suite's server and admin client: opsbusd without an event publisher
 * (unless OPSBUS_EVENTS says otherwise: another test may hold the default
 * event address). Returns 0 or -1; harness_suite_close undoes it.
 */
int harness_suite_open(struct harness_server *s, struct opsbus_client **c);
int harness_suite_close(struct harness_server *s, struct opsbus_client *c);

/*
 * `HARNESS_SUITE;` at file scope: the usual suite, a file's srv and cli
 * (static) and the suite_init and suite_cleanup for harness_run that open
 * and close them. (It ends by declaring srv again, so that the semicolon
 * after it closes a declaration.)
 */
#define HARNESS_SUITE                                    \
	static struct harness_server srv;                \
	static struct opsbus_client *cli;                \
	static int                   suite_init(void)    \
	{                                                \
		return (harness_suite_open(&srv, &cli)); \
	}                                                \
	static int suite_cleanup(void)                   \
	{                                                \
		return (harness_suite_close(&srv, cli)); \
	}                                                \
	static struct harness_server srv

/*
 * Runs the CLI with argv (NULL terminated, without the program name) and
 * the environment OPSBUS_URL/OPSBUS_API_KEY of s. Writes stdout into out
 * (malloc'd, NUL-terminated) and stderr into err when not NULL. Returns the
 * exit status.
 */
int harness_cli(const struct harness_server *s, const char *const *argv,
    char **out, char **err);

/*
 * Runs SQL on harness_pg() (database conninfo, or another database name
 * when db is not NULL) and returns the first column of the first row
 * (malloc'd; "" when no rows), or NULL when the statement failed.
 */
char *harness_sql(const char *db, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* harness_sql on the test database, read as a number; -1 when it fails. */
long harness_sql_long(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/*
 * Waits for the child pid (what names it in messages) at most
 * HARNESS_CHILD_TIMEOUT_S seconds (default 120); past that prints its
 * stacks and kills it with its process group. Returns its exit status,
 * 128 + the signal that ended it, or 124 when the deadline did.
 */
int harness_wait_child(pid_t pid, const char *what);

/* Runs a shell command under harness_wait_child's deadline; returns its
 * exit status, or -1 when it did not exit by itself. */
int harness_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Registers cases under suite and runs them; returns the exit status. */
int harness_run(const char *suite, const struct harness_case *cases,
    int (*init)(void), int (*cleanup)(void));

/* CUnit assert that prints both strings. */
#define ASSERT_STR_EQ(a, b)                                          \
	do {                                                         \
		const char *a_ = (a), *b_ = (b);                     \
		if (strcmp(a_, b_) != 0) {                           \
			fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", \
			    __FILE__, __LINE__, a_, b_);             \
		}                                                    \
		CU_ASSERT_STRING_EQUAL(a_, b_);                      \
	} while (0)

#define ASSERT_INT_EQ(a, b)                                                 \
	do {                                                                \
		long long a_ = (long long) (a), b_ = (long long) (b);       \
		if (a_ != b_) {                                             \
			fprintf(stderr, "%s:%d: %lld != %lld (%s vs %s)\n", \
			    __FILE__, __LINE__, a_, b_, #a, #b);            \
		}                                                           \
		CU_ASSERT_EQUAL(a_, b_);                                    \
	} while (0)

#endif
