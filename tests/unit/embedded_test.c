/*
 * Tests of the embedded PostgreSQL (store/embedded.c) against the real
 * server binaries: every case starts real clusters in data directories
 * under one private temporary directory, which is removed at the end.
 * OPSBUS_PG_NOSYNC=1 keeps initdb and the server off fsync, for speed.
 */

/* nftw is an XSI function. */
#define _XOPEN_SOURCE 700

#include "store/embedded.h"

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

#include <errno.h>
#include <ftw.h>
#include <libpq-fe.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char tmp_root[] = "/tmp/opsbus-emb-test-XXXXXX";

/* A path under the test's temporary directory. */
static const char *
path_in(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", tmp_root, name);
	return (buf);
}

static struct pg_embedded *
start_in(const char *data_dir)
{
	struct pg_embedded_config cfg = {.data_dir = data_dir};
	struct pg_embedded       *pg = NULL;
	char                      err[2048];

	if (pg_embedded_start(&cfg, &pg, err, sizeof(err)) != 0) {
		fprintf(stderr, "\nstart in %s failed: %s\n", data_dir, err);
		return (NULL);
	}
	return (pg);
}

/* The first value of the first row of sql, or NULL; the caller frees. */
static char *
query_one(const struct pg_embedded *pg, const char *sql)
{
	PGconn   *conn = PQconnectdb(pg_embedded_conninfo(pg));
	PGresult *res;
	char     *v = NULL;

	if (PQstatus(conn) != CONNECTION_OK) {
		fprintf(
		    stderr, "\nconnect failed: %s\n", PQerrorMessage(conn));
		PQfinish(conn);
		return (NULL);
	}
	res = PQexec(conn, sql);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) > 0) {
		v = strdup(PQgetvalue(res, 0, 0));
	} else if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		fprintf(stderr, "\n%s: %s\n", sql, PQresultErrorMessage(res));
	}
	PQclear(res);
	PQfinish(conn);
	return (v);
}

/* Runs sql and says whether it worked. */
static int
exec_ok(const struct pg_embedded *pg, const char *sql)
{
	PGconn   *conn = PQconnectdb(pg_embedded_conninfo(pg));
	PGresult *res = PQexec(conn, sql);
	int       ok = PQresultStatus(res) == PGRES_COMMAND_OK
	    || PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	PQfinish(conn);
	return (ok);
}

static long
postmaster_pid(const char *data_dir)
{
	char  path[PATH_MAX + 32];
	long  pid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/postmaster.pid", data_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%ld", &pid) != 1) {
			pid = -1;
		}
		fclose(f);
	}
	return (pid);
}

static void
test_new_dir_accepts_connections(void)
{
	char                buf[PATH_MAX];
	char                sock[PATH_MAX + 8];
	const char         *dir = path_in("new/data", buf, sizeof(buf));
	struct pg_embedded *pg = start_in(dir);
	struct stat         st;
	char               *v;
	char                path[PATH_MAX + 32];

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	snprintf(path, sizeof(path), "%s/PG_VERSION", dir);
	CU_ASSERT_EQUAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(stat(dir, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
	snprintf(sock, sizeof(sock), "%s/run", dir);
	CU_ASSERT_STRING_EQUAL(pg_embedded_socket_dir(pg), sock);
	CU_ASSERT_PTR_NOT_NULL(
	    strstr(pg_embedded_conninfo(pg), "dbname=opsbus"));

	v = query_one(pg, "SELECT 1");
	CU_ASSERT_PTR_NOT_NULL(v);
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "1");
	free(v);
	v = query_one(pg, "SELECT current_database() || ' ' || current_user");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "opsbus opsbus");
	free(v);
	v = query_one(pg, "SHOW listen_addresses");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "-", "");
	free(v);
	pg_embedded_free(pg);
}

