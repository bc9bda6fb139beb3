/* JSON Merge Patch (RFC 7396), section 2's algorithm on jansson values. */
#include "services/merge_patch.h"

#include <stdint.h>

json_t *
merge_patch(const json_t *target, const json_t *patch)
{
	const char *key;
	json_t     *value;
	json_t     *out;

	if (!json_is_object(patch)) {
		return (json_deep_copy(patch));
	}
	out = json_is_object(target) ? json_deep_copy(target) : json_object();
	if (out == NULL) {
		return (NULL);
	}
	/* jansson's iteration macros take a non-const object; nothing is
	 * changed through it. */
	json_object_foreach((json_t *) (uintptr_t) patch, key, value)
	{
		if (json_is_null(value)) {
			json_object_del(out, key);
			continue;
		}
		json_t *merged = merge_patch(json_object_get(out, key), value);

		if (merged == NULL
		    || json_object_set_new(out, key, merged) != 0) {
			json_decref(out);
			return (NULL);
		}
	}
	return (out);
}
