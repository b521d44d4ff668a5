/*
 * 08-http.c - lesson 08's program: the hand-written HTTP server, serving a
 * small fixed registry at /metrics.
 *
 * The registry holds a build-info gauge and a counter of the scrapes
 * served (the render callback counts itself, on the server's thread).
 * Point a browser, curl or Prometheus at it:
 *
 *   08-http                                  127.0.0.1:8479 until Ctrl-C
 *   08-http --listen :8479 --seconds 60      every interface, for a minute
 *   curl -si http://127.0.0.1:8479/metrics
 *   08-http --self-test                      port 0, its own client, exit 0 if all is well
 *
 * smoke: --self-test
 */
#include "args.h"
#include "clock.h"
#include "http.h"
#include "loopback.h"
#include "metrics.h"
#include "signals.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "08-http"
#define L08  "lessons/08-http/README.md"

struct options {
	const char *listen;
	unsigned long long seconds; /* 0: until SIGINT or SIGTERM */
	int self_test;
};

/* -1: go on; otherwise the status to exit with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){"127.0.0.1:8479", 0, 0};
	const struct arg_option options[] = {
	    ARG_TEXT_OPT(
		"listen", 'l', &o->listen, "ADDR",
		"127.0.0.1:PORT, [::1]:PORT or :PORT (default 127.0.0.1:" ARG_STR(HTTP_DEFAULT_PORT) ")"),
	    ARG_WHOLE_OPT("seconds", 's', &o->seconds, "N",
			  "stop after N seconds (default 0: at SIGINT or SIGTERM)", 0, INT_MAX),
	    ARG_FLAG_OPT("self-test", 't', &o->self_test,
			 "serve on a free port, fetch /metrics, / and a 404, and exit"),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, NULL, "  Serves a small metrics registry over HTTP at /metrics.\n", options};
	return args_parse(&prog, argc, argv);
}

/* ---- what is served ------------------------------------------------------- */

struct site {
	struct metrics_registry *reg;
	struct metric_family *scrapes;
};

/* Called on the server's thread for each GET or HEAD of /metrics. */
static char *render(void *arg, size_t *len)
{
	struct site *site = arg;
	metrics_counter_add(site->scrapes, NULL, 1);
	return metrics_render(site->reg, len);
}

static int site_init(struct site *site)
{
	static const char *const version[] = {"version"};
	static const char *const v[] = {"0.7.0"};
	site->reg = metrics_registry_new(0);
	if (site->reg == NULL)
		return -1;
	struct metric_family *info =
	    metrics_gauge(site->reg, "logpipe_build_info", "The program's version, as a label.", 1, version);
	site->scrapes = metrics_counter(site->reg, "logpipe_http_scrapes_total",
					"Requests for /metrics answered (this one included).", 0, NULL);
	if (info == NULL || site->scrapes == NULL || metrics_gauge_set(info, v, 1) != 0)
		return -1;
	return 0;
}

/* ---- the self-test's client ------------------------------------------------------ */

/* Sends "GET path" with Connection: close and reads until EOF into buf.
 * Returns the bytes read, or -1. */
static long fetch(int port, const char *path, char *buf, size_t cap)
{
	int fd = loopback_connect(port);
	char req[256];
	int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
			 path);
	int eof;
	long got = fd >= 0 && send(fd, req, (size_t)n, MSG_NOSIGNAL) == n
		       ? (long)loopback_read(fd, buf, cap, &eof)
		       : -1;
	if (fd >= 0)
		close(fd);
	return got;
}

/* Fetches path and prints its status line; 1 if the status is want. */
static int check(int port, const char *path, int want)
{
	static char buf[65536];
	long n = fetch(port, path, buf, sizeof(buf));
	if (n <= 0) {
		printf("GET %-9s -> no answer\n", path);
		fprintf(stderr,
			PROG ": GET %s got no answer: lesson 08 is not done yet? (see " L08 "#5-build-it)\n",
			path);
		return 0;
	}
	int status = 0;
	sscanf(buf, "HTTP/1.%*d %d", &status);
	char *eol = strstr(buf, "\r\n");
	if (eol != NULL)
		*eol = '\0';
	printf("GET %-9s -> %s\n", path, buf);
	if (status != want)
		fprintf(stderr, PROG ": GET %s: want status %d\n", path, want);
	return status == want;
}

static int self_test(struct site *site)
{
	struct http_server_config cfg = http_server_config_default();
	cfg.listen = "127.0.0.1:0";
	char err[256] = "";
	struct http_server *s = http_server_start(&cfg, render, site, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, PROG ": %s\n", err);
		return 1;
	}
	int port = http_server_port(s);
	printf("serving on 127.0.0.1:%d\n", port);
	int ok = check(port, "/metrics", 200);
	ok &= check(port, "/", 200);
	ok &= check(port, "/nope", 404);
	http_server_stop(s);
	printf("self-test %s\n", ok ? "passed" : "FAILED");
	return ok ? 0 : 1;
}

/*
 * The host part of a URL that reaches a server listening on listen:
 * "localhost" for every interface (":8479", "0.0.0.0:8479", "[::]:8479"),
 * else the host as given, an IPv6 literal in its brackets ("[::1]").
 */
static const char *url_host(const char *listen, char *buf, size_t len)
{
	const char *colon = strrchr(listen, ':');
	size_t n = colon != NULL ? (size_t)(colon - listen) : strlen(listen);
	if (n == 0 || (n == 7 && strncmp(listen, "0.0.0.0", 7) == 0) ||
	    (n == 4 && strncmp(listen, "[::]", 4) == 0))
		return "localhost";
	snprintf(buf, len, "%.*s", (int)n, listen);
	return buf;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct site site = {NULL, NULL};
	if (site_init(&site) != 0) {
		fprintf(stderr, PROG ": cannot build the registry: %s\n", strerror(errno));
		metrics_registry_free(site.reg);
		return 1;
	}
	if (o.self_test) {
		rc = self_test(&site);
		metrics_registry_free(site.reg);
		return rc;
	}
	if (signals_catch() != 0) {
		fprintf(stderr, PROG ": cannot catch signals: %s\n", strerror(errno));
		metrics_registry_free(site.reg);
		return 1;
	}
	struct http_server_config cfg = http_server_config_default();
	cfg.listen = o.listen;
	char err[256] = "";
	struct http_server *s = http_server_start(&cfg, render, &site, err, sizeof(err));
	if (s == NULL) {
		fprintf(stderr, PROG ": %s\n", err);
		metrics_registry_free(site.reg);
		return 1;
	}
	char host[256];
	fprintf(stderr, PROG ": serving http://%s:%d/metrics%s\n", url_host(o.listen, host, sizeof(host)),
		http_server_port(s), o.seconds > 0 ? "" : "; Ctrl-C stops");
	signals_wait((long)o.seconds);
	http_server_stop(s);
	fprintf(stderr, PROG ": stopped\n");
	metrics_registry_free(site.reg);
	return 0;
}
