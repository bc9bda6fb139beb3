/*
 * Group commit: calls of one method that arrive while others are being
 * written share one transaction, as PostgreSQL's own WAL writer groups the
 * flushes of concurrent commits.
 *
 * Each calling thread joins with its own node and blocks until its node is
 * done. When fewer than max_leaders groups are running, the joining thread
 * becomes a leader: it takes every waiting node (up to max_batch of them, or
 * max_weight in total), runs them together with the run function on its
 * own resources, and wakes their threads. Nodes that arrive meanwhile wait
 * and form the next group. Under no load a group is a single call, run at
 * once; under load the groups grow by themselves.
 */
#ifndef OPSBUS_RPC_GROUP_H
#define OPSBUS_RPC_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct group;

/* The largest group any method may ask for. */
#define GROUP_BATCH_LIMIT 256

struct group_node {
	struct group_node *next;
	pthread_cond_t     wake;
	/* The size it adds to a group, for max_weight (request bytes). */
	size_t weight;
	bool   taken;
	bool   done;
};

/*
 * Runs n nodes (n >= 1) together, on the leader's resources. Called
 * without the group's lock. Every node must be left in a state its own
 * thread can act on: run does not report per node here, the caller's
 * containing structure does.
 */
typedef void (*group_run_fn)(void *leader, struct group_node **nodes, int n);

/* Returns NULL when out of memory. */
struct group *group_new(
    int max_batch, size_t max_weight, int max_leaders, group_run_fn run);
void group_free(struct group *g);

/*
 * Joins g with me (its weight set) and returns when me has been run, by
 * this thread as leader (passing leader to run) or by another.
 */
void group_join(struct group *g, struct group_node *me, void *leader);

#endif
