/*
 * Chunked bump allocation. Chunks grow to fit large requests; reset keeps
 * the first (smallest) chunk so that the common case reuses it.
 */
#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK_SIZE 16384

struct arena_chunk {
	struct arena_chunk *next;
	size_t              size;
	size_t              used;
	alignas(max_align_t) unsigned char data[];
};

static void *
arena_pb_alloc(void *data, size_t size)
{
	return (arena_alloc(data, size));
}

static void
arena_pb_free(void *data, void *ptr)
{
	(void) data;
	(void) ptr;
}

void
arena_init(struct arena *a)
{
	a->head = NULL;
	a->pb.alloc = arena_pb_alloc;
	a->pb.free = arena_pb_free;
	a->pb.allocator_data = a;
}

void
arena_fini(struct arena *a)
{
	struct arena_chunk *c = a->head;

	while (c != NULL) {
		struct arena_chunk *next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c = a->head;
	struct arena_chunk *keep = NULL;

	/* The oldest chunk is last in the list: keep it, free the rest. */
	while (c != NULL) {
		struct arena_chunk *next = c->next;
		if (next == NULL) {
			keep = c;
		} else {
			free(c);
		}
		c = next;
	}
	if (keep != NULL) {
		keep->next = NULL;
		keep->used = 0;
	}
	a->head = keep;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	const size_t        align = alignof(max_align_t);
	size_t              need = (n + align - 1) & ~(align - 1);
	struct arena_chunk *c = a->head;
	void               *p;

	if (need == 0) {
		need = align;
	}
	if (c == NULL || c->size - c->used < need) {
		size_t size
		    = need > ARENA_CHUNK_SIZE ? need : ARENA_CHUNK_SIZE;
		c = calloc(1, sizeof(*c) + size);
		if (c == NULL) {
			return (NULL);
		}
		c->size = size;
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	/* A reused chunk holds the last call's bytes. */
	memset(p, 0, need);
	return (p);
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = arena_alloc(a, n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return (p);
}

char *
arena_strdup(struct arena *a, const char *s)
{
	if (s == NULL) {
		s = "";
	}
	return (arena_strndup(a, s, strlen(s)));
}

char *
arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
	va_list ap2;
	int     n;
	char   *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0) {
		return (NULL);
	}
	p = arena_alloc(a, (size_t) n + 1);
	if (p != NULL) {
		vsnprintf(p, (size_t) n + 1, fmt, ap);
	}
	return (p);
}

char *
arena_printf(struct arena *a, const char *fmt, ...)
{
	va_list ap;
	char   *p;

	va_start(ap, fmt);
	p = arena_vprintf(a, fmt, ap);
	va_end(ap);
	return (p);
}
