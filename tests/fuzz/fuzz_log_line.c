/*
 * fuzz_log_line.c - libFuzzer target for parse_log_line (src/parser.h).
 *
 * The bytes are copied into a buffer of size + 1 with text[size] == 0, as
 * the contract requires (a struct line is terminated the same way); a read
 * past the NUL is an ASan error. Properties, each a trap when violated:
 *   - the result is one parse_log_line can give: OK, INVALID_JSON,
 *     MISSING_LEVEL, BAD_LEVEL or ENOMEM (TOO_LONG belongs to the tailer's
 *     marker, NOTIMPL to the stub);
 *   - a NUL byte inside the line is INVALID_JSON;
 *   - on PARSE_OK the entry exists, its level is in range, service and
 *     message are non-NULL strings (strlen reads them whole, under ASan);
 *     otherwise *entry is NULL;
 *   - log_entry_free always; LeakSanitizer reports anything left behind.
 * Then the same bytes as another logger's line (parse_log_line_as with a
 * preset chosen by the input's length), with the same properties, and
 * twice through a parser stage that unwraps Docker or CRI lines (so that
 * a piece held from the first joins the second, under a small line
 * limit): every line ends in exactly one counter once parser_finish has
 * run.
 */
#include "line.h"
#include "log_entry.h"
#include "parser.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                          \
	do {                                                                                                 \
		if (!(cond))                                                                                 \
			__builtin_trap();                                                                    \
	} while (0)

/* The properties of one parse's result (see above). */
static void check_result(enum parse_error err, struct log_entry *entry, const char *text, size_t size)
{
	CHECK(err == PARSE_OK || err == PARSE_INVALID_JSON || err == PARSE_MISSING_LEVEL ||
	      err == PARSE_BAD_LEVEL || err == PARSE_ENOMEM);
	if (memchr(text, '\0', size) != NULL)
		CHECK(err == PARSE_INVALID_JSON);
	const char *name = parse_error_name(err);
	CHECK(name != NULL);

	if (err == PARSE_OK) {
		CHECK(entry != NULL);
		CHECK((unsigned)entry->level < LOG_LEVELS);
		CHECK(entry->service != NULL);
		CHECK(entry->message != NULL);
		volatile size_t n = strlen(entry->service) + strlen(entry->message);
		if (entry->timestamp != NULL)
			n += strlen(entry->timestamp);
		(void)n;
		CHECK(entry->has_latency == 0 || entry->has_latency == 1);
		const char *level = log_level_name(entry->level);
		CHECK(level != NULL && strcmp(level, "unknown") != 0);
	} else {
		CHECK(entry == NULL);
	}
}

/* The bytes twice through a stage unwrapping containers: counted once each. */
static void check_container(const char *text, size_t size, const struct log_format *fmt)
{
	struct parser_stage st;
	memset(&st, 0, sizeof(st));
	st.format = fmt;
	st.container = size % 2 ? CONTAINER_CRI : CONTAINER_DOCKER;
	st.max_line = 256;
	unsigned long long entries = 0, errors = 0;
	for (int i = 0; i < 2; i++) {
		struct line *line = line_new(text, size);
		CHECK(line != NULL);
		struct log_entry *e = parser_step(&st, line);
		entries += e != NULL;
		log_entry_free(e);
	}
	parser_finish(&st);
	for (int r = 0; r < PARSE_REASONS; r++)
		errors += atomic_load(&st.stats.errors[r]);
	CHECK(atomic_load(&st.stats.lines) == 2);
	CHECK(entries + errors + atomic_load(&st.stats.joined) + atomic_load(&st.stats.discarded) == 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = {"default", "pino", "bunyan", "zap", "logrus", "slog", "ecs"};
	char *text = malloc(size + 1);
	CHECK(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';

	/* Garbage first: the parser must set *entry on every path. */
	struct log_entry *entry = (struct log_entry *)(uintptr_t)0x1;
	enum parse_error err = parse_log_line(text, size, &entry);
	check_result(err, entry, text, size);
	log_entry_free(entry);

	const struct log_format *fmt = log_format_preset(formats[size % 7]);
	CHECK(fmt != NULL);
	entry = (struct log_entry *)(uintptr_t)0x1;
	err = parse_log_line_as(fmt, text, size, &entry);
	check_result(err, entry, text, size);
	log_entry_free(entry);

	check_container(text, size, fmt);
	free(text);
	return 0;
}
