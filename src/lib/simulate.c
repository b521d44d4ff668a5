/*
 * simulate.c - lesson 03's simulator (given): a source of realistic JSON
 * log lines at a chosen rate and level mix, which tailer_run runs when
 * cfg.path is NULL. The contract is in src/tailer.h.
 *
 * Tests and demos need a log that is busy, varied and the same every time.
 * The simulator draws every choice from a seeded pseudo-random generator,
 * and its timestamps come from the line number, not from the clock: the
 * same seed gives the same lines, byte for byte, on any machine.
 */
#include "clock.h"
#include "follower.h"
#include "strbuf.h"
#include "tailer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The state a seed of 0 stands for: xorshift must never hold 0, or it
 * returns 0 forever. */
#define SIM_STATE_ZERO 0x9E3779B97F4A7C15ULL

/* The simulated log starts at 2026-11-25T10:00:00Z (seconds since 1970). */
#define SIM_EPOCH 1795600800LL

/* xorshift64* (Vigna, 2014): three shifts and a multiply; fast, and good
 * enough for test data. Never call it with *state == 0. */
static unsigned long long sim_next(unsigned long long *state)
{
	unsigned long long x = *state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* "2026-11-25T10:00:00.013Z" for line n: at `rate` lines per second
 * (1000 if rate is 0), line n is n / rate seconds after SIM_EPOCH. */
static void sim_timestamp(char out[32], unsigned long long n, double rate)
{
	unsigned long long ms = rate > 0 ? (unsigned long long)((double)n * 1000.0 / rate) : n;
	time_t secs = (time_t)(SIM_EPOCH + (long long)(ms / 1000));
	struct tm tm;
	gmtime_r(&secs, &tm);
	size_t len = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + len, 32 - len, ".%03uZ", (unsigned)(ms % 1000));
}

/* A latency in milliseconds from a random number: mostly a few ms, with a
 * long tail up to two seconds, like a real service. */
static double sim_latency(unsigned long long r)
{
	double u = (double)(r >> 11) / 9007199254740992.0; /* 53 bits: [0, 1) */
	return 0.2 + 2000.0 * u * u * u * u;
}

static const char *const sim_level_names[LOG_LEVELS] = {"trace", "debug", "info", "warn", "error", "fatal"};

/* Used when every level_weights entry is 0 (in percent). */
static const unsigned sim_default_weights[LOG_LEVELS] = {0, 5, 65, 20, 9, 1};

#define SIM_SERVICES 5
static const char *const sim_services[SIM_SERVICES] = {"api", "auth", "billing", "checkout", "search"};

/* A message is prefix, then (if with_id) a number, then suffix. None of
 * them holds a '"' or a '\\', so they go into JSON strings as they are. */
struct sim_message {
	const char *prefix;
	int with_id;
	const char *suffix;
};

#define SIM_MESSAGES 3
static const struct sim_message sim_messages[LOG_LEVELS][SIM_MESSAGES] = {
    [LOG_TRACE] = {{"enter handler carts.get id=", 1, ""},
		   {"leave handler carts.get id=", 1, ""},
		   {"span ", 1, " started"}},
    [LOG_DEBUG] = {{"cache lookup user:", 1, " hit"},
		   {"cache lookup user:", 1, " miss"},
		   {"db query returned ", 1, " rows"}},
    [LOG_INFO] = {{"GET /api/v1/carts/", 1, " 200 OK"},
		  {"POST /api/v1/orders/", 1, " 201 created"},
		  {"user ", 1, " logged in"}},
    [LOG_WARN] = {{"GET /api/v1/carts/", 1, " 429 rate limited"},
		  {"slow query on orders: ", 1, " ms"},
		  {"retrying payment provider for order ", 1, ""}},
    [LOG_ERROR] = {{"POST /api/v1/payments/", 1, " 502 upstream error"},
		   {"GET /api/v1/search?page=", 1, " 500 internal error"},
		   {"db connection reset", 0, ""}},
    [LOG_FATAL] = {{"out of memory, shutting down", 0, ""},
		   {"config invalid: missing DATABASE_URL", 0, ""},
		   {"cannot bind port 8080: address in use", 0, ""}},
};

