/*
 * The event sequencer: gives each committed outbox row its position, the
 * order in which every publisher sends it and ListEvents returns it. See
 * sequencer.c for why that order is final.
 */
#ifndef OPSBUS_EVENTS_SEQUENCER_H
#define OPSBUS_EVENTS_SEQUENCER_H

#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

struct db;

struct sequencer_result {
	/* Events given a position by this run. */
	int positioned;
	/* Another process was sequencing; this run did nothing. */
	bool busy;
	/* Committed events wait behind a transaction still open (one that
	 * started before them): they get positions when it ends. */
	bool blocked;
};

/*
 * Runs one sequencer transaction on db (which must not be in one):
 * positions up to batch events and commits. Only one process sequences
 * at a time; a run that finds another one at work says so (busy) and
 * changes nothing. Returns 0 and fills *out, or a database error
 * (OPSBUS_E_DATABASE_UNAVAILABLE when PostgreSQL is gone).
 */
opsbus_err sequencer_run(
    struct db *db, int batch, struct sequencer_result *out);

#endif
