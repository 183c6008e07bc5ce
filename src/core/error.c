/*
 * error.c - lookups into the PV_ERRORS table (see include/stampd/error.h).
 */
#include "stampd/error.h"

#include <stddef.h>

struct entry {
    int err;
    int http;
    const char *code;
    const char *msg;
};

static const struct entry table[] = {
#define PV_ERR_ROW(name, val, http, code, msg) {(val), (http), (code), (msg)},
    PV_ERRORS(PV_ERR_ROW)
#undef PV_ERR_ROW
};

#define NENTRIES ((int) (sizeof table / sizeof table[0]))

static const struct entry *find(int err)
{
    /* Codes are dense: 0, -1, -2, ... so the index is -err. */
    if (err <= 0 && -err < NENTRIES && table[-err].err == err)
        return &table[-err];
    return NULL;
}

const char *pv_strerror(int err)
{
    const struct entry *e = find(err);
    return e ? e->msg : "unknown error";
}

const char *pv_error_code(int err)
{
    const struct entry *e = find(err);
    return e ? e->code : "internal_error";
}

int pv_error_http(int err)
{
    const struct entry *e = find(err);
    return e ? e->http : 500;
}

int pv_error_count(void)
{
    return NENTRIES;
}

int pv_error_at(int i)
{
    return (i >= 0 && i < NENTRIES) ? table[i].err : PV_EINTERNAL;
}
