/*
 * Unit tests of common/uuid4.c: the text form (version 4, RFC 4122
 * variant, lower case; version 7 with the time first), no repeats within a
 * thread, across threads (each has its own buffer) or between a parent and its
 * forked child (which must not hand out the bytes left in the parent's
 * buffer).
 */
#include <CUnit/Basic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "uuid4.h"

#define MANY    5000
#define THREADS 4

static int
cmp_text(const void *a, const void *b)
{
	return (strcmp(a, b));
}

/* The number of ids in ids[0..n) that equal an earlier one (sorts ids). */
static size_t
repeats(char (*ids)[UUID4_TEXT_LEN], size_t n)
{
	size_t r = 0;

	qsort(ids, n, UUID4_TEXT_LEN, cmp_text);
	for (size_t i = 1; i < n; i++) {
		r += strcmp(ids[i - 1], ids[i]) == 0;
	}
	return (r);
}

static void
test_text_form(void)
{
	for (int k = 0; k < 100; k++) {
		char id[UUID4_TEXT_LEN];

		uuid4_text(id);
		ASSERT_INT_EQ(strlen(id), 36);
		for (int i = 0; i < 36; i++) {
			if (i == 8 || i == 13 || i == 18 || i == 23) {
				CU_ASSERT_EQUAL(id[i], '-');
			} else {
				CU_ASSERT_PTR_NOT_NULL(
				    strchr("0123456789abcdef", id[i]));
			}
		}
		CU_ASSERT_EQUAL(id[14], '4');
		CU_ASSERT_PTR_NOT_NULL(strchr("89ab", id[19]));
	}
}

/*
 * Version 7: the same text form with a '7', the first 48 bits the Unix time
 * in milliseconds, so ids made later never sort before earlier ones (from
 * one millisecond to the next), and none repeat.
 */
static void
test_time_ordered(void)
{
	static char     ids[MANY][UUID4_TEXT_LEN];
	struct timespec ts;
	long long       before, stamp;
	char            hex[13];

	clock_gettime(CLOCK_REALTIME, &ts);
	before = (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	for (size_t i = 0; i < MANY; i++) {
		uuid7_text(ids[i]);
		ASSERT_INT_EQ(strlen(ids[i]), 36);
		CU_ASSERT_EQUAL(ids[i][14], '7');
		CU_ASSERT_PTR_NOT_NULL(strchr("89ab", ids[i][19]));
		if (i > 0 && strncmp(ids[i - 1], ids[i], 13) > 0) {
			CU_FAIL("a later id sorts before an earlier one");
		}
	}
	/* 8 hex digits, the dash, 4 more: the 48-bit millisecond time. */
	memcpy(hex, ids[0], 8);
	memcpy(hex + 8, ids[0] + 9, 4);
	hex[12] = '\0';
	stamp = strtoll(hex, NULL, 16);
	CU_ASSERT(stamp >= before && stamp <= before + 5000);
	ASSERT_INT_EQ(repeats(ids, MANY), 0);
}

static void
test_no_repeats(void)
{
	static char ids[MANY][UUID4_TEXT_LEN];

	for (size_t i = 0; i < MANY; i++) {
		uuid4_text(ids[i]);
	}
	ASSERT_INT_EQ(repeats(ids, MANY), 0);
}

static char thread_ids[THREADS * MANY][UUID4_TEXT_LEN];

static void *
make_ids(void *arg)
{
	char(*ids)[UUID4_TEXT_LEN] = arg;

	for (size_t i = 0; i < MANY; i++) {
		uuid4_text(ids[i]);
	}
	return (NULL);
}

static void
test_threads(void)
{
	pthread_t t[THREADS];

	for (int i = 0; i < THREADS; i++) {
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, make_ids,
		                          thread_ids[i * MANY]),
		    0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
	}
	ASSERT_INT_EQ(repeats(thread_ids, THREADS * MANY), 0);
}

static void
test_fork(void)
{
	char  mine[UUID4_TEXT_LEN], theirs[UUID4_TEXT_LEN] = "";
	int   fd[2];
	pid_t pid;

	/* The buffer now holds unused bytes that the child inherits. */
	uuid4_text(mine);
	CU_ASSERT_EQUAL_FATAL(pipe(fd), 0);
	if ((pid = fork()) == 0) {
		char id[UUID4_TEXT_LEN];

		uuid4_text(id);
		_exit(write(fd[1], id, sizeof(id)) == sizeof(id) ? 0 : 1);
	}
	CU_ASSERT_FATAL(pid > 0);
	close(fd[1]);
	CU_ASSERT_EQUAL(read(fd[0], theirs, sizeof(theirs)), sizeof(theirs));
	close(fd[0]);
	waitpid(pid, NULL, 0);
	uuid4_text(mine);
	CU_ASSERT(strcmp(mine, theirs) != 0);
	ASSERT_INT_EQ(strlen(theirs), 36);
}

static const struct harness_case cases[] = {
    {"an id is 36 lower-case characters, version 4, RFC 4122 variant",
        test_text_form},
    {"five thousand ids from one thread are all different", test_no_repeats},
    {"version 7 ids carry the time first and sort in time order",
        test_time_ordered},
    {"ids made by four threads at once are all different", test_threads},
    {"a forked child's next id is not its parent's next id", test_fork},
    {NULL, NULL},
};

int
main(void)
{
	return (harness_run("unit.uuid4", cases, NULL, NULL));
}
