/*
 * The gate every client message passes before protobuf-c unpacks it. It walks
 * the protobuf wire format once against the message's descriptor and refuses
 * what protobuf-c 1.4.1 would mishandle or let through: nesting deep enough to
 * exhaust the stack (protobuf-c recurses without a limit), strings that are
 * not UTF-8 (protobuf-c never checks them, and a NUL would cut a C string
 * short), and any framing error, reported here with the path of the field
 * instead of as a bare NULL from the unpacker.
 *
 * The walk recurses once per embedded message of a known message field, and
 * refuses a message before descending past max_depth, so it never holds more
 * than max_depth frames however deep the input claims to be. Unknown fields
 * are skipped by their length without looking inside: a peer on a newer
 * schema may send them, and protobuf-c keeps them as opaque bytes.
 *
 * Where protobuf-c is stricter than the protobuf specification, the walk is
 * as strict as protobuf-c, so that a message accepted here also unpacks:
 * tags and lengths are at most 5 bytes long.
 */
#include "wirecheck.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

/* The largest field number protobuf allows (2^29 - 1). */
#define WC_MAX_FIELD_NUMBER 536870911u

/* A value varint holds 64 bits in at most 10 bytes; a tag or a length holds
 * 32, in at most 5 (protobuf-c refuses longer ones). */
#define WC_VARINT_MAX   10
#define WC_VARINT32_MAX 5

/* Wire types (protobuf encoding). */
#define WC_WT_VARINT 0
#define WC_WT_I64    1
#define WC_WT_LEN    2
#define WC_WT_SGROUP 3
#define WC_WT_EGROUP 4
#define WC_WT_I32    5

/* Room for a dotted field path; a longer path is cut short in reports. */
#define WC_PATH_MAX 256

/* State of one walk: the limit and the path of the field being read. */
struct wc_walk {
	int    max_depth;
	char   path[WC_PATH_MAX]; /* "metadata.value", "" at the top */
	size_t path_len;
	char  *where;
	size_t where_len;
};

/*
 * Records err at the current path into the caller's where, with an optional
 * reason, and returns err so that a failure is one statement.
 */
static opsbus_err
wc_fail(struct wc_walk *w, opsbus_err err, const char *reason)
{
	const char *what = w->path_len > 0 ? "field " : "message";

	if (w->where == NULL || w->where_len == 0) {
		return (err);
	}
	if (reason != NULL) {
		snprintf(w->where, w->where_len, "%s%s (%s)", what, w->path,
		    reason);
	} else {
		snprintf(w->where, w->where_len, "%s%s", what, w->path);
	}
	return (err);
}

/*
 * Appends a field to the path: its name if the descriptor knows it, its
 * number if not. Returns the previous length, for wc_path_pop.
 */
static size_t
wc_path_push(
    struct wc_walk *w, const ProtobufCFieldDescriptor *f, uint32_t number)
{
	size_t      mark = w->path_len;
	size_t      room = sizeof(w->path) - mark;
	const char *sep = mark > 0 ? "." : "";
	int         n;

	if (room <= 1) {
		return (mark); /* already full: the report shows the prefix */
	}
	if (f != NULL) {
		n = snprintf(w->path + mark, room, "%s%s", sep, f->name);
	} else {
		n = snprintf(w->path + mark, room, "%s%lu", sep,
		    (unsigned long) number);
	}
	if (n < 0) {
		w->path[mark] = '\0';
	} else if ((size_t) n >= room) {
		w->path_len = sizeof(w->path) - 1;
	} else {
		w->path_len = mark + (size_t) n;
	}
	return (mark);
}

static void
wc_path_pop(struct wc_walk *w, size_t mark)
{
	w->path_len = mark;
	w->path[mark] = '\0';
}

/*
 * Reads a varint of at most max bytes from *pp, which must end before end.
 * Returns 0 and advances *pp past it, or -1 if it is longer or cut short.
 */
