/*
 * logfmt lines on stderr. Each line is formatted into one buffer and written
 * with a single write(2), so lines from several threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

int
log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level) i;
			return (0);
		}
	}
	return (-1);
}

int
log_enabled(enum log_level level)
{
	return (level >= log_threshold);
}

const char *
log_quote(const char *s, char *buf, size_t len)
{
	int    needs = (s[0] == '\0');
	size_t o = 0;

	for (const char *p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char) *p;
		if (c <= ' ' || c == '"' || c == '=' || c == '\\'
		    || c == 0x7f) {
			needs = 1;
			break;
		}
	}
	if (len == 0) {
		return (buf);
	}
	if (!needs) {
		snprintf(buf, len, "%s", s);
		return (buf);
	}
	if (o + 1 < len) {
		buf[o++] = '"';
	}
	for (const char *p = s; *p != '\0' && o + 4 < len; p++) {
		unsigned char c = (unsigned char) *p;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char) c;
		} else if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < ' ' || c == 0x7f) {
			buf[o++] = '?';
		} else {
			buf[o++] = (char) c;
		}
	}
	if (o + 1 < len) {
		buf[o++] = '"';
	}
	buf[o] = '\0';
	return (buf);
}

void
log_msg(enum log_level level, const char *msg, const char *fmt, ...)
{
	char            line[2048];
	char            qmsg[512];
	struct timespec ts;
	struct tm       tm;
	size_t          n;
	va_list         ap;

	if (!log_enabled(level)) {
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "ts=%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t) snprintf(line + n, sizeof(line) - n,
	    ".%03ldZ level=%s msg=%s", ts.tv_nsec / 1000000L,
	    level_names[level], log_quote(msg, qmsg, sizeof(qmsg)));
	if (fmt != NULL && fmt[0] != '\0' && n < sizeof(line) - 2) {
		line[n++] = ' ';
		va_start(ap, fmt);
		int w = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		va_end(ap);
		if (w > 0) {
			n += (size_t) w;
		}
	}
	if (n > sizeof(line) - 2) {
		n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nothing more can be done when stderr is gone. */
	}
}