/* A level drawn with probability weights[level] / sum(weights). */
static enum log_level sim_pick_level(const unsigned weights[LOG_LEVELS], unsigned long long r)
{
	unsigned long long total = 0;
	for (int i = 0; i < LOG_LEVELS; i++)
		total += weights[i];
	if (total == 0) {
		weights = sim_default_weights;
		for (int i = 0; i < LOG_LEVELS; i++)
			total += weights[i];
	}
	unsigned long long x = r % total;
	for (int i = 0; i < LOG_LEVELS; i++) {
		if (x < weights[i])
			return (enum log_level)i;
		x -= weights[i];
	}
	return LOG_INFO; /* not reached: x < total */
}

char *simulate_line(const struct tailer_config *cfg, unsigned long long *state, unsigned long long n)
{
	if (*state == 0)
		*state = SIM_STATE_ZERO;
	/* The same number of draws for every line, in the same order: the
	 * lines of a seed never depend on anything else. */
	enum log_level level = sim_pick_level(cfg->level_weights, sim_next(state));
	const char *service = sim_services[sim_next(state) % SIM_SERVICES];
	const struct sim_message *m = &sim_messages[level][sim_next(state) % SIM_MESSAGES];
	unsigned id = (unsigned)(sim_next(state) % 100000);
	unsigned long long r = sim_next(state);
	char ts[32];
	sim_timestamp(ts, n, cfg->rate);

	struct strbuf sb = STRBUF_INIT;
	strbuf_printf(&sb, "{\"ts\":\"%s\",\"level\":\"%s\",\"service\":\"%s\",\"msg\":\"%s", ts,
		      sim_level_names[level], service, m->prefix);
	if (m->with_id)
		strbuf_printf(&sb, "%u", id);
	strbuf_printf(&sb, "%s\"", m->suffix);
	/* Most lines say how long the request took; a fatal line never does. */
	if (level != LOG_FATAL && r % 10 != 0)
		strbuf_printf(&sb, ",\"latency_ms\":%.3f", sim_latency(r));
	strbuf_putc(&sb, '}');
	return strbuf_take(&sb, NULL);
}

/*
 * Line n is due at start + n / rate. Waits until then, or until done is
 * closed; returns 1 when the simulator must stop. The deadline is
 * absolute, so a late line does not push the later ones back: the rate
 * holds on average. At rate 0 the deadline is `start`, long past, and the
 * receive only checks done without waiting. Without a done channel,
 * nobody can ask us to stop, and clock_nanosleep on the same clock does.
 */
static int sim_wait_turn(struct tailer *t, const struct timespec *start, unsigned long long n)
{
	struct timespec due = *start;
	if (t->cfg.rate > 0) {
		double s = (double)n / t->cfg.rate;
		time_t whole = (time_t)s;
		due.tv_sec += whole;
		due.tv_nsec += (long)((s - (double)whole) * 1e9);
		if (due.tv_nsec >= 1000000000L) {
			due.tv_sec++;
			due.tv_nsec -= 1000000000L;
		}
	}
	if (t->done == NULL) {
		while (t->cfg.rate > 0 &&
		       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &due, NULL) == EINTR)
			;
		return 0;
	}
	void *msg = NULL;
	return chan_recv_until(t->done, &msg, &due) != CHAN_TIMEOUT;
}

void tailer_simulate(struct tailer *t)
{
	unsigned long long state = t->cfg.seed != 0 ? t->cfg.seed : SIM_STATE_ZERO;
	struct timespec start = clock_now();
	for (unsigned long long n = 0; t->cfg.count == 0 || n < t->cfg.count; n++) {
		if (sim_wait_turn(t, &start, n))
			break;
		char *text = simulate_line(&t->cfg, &state, n);
		if (text == NULL)
			break; /* out of memory */
		struct line *line = line_new(text, strlen(text));
		free(text);
		if (line == NULL || tailer_emit(t, line) != 0)
			break;
		/* A line kept by a batched tailer must not wait out the next
		 * line's turn; at rate 0 nobody waits, and the batch fills. */
		if (t->cfg.rate > 0 && tailer_flush(t) != 0)
			break;
	}
}
