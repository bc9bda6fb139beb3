/*
 * Builds the sorted method table from the protoc-c service descriptors and
 * the handler registry, and looks methods up by name with a binary search.
 */
#include "rpc/methods.h"

#include "rpc/dispatch.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
method_cmp(const void *a, const void *b)
{
	const struct rpc_method *x = a;
	const struct rpc_method *y = b;

	return (strcmp(x->name, y->name));
}

void
rpc_methods_free(struct rpc_methods *m)
{
	if (m == NULL) {
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		free(m->v[i].name);
		group_free(m->v[i].group);
	}
	free(m->v);
	free(m);
}

int
rpc_methods_bind(const ProtobufCServiceDescriptor *const *svcs, size_t n_svc,
    const struct service_method *impls, size_t n_impl,
    struct rpc_methods **out, char *err, size_t err_len)
{
	struct rpc_methods *m;
	size_t              total = 0;

	for (size_t s = 0; s < n_svc; s++) {
		total += svcs[s]->n_methods;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL
	    || (m->v = calloc(total > 0 ? total : 1, sizeof(*m->v))) == NULL) {
		free(m);
		snprintf(err, err_len, "out of memory");
		return (-1);
	}
	for (size_t s = 0; s < n_svc; s++) {
		for (unsigned i = 0; i < svcs[s]->n_methods; i++) {
			const ProtobufCMethodDescriptor *md
			    = &svcs[s]->methods[i];
			struct rpc_method *rm = &m->v[m->n];
			size_t             len
			    = strlen(svcs[s]->name) + strlen(md->name) + 2;

			if ((rm->name = malloc(len)) == NULL) {
				rpc_methods_free(m);
				snprintf(err, err_len, "out of memory");
				return (-1);
			}
			snprintf(
			    rm->name, len, "%s/%s", svcs[s]->name, md->name);
			rm->desc = md;
			m->n++;
			for (size_t h = 0; h < n_impl; h++) {
				if (strcmp(impls[h].name, rm->name) == 0) {
					rm->impl = &impls[h];
				}
			}
			if (rm->impl == NULL || rm->impl->handler == NULL) {
				snprintf(err, err_len,
				    "method %s has no handler", rm->name);
				rpc_methods_free(m);
				return (-1);
			}
		}
	}
	qsort(m->v, m->n, sizeof(*m->v), method_cmp);
	for (size_t i = 1; i < m->n; i++) {
		if (strcmp(m->v[i - 1].name, m->v[i].name) == 0) {
			snprintf(err, err_len, "method %s is declared twice",
			    m->v[i].name);
			rpc_methods_free(m);
			return (-1);
		}
	}
	for (size_t h = 0; h < n_impl; h++) {
		if (rpc_methods_find(m, impls[h].name) == NULL) {
			snprintf(err, err_len,
			    "handler %s serves no method of the services",
			    impls[h].name);
			rpc_methods_free(m);
			return (-1);
		}
	}
	*out = m;
	return (0);
}

int
rpc_methods_bind_batches(struct rpc_methods *m,
    const struct service_batch_row *rows, size_t n, char *err, size_t err_len)
{
	for (size_t i = 0; i < n; i++) {
		struct rpc_method *rm
		    = (struct rpc_method *) (uintptr_t) rpc_methods_find(
		        m, rows[i].name);

		if (rm == NULL) {
			snprintf(err, err_len,
			    "group commit for %s, which is no method",
			    rows[i].name);
			return (-1);
		}
		rm->batch = rows[i].batch;
		rm->group
		    = group_new(rm->batch->max_items, RPC_GROUP_MAX_BYTES,
		        rm->batch->max_leaders, rpc_dispatch_group_run);
		if (rm->group == NULL) {
			snprintf(err, err_len, "out of memory");
			return (-1);
		}
	}
	return (0);
}

const struct rpc_method *
rpc_methods_find(const struct rpc_methods *m, const char *name)
{
	struct rpc_method key = {.name = (char *) (uintptr_t) name};

	return (bsearch(&key, m->v, m->n, sizeof(*m->v), method_cmp));
}
