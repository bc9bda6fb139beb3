/*
 * Call overhead: HealthService/Check with skip_database (no PostgreSQL on
 * the path) over nng, against its floor: a bare nng REQ/REP echo of the same
 * bytes, served by as many context threads as opsbusd has workers, called by
 * the same client code, in the same run.
 */
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "harness.h"
#include "opsbus/v1/health.pb-c.h"
#include "rawcall.h"

#define ECHO_WORKERS 8
#define MAX_CLIENTS  64

struct echo {
	nng_socket sock;
	pthread_t  threads[ECHO_WORKERS];
};

static void *
echo_worker(void *arg)
{
	struct echo *e = arg;
	nng_ctx      ctx;
	nng_aio     *aio;

	nng_ctx_open(&ctx, e->sock);
	nng_aio_alloc(&aio, NULL, NULL);
	for (;;) {
		nng_ctx_recv(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0) {
			break;
		}
		/* Send back the same message, as opsbusd sends its reply. */
		nng_ctx_send(ctx, aio);
		nng_aio_wait(aio);
		if (nng_aio_result(aio) != 0) {
			nng_msg_free(nng_aio_get_msg(aio));
		}
	}
	nng_aio_free(aio);
	return (NULL);
}

static void
echo_start(struct echo *e, const char *url)
{
	nng_rep0_open(&e->sock);
	if (nng_listen(e->sock, url, NULL, 0) != 0) {
		fprintf(stderr, "echo: cannot listen on %s\n", url);
		exit(1);
	}
	for (int i = 0; i < ECHO_WORKERS; i++) {
		pthread_create(&e->threads[i], NULL, echo_worker, e);
	}
}

struct clients {
	struct opsbus_client *c[MAX_CLIENTS];
	uint8_t              *env;
	size_t                env_len;
};

static int
op_health(void *arg, int t)
{
	struct clients          *cl = arg;
	Opsbus__V1__CheckRequest req;
	ProtobufCMessage        *out = NULL;
	struct opsbus_status     st;

	opsbus__v1__check_request__init(&req);
	req.skip_database = 1;
	if (opsbus_call(cl->c[t], "opsbus.v1.HealthService/Check", &req.base,
	        &opsbus__v1__check_response__descriptor, &out, NULL, &st)
	    != 0) {
		fprintf(stderr, "health: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

static int
op_echo(void *arg, int t)
{
	struct clients      *cl = arg;
	struct opsbus_status st;
	void                *reply;
	size_t               len;

	if (opsbus_call_raw(cl->c[t], cl->env, cl->env_len, &reply, &len, &st)
	    != 0) {
		return (-1);
	}
	free(reply);
	return (0);
}

static void
clients_open(struct clients *cl, const char *url, const char *key)
{
	struct opsbus_client_config cfg = {.url = url, .api_key = key};
	struct opsbus_status        st;

	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (opsbus_client_open(&cfg, &cl->c[i], &st) != 0) {
			fprintf(stderr, "client: %s\n", st.message);
			exit(1);
		}
	}
}

static void
clients_close(struct clients *cl)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		opsbus_client_close(cl->c[i]);
	}
}

int
main(int argc, char **argv)
{
	struct harness_server srv;
	struct echo           e;
	struct clients        ops, floor;
	char                  echo_url[512];
	struct rawcall        rc = {.method = "opsbus.v1.HealthService/Check",
	           .request_id = "0123456789abcdef0123456789abcdef0123"};
	uint8_t               body[2] = {0x08, 0x01};
	int                   conc[] = {1, 16, 64};

	bench_init(argc, argv, "call overhead (rpc_bench)");
	if (harness_server_start(&srv, NULL) != 0) {
		return (1);
	}
	snprintf(echo_url, sizeof(echo_url), "ipc://%s/echo.sock",
	    harness_tmpdir());
	echo_start(&e, echo_url);
	clients_open(&ops, srv.url, srv.api_key);
	clients_open(&floor, echo_url, NULL);
	/* The floor sends exactly the bytes opsbus's client sends. */
	rc.body = body;
	rc.body_len = sizeof(body);
	rc.api_key = srv.api_key;
	floor.env_len = rawcall_pack(&rc, &floor.env);

	bench_header();
	for (size_t i = 0; i < sizeof(conc) / sizeof(conc[0]); i++) {
		struct bench_samples lo = {0}, lf = {0};
		char                 name[96];
		double f = bench_run(conc[i], op_echo, &floor, &lf);
		double o = bench_run(conc[i], op_health, &ops, &lo);

		snprintf(name, sizeof(name),
		    "Health (no db), %d client%s, calls/s", conc[i],
		    conc[i] > 1 ? "s" : "");
		bench_row(name, o, f, "calls/s", false);
		if (conc[i] == 1) {
			bench_row("Health (no db), 1 client, p50 latency",
			    (double) bench_samples_pct(&lo, 50) / 1000.0,
			    (double) bench_samples_pct(&lf, 50) / 1000.0, "us",
			    true);
			bench_row("Health (no db), 1 client, p99 latency",
			    (double) bench_samples_pct(&lo, 99) / 1000.0,
			    (double) bench_samples_pct(&lf, 99) / 1000.0, "us",
			    true);
		}
		bench_samples_free(&lo);
		bench_samples_free(&lf);
	}
	{
		char  cmd[256];
		FILE *p;
		long  kb = 0;
		snprintf(cmd, sizeof(cmd), "grep VmRSS /proc/%d/status",
		    (int) srv.pid);
		if ((p = popen(cmd, "r")) != NULL) {
			if (fscanf(p, "VmRSS: %ld", &kb) != 1) {
				kb = 0;
			}
			pclose(p);
		}
		bench_note("opsbusd resident memory after the load",
		    (double) kb / 1024.0, "MiB");
	}
	clients_close(&ops);
	clients_close(&floor);
	free(floor.env);
	harness_server_stop(&srv, SIGTERM);
	nng_close(e.sock);
	return (0);
}