static int
wc_varint(const uint8_t **pp, const uint8_t *end, int max, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t       v = 0;

	for (int i = 0; i < max && p < end; i++, p++) {
		v |= (uint64_t) (*p & 0x7f) << (7 * i);
		if ((*p & 0x80) == 0) {
			*pp = p + 1;
			*out = v;
			return (0);
		}
	}
	return (-1);
}

/* The wire type a field of type t uses when it is not packed. */
static int
wc_native_wire_type(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_BOOL:
	case PROTOBUF_C_TYPE_ENUM:
		return (WC_WT_VARINT);
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return (WC_WT_I64);
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return (WC_WT_I32);
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return (WC_WT_LEN);
	}
	return (-1);
}

/*
 * Checks the payload of a packed repeated scalar field: a run of varints,
 * or of 4- or 8-byte values that fills the payload exactly.
 */
static opsbus_err
wc_packed(struct wc_walk *w, const ProtobufCFieldDescriptor *f,
    const uint8_t *p, const uint8_t *end)
{
	size_t len = (size_t) (end - p);

	switch (wc_native_wire_type(f->type)) {
	case WC_WT_I32:
		if (len % 4 != 0) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "packed length is not a multiple of 4"));
		}
		return (OPSBUS_E_OK);
	case WC_WT_I64:
		if (len % 8 != 0) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "packed length is not a multiple of 8"));
		}
		return (OPSBUS_E_OK);
	default:
		break;
	}
	while (p < end) {
		uint64_t v;

		if (wc_varint(&p, end, WC_VARINT_MAX, &v) != 0) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "bad varint in packed field"));
		}
	}
	return (OPSBUS_E_OK);
}

static opsbus_err wc_message(struct wc_walk *w,
    const ProtobufCMessageDescriptor *desc, const uint8_t *p,
    const uint8_t *end, int depth);

/*
 * Checks the payload of a length-delimited field of a message at depth
 * (f is NULL for an unknown field).
 */
static opsbus_err
wc_delimited(struct wc_walk *w, const ProtobufCFieldDescriptor *f,
    const uint8_t *p, const uint8_t *end, int depth)
{
	char reason[48];

	if (f == NULL) {
		return (OPSBUS_E_OK);
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_BYTES:
		return (OPSBUS_E_OK);
	case PROTOBUF_C_TYPE_STRING:
		if (!utf8_valid((const char *) p, (size_t) (end - p))) {
			return (wc_fail(w, OPSBUS_E_INVALID_UTF8, NULL));
		}
		return (OPSBUS_E_OK);
	case PROTOBUF_C_TYPE_MESSAGE:
		/* The limit is checked before the call, so the stack never
		 * holds more than max_depth frames of wc_message. */
		if (depth >= w->max_depth) {
			snprintf(reason, sizeof(reason),
			    "nesting deeper than %d", w->max_depth);
			return (wc_fail(w, OPSBUS_E_NESTING_TOO_DEEP, reason));
		}
		assert(f->descriptor != NULL);
		return (wc_message(w, f->descriptor, p, end, depth + 1));
	default:
		/* Only a repeated scalar gets here (see wc_field). */
		return (wc_packed(w, f, p, end));
	}
}

/*
 * Checks the value of one field, whose tag has just been read, and advances
 * *pp past it. f is the field's descriptor, or NULL if the message type does
 * not know the field.
 */
