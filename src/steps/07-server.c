/*
 * 07-server.c - lesson 07's program: the socket server, serving the line
 * echo of src/echo.h. Talk to it with nc, or with bash's /dev/tcp:
 *
 *   07-server                                127.0.0.1:8479 until Ctrl-C
 *   07-server --listen 127.0.0.1:0           a free port, which the first line names
 *   07-server --listen :8479 --max 2         every interface, at most 2 connections
 *   nc 127.0.0.1 8479                        each line comes back; "big", "bye"
 *   07-server --self-test                    port 0, its own client, exit 0 if all is well
 *
 * smoke: --self-test
 */
#include "args.h"
#include "echo.h"
#include "loopback.h"
#include "server.h"
#include "signals.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG "07-server"
#define L07  "lessons/07-server/README.md"

struct options {
	const char *listen;
	unsigned long long max_connections, idle_seconds;
	unsigned long long seconds; /* 0: until SIGINT or SIGTERM */
	int self_test;
};

/* -1: go on; otherwise the status to exit with. */
static int parse_args(int argc, char **argv, struct options *o)
{
	*o = (struct options){.listen = "127.0.0.1:8479", .max_connections = 64, .idle_seconds = 60};
	const struct arg_option options[] = {
	    ARG_TEXT_OPT("listen", 'l', &o->listen, "ADDR",
			 "127.0.0.1:PORT, [::1]:PORT or :PORT (default 127.0.0.1:8479;\nport 0: a free one, "
			 "printed at the start)"),
	    ARG_WHOLE_OPT("max", 'm', &o->max_connections, "N", "at most N connections (default 64)", 1,
			  INT_MAX),
	    ARG_WHOLE_OPT("idle", 'i', &o->idle_seconds, "N",
			  "close a connection idle for N seconds (default 60)", 1, INT_MAX),
	    ARG_WHOLE_OPT("seconds", 's', &o->seconds, "N",
			  "stop after N seconds (default 0: at SIGINT or SIGTERM)", 0, INT_MAX),
	    ARG_FLAG_OPT("self-test", 't', &o->self_test, "serve on a free port, talk to itself, and exit"),
	    ARG_END};
	const struct arg_program prog = {
	    PROG, NULL,
	    "  Echoes each line a client sends; \"big\" gets 8 MiB back, \"bye\" ends the connection.\n",
	    options};
	return args_parse(&prog, argc, argv);
}

/* ---- the self-test's client ---------------------------------------------------- */

/* Says line on fd, prints what came back; 1 if it was line again (and,
 * for "bye", then the end of the connection). */
static int check(int fd, const char *line)
{
	char buf[64], after[2];
	int eof = 0;
	size_t len = strlen(line);
	size_t n =
	    send(fd, line, len, MSG_NOSIGNAL) == (ssize_t)len ? loopback_read(fd, buf, len + 1, &eof) : 0;
	int bye = strcmp(line, "bye\n") == 0;
	if (n == len && bye)
		loopback_read(fd, after, sizeof(after), &eof);
	int ok = n == strlen(line) && memcmp(buf, line, n) == 0 && (!bye || eof);
	printf("sent %.*s -> %s%s\n", (int)strlen(line) - 1, line, n > 0 ? "the same line" : "nothing",
	       bye && eof ? ", then the end of the connection" : "");
	if (!ok)
		fprintf(stderr,
			PROG ": no echo of %.*s: lesson 07 is not done yet? (see " L07 "#5-build-it)\n",
			(int)strlen(line) - 1, line);
	return ok;
}

/* The echo server on listen, or NULL after saying why. The idle time
 * must outlive the server: it is kept here. */
static struct server *start_echo(const char *listen, unsigned long long max_connections, long idle_ms)
{
	static long idle;
	idle = idle_ms;
	struct server_config cfg = {.listen = listen, .max_connections = (int)max_connections};
	struct server_handler h = echo_handler(&idle);
	char err[256] = "";
	struct server *s = server_start(&cfg, &h, err, sizeof(err));
	if (s == NULL)
		fprintf(stderr, PROG ": %s\n", err);
	return s;
}

static int self_test(void)
{
	struct server *s = start_echo("127.0.0.1:0", 8, 5000);
	if (s == NULL)
		return 1;
	printf("serving on 127.0.0.1:%d\n", server_port(s));
	int fd = loopback_connect(server_port(s));
	int ok = fd >= 0 && check(fd, "hello\n") && check(fd, "bye\n");
	if (fd >= 0)
		close(fd);
	server_stop(s);
	printf("self-test %s\n", ok ? "passed" : "FAILED");
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct options o;
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if (o.self_test)
		return self_test();
	if (signals_catch() != 0) {
		fprintf(stderr, PROG ": cannot catch signals: %s\n", strerror(errno));
		return 1;
	}
	struct server *s = start_echo(o.listen, o.max_connections, (long)o.idle_seconds * 1000);
	if (s == NULL)
		return 1;
	fprintf(stderr, PROG ": echoing on port %d, at most %llu connection%s%s\n", server_port(s),
		o.max_connections, o.max_connections == 1 ? "" : "s", o.seconds > 0 ? "" : "; Ctrl-C stops");
	signals_wait((long)o.seconds);
	server_stop(s);
	fprintf(stderr, PROG ": stopped\n");
	return 0;
}
