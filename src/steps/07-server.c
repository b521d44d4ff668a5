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
#include "server.h"
#include "signals.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROG	       "07-server"
#define L07	       "lessons/07-server/README.md"
#define CLIENT_WAIT_MS 3000

struct options {
	const char *listen;
	long max_connections;
	long idle_seconds;
	long seconds; /* 0: until SIGINT or SIGTERM */
	int self_test;
};

static void usage(FILE *to)
{
	fprintf(to,
		"usage: " PROG " [--listen ADDR] [--max N] [--idle N] [--seconds N] [--self-test]\n"
		"  Echoes each line a client sends; \"big\" gets 8 MiB back, \"bye\" ends the connection.\n"
		"  -l, --listen ADDR   127.0.0.1:PORT, [::1]:PORT or :PORT (default 127.0.0.1:8479;\n"
		"                      port 0: a free one, printed at the start)\n"
		"  -m, --max N         at most N connections (default 64)\n"
		"  -i, --idle N        close a connection idle for N seconds (default 60)\n"
		"  -s, --seconds N     stop after N seconds (default 0: at SIGINT or SIGTERM)\n"
		"  -t, --self-test     serve on a free port, talk to itself, and exit\n"
		"  -h, --help          this text\n");
}

/* A whole number from min to max for option name, into *out; -1 after
 * saying why not. */
static int number(const char *name, const char *text, long min, long *out)
{
	unsigned long long n;
	if (arg_whole(text, (unsigned long long)min, INT_MAX, &n) != 0) {
		fprintf(stderr, PROG ": %s wants a number >= %ld, not '%s'\n", name, min, text);
		return -1;
	}
	*out = (long)n;
	return 0;
}

/* One option; -1 if it is bad (already reported), 1 after --help. */
static int take_option(int c, char **argv, struct options *o)
{
	switch (c) {
	case 'l':
		o->listen = optarg;
		return 0;
	case 'm':
		return number("--max", optarg, 1, &o->max_connections);
	case 'i':
		return number("--idle", optarg, 1, &o->idle_seconds);
	case 's':
		return number("--seconds", optarg, 0, &o->seconds);
	case 't':
		o->self_test = 1;
		return 0;
	case 'h':
		usage(stdout);
		return 1;
	case ':':
	default:
		arg_getopt_error(PROG, c, argv);
		return -1;
	}
}

/* 0: go on; 1: --help was printed; 2: bad arguments (already reported). */
static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longs[] = {{"listen", required_argument, NULL, 'l'},
					      {"max", required_argument, NULL, 'm'},
					      {"idle", required_argument, NULL, 'i'},
					      {"seconds", required_argument, NULL, 's'},
					      {"self-test", no_argument, NULL, 't'},
					      {"help", no_argument, NULL, 'h'},
					      {NULL, 0, NULL, 0}};
	*o = (struct options){.listen = "127.0.0.1:8479", .max_connections = 64, .idle_seconds = 60};
	opterr = 0; /* we print our own one-line reasons */
	int c, rc = 0;
	while (rc == 0 && (c = getopt_long(argc, argv, ":l:m:i:s:th", longs, NULL)) != -1)
		rc = take_option(c, argv, o);
	if (rc == 0)
		rc = arg_none_left(PROG, argc, argv, NULL);
	if (rc < 0)
		usage(stderr);
	return rc < 0 ? 2 : rc;
}

/* ---- the self-test's client ---------------------------------------------------- */

/* Sends line and reads what comes back until want bytes or the end of the
 * connection, into buf. Returns the bytes read; *eof says whether the
 * server then closed. */
static size_t say_and_listen(int fd, const char *line, char *buf, size_t want, int *eof)
{
	size_t got = 0;
	*eof = 0;
	if (send(fd, line, strlen(line), MSG_NOSIGNAL) != (ssize_t)strlen(line))
		return 0;
	while (got < want || (want == 0 && !*eof)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, CLIENT_WAIT_MS) <= 0)
			break; /* no answer in time */
		ssize_t k = recv(fd, buf + got, want > got ? want - got : 1, 0);
		if (k <= 0) {
			*eof = k == 0;
			break;
		}
		got += (size_t)k;
	}
	buf[got] = '\0';
	return got;
}

static int connect_loopback(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((unsigned short)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Says line on fd, prints what came back; 1 if it was line again (and,
 * for "bye", then the end of the connection). */
static int check(int fd, const char *line)
{
	char buf[64];
	int eof;
	size_t n = say_and_listen(fd, line, buf, strlen(line), &eof);
	int bye = strcmp(line, "bye\n") == 0;
	if (n == strlen(line) && bye)
		say_and_listen(fd, "", buf + n, 0, &eof);
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
static struct server *start_echo(const char *listen, long max_connections, long idle_ms)
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
	int fd = connect_loopback(server_port(s));
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
	if (rc != 0)
		return rc == 1 ? 0 : 2;
	if (o.self_test)
		return self_test();
	if (signals_catch() != 0) {
		fprintf(stderr, PROG ": cannot catch signals: %s\n", strerror(errno));
		return 1;
	}
	struct server *s = start_echo(o.listen, o.max_connections, o.idle_seconds * 1000);
	if (s == NULL)
		return 1;
	fprintf(stderr, PROG ": echoing on port %d, at most %ld connections%s\n", server_port(s),
		o.max_connections, o.seconds > 0 ? "" : "; Ctrl-C stops");
	signals_wait(o.seconds);
	server_stop(s);
	fprintf(stderr, PROG ": stopped\n");
	return 0;
}