static opsbus_err
wc_field(struct wc_walk *w, const ProtobufCFieldDescriptor *f, unsigned wt,
    const uint8_t **pp, const uint8_t *end, int depth)
{
	const uint8_t *p = *pp;
	uint64_t       v;
	char           reason[48];

	if (wt == WC_WT_SGROUP || wt == WC_WT_EGROUP) {
		return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
		    "groups are not supported"));
	}
	if (wt != WC_WT_VARINT && wt != WC_WT_I64 && wt != WC_WT_LEN
	    && wt != WC_WT_I32) {
		snprintf(
		    reason, sizeof(reason), "wire type %u is not defined", wt);
		return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE, reason));
	}
	if (f != NULL) {
		int  native = wc_native_wire_type(f->type);
		bool packed = f->label == PROTOBUF_C_LABEL_REPEATED
		    && native != WC_WT_LEN && wt == WC_WT_LEN;

		if ((int) wt != native && !packed) {
			snprintf(reason, sizeof(reason),
			    "wire type %u does not fit the field's type", wt);
			return (
			    wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE, reason));
		}
	}

	switch (wt) {
	case WC_WT_VARINT:
		if (wc_varint(&p, end, WC_VARINT_MAX, &v) != 0) {
			return (wc_fail(
			    w, OPSBUS_E_MALFORMED_MESSAGE, "bad varint"));
		}
		break;
	case WC_WT_I64:
	case WC_WT_I32: {
		size_t n = wt == WC_WT_I64 ? 8 : 4;

		if ((size_t) (end - p) < n) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "value past the end of the message"));
		}
		p += n;
		break;
	}
	default: { /* WC_WT_LEN */
		opsbus_err rv;

		if (wc_varint(&p, end, WC_VARINT32_MAX, &v) != 0) {
			return (wc_fail(
			    w, OPSBUS_E_MALFORMED_MESSAGE, "bad length"));
		}
		if (v > (uint64_t) (end - p)) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "length past the end of the message"));
		}
		rv = wc_delimited(w, f, p, p + v, depth);
		if (rv != OPSBUS_E_OK) {
			return (rv);
		}
		p += v;
		break;
	}
	}
	*pp = p;
	return (OPSBUS_E_OK);
}

/* Checks the fields in [p, end) as a message of type desc at depth. */
static opsbus_err
wc_message(struct wc_walk *w, const ProtobufCMessageDescriptor *desc,
    const uint8_t *p, const uint8_t *end, int depth)
{
	assert(desc != NULL
	    && desc->magic == PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC);

	while (p < end) {
		const ProtobufCFieldDescriptor *f;
		uint64_t                        tag;
		uint64_t                        number;
		size_t                          mark;
		opsbus_err                      rv;

		if (wc_varint(&p, end, WC_VARINT32_MAX, &tag) != 0) {
			return (
			    wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE, "bad tag"));
		}
		number = tag >> 3;
		if (number < 1 || number > WC_MAX_FIELD_NUMBER) {
			return (wc_fail(w, OPSBUS_E_MALFORMED_MESSAGE,
			    "field number out of range"));
		}
		f = protobuf_c_message_descriptor_get_field(
		    desc, (unsigned) number);

		mark = wc_path_push(w, f, (uint32_t) number);
		rv = wc_field(w, f, (unsigned) (tag & 7), &p, end, depth);
		if (rv != OPSBUS_E_OK) {
			return (rv);
		}
		wc_path_pop(w, mark);
	}
	return (OPSBUS_E_OK);
}

opsbus_err
wirecheck_message(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
    size_t len, int max_depth, char *where, size_t where_len)
{
	struct wc_walk w;
	char           reason[48];

	w.max_depth = max_depth;
	w.path[0] = '\0';
	w.path_len = 0;
	w.where = where;
	w.where_len = where_len;

	/* A limit below 1 leaves no room even for the top message. */
	if (max_depth < 1) {
		snprintf(reason, sizeof(reason), "nesting deeper than %d",
		    max_depth);
		return (wc_fail(&w, OPSBUS_E_NESTING_TOO_DEEP, reason));
	}
	/* The empty message is valid; returning here also keeps a NULL buf
	 * out of the pointer arithmetic below. */
	if (len == 0) {
		return (OPSBUS_E_OK);
	}
	assert(buf != NULL);
	return (wc_message(&w, desc, buf, buf + len, 1));
}
