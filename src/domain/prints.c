/*
 * prints.c - every render of a document recorded together (prints.h).
 */
#include "domain/prints.h"

#include "stampd/error.h"

int pv_prints_record(struct pv_store *st, const struct pv_indicium_rec *recs, size_t n,
                     const char *actor_id, const char *format, const char *layout, int64_t now)
{
    size_t i;
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    for (i = 0; i < n && rc == PV_OK; i++)
        rc = pv_store_render_record(st, recs[i].id, actor_id, format, layout, now);
    return rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
}
