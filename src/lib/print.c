#include "print.h"

#include <stdio.h>

size_t print_escaped(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '\n')
			n += (size_t)printf("\\n");
		else if (*p == '\t')
			n += (size_t)printf("\\t");
		else if (*p < 0x20 || *p == 0x7f)
			n += (size_t)printf("\\x%02x", *p);
		else
			n += putchar(*p) != EOF;
	}
	return n;
}

void print_entry(const struct log_entry *e)
{
	printf("%-5s  ", log_level_name(e->level));
	for (size_t n = print_escaped(e->service); n < 8; n++)
		putchar(' ');
	printf("  ");
	print_escaped(e->message);
	if (e->has_latency)
		printf("  (%g ms)", e->latency_ms);
	putchar('\n');
}
