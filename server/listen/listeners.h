/*
 * The listeners of one nng socket, kept accepting.
 *
 * nng 1.5.2 (Debian bookworm's) stops a listener for good when the SP
 * handshake of a connection it accepted fails with EPIPE: the peer
 * connected and left before opsbusd sent its header (a port scan, a
 * probe, a client that gave up). The transport reports EPIPE as
 * NNG_ECLOSED, and the listener takes that for its own close and never
 * accepts again: opsbusd stays up, its connected clients are served, and
 * no new one is. One connect-and-close on the RPC socket can do it.
 *
 * So a guard thread reads each listener's error counters in nng's
 * statistics every OPSBUS_LISTENER_CHECK_MS (default 1000; 0: no guard).
 * When "other" or "canceled" rose (nng 1.5.2 stops after some of those
 * errors and carries on after others), it probes the listener: the SP
 * handshake over a plain socket, after which the listener's "accept"
 * count must rise. Only a listener that fails the probe is closed and
 * opened again on the same address (closing it drops the connections it
 * made; their clients reconnect), and a warning says so. ipc:// and
 * tcp:// listeners are probed; others are left as they are.
 */
#ifndef OPSBUS_LISTENERS_H
#define OPSBUS_LISTENERS_H

#include <nng/nng.h>
#include <stddef.h>

struct listeners;

/*
 * Listens on each of the n urls with sock, then starts the guard; what
 * names the socket in logs ("rpc", "events"). Returns 0, or -1 with err
 * filled when an address cannot be listened on.
 */
int listeners_open(nng_socket sock, const char *const *urls, size_t n,
    const char *what, struct listeners **out, char *err, size_t err_len);

/* Stops the guard; call before closing the socket. NULL does nothing. */
void listeners_close(struct listeners *l);

#endif