static void
test_second_start_skips_initdb(void)
{
	char                buf[PATH_MAX];
	const char         *dir = path_in("again", buf, sizeof(buf));
	struct pg_embedded *pg = start_in(dir);
	const char         *sql
	    = "SELECT system_identifier::text FROM pg_control_system()";
	char *first;
	char *second;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	first = query_one(pg, sql);
	pg_embedded_free(pg);

	/* initdb makes a new system identifier: the same one proves the
	 * same cluster. */
	pg = start_in(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	second = query_one(pg, sql);
	CU_ASSERT_PTR_NOT_NULL(first);
	CU_ASSERT_STRING_EQUAL(
	    first != NULL ? first : "a", second != NULL ? second : "b");
	free(first);
	free(second);
	pg_embedded_free(pg);
}

static void
test_restart_keeps_data(void)
{
	char                buf[PATH_MAX];
	const char         *dir = path_in("restart", buf, sizeof(buf));
	struct pg_embedded *pg = start_in(dir);
	char                err[2048] = "";
	char               *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	CU_ASSERT_TRUE(exec_ok(pg, "CREATE TABLE kept (x int)"));
	CU_ASSERT_TRUE(exec_ok(pg, "INSERT INTO kept VALUES (42)"));
	CU_ASSERT_EQUAL(pg_embedded_stop(pg), 0);
	CU_ASSERT_EQUAL(PQping(pg_embedded_conninfo(pg)), PQPING_NO_RESPONSE);
	CU_ASSERT_EQUAL(pg_embedded_stop(pg), 0);

	CU_ASSERT_EQUAL(pg_embedded_restart(pg, err, sizeof(err)), 0);
	if (err[0] != '\0') {
		fprintf(stderr, "\nrestart: %s\n", err);
	}
	v = query_one(pg, "SELECT x FROM kept");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "42");
	free(v);

	/* Restarting a running cluster stops it first. */
	CU_ASSERT_EQUAL(pg_embedded_restart(pg, err, sizeof(err)), 0);
	v = query_one(pg, "SELECT count(*) FROM kept");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "1");
	free(v);
	pg_embedded_free(pg);
}

static void
test_killed_run_does_not_block_start(void)
{
	char                buf[PATH_MAX];
	const char         *dir = path_in("killed", buf, sizeof(buf));
	struct pg_embedded *pg = start_in(dir);
	long                pid;
	char               *v;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	CU_ASSERT_TRUE(exec_ok(pg, "CREATE TABLE t (x int)"));
	pid = postmaster_pid(dir);
	CU_ASSERT_FATAL(pid > 0);
	/* What a power cut leaves: postmaster.pid, the socket lock, and
	 * no clean shutdown. */
	CU_ASSERT_EQUAL(kill((pid_t) -pid, SIGKILL), 0);
	pg_embedded_free(pg);

	pg = start_in(dir);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	v = query_one(pg, "SELECT count(*) FROM t");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "0");
	free(v);
	pg_embedded_free(pg);
}

static void
test_lock_with_reused_pid_does_not_block_start(void)
{
	char                buf[PATH_MAX];
	char                path[PATH_MAX + 32];
	const char         *dir = path_in("reused", buf, sizeof(buf));
	struct pg_embedded *pg = start_in(dir);
	pid_t               other;
	FILE               *f;
	int                 status;

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	pg_embedded_free(pg);

	/* After a restart of the container the pid in a stale lock file
	 * belongs to some other live process, which postgres alone would
	 * take for a running server. */
	other = fork();
	CU_ASSERT_FATAL(other >= 0);
	if (other == 0) {
		pause();
		_exit(0);
	}
	snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fprintf(f, "%ld\n%s\n0\n5432\n%s/run\n\n", (long) other, dir, dir);
	fclose(f);

	pg = start_in(dir);
	CU_ASSERT_PTR_NOT_NULL(pg);
	pg_embedded_free(pg);
	kill(other, SIGKILL);
	waitpid(other, &status, 0);
}

