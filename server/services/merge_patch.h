/*
 * JSON Merge Patch (RFC 7396): an operator's override of a stored request
 * (exception.c). A patch that is an object changes the members it names
 * (null removes one, an object merges into an object member), recursively;
 * any other patch replaces the whole target.
 */
#ifndef OPSBUS_SERVICES_MERGE_PATCH_H
#define OPSBUS_SERVICES_MERGE_PATCH_H

#include <jansson.h>

/*
 * Returns the patched document: a new reference, target and patch are
 * left as they were (target may be NULL: nothing). NULL when out of
 * memory.
 */
json_t *merge_patch(const json_t *target, const json_t *patch);

#endif
