/*
 * print.h - log text on a terminal, for the step programs: one entry, or
 * one string, always on one output line, whatever bytes it holds.
 */
#ifndef PRINT_H
#define PRINT_H

#include "log_entry.h"

#include <stddef.h>

/* Prints s to stdout on one output line: newlines and tabs as \n and \t,
 * other control characters as \xNN (a message may hold real ones now that
 * its escapes are decoded), UTF-8 as it is. Returns the bytes printed. */
size_t print_escaped(const char *s);

/* Prints "level  service   message  (latency ms)" and a newline, the
 * service padded to 8 columns and each field escaped. */
void print_entry(const struct log_entry *e);

#endif
