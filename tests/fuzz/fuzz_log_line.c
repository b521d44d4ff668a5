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
 */
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	CHECK(text != NULL);
	if (size > 0)
		memcpy(text, data, size);
	text[size] = '\0';

	/* Garbage first: the parser must set *entry on every path. */
	struct log_entry *entry = (struct log_entry *)(uintptr_t)0x1;
	enum parse_error err = parse_log_line(text, size, &entry);

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
	log_entry_free(entry);
	free(text);
	return 0;
}
