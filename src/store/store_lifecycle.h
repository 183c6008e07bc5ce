/*
 * store_lifecycle.h - the part of the store interface (store.h, which
 * includes it; include store.h, never this) for a PSD's status and its
 * status history (schema v11, store/psd_events.c, domain/lifecycle.h).
 * Kept apart so store.h stays readable.
 */
#ifndef STAMPD_STORE_LIFECYCLE_H
#define STAMPD_STORE_LIFECYCLE_H

/* One entry of a PSD's status history (schema v11, psd_events): a status
 * change or movement with the registers at that moment. */
struct pv_psd_event_rec {
    int64_t id; /* assigned by psd_event_insert; increasing with time */
    uint32_t psd_id;
    int64_t at;
    char event[24];           /* "added", "suspended", "resumed", "withdrawn", "key_rotated", ... */
    char actor[16];           /* "operator", "authority" or "system" */
    char actor_id[PV_ID_MAX]; /* the operator or postal account, "cli", or "" */
    char reason[PV_REASON_MAX];
    int status_before, status_after; /* enum pv_psd_status */
    pv_mills descending, ascending, control_total;
    uint32_t piece_count;
    char ref[PV_ID_MAX]; /* what it refers to: a reset's rfl_ id, "key:N", or "" */
};

/* psd_set_status: status, suspended_by and status_reason (borrowed) of
 * PSD id: PV_ENOTFOUND, PV_EINVAL. psd_event_insert: one event (rec->id is
 * ignored). psd_event_list: the events of psd_id with id > after (0 = from
 * the oldest), oldest first, at most limit; *out owned (free()). */
int pv_store_psd_set_status(struct pv_store *st, uint32_t id, int status, const char *suspended_by,
                            const char *reason);
int pv_store_psd_event_insert(struct pv_store *st, const struct pv_psd_event_rec *rec);
int pv_store_psd_event_list(struct pv_store *st, uint32_t psd_id, int64_t after, size_t limit,
                            struct pv_psd_event_rec **out, size_t *n);

#endif
