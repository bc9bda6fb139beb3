/*
 * opsbusd: reads its settings (flags, then environment, then defaults),
 * starts the embedded PostgreSQL unless a database URL is given, applies the
 * migrations, binds the method table, serves RPC over nng until SIGTERM or
 * SIGINT, then drains the calls in flight and stops PostgreSQL.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events/publisher.h"
#include "gateway/gateway.h"
#include "log.h"
#include "rpc/dispatch.h"
#include "rpc/methods.h"
#include "rpc/server.h"
#include "services/auth.h"
#include "services/bulk_runner.h"
#include "services/handlers.h"
#include "services/registry.h"
#include "services/rescuer.h"
#include "stop_guard.h"
#include "store/db.h"
#include "store/pool.h"
#include "store/embedded.h"
#include "store/migrations.h"

#define MAX_LISTEN 8

struct config {
	const char *listen[MAX_LISTEN];
	size_t      n_listen;
	const char *db_url;
	char        data_dir[1024];
	const char *api_key;
	const char *pg_user;
	int         workers;
	size_t      max_request;
	uint32_t    default_timeout_ms;
	/* HTTP gateway address ("off": none); explicit when given by flag
	 * or environment (then failing to listen is fatal). */
	const char *http;
	bool        http_explicit;
	/* Event stream: PUB URLs ("off": no publisher) and retention.
	 * Explicit when given by flag or environment: then failing to
	 * listen is fatal, else only a warning (as for --http). */
	const char *events;
	bool        events_explicit;
	int         event_retention_hours;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: opsbusd [options]\n"
	    "\n"
	    "Serves the opsbus API (protobuf over nng) from PostgreSQL.\n"
	    "\n"
	    "  --listen URL      RPC address; repeatable (env OPSBUS_LISTEN, "
	    "comma-separated;\n"
	    "                    default tcp://127.0.0.1:7470; ipc:// works)\n"
	    "  --db URL          PostgreSQL to use (env OPSBUS_DB). Without "
	    "it "
	    "opsbusd runs\n"
	    "                    its own private PostgreSQL in --data-dir.\n"
	    "  --data-dir DIR    embedded PostgreSQL's home (env "
	    "OPSBUS_DATA_DIR; default\n"
	    "                    /var/lib/opsbus as root, else "
	    "$XDG_STATE_HOME/opsbus)\n"
	    "  --pg-user USER    user the embedded PostgreSQL runs as when "
	    "opsbusd is root\n"
	    "                    (env OPSBUS_PG_USER; default postgres)\n"
	    "  --api-key KEY     bootstrap admin key, 16+ characters (env "
	    "OPSBUS_API_KEY).\n"
	    "                    Without it the server is open to anyone who "
	    "can reach it.\n"
	    "  --workers N       calls served at once, each with its own "
	    "database connection\n"
	    "                    (env OPSBUS_WORKERS; default 8)\n"
	    "  --max-request N   largest request in bytes (default 4194304)\n"
	    "  --timeout-ms N    a call's deadline when the client gives none "
	    "(default 30000)\n"
	    "  --events URL[,URL] event PUB addresses (env OPSBUS_EVENTS; "
	    "default\n"
	    "                    tcp://127.0.0.1:7471; ipc:// and ws:// work; "
	    "off: none)\n"
	    "  --event-retention-hours N  prune published events older than "
	    "N hours\n"
	    "                    (env OPSBUS_EVENT_RETENTION_HOURS; default "
	    "168; 0: keep)\n"
	    "  --http ADDR       HTTP/JSON gateway address (env OPSBUS_HTTP; "
	    "default\n"
	    "                    http://127.0.0.1:8080; off: no gateway)\n"
	    "  --log-level L     debug, info, warn, error (env "
	    "OPSBUS_LOG_LEVEL; default info)\n"
	    "  --version         print the version\n"
	    "\n"
	    "Stopping (SIGTERM, SIGINT) drains the calls in flight. Should "
	    "it\n"
	    "take longer than OPSBUS_STOP_GRACE_MS (default: the call "
	    "timeout\n"
	    "+ 30 s), opsbusd stops its embedded PostgreSQL and exits 1.\n");
}

static int
parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		return (-1);
	}
	*out = v;
	return (0);
}

static void
default_data_dir(struct config *c)
{
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (geteuid() == 0) {
		snprintf(c->data_dir, sizeof(c->data_dir), "/var/lib/opsbus");
	} else if (state != NULL && state[0] == '/') {
		snprintf(c->data_dir, sizeof(c->data_dir), "%s/opsbus", state);
	} else if (home != NULL && home[0] == '/') {
		snprintf(c->data_dir, sizeof(c->data_dir),
		    "%s/.local/state/opsbus", home);
	} else {
		snprintf(c->data_dir, sizeof(c->data_dir), "./opsbus-data");
	}
}

