/*
 * The identity of a request for idempotency: a SHA-256 over its fields in a
 * fixed order, each preceded by its length, so that no two different
 * requests share an encoding ("ab"+"c" differs from "a"+"bc"). JSON payloads
 * are hashed in canonical form (sorted keys, no spaces), so the same
 * document written differently is the same request.
 */
#ifndef OPSBUS_SERVICES_IDEMPOTENCY_H
#define OPSBUS_SERVICES_IDEMPOTENCY_H

#include <stddef.h>

/* Hex SHA-256 of the n strings of fields (NULL counts as ""). */
void idempotency_hash(const char *const *fields, size_t n, char out[65]);

#endif