static void
test_second_server_on_same_dir_is_refused(void)
{
	char                      buf[PATH_MAX];
	const char               *dir = path_in("twice", buf, sizeof(buf));
	struct pg_embedded       *pg = start_in(dir);
	struct pg_embedded       *pg2 = NULL;
	struct pg_embedded_config cfg = {.data_dir = dir, .timeout_s = 10};
	char                      err[2048] = "";

	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	CU_ASSERT_EQUAL(pg_embedded_start(&cfg, &pg2, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(pg2);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already running"));
	/* The first server is unharmed. */
	CU_ASSERT_EQUAL(PQping(pg_embedded_conninfo(pg)), PQPING_OK);
	pg_embedded_free(pg);
}

static void
test_foreign_dir_is_not_taken_over(void)
{
	char                      buf[PATH_MAX];
	char                      file[PATH_MAX + 16];
	struct pg_embedded_config cfg = {
	    .data_dir = path_in("home", buf, sizeof(buf)),
	};
	struct pg_embedded *pg = NULL;
	char                err[1024] = "";
	struct stat         st;
	FILE               *f;

	CU_ASSERT_EQUAL_FATAL(mkdir(buf, 0755), 0);
	snprintf(file, sizeof(file), "%s/notes.txt", buf);
	f = fopen(file, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fclose(f);
	CU_ASSERT_EQUAL(pg_embedded_start(&cfg, &pg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(pg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no PostgreSQL cluster"));
	CU_ASSERT_EQUAL(stat(buf, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 0777, 0755);
	CU_ASSERT_EQUAL(st.st_uid, geteuid());
}

static void
test_missing_binaries_name_the_package(void)
{
	char                      bin[PATH_MAX];
	char                      data[PATH_MAX];
	struct pg_embedded_config cfg = {
	    .data_dir = path_in("nobin/data", data, sizeof(data)),
	    .bin_dir = path_in("emptybin", bin, sizeof(bin)),
	};
	struct pg_embedded *pg = NULL;
	char                err[512];
	struct stat         st;

	CU_ASSERT_EQUAL_FATAL(mkdir(bin, 0755), 0);
	CU_ASSERT_EQUAL(pg_embedded_start(&cfg, &pg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(pg);
	CU_ASSERT_STRING_EQUAL(err,
	    "PostgreSQL server binaries not found (install the Debian package "
	    "postgresql, or set OPSBUS_PG_BINDIR)");
	/* Nothing is made before the binaries are found. */
	CU_ASSERT_NOT_EQUAL(stat(data, &st), 0);
}

/* The directory of initdb, as the server finds it when none is given. */
static bool
server_bin_dir(char *buf, size_t len)
{
	FILE *p = popen("dirname \"$(ls -d /usr/lib/postgresql/*/bin/initdb | "
	                "sort -V | tail -n 1)\"",
	    "r");
	bool  ok;

	if (p == NULL) {
		return (false);
	}
	ok = fgets(buf, (int) len, p) != NULL;
	pclose(p);
	buf[strcspn(buf, "\n")] = '\0';
	return (ok && buf[0] == '/');
}

/* A bin directory given relative to the working directory works: the
 * children run from /, so it must be made absolute first. */
static void
test_relative_bin_dir_works(void)
{
	char                bin[PATH_MAX], link[PATH_MAX], data[PATH_MAX];
	char                cwd[PATH_MAX], err[2048];
	struct pg_embedded *pg = NULL;
	int                 rv;

	if (getenv("OPSBUS_PG_BINDIR") != NULL) {
		snprintf(bin, sizeof(bin), "%s", getenv("OPSBUS_PG_BINDIR"));
	} else {
		CU_ASSERT_FATAL(server_bin_dir(bin, sizeof(bin)));
	}
	CU_ASSERT_EQUAL_FATAL(
	    symlink(bin, path_in("relbin", link, sizeof(link))), 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof(cwd)));
	CU_ASSERT_EQUAL_FATAL(chdir(tmp_root), 0);
	struct pg_embedded_config cfg
	    = {.data_dir = path_in("relbin-data", data, sizeof(data)),
	        .bin_dir = "relbin"};
	rv = pg_embedded_start(&cfg, &pg, err, sizeof(err));
	CU_ASSERT_EQUAL(chdir(cwd), 0);
	if (rv != 0) {
		fprintf(stderr, "\nstart with a relative bin dir: %s\n", err);
	}
	CU_ASSERT_EQUAL(rv, 0);
	pg_embedded_free(pg);
}

static void
test_long_data_dir_gets_socket_under_tmp(void)
{
	char                buf[PATH_MAX];
	char                name[160];
	char                sock[PATH_MAX];
	char                err[2048] = "";
	struct pg_embedded *pg;
	struct stat         st;
	char               *v;

	memset(name, 'd', 120);
	snprintf(name + 120, sizeof(name) - 120, "/data");
	pg = start_in(path_in(name, buf, sizeof(buf)));
	CU_ASSERT_PTR_NOT_NULL_FATAL(pg);
	snprintf(sock, sizeof(sock), "%s", pg_embedded_socket_dir(pg));
	CU_ASSERT_EQUAL(strncmp(sock, "/tmp/opsbus-pg-", 15), 0);
	v = query_one(pg, "SELECT 1");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "1");
	free(v);

	/* A tmp cleaner may remove the directory while the cluster is
	 * stopped: restart makes it again, under the same name. */
	CU_ASSERT_EQUAL(pg_embedded_stop(pg), 0);
	CU_ASSERT_EQUAL(rmdir(sock), 0);
	CU_ASSERT_EQUAL(pg_embedded_restart(pg, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(pg_embedded_socket_dir(pg), sock);
	v = query_one(pg, "SELECT 1");
	CU_ASSERT_STRING_EQUAL(v != NULL ? v : "", "1");
	free(v);
	pg_embedded_free(pg);
	/* The temporary socket directory goes with the cluster. */
	CU_ASSERT_NOT_EQUAL(stat(sock, &st), 0);
}

static void
test_unreachable_dir_is_refused_clearly(void)
{
	char                      buf[PATH_MAX];
	char                      priv[PATH_MAX];
	struct pg_embedded_config cfg = {
	    .data_dir = path_in("private/data", buf, sizeof(buf)),
	};
	struct pg_embedded *pg = NULL;
	char                err[1024] = "";

	/* Only root hands the cluster to another user. */
	if (geteuid() != 0) {
		return;
	}
	CU_ASSERT_EQUAL_FATAL(
	    mkdir(path_in("private", priv, sizeof(priv)), 0700), 0);
	CU_ASSERT_EQUAL(pg_embedded_start(&cfg, &pg, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NULL(pg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "cannot reach"));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, priv));
}

static void
test_free_null_does_nothing(void)
{
	pg_embedded_free(NULL);
	CU_PASS("pg_embedded_free(NULL) returned");
}

static int
remove_entry(
    const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	remove(path);
	return (0);
}

static int
suite_init(void)
{
	setenv("OPSBUS_PG_NOSYNC", "1", 1);
	if (mkdtemp(tmp_root) == NULL) {
		return (-1);
	}
	/* When we are root the cluster runs as another user, who must be
	 * able to pass through this directory. */
	return (chmod(tmp_root, 0755));
}

static int
suite_fini(void)
{
	return (nftw(tmp_root, remove_entry, 16, FTW_DEPTH | FTW_PHYS));
}

static const struct {
	const char *name;
	CU_TestFunc fn;
} cases[] = {
    {"a new data directory is initialized and accepts connections",
        test_new_dir_accepts_connections},
    {"a second start on an existing data directory skips initdb",
        test_second_start_skips_initdb},
    {"a stopped cluster restarts with its data", test_restart_keeps_data},
    {"a cluster killed with its lock files left behind starts again",
        test_killed_run_does_not_block_start},
    {"a lock file whose pid now belongs to another process does not block "
     "start",
        test_lock_with_reused_pid_does_not_block_start},
    {"a bin directory relative to the working directory works",
        test_relative_bin_dir_works},
    {"a second server on a data directory in use is refused",
        test_second_server_on_same_dir_is_refused},
    {"a directory with files but no cluster is not taken over",
        test_foreign_dir_is_not_taken_over},
    {"missing binaries give a message that names the package",
        test_missing_binaries_name_the_package},
    {"a data directory too long for a unix socket gets its socket under "
     "/tmp",
        test_long_data_dir_gets_socket_under_tmp},
    {"a data directory the server user cannot reach is refused clearly",
        test_unreachable_dir_is_refused_clearly},
    {"freeing NULL does nothing", test_free_null_does_nothing},
};

int
main(void)
{
	CU_pSuite    suite;
	unsigned int failures;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return (1);
	}
	suite = CU_add_suite("store.embedded", suite_init, suite_fini);
	if (suite == NULL) {
		CU_cleanup_registry();
		return (1);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (CU_add_test(suite, cases[i].name, cases[i].fn) == NULL) {
			CU_cleanup_registry();
			return (1);
		}
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures
	    = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
	CU_cleanup_registry();
	return (failures == 0 && CU_get_error() == CUE_SUCCESS ? 0 : 1);
}
