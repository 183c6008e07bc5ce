/*
 * metadata.c - a purchase's metadata between its JSON object and the text
 * kept with the piece (metadata.h): bounded, canonical (sorted by key), so
 * that the same map is always the same text.
 */
#include "domain/metadata.h"

#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_metadata_key_ok(const char *key)
{
    size_t i, n = strlen(key);

    if (n == 0 || n > PV_METADATA_KEY_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if (!((key[i] >= 'a' && key[i] <= 'z') || (key[i] >= '0' && key[i] <= '9') ||
              key[i] == '_' || key[i] == '-'))
            return 0;
    return 1;
}

int pv_metadata_value_ok(const char *value)
{
    size_t i, n = strlen(value);

    if (n > PV_METADATA_VALUE_MAX)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char) value[i] < 0x20 || value[i] == 0x7f)
            return 0;
    return 1;
}

static int by_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *) a, *(const char *const *) b);
}

int pv_metadata_parse(json_t *obj, char out[PV_METADATA_MAX], char *msg, size_t n)
{
    const char *keys[PV_METADATA_KEYS], *k;
    size_t i, count = 0, used = 0;
    json_t *v;
    int w;

    out[0] = '\0';
    if (!obj || json_is_null(obj))
        return PV_OK;
    if (!json_is_object(obj)) {
        snprintf(msg, n, "metadata must be an object of strings");
        return PV_ETYPE;
    }
    if (json_object_size(obj) > PV_METADATA_KEYS) {
        snprintf(msg, n, "metadata has at most %d keys", PV_METADATA_KEYS);
        return PV_EINVAL;
    }
    json_object_foreach(obj, k, v)
    {
        if (!pv_metadata_key_ok(k)) {
            snprintf(msg, n, "metadata key \"%.48s\" is not 1-%d characters of a-z, 0-9, _ and -",
                     k, PV_METADATA_KEY_MAX);
            return PV_EINVAL;
        }
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(msg, n, "metadata.%s must be a string", k);
            return PV_ETYPE;
        }
        if (!pv_metadata_value_ok(json_string_value(v))) {
            snprintf(msg, n, "metadata.%s is at most %d bytes, without control characters", k,
                     PV_METADATA_VALUE_MAX);
            return PV_EINVAL;
        }
        keys[count++] = k;
    }
    qsort(keys, count, sizeof keys[0], by_key);
    for (i = 0; i < count; i++) {
        w = snprintf(out + used, PV_METADATA_MAX - used, "%s%s=%s", i ? "\n" : "", keys[i],
                     json_string_value(json_object_get(obj, keys[i])));
        if (w < 0 || (size_t) w >= PV_METADATA_MAX - used) { /* the bounds rule it out */
            out[0] = '\0';
            snprintf(msg, n, "metadata is too large");
            return PV_EINVAL;
        }
        used += (size_t) w;
    }
    return PV_OK;
}

json_t *pv_metadata_json(const char *text)
{
    json_t *obj = json_object();
    const char *p = text, *eq, *nl;
    char key[PV_METADATA_KEY_MAX + 1];
    json_t *v;

    while (obj && *p) {
        nl = strchr(p, '\n');
        if (!nl)
            nl = p + strlen(p);
        eq = memchr(p, '=', (size_t) (nl - p));
        if (eq && eq > p && (size_t) (eq - p) < sizeof key) {
            memcpy(key, p, (size_t) (eq - p));
            key[eq - p] = '\0';
            v = json_stringn(eq + 1, (size_t) (nl - eq - 1));
            if (!v || json_object_set_new(obj, key, v) != 0) {
                json_decref(obj);
                return NULL;
            }
        }
        p = *nl ? nl + 1 : nl;
    }
    return obj;
}
