/*
 * Version 4 UUIDs from a per-thread buffer of kernel random bytes. A child
 * after fork starts with an empty buffer (pthread_atfork), so parent and
 * child never hand out the same bytes.
 */
#include "uuid4.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uuid/uuid.h>

/* 32 ids per refill; the buffer is per thread. */
#define UUID4_POOL 512

static _Thread_local uint8_t pool[UUID4_POOL];
static _Thread_local size_t  pool_left;
static pthread_once_t        atfork_once = PTHREAD_ONCE_INIT;

/* Runs in the child, in the only thread it has: the one that forked. */
static void
uuid4_forget(void)
{
	pool_left = 0;
}

static void
uuid4_register(void)
{
	(void) pthread_atfork(NULL, NULL, uuid4_forget);
}

static int
uuid4_refill(void)
{
	size_t got = 0;

	while (got < UUID4_POOL) {
		ssize_t n = getrandom(pool + got, UUID4_POOL - got, 0);
		if (n <= 0) {
			/* EINTR is rare; anything else (ENOSYS) will not get
			 * better. Either way libuuid makes this id. */
			return (-1);
		}
		got += (size_t) n;
	}
	pool_left = UUID4_POOL;
	return (0);
}

/* Sixteen random bytes into u (libuuid's when the kernel gives none). */
static void
uuid_random_bytes(uuid_t u)
{
	(void) pthread_once(&atfork_once, uuid4_register);
	if (pool_left < sizeof(uuid_t) && uuid4_refill() != 0) {
		uuid_generate_random(u);
		return;
	}
	memcpy(u, pool + UUID4_POOL - pool_left, sizeof(uuid_t));
	pool_left -= sizeof(uuid_t);
}

void
uuid4_text(char out[UUID4_TEXT_LEN])
{
	uuid_t u;

	uuid_random_bytes(u);
	u[6] = (uint8_t) ((u[6] & 0x0f) | 0x40); /* version 4 */
	u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	uuid_unparse_lower(u, out);
}

void
uuid7_text(char out[UUID4_TEXT_LEN])
{
	struct timespec ts;
	uint64_t        ms;
	uuid_t          u;

	uuid_random_bytes(u);
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
	for (int i = 0; i < 6; i++) {
		u[i] = (uint8_t) (ms >> (40 - 8 * i));
	}
	u[6] = (uint8_t) ((u[6] & 0x0f) | 0x70); /* version 7 */
	u[8] = (uint8_t) ((u[8] & 0x3f) | 0x80); /* RFC 9562 variant */
	uuid_unparse_lower(u, out);
}