static void
add_listen_list(struct config *c, char *list)
{
	char *save = NULL;

	for (char *u = strtok_r(list, ",", &save); u != NULL;
	     u = strtok_r(NULL, ",", &save)) {
		if (c->n_listen < MAX_LISTEN && u[0] != '\0') {
			c->listen[c->n_listen++] = u;
		}
	}
}

/* Returns 0 to run, 1 to exit 0 (help, version), -1 to exit 2. */
static int
parse_config(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
	    {"listen", required_argument, NULL, 'l'},
	    {"db", required_argument, NULL, 'd'},
	    {"data-dir", required_argument, NULL, 'D'},
	    {"pg-user", required_argument, NULL, 'u'},
	    {"api-key", required_argument, NULL, 'k'},
	    {"workers", required_argument, NULL, 'w'},
	    {"max-request", required_argument, NULL, 'm'},
	    {"timeout-ms", required_argument, NULL, 't'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"events", required_argument, NULL, 'E'},
	    {"event-retention-hours", required_argument, NULL, 'R'},
	    {"http", required_argument, NULL, 'H'},
	    {"version", no_argument, NULL, 'V'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char    *env;
	long           v;
	int            ch;
	enum log_level level;
	const char    *log_level = getenv("OPSBUS_LOG_LEVEL");

	memset(c, 0, sizeof(*c));
	c->db_url = getenv("OPSBUS_DB");
	c->api_key = getenv("OPSBUS_API_KEY");
	c->pg_user = getenv("OPSBUS_PG_USER");
	c->workers = 8;
	c->max_request = 4 * 1024 * 1024;
	c->default_timeout_ms = 30000;
	c->events = getenv("OPSBUS_EVENTS");
	c->event_retention_hours = 168;
	if ((env = getenv("OPSBUS_EVENT_RETENTION_HOURS")) != NULL
	    && parse_int(env, 0, 876000, &v) == 0) {
		c->event_retention_hours = (int) v;
	}
	if ((env = getenv("OPSBUS_DATA_DIR")) != NULL && env[0] != '\0') {
		snprintf(c->data_dir, sizeof(c->data_dir), "%s", env);
	} else {
		default_data_dir(c);
	}
	if ((env = getenv("OPSBUS_WORKERS")) != NULL
	    && parse_int(env, 1, 256, &v) == 0) {
		c->workers = (int) v;
	}
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (c->n_listen < MAX_LISTEN) {
				c->listen[c->n_listen++] = optarg;
			}
			break;
		case 'd':
			c->db_url = optarg;
			break;
		case 'D':
			snprintf(
			    c->data_dir, sizeof(c->data_dir), "%s", optarg);
			break;
		case 'u':
			c->pg_user = optarg;
			break;
		case 'k':
			c->api_key = optarg;
			break;
		case 'w':
			if (parse_int(optarg, 1, 256, &v) != 0) {
				fprintf(stderr,
				    "opsbusd: --workers takes 1..256\n");
				return (-1);
			}
			c->workers = (int) v;
			break;
		case 'm':
			if (parse_int(optarg, 1024, 64L * 1024 * 1024, &v)
			    != 0) {
				fprintf(stderr,
				    "opsbusd: --max-request takes "
				    "1024..67108864\n");
				return (-1);
			}
			c->max_request = (size_t) v;
			break;
		case 't':
			if (parse_int(optarg, 1, 300000, &v) != 0) {
				fprintf(stderr,
				    "opsbusd: --timeout-ms takes "
				    "1..300000\n");
				return (-1);
			}
			c->default_timeout_ms = (uint32_t) v;
			break;
		case 'L':
			log_level = optarg;
			break;
		case 'E':
			c->events = optarg;
			break;
		case 'R':
			if (parse_int(optarg, 0, 876000, &v) != 0) {
				fprintf(stderr,
				    "opsbusd: --event-retention-hours takes "
				    "0..876000\n");
				return (-1);
			}
			c->event_retention_hours = (int) v;
			break;
		case 'H':
			c->http = optarg;
			break;
		case 'V':
			printf("opsbusd %s\n", OPSBUS_VERSION);
			return (1);
		case 'h':
			usage(stdout);
			return (1);
		default:
			usage(stderr);
			return (-1);
		}
	}
	if (optind < argc) {
		fprintf(
		    stderr, "opsbusd: unexpected argument %s\n", argv[optind]);
		return (-1);
	}
	if (log_level != NULL && log_level[0] != '\0') {
		if (log_parse_level(log_level, &level) != 0) {
			fprintf(stderr, "opsbusd: unknown log level %s\n",
			    log_level);
			return (-1);
		}
		log_set_level(level);
	}
	if (c->n_listen == 0 && (env = getenv("OPSBUS_LISTEN")) != NULL) {
		add_listen_list(c, strdup(env));
	}
	if (c->n_listen == 0) {
		c->listen[c->n_listen++] = "tcp://127.0.0.1:7470";
	}
	c->events_explicit = c->events != NULL && c->events[0] != '\0';
	if (!c->events_explicit) {
		c->events = "tcp://127.0.0.1:7471";
	}
	if (c->http == NULL) {
		c->http = getenv("OPSBUS_HTTP");
	}
	c->http_explicit = c->http != NULL && c->http[0] != '\0';
	if (!c->http_explicit) {
		c->http = GATEWAY_DEFAULT_HTTP;
	}
	if (c->db_url != NULL && c->db_url[0] == '\0') {
		c->db_url = NULL;
	}
	if (c->api_key != NULL && c->api_key[0] == '\0') {
		c->api_key = NULL;
	}
	return (0);
}

