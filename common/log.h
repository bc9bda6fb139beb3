/*
 * Structured log lines on stderr, one line each, in logfmt:
 *   ts=2026-11-22T08:25:21.123Z level=info msg="..." key=value ...
 * Callers pass the key=value tail as a printf format; values that may hold
 * spaces go through log_quote. Thread-safe (one write(2) per line).
 */
#ifndef OPSBUS_LOG_H
#define OPSBUS_LOG_H

#include <stddef.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Lines below `level` are dropped. The default is LOG_INFO. */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error". Returns 0 or -1 if unknown. */
int log_parse_level(const char *name, enum log_level *out);
int log_enabled(enum log_level level);

/* Writes one line: msg (quoted) then the formatted key=value tail. */
void log_msg(enum log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...)  log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...)  log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

/*
 * Writes s into buf as a logfmt value: quoted and escaped when it holds
 * spaces, quotes, '=' or control characters. Always NUL-terminates; cuts
 * long values. Returns buf.
 */
const char *log_quote(const char *s, char *buf, size_t len);

#endif
