/*
 * Group commit's queue and leader election (see group.h). One mutex guards
 * the queue; each waiting thread sleeps on its own condition variable, so
 * finishing a group wakes exactly the threads it served, plus the thread
 * at the head of the queue when more calls wait, to lead the next group.
 */
#include "rpc/group.h"

#include <stdlib.h>

struct group {
	pthread_mutex_t    mu;
	struct group_node *head;
	struct group_node *tail;
	int                leaders;
	int                max_leaders;
	int                max_batch;
	size_t             max_weight;
	group_run_fn       run;
};

struct group *
group_new(int max_batch, size_t max_weight, int max_leaders, group_run_fn run)
{
	struct group *g = calloc(1, sizeof(*g));

	if (g == NULL) {
		return (NULL);
	}
	if (pthread_mutex_init(&g->mu, NULL) != 0) {
		free(g);
		return (NULL);
	}
	g->max_batch = max_batch < 1        ? 1
	    : max_batch > GROUP_BATCH_LIMIT ? GROUP_BATCH_LIMIT
	                                    : max_batch;
	g->max_weight = max_weight;
	g->max_leaders = max_leaders < 1 ? 1 : max_leaders;
	g->run = run;
	return (g);
}

void
group_free(struct group *g)
{
	if (g == NULL) {
		return;
	}
	pthread_mutex_destroy(&g->mu);
	free(g);
}

/*
 * Takes the waiting nodes from the head of the queue, runs them without
 * the lock, marks them done and wakes their threads. Called and returns
 * with the lock held.
 */
static void
group_lead(struct group *g, void *leader)
{
	struct group_node *batch[GROUP_BATCH_LIMIT];
	int                n = 0;
	size_t             weight = 0;

	while (g->head != NULL && n < g->max_batch
	    && (n == 0 || weight + g->head->weight <= g->max_weight)) {
		struct group_node *node = g->head;

		g->head = node->next;
		if (g->head == NULL) {
			g->tail = NULL;
		}
		node->next = NULL;
		node->taken = true;
		weight += node->weight;
		batch[n++] = node;
	}
	g->leaders++;
	pthread_mutex_unlock(&g->mu);
	g->run(leader, batch, n);
	pthread_mutex_lock(&g->mu);
	g->leaders--;
	for (int i = 0; i < n; i++) {
		batch[i]->done = true;
		pthread_cond_signal(&batch[i]->wake);
	}
	if (g->head != NULL) {
		/* Calls arrived while this group ran: its head leads next. */
		pthread_cond_signal(&g->head->wake);
	}
}

void
group_join(struct group *g, struct group_node *me, void *leader)
{
	pthread_cond_init(&me->wake, NULL);
	me->next = NULL;
	me->taken = false;
	me->done = false;
	pthread_mutex_lock(&g->mu);
	if (g->tail != NULL) {
		g->tail->next = me;
	} else {
		g->head = me;
	}
	g->tail = me;
	while (!me->done) {
		if (!me->taken && g->leaders < g->max_leaders) {
			group_lead(g, leader);
			continue;
		}
		pthread_cond_wait(&me->wake, &g->mu);
	}
	pthread_mutex_unlock(&g->mu);
	pthread_cond_destroy(&me->wake);
}
