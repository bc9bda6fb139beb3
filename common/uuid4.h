/*
 * Random (version 4) UUIDs for request and correlation ids, and
 * time-ordered (version 7) ones for job ids, cheaply: the
 * random bytes come from the kernel (getrandom) a few hundred at a time
 * into a buffer per thread, so an id costs no system call and takes no lock
 * most of the time. libuuid's uuid_generate_random makes six system calls
 * and takes glibc's random() lock for every id, which on a busy server
 * costs more than the rest of a call's dispatch.
 */
#ifndef OPSBUS_UUID4_H
#define OPSBUS_UUID4_H

/* The text form: 36 characters and the NUL. */
#define UUID4_TEXT_LEN 37

/*
 * Writes a new random UUID, lower-case with dashes, into out. Never fails:
 * when the kernel cannot give random bytes, libuuid makes the id. Safe to
 * call from any thread, and in a child after fork (which never repeats an
 * id of its parent).
 */
void uuid4_text(char out[UUID4_TEXT_LEN]);

/*
 * Writes a new time-ordered (version 7, RFC 9562) UUID: the Unix time in
 * milliseconds, then 74 random bits. Job ids are these: ids made close in
 * time sort close together, so the indexes keyed by job id (jobs, their
 * attempts, their timeline) take new entries at their right edge instead
 * of on a random page each (fewer pages touched, fewer full-page images
 * in the WAL after a checkpoint). Same guarantees as uuid4_text.
 */
void uuid7_text(char out[UUID4_TEXT_LEN]);

#endif
