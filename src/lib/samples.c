#include "samples.h"

#include <stdlib.h>
#include <string.h>

double samples_sum(const char *text, const char *name, const char *label)
{
	size_t nlen = strlen(name);
	double sum = -1;
	for (const char *l = text; *l != '\0';) {
		size_t len = strcspn(l, "\n");
		if (l[0] != '#' && len > nlen && strncmp(l, name, nlen) == 0 &&
		    (l[nlen] == '{' || l[nlen] == ' ')) {
			const char *sp = l + len;
			while (sp > l && sp[-1] != ' ')
				sp--;
			char labels[512] = "";
			if (l[nlen] == '{' && (size_t)(sp - l - nlen) < sizeof(labels))
				memcpy(labels, l + nlen, (size_t)(sp - l - nlen - 1));
			if (label == NULL || label[0] == '\0' || strstr(labels, label) != NULL)
				sum = (sum < 0 ? 0 : sum) + strtod(sp, NULL);
		}
		l += len + (l[len] == '\n');
	}
	return sum;
}
