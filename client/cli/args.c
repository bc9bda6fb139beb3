/*
 * Argument handling for the CLI: options taken by name, in any order,
 * integers checked, leftovers refused with a clear message.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void
cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "opsbus: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see opsbus --help)\n");
	exit(2);
}

static void
remove_args(struct cli_args *args, int i, int n)
{
	memmove(&args->argv[i], &args->argv[i + n],
	    (size_t) (args->argc - i - n) * sizeof(args->argv[0]));
	args->argc -= n;
}

const char *
cli_take(struct cli_args *args, const char *name)
{
	size_t      len = strlen(name);
	const char *value = NULL;

	for (int i = 0; i < args->argc; i++) {
		char *a = args->argv[i];
		if (strcmp(a, "--") == 0) {
			break;
		}
		if (strncmp(a, name, len) == 0 && a[len] == '=') {
			value = a + len + 1;
			remove_args(args, i, 1);
			i--;
		} else if (strcmp(a, name) == 0) {
			if (i + 1 >= args->argc) {
				cli_usage_error("%s needs a value", name);
			}
			value = args->argv[i + 1];
			remove_args(args, i, 2);
			i--;
		}
	}
	return (value);
}

int
cli_take_all(
    struct cli_args *args, const char *name, const char **out, int max)
{
	int         n = 0;
	const char *v;

	while ((v = cli_take(args, name)) != NULL) {
		if (n >= max) {
			cli_usage_error(
			    "%s given more than %d times", name, max);
		}
		out[n++] = v;
	}
	return (n);
}

bool
cli_flag(struct cli_args *args, const char *name)
{
	bool found = false;

	for (int i = 0; i < args->argc; i++) {
		if (strcmp(args->argv[i], "--") == 0) {
			break;
		}
		if (strcmp(args->argv[i], name) == 0) {
			remove_args(args, i, 1);
			i--;
			found = true;
		}
	}
	return (found);
}

long
cli_int(const char *name, const char *value, long lo, long hi)
{
	char *end;
	long  v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || *end != '\0' || end == value || v < lo || v > hi) {
		cli_usage_error("%s must be a whole number from %ld to %ld, "
		                "not \"%s\"",
		    name, lo, hi, value);
	}
	return (v);
}

bool
cli_take_limit(struct cli_args *args, int32_t *limit)
{
	const char *v = cli_take(args, "--limit");

	if (v == NULL) {
		return (false);
	}
	*limit = (int32_t) cli_int("--limit", v, -2147483647L, 2147483647L);
	return (true);
}

void
cli_done(struct cli_args *args, int max_positional)
{
	int positional = 0;

	for (int i = 0; i < args->argc; i++) {
		const char *a = args->argv[i];
		if (strcmp(a, "--") == 0) {
			positional += args->argc - i - 1;
			break;
		}
		if (a[0] == '-' && a[1] != '\0') {
			cli_usage_error("unknown option %s", a);
		}
		positional++;
	}
	if (positional > max_positional) {
		cli_usage_error(
		    "unexpected argument \"%s\"", args->argv[args->argc - 1]);
	}
}

const char *
cli_positional(struct cli_args *args, int i)
{
	int seen = 0;

	for (int k = 0; k < args->argc; k++) {
		if (strcmp(args->argv[k], "--") == 0) {
			continue;
		}
		if (seen == i) {
			return (args->argv[k]);
		}
		seen++;
	}
	return (NULL);
}

char *
cli_read_value(const char *value)
{
	FILE  *f;
	char  *buf = NULL;
	size_t len = 0, cap = 0;
	int    c;

	if (value[0] != '@' && strcmp(value, "-") != 0) {
		return (strdup(value));
	}
	f = strcmp(value, "-") == 0 ? stdin : fopen(value + 1, "r");
	if (f == NULL) {
		cli_usage_error(
		    "cannot read %s: %s", value + 1, strerror(errno));
	}
	while ((c = fgetc(f)) != EOF) {
		if (len + 2 > cap) {
			cap = cap == 0 ? 4096 : cap * 2;
			char *nb = realloc(buf, cap);
			if (nb == NULL) {
				free(buf);
				cli_usage_error("out of memory");
			}
			buf = nb;
		}
		buf[len++] = (char) c;
	}
	if (f != stdin) {
		fclose(f);
	}
	if (buf == NULL) {
		return (strdup(""));
	}
	buf[len] = '\0';
	return (buf);
}
