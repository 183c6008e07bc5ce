/*
 * wrap.c - the pv_store_* entry points: argument checks in one place, then
 * the backend's operation. The only way callers outside src/store reach a
 * backend.
 */
#include "stampd/error.h"
#include "store/store.h"
#include "store/store_backends.h"

int pv_store_indicium_insert(struct pv_store *st, const struct pv_indicium_rec *rec)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_insert(st, rec);
}

int pv_store_indicium_get(struct pv_store *st, const char *id, struct pv_indicium_rec *rec)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_get(st, id, rec);
}

int pv_store_indicium_list(struct pv_store *st, const char *customer_id, const char *before_id,
                           size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_list(st, customer_id, before_id, limit, out, n);
}

int pv_store_indicium_find(struct pv_store *st, uint32_t device_id, uint32_t serial,
                           struct pv_indicium_rec *rec)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_find(st, device_id, serial, rec);
}

int pv_store_indicium_present(struct pv_store *st, const char *id, int64_t at,
                              int64_t *presented_before)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_present(st, id, at, presented_before);
}

int pv_store_render_record(struct pv_store *st, const char *indicium_id, const char *actor_id,
                           const char *format, const char *layout, int64_t at)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->render_record(st, indicium_id, actor_id, format, layout, at);
}

int pv_store_printer_put(struct pv_store *st, const char *customer_id,
                         const struct pv_printer_rec *rec)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->printer_put(st, customer_id, rec);
}

int pv_store_printer_get(struct pv_store *st, const char *customer_id, const char *name,
                         struct pv_printer_rec *rec)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->printer_get(st, customer_id, name, rec);
}

int pv_store_printer_list(struct pv_store *st, const char *customer_id, struct pv_printer_rec **out,
                          size_t *n)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->printer_list(st, customer_id, out, n);
}

int pv_store_printer_delete(struct pv_store *st, const char *customer_id, const char *name)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->printer_delete(st, customer_id, name);
}

int pv_store_indicium_search(struct pv_store *st, const char *customer_id,
                             const struct pv_indicium_filter *f, const char *before_id,
                             size_t limit, struct pv_indicium_rec **out, size_t *n)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->indicium_search(st, customer_id, f, before_id, limit, out, n);
}

int pv_store_sales_daily(struct pv_store *st, int64_t since, struct pv_sales_day **out, size_t *n)
{
    if (!st)
        return PV_EINVAL;
    return st->ops->sales_daily(st, since, out, n);
}
