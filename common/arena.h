/*
 * A bump allocator for everything one call allocates: the unpacked input,
 * the output message and its strings. A call frees nothing piece by piece;
 * arena_reset gives it all back at the end, keeping the first chunk for the
 * next call, so a steady stream of calls allocates nothing.
 */
#ifndef OPSBUS_ARENA_H
#define OPSBUS_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stdarg.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *head;
	/* A ProtobufCAllocator whose free is a no-op, for protobuf-c unpack.
	 */
	ProtobufCAllocator pb;
};

/* Initializes an empty arena on caller-owned storage. */
void arena_init(struct arena *a);
/* Frees every chunk. The arena can be used again after arena_init. */
void arena_fini(struct arena *a);
/* Frees everything allocated since the last reset but the first chunk. */
void arena_reset(struct arena *a);

/*
 * Returns n bytes aligned for any type, zeroed, or NULL when memory is
 * exhausted. Freed by arena_reset or arena_fini.
 */
void *arena_alloc(struct arena *a, size_t n);
/* A copy of s (NULL gives ""), or NULL when out of memory. */
char *arena_strdup(struct arena *a, const char *s);
/* A copy of the n bytes at s with a NUL added. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* A formatted string, or NULL when out of memory. */
char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

#endif
