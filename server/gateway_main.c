/*
 * opsbus-gateway: the HTTP/JSON gateway as its own process, in front of a
 * remote opsbusd (--rpc URL). The same code opsbusd runs in-process; it
 * holds no state and never touches the database, so as many may run as
 * needed. Stops on SIGTERM or SIGINT after answering what is in flight.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gateway.h"
#include "log.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: opsbus-gateway [options]\n"
	    "\n"
	    "Serves the opsbus API as HTTP/JSON, calling opsbusd over nng.\n"
	    "\n"
	    "  --rpc URL          opsbusd's RPC address (env OPSBUS_URL; "
	    "default\n"
	    "                     tcp://127.0.0.1:7470)\n"
	    "  --http ADDR        address to listen on (env OPSBUS_HTTP; "
	    "default\n"
	    "                     http://127.0.0.1:8080)\n"
	    "  --max-body N       largest request body in bytes (default "
	    "1048576)\n"
	    "  --max-connections N  connections at once (default 4096)\n"
	    "  --per-ip N         connections per client address (default: "
	    "no limit)\n"
	    "  --idle-timeout S   close idle connections after S seconds "
	    "(default 30)\n"
	    "  --read-timeout-ms N  a request must arrive whole within N ms "
	    "(default 15000)\n"
	    "  --rpc-timeout-ms N a call's deadline (default 30000)\n"
	    "  --threads N        HTTP threads (default 2)\n"
	    "  --log-level L      debug, info, warn, error (env "
	    "OPSBUS_LOG_LEVEL)\n");
}

static int
parse_uint(
    const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char         *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v < lo || v > hi) {
		return (-1);
	}
	*out = v;
	return (0);
}

static int
parse_args(int argc, char **argv, struct gateway_config *c)
{
	static const struct option opts[] = {
	    {"rpc", required_argument, NULL, 'r'},
	    {"http", required_argument, NULL, 'H'},
	    {"max-body", required_argument, NULL, 'b'},
	    {"max-connections", required_argument, NULL, 'c'},
	    {"per-ip", required_argument, NULL, 'p'},
	    {"idle-timeout", required_argument, NULL, 'i'},
	    {"read-timeout-ms", required_argument, NULL, 'R'},
	    {"rpc-timeout-ms", required_argument, NULL, 't'},
	    {"threads", required_argument, NULL, 'T'},
	    {"log-level", required_argument, NULL, 'L'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char    *level = getenv("OPSBUS_LOG_LEVEL");
	unsigned long  v = 0;
	int            ch;
	enum log_level lv;

	c->rpc_url = getenv("OPSBUS_URL");
	c->http = getenv("OPSBUS_HTTP");
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		int bad = 0;
		switch (ch) {
		case 'r':
			c->rpc_url = optarg;
			break;
		case 'H':
			c->http = optarg;
			break;
		case 'b':
			bad = parse_uint(optarg, 1024, 256UL << 20, &v);
			c->max_body = v;
			break;
		case 'c':
			bad = parse_uint(optarg, 1, 1000000, &v);
			c->max_connections = (unsigned) v;
			break;
		case 'p':
			bad = parse_uint(optarg, 1, 1000000, &v);
			c->per_ip_connections = (unsigned) v;
			break;
		case 'i':
			bad = parse_uint(optarg, 1, 86400, &v);
			c->idle_timeout_s = (unsigned) v;
			break;
		case 'R':
			bad = parse_uint(optarg, 100, 3600000, &v);
			c->read_timeout_ms = (unsigned) v;
			break;
		case 't':
			bad = parse_uint(optarg, 1, 300000, &v);
			c->rpc_timeout_ms = (uint32_t) v;
			break;
		case 'T':
			bad = parse_uint(optarg, 1, 64, &v);
			c->threads = (unsigned) v;
			break;
		case 'L':
			level = optarg;
			break;
		case 'h':
			usage(stdout);
			return (1);
		default:
			usage(stderr);
			return (-1);
		}
		if (bad != 0) {
			fprintf(stderr, "opsbus-gateway: bad value for --%s\n",
			    argv[optind - 1] + 2);
			return (-1);
		}
	}
	if (optind < argc) {
		usage(stderr);
		return (-1);
	}
	if (level != NULL && level[0] != '\0') {
		if (log_parse_level(level, &lv) != 0) {
			fprintf(stderr, "opsbus-gateway: unknown log level\n");
			return (-1);
		}
		log_set_level(lv);
	}
	if (c->rpc_url == NULL || c->rpc_url[0] == '\0') {
		c->rpc_url = "tcp://127.0.0.1:7470";
	}
	if (c->http == NULL || c->http[0] == '\0') {
		c->http = GATEWAY_DEFAULT_HTTP;
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct gateway_config cfg;
	struct gateway       *gw;
	char                  err[512];
	sigset_t              set;
	int                   sig = 0;
	int                   rv;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	memset(&cfg, 0, sizeof(cfg));
	if ((rv = parse_args(argc, argv, &cfg)) != 0) {
		return (rv > 0 ? 0 : 2);
	}
	err[0] = '\0';
	if (gateway_start(&cfg, &gw, err, sizeof(err)) != 0) {
		fprintf(stderr, "opsbus-gateway: %s\n", err);
		return (1);
	}
	log_info("opsbus-gateway ready", "http=%s port=%u rpc=%s", cfg.http,
	    gateway_port(gw), cfg.rpc_url);
	sigwait(&set, &sig);
	log_info("stopping: answering requests in flight", "signal=%d", sig);
	gateway_stop(gw);
	log_info("opsbus-gateway stopped", "status=0");
	return (0);
}
