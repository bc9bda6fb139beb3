/*
 * CLI output: calls with error reporting, JSON through the generic proto3
 * JSON mapping, and aligned tables for people.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "opsbus/v1/job.pb-c.h"
#include "pbjson.h"

ProtobufCMessage *
cli_call(struct cli *cli, const char *method, const ProtobufCMessage *in,
    const ProtobufCMessageDescriptor *out_desc)
{
	ProtobufCMessage    *out = NULL;
	struct opsbus_status st;

	if (opsbus_call(cli->client, method, in, out_desc, &out, NULL, &st)
	    != 0) {
		fprintf(stderr, "opsbus: %s: %s", st.error_code, st.message);
		if (st.correlation_id[0] != '\0') {
			fprintf(
			    stderr, " (correlation id %s)", st.correlation_id);
		}
		fprintf(stderr, "\n");
		return (NULL);
	}
	return (out);
}

void
cli_print_json(const ProtobufCMessage *m)
{
	json_t *j = pbjson_from_message(m, PBJSON_EMIT_DEFAULTS);
	char   *s = j != NULL
	      ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
	      : NULL;

	if (s != NULL) {
		printf("%s\n", s);
	}
	free(s);
	json_decref(j);
}

struct cli_table {
	int     ncols;
	int     nrows;
	int     cap;
	char ***rows;
};

struct cli_table *
cli_table_new(int ncols, const char *const *headers)
{
	struct cli_table *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		return (NULL);
	}
	t->ncols = ncols;
	cli_table_add(t, headers);
	return (t);
}

void
cli_table_add(struct cli_table *t, const char *const *cells)
{
	if (t == NULL) {
		return;
	}
	if (t->nrows == t->cap) {
		int     cap = t->cap == 0 ? 16 : t->cap * 2;
		char ***nr = realloc(t->rows, (size_t) cap * sizeof(*nr));
		if (nr == NULL) {
			return;
		}
		t->rows = nr;
		t->cap = cap;
	}
	t->rows[t->nrows] = calloc((size_t) t->ncols, sizeof(char *));
	for (int c = 0; t->rows[t->nrows] != NULL && c < t->ncols; c++) {
		t->rows[t->nrows][c]
		    = strdup(cells[c] != NULL ? cells[c] : "");
	}
	t->nrows++;
}

void
cli_table_print(struct cli_table *t, FILE *f)
{
	int width[32] = {0};

	if (t == NULL) {
		return;
	}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols && c < 32; c++) {
			int w = (int) strlen(t->rows[r][c]);
			width[c] = w > width[c] ? w : width[c];
		}
	}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			if (c == t->ncols - 1) {
				fprintf(f, "%s", t->rows[r][c]);
			} else {
				fprintf(f, "%-*s  ", width[c], t->rows[r][c]);
			}
			free(t->rows[r][c]);
		}
		fprintf(f, "\n");
		free(t->rows[r]);
	}
	free(t->rows);
	free(t);
}

const char *
cli_one_id(struct cli *cli, const char *what)
{
	const char *id;

	cli_done(&cli->args, 1);
	if ((id = cli_positional(&cli->args, 0)) == NULL) {
		cli_usage_error("%s needs an id", what);
	}
	return (id);
}

void
cli_print_attempts(Opsbus__V1__Attempt *const *a, size_t n)
{
	static const char *const h[] = {
	    "ATTEMPT", "WORKER", "STARTED", "ENDED", "TO", "REASON", "ERROR"};
	struct cli_table *t;

	if (n == 0) {
		return;
	}
	t = cli_table_new(7, h);
	printf("\nattempts:\n");
	for (size_t i = 0; i < n; i++) {
		char num[16];
		snprintf(num, sizeof(num), "%d", a[i]->attempt);
		const char *row[]
		    = {num, a[i]->worker_id, a[i]->started_at, a[i]->ended_at,
		        a[i]->to_status, a[i]->reason_code, a[i]->error};
		cli_table_add(t, row);
	}
	cli_table_print(t, stdout);
}

void
cli_print_timeline(Opsbus__V1__TimelineEvent *const *e, size_t n)
{
	static const char *const h[] = {"AT", "EVENT", "ACTOR", "DETAIL"};
	struct cli_table        *t;

	if (n == 0) {
		return;
	}
	t = cli_table_new(4, h);
	printf("\ntimeline:\n");
	for (size_t i = 0; i < n; i++) {
		const char *row[] = {e[i]->created_at, e[i]->event_type,
		    e[i]->actor, e[i]->payload};
		cli_table_add(t, row);
	}
	cli_table_print(t, stdout);
}
