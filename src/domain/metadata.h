/*
 * metadata.h - a purchase's metadata (issue 17): the buyer's small string
 * map (an order number, a customer reference) kept with the piece, answered
 * wherever the piece is and searchable (GET /v1/indicia?metadata[key]=value).
 *
 * Bounds (docs/api.md, "Metadata"): at most PV_METADATA_KEYS keys; a key is
 * 1-PV_METADATA_KEY_MAX characters of [a-z0-9_-]; a value is a string of at
 * most PV_METADATA_VALUE_MAX bytes of UTF-8 without control characters.
 * Stored as text: "key=value" lines joined by '\n', sorted by key (a key
 * holds no '=', a value no '\n'), which fits PV_METADATA_MAX (store.h).
 */
#ifndef STAMPD_METADATA_H
#define STAMPD_METADATA_H

#include "store/store.h"

#include <jansson.h>

#define PV_METADATA_KEYS      20
#define PV_METADATA_KEY_MAX   40
#define PV_METADATA_VALUE_MAX 500

_Static_assert(PV_METADATA_KEYS *(PV_METADATA_KEY_MAX + PV_METADATA_VALUE_MAX + 2) <
                   PV_METADATA_MAX,
               "metadata text must fit PV_METADATA_MAX");

/*
 * pv_metadata_parse - the JSON object obj (borrowed; NULL or null = none)
 * into out as text. PV_OK; else PV_ETYPE (not an object, a value not a
 * string) or PV_EINVAL (a bound broken), with a message for people in
 * msg (n bytes) naming the key.
 */
int pv_metadata_parse(json_t *obj, char out[PV_METADATA_MAX], char *msg, size_t n);

/* pv_metadata_key_ok - 1 when key (borrowed) is 1-40 characters of [a-z0-9_-]. */
int pv_metadata_key_ok(const char *key);

/* pv_metadata_value_ok - 1 when value (borrowed) may be a metadata value. */
int pv_metadata_value_ok(const char *value);

/* pv_metadata_json - the text (borrowed) as a JSON object of strings
 * (owned; {} when empty), or NULL when memory runs out. */
json_t *pv_metadata_json(const char *text);

#endif
