/*
 * PostgreSQL array literals ("{"a","b",NULL}") built in an arena, so that
 * one statement can take a column of values per parameter and serve many
 * rows (unnest($1::text[], ...)). Every element is quoted; NULL is SQL
 * NULL.
 */
#ifndef OPSBUS_STORE_PGARRAY_H
#define OPSBUS_STORE_PGARRAY_H

#include <stdbool.h>
#include <stddef.h>

#include "arena.h"

struct pg_array {
	struct arena *a;
	char         *buf;
	size_t        len;
	size_t        cap;
	int           n;
	/* Set when memory ran out; pg_array_text then returns NULL. */
	bool failed;
};

void pg_array_init(struct pg_array *arr, struct arena *a);
/* Appends v (text form of the element type), or NULL. */
void pg_array_add(struct pg_array *arr, const char *v);
/* The literal, valid until the arena is reset; NULL when out of memory. */
const char *pg_array_text(struct pg_array *arr);

#endif