static int
wait_for_signal(void)
{
	sigset_t set;
	int      sig = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigwait(&set, &sig);
	return (sig);
}

int
main(int argc, char **argv)
{
	struct config            c;
	struct pg_embedded      *pg = NULL;
	struct db               *db = NULL;
	struct auth             *auth = NULL;
	struct rpc_methods      *methods = NULL;
	struct rpc_server       *srv = NULL;
	struct events_publisher *events = NULL;
	struct rescuer          *rescuer = NULL;
	struct bulk_runner      *bulk = NULL;
	struct gateway          *gw = NULL;
	struct db_pool          *pool = NULL;
	bool                     stop_guarded = false;
	struct service_config    scfg;
	struct rpc_dispatcher    disp;
	struct rpc_server_config rcfg;
	const char              *conninfo;
	char                     err[1024];
	sigset_t                 set;
	int                      rv;
	int                      status = 1;

	/* Every thread (nng's, the workers) inherits this mask, so the
	 * signals reach only sigwait in main. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* A connection attempt never waits longer than this: a database that
	 * accepts the socket but does not answer is an outage, not a hang
	 * (libpq reads it unless the URL sets connect_timeout itself). */
	setenv("PGCONNECT_TIMEOUT", "5", 0);
	if ((rv = parse_config(argc, argv, &c)) != 0) {
		return (rv > 0 ? 0 : 2);
	}
	memset(&scfg, 0, sizeof(scfg));
	scfg.started_at = time(NULL);
	scfg.server_version = OPSBUS_VERSION;
	scfg.max_lease_ms = 3600000;
	scfg.rpc_workers = c.workers;

	if (c.db_url != NULL) {
		conninfo = c.db_url;
	} else {
		struct pg_embedded_config pcfg
		    = {.data_dir = c.data_dir, .run_as = c.pg_user};
		log_info("starting the embedded PostgreSQL", "data_dir=%s",
		    c.data_dir);
		if (pg_embedded_start(&pcfg, &pg, err, sizeof(err)) != 0) {
			fprintf(stderr, "opsbusd: %s\n", err);
			return (1);
		}
		conninfo = pg_embedded_conninfo(pg);
	}
	if (db_open(conninfo, &db) != OPSBUS_E_OK
	    || migrations_apply(db, migrations_embedded,
	           migrations_embedded_count, &scfg.schema_version, err,
	           sizeof(err))
	        != OPSBUS_E_OK) {
		fprintf(stderr, "opsbusd: %s\n", err);
		goto out;
	}
	db_free(db);
	db = NULL;
	if (auth_alloc(c.api_key, &auth) != OPSBUS_E_OK) {
		fprintf(stderr,
		    "opsbusd: the API key must be at least 16 "
		    "characters\n");
		goto out;
	}
	if (rpc_methods_bind(service_descriptors, service_descriptors_count,
	        service_methods, service_methods_count, &methods, err,
	        sizeof(err))
	        != 0
	    || rpc_methods_bind_batches(methods, service_batches,
	           service_batches_count, err, sizeof(err))
	        != 0) {
		fprintf(stderr, "opsbusd: method table: %s\n", err);
		goto out;
	}

	memset(&disp, 0, sizeof(disp));
	disp.methods = methods;
	disp.auth = auth;
	disp.cfg = &scfg;
	disp.max_request = c.max_request;
	disp.default_timeout_ms = c.default_timeout_ms;
	disp.max_timeout_ms = 300000;

	/* The gateway calls the same REP socket as every client, inproc. */
	if (strcmp(c.http, "off") != 0 && c.n_listen < MAX_LISTEN) {
		c.listen[c.n_listen++] = GATEWAY_INPROC_URL;
	}
	memset(&rcfg, 0, sizeof(rcfg));
	rcfg.urls = c.listen;
	rcfg.n_urls = c.n_listen;
	rcfg.workers = c.workers;
	rcfg.transport_max = c.max_request * 4;
	/* Before the RPC socket: a server that answers also publishes. */
	if (strcmp(c.events, "off") != 0) {
		struct events_publisher_config ecfg = {.urls = c.events,
		    .conninfo = conninfo,
		    .retention_hours = c.event_retention_hours};
		if (events_publisher_start(&ecfg, &events, err, sizeof(err))
		    != 0) {
			if (c.events_explicit) {
				fprintf(stderr, "opsbusd: %s\n", err);
				goto out;
			}
			log_warn("no event publisher in this opsbusd; another "
			         "one on the database may publish",
			    "error=\"%s\"", err);
		}
	}
	/* One connection per worker at most, opened when first needed. With
	 * a publisher here, calls wake it themselves after they commit instead
	 * of notifying from their transactions (migration 0003). */
	if ((pool = db_pool_new(conninfo, c.workers,
	         events != NULL ? "SET opsbus.events_wake = 'local'" : NULL))
	    == NULL) {
		fprintf(stderr, "opsbusd: out of memory\n");
		goto out;
	}
	disp.pool = pool;
	disp.committed = events != NULL ? events_publisher_wake : NULL;
	disp.committed_arg = events;
	if (rpc_server_start(&rcfg, &disp, &srv, err, sizeof(err)) != 0) {
		fprintf(stderr, "opsbusd: %s\n", err);
		goto out;
	}
	if (strcmp(c.http, "off") != 0) {
		struct gateway_config gcfg
		    = {.http = c.http, .rpc_url = GATEWAY_INPROC_URL};
		if (gateway_start(&gcfg, &gw, err, sizeof(err)) == 0) {
			log_info("HTTP gateway listening", "http=%s port=%u",
			    c.http, gateway_port(gw));
		} else if (c.http_explicit) {
			fprintf(stderr, "opsbusd: HTTP gateway: %s\n", err);
			goto out;
		} else {
			log_warn("HTTP gateway off: cannot listen on the "
			         "default address; set --http or OPSBUS_HTTP",
			    "error=\"%s\"", err);
		}
	}
	if (rescuer_start(conninfo, 1000, &rescuer) != 0) {
		fprintf(stderr, "opsbusd: cannot start the lease rescuer\n");
		goto out;
	}
	if (bulk_runner_start(conninfo, &bulk) != OPSBUS_E_OK) {
		fprintf(stderr, "opsbusd: cannot start the bulk runner\n");
		goto out;
	}
	if (auth_is_open(auth)) {
		log_warn("NO API KEY IS CONFIGURED: anyone who can reach this "
		         "server may call every method as admin; set "
		         "OPSBUS_API_KEY or --api-key",
		    "auth=open");
	}
	for (size_t i = 0; i < c.n_listen; i++) {
		log_info("listening", "rpc=%s", c.listen[i]);
	}
	log_info("opsbusd ready", "version=%s schema=%d workers=%d db=%s",
	    OPSBUS_VERSION, scfg.schema_version, c.workers,
	    pg != NULL ? "embedded" : "external");

	rv = wait_for_signal();
	log_info("stopping: draining calls in flight", "signal=%d", rv);
	/* Calls in flight may take their whole deadline; closing the
	 * sockets after them, a moment. */
	stop_guarded = stop_guard_arm(getenv("OPSBUS_STOP_GRACE_MS") != NULL
	                       ? atol(getenv("OPSBUS_STOP_GRACE_MS"))
	                       : (long) c.default_timeout_ms + 30000,
	                   pg)
	    == 0;
	worker_drain();
	/* HTTP first: its requests in flight are RPC calls in flight. */
	gateway_stop(gw);
	gw = NULL;
	rpc_server_stop(srv);
	srv = NULL;
	status = 0;
out:
	/* After the RPC drain, so no call writes events behind it; what is
	 * left unpublished waits in the outbox for the next publisher. */
	events_publisher_stop(events);
	rescuer_stop(rescuer);
	bulk_runner_stop(bulk);
	gateway_stop(gw);
	rpc_server_stop(srv);
	rpc_methods_free(methods);
	db_pool_free(pool);
	auth_free(auth);
	db_free(db);
	if (stop_guarded) {
		(void) stop_guard_release();
	}
	if (pg != NULL) {
		log_info("stopping the embedded PostgreSQL", "data_dir=%s",
		    c.data_dir);
		pg_embedded_free(pg);
	}
	if (status == 0) {
		log_info("opsbusd stopped", "status=0");
	}
	return (status);
}
