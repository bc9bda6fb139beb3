/*
 * The HTTP/JSON gateway against the RPC path it fronts: the same calls
 * (GetJob of one job, a read; CreateJob, a durable write) made over HTTP
 * with keep-alive connections (GET /api/v1/jobs/{id}, POST /api/v1/jobs),
 * and over nng with libopsbus, at 1 and 16 concurrent clients, in the same
 * run, on the same opsbusd. The nng figure is the gateway's floor: every
 * HTTP request becomes one such RPC (inproc), plus HTTP parsing and the
 * JSON <-> protobuf transcoding.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "harness.h"
#include "opsbus/v1/job.pb-c.h"

#define MAX_CLIENTS 16
/* Each case runs as this many alternating slices of each side. */
#define SLICES 6

struct http_conn {
	int  fd;
	char buf[65536];
};

struct clients {
	unsigned short        port;
	char                  job_id[64];
	char                  get_req[512];
	char                  post_req[1024];
	struct http_conn      http[MAX_CLIENTS];
	struct opsbus_client *rpc[MAX_CLIENTS];
};

static int
http_open(struct http_conn *h, unsigned short port)
{
	struct sockaddr_in a;
	int                one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((h->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0
	    || connect(h->fd, (struct sockaddr *) &a, sizeof(a)) != 0) {
		return (-1);
	}
	setsockopt(h->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return (0);
}

/* Sends req and reads one whole response; returns its status or -1. */
static int
http_do(struct http_conn *h, const char *req)
{
	size_t      len = strlen(req), have = 0, need = 0;
	const char *end = NULL;
	int         status;

	while (len > 0) {
		ssize_t n = write(h->fd, req, len);
		if (n <= 0) {
			return (-1);
		}
		req += n;
		len -= (size_t) n;
	}
	for (;;) {
		ssize_t n;
		if (end != NULL && have >= need) {
			break;
		}
		n = read(h->fd, h->buf + have, sizeof(h->buf) - 1 - have);
		if (n <= 0) {
			return (-1);
		}
		have += (size_t) n;
		h->buf[have] = '\0';
		if (end == NULL
		    && (end = strstr(h->buf, "\r\n\r\n")) != NULL) {
			const char *cl = strstr(h->buf, "Content-Length: ");
			if (cl == NULL || cl > end) {
				return (-1);
			}
			need = (size_t) (end + 4 - h->buf)
			    + strtoul(cl + 16, NULL, 10);
			if (need >= sizeof(h->buf)) {
				return (-1);
			}
		}
	}
	if (sscanf(h->buf, "HTTP/1.1 %d", &status) != 1) {
		return (-1);
	}
	return (status);
}

static int
op_http_get(void *arg, int t)
{
	struct clients *c = arg;

	return (http_do(&c->http[t], c->get_req) == 200 ? 0 : -1);
}

static int
op_http_post(void *arg, int t)
{
	struct clients *c = arg;

	return (http_do(&c->http[t], c->post_req) == 200 ? 0 : -1);
}

static int
op_rpc_get(void *arg, int t)
{
	struct clients           *c = arg;
	Opsbus__V1__GetJobRequest req = OPSBUS__V1__GET_JOB_REQUEST__INIT;
	ProtobufCMessage         *out = NULL;
	struct opsbus_status      st;

	req.id = c->job_id;
	if (opsbus_call(c->rpc[t], "opsbus.v1.JobService/GetJob", &req.base,
	        &opsbus__v1__get_job_response__descriptor, &out, NULL, &st)
	    != 0) {
		fprintf(stderr, "GetJob: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

static int
op_rpc_post(void *arg, int t)
{
	struct clients              *c = arg;
	Opsbus__V1__CreateJobRequest req
	    = OPSBUS__V1__CREATE_JOB_REQUEST__INIT;
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;

	req.queue = (char *) (uintptr_t) "bench";
	req.target = (char *) (uintptr_t) "nextgen";
	req.payload
	    = (char *) (uintptr_t) "{\"noteId\":\"n-1\",\"ehr\":\"nextgen\"}";
	if (opsbus_call(c->rpc[t], "opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor, &out, NULL, &st)
	    != 0) {
		fprintf(stderr, "CreateJob: %s\n", st.message);
		return (-1);
	}
	protobuf_c_message_free_unpacked(out, NULL);
	return (0);
}

/*
 * Runs the call over nng (rpc) and over HTTP (http) in SLICES turns each,
 * each side first in every other turn, so that load others put on the
 * machine falls on both alike; writes their mean rates.
 */
static void
turns(struct clients *c, int clients, int (*rpc)(void *arg, int thread),
    int (*http)(void *arg, int thread), double *rpc_rate, double *http_rate,
    struct bench_samples *rpc_lat, struct bench_samples *http_lat)
{
	double slice = bench_seconds() / SLICES;

	*rpc_rate = 0;
	*http_rate = 0;
	for (int k = 0; k < SLICES; k++) {
		if (k % 2 == 0) {
			*rpc_rate
			    += bench_run_for(clients, rpc, c, rpc_lat, slice);
		}
		*http_rate += bench_run_for(clients, http, c, http_lat, slice);
		if (k % 2 != 0) {
			*rpc_rate
			    += bench_run_for(clients, rpc, c, rpc_lat, slice);
		}
	}
	*rpc_rate /= SLICES;
	*http_rate /= SLICES;
}

/* The gateway's port, from the "HTTP gateway listening ... port=N" line. */
static unsigned short
gateway_port(const char *log)
{
	char  line[1024];
	FILE *f = fopen(log, "r");
	int   port = 0;

	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "HTTP gateway listening");
		if (p != NULL && (p = strstr(p, "port=")) != NULL) {
			port = atoi(p + 5);
			break;
		}
	}
	if (f != NULL) {
		fclose(f);
	}
	return ((unsigned short) port);
}

static int
setup(struct clients *c, const struct harness_server *srv)
{
	const char *body
	    = "{\"queue\":\"bench\",\"target\":\"nextgen\",\"payload\":"
	      "\"{\\\"noteId\\\":\\\"n-1\\\",\\\"ehr\\\":\\\"nextgen\\\"}\"}";
	struct opsbus_client_config cfg
	    = {.url = srv->url, .api_key = srv->api_key};
	struct opsbus_status         st;
	Opsbus__V1__CreateJobRequest req
	    = OPSBUS__V1__CREATE_JOB_REQUEST__INIT;
	Opsbus__V1__CreateJobResponse *res = NULL;

	/* The RPC socket answers a moment before the gateway listens. */
	for (int i = 0; i < 100 && (c->port = gateway_port(srv->log)) == 0;
	     i++) {
		struct timespec ts = {0, 50 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	if (c->port == 0) {
		fprintf(stderr, "gateway_bench: no gateway port in %s\n",
		    srv->log);
		return (-1);
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		if (opsbus_client_open(&cfg, &c->rpc[i], &st) != 0
		    || http_open(&c->http[i], c->port) != 0) {
			fprintf(stderr, "gateway_bench: cannot connect\n");
			return (-1);
		}
	}
	req.queue = (char *) (uintptr_t) "bench";
	if (opsbus_call(c->rpc[0], "opsbus.v1.JobService/CreateJob", &req.base,
	        &opsbus__v1__create_job_response__descriptor,
	        (ProtobufCMessage **) &res, NULL, &st)
	    != 0) {
		fprintf(stderr, "gateway_bench: %s\n", st.message);
		return (-1);
	}
	snprintf(c->job_id, sizeof(c->job_id), "%s", res->job->id);
	protobuf_c_message_free_unpacked(&res->base, NULL);
	snprintf(c->get_req, sizeof(c->get_req),
	    "GET /api/v1/jobs/%s HTTP/1.1\r\nHost: bench\r\n"
	    "X-API-Key: %s\r\n\r\n",
	    c->job_id, srv->api_key);
	snprintf(c->post_req, sizeof(c->post_req),
	    "POST /api/v1/jobs HTTP/1.1\r\nHost: bench\r\n"
	    "X-API-Key: %s\r\nContent-Type: application/json\r\n"
	    "Content-Length: %zu\r\n\r\n%s",
	    srv->api_key, strlen(body), body);
	return (0);
}

int
main(int argc, char **argv)
{
	static struct clients c;
	const char *const     extra[]
	    = {"--http", "http://127.0.0.1:0", "--log-level", "info", NULL};
	struct harness_server srv;
	int                   conc[] = {1, 16};
	int                   status = 0;

	bench_init(argc, argv, "HTTP gateway vs nng (gateway_bench)");
	if (harness_server_start(&srv, extra) != 0) {
		return (1);
	}
	if (setup(&c, &srv) != 0) {
		harness_server_stop(&srv, SIGTERM);
		return (1);
	}
	bench_header();
	for (size_t i = 0; i < sizeof(conc) / sizeof(conc[0]); i++) {
		struct bench_samples lh = {0}, lr = {0};
		char                 name[96];
		double               r, h;

		turns(&c, conc[i], op_rpc_get, op_http_get, &r, &h, &lr, &lh);
		snprintf(name, sizeof(name), "GET job, %d client%s, req/s",
		    conc[i], conc[i] > 1 ? "s" : "");
		bench_row(name, h, r, "req/s", false);
		if (conc[i] == 1) {
			bench_row("GET job, 1 client, p50 latency",
			    (double) bench_samples_pct(&lh, 50) / 1000.0,
			    (double) bench_samples_pct(&lr, 50) / 1000.0, "us",
			    true);
		}
		bench_samples_free(&lh);
		bench_samples_free(&lr);
		turns(&c, conc[i], op_rpc_post, op_http_post, &r, &h, NULL,
		    NULL);
		snprintf(name, sizeof(name), "POST job, %d client%s, req/s",
		    conc[i], conc[i] > 1 ? "s" : "");
		bench_row(name, h, r, "req/s", false);
		if (h <= 0 || r <= 0) {
			status = 1;
		}
	}
	for (int i = 0; i < MAX_CLIENTS; i++) {
		close(c.http[i].fd);
		opsbus_client_close(c.rpc[i]);
	}
	harness_server_stop(&srv, SIGTERM);
	return (status);
}
