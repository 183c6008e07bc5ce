/*
 * psd.c - postal security devices and what hangs off them: PSDs, refills,
 * keys, the processing servers and the PSD leases they hold (store.h).
 *
 * The schema guards the registers: ascending + descending == control
 * total, nothing negative, and (a trigger) nothing moving back. psd_get
 * inside a transaction locks the PSD's row until commit (FOR UPDATE where
 * the dialect has it; SQLite's single writer gives the same guarantee), so
 * two processors cannot both move one PSD's registers: the caller updates
 * the row (psd_update) in the same transaction.
 *
 * Leases (scale-out, schema v3): lease_acquire decides under the PSD's row
 * lock in one transaction, so two processors can never both take one PSD;
 * a new tenure in lease_log starts no earlier than the PSD's previous
 * tenure ended. A lease-only UPDATE of psds leaves the registers alone, so
 * the trigger stays quiet.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <string.h>

static int valid_psd(const struct pv_psd_rec *rec)
{
    return rec->status == PV_PSD_ACTIVE || rec->status == PV_PSD_SUSPENDED ||
           rec->status == PV_PSD_RETIRED;
}

static int read_psd(struct pv_row *r, void *p)
{
    struct pv_psd_rec *rec = p;

    rec->id = (uint32_t) pv_r_int(r);
    rec->status = (int) pv_r_int(r);
    rec->key_id = (uint32_t) pv_r_int(r);
    rec->descending = pv_r_int(r);
    rec->ascending = pv_r_int(r);
    rec->control_total = pv_r_int(r);
    rec->piece_count = (uint32_t) pv_r_int(r);
    rec->last_refill_at = pv_r_int(r);
    rec->test = (int) pv_r_int(r);
    pv_r_text(r, rec->lease_holder, sizeof rec->lease_holder);
    rec->lease_expires_ms = pv_r_int(r);
    pv_r_text(r, rec->suspended_by, sizeof rec->suspended_by);
    pv_r_text(r, rec->status_reason, sizeof rec->status_reason);
    return r->rc;
}

int pv_store_psd_insert(struct pv_store *st, const struct pv_psd_rec *rec)
{
    struct pv_q q;

    if (!valid_psd(rec))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PSD_INSERT);
    pv_q_int(&q, rec->id);
    pv_q_int(&q, rec->status);
    pv_q_int(&q, rec->key_id);
    pv_q_int(&q, rec->descending);
    pv_q_int(&q, rec->ascending);
    pv_q_int(&q, rec->control_total);
    pv_q_int(&q, rec->piece_count);
    pv_q_int(&q, rec->last_refill_at);
    pv_q_int(&q, rec->test != 0);
    return pv_q_write(&q);
}

int pv_store_psd_get(struct pv_store *st, uint32_t id, struct pv_psd_rec *rec)
{
    struct pv_q q;

    if (!st)
        return PV_EINVAL;
    /* In a write transaction: lock the row until commit (see the file comment). */
    pv_q_start(&q, st, pv_locking(st, S_PSD_GET, S_PSD_GET_LOCK));
    pv_q_int(&q, id);
    return pv_q_get(&q, read_psd, rec, sizeof *rec);
}

int pv_store_plan_by_key(struct pv_store *st)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return pv_sql_has(st, S_PLAN_BY_KEY) ? pv_ctl_queue(st, S_PLAN_BY_KEY) : PV_OK;
}

int pv_store_prefetch_psd(struct pv_store *st, uint32_t id)
{
    struct pv_q q;

    if (!st)
        return PV_EINVAL;
    /* The same statement and parameter as psd_get's inside begin(). */
    pv_q_start(&q, st, pv_locking(st, S_PSD_GET, S_PSD_GET_LOCK));
    pv_q_int(&q, id);
    return pv_q_prefetch(&q);
}

static int psd_update(struct pv_store *st, const struct pv_psd_rec *rec, unsigned flags)
{
    struct pv_q q;

    if (!valid_psd(rec))
        return PV_EINVAL;
    pv_q_start(&q, st, S_PSD_UPDATE);
    pv_q_int(&q, rec->status);
    pv_q_int(&q, rec->descending);
    pv_q_int(&q, rec->ascending);
    pv_q_int(&q, rec->control_total);
    pv_q_int(&q, rec->piece_count);
    pv_q_int(&q, rec->last_refill_at);
    pv_q_int(&q, rec->id);
    return pv_q_send(&q, flags); /* queued in a purchase (pv_store_defer) */
}

int pv_store_psd_update(struct pv_store *st, const struct pv_psd_rec *rec)
{
    return psd_update(st, rec, PV_SEND_FOUND);
}

int pv_store_psd_update_held(struct pv_store *st, const struct pv_psd_rec *rec)
{
    if (!st || !st->in_tx)
        return PV_EINVAL;
    return psd_update(st, rec, 0);
}

int pv_store_psd_list(struct pv_store *st, struct pv_psd_rec **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_PSD_LIST);
    return pv_q_list(&q, sizeof **out, read_psd, (void **) out, n);
}

static int read_refill(struct pv_row *r, void *p)
{
    struct pv_refill_rec *rec = p;

    rec->id = pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->amount = pv_r_int(r);
    rec->desc_before = pv_r_int(r);
    rec->asc_before = pv_r_int(r);
    rec->ctl_before = pv_r_int(r);
    rec->desc_after = pv_r_int(r);
    rec->asc_after = pv_r_int(r);
    rec->ctl_after = pv_r_int(r);
    pv_r_text(r, rec->authorization, sizeof rec->authorization);
    rec->at = pv_r_int(r);
    pv_r_text(r, rec->authority_sig, sizeof rec->authority_sig);
    return r->rc;
}

int pv_store_refill_insert(struct pv_store *st, const struct pv_refill_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->authorization) || !PV_FITS(rec->authority_sig))
        return PV_EINVAL;
    pv_q_start(&q, st, S_REFILL_INSERT);
    pv_q_int(&q, rec->psd_id);
    pv_q_int(&q, rec->amount);
    pv_q_int(&q, rec->desc_before);
    pv_q_int(&q, rec->asc_before);
    pv_q_int(&q, rec->ctl_before);
    pv_q_int(&q, rec->desc_after);
    pv_q_int(&q, rec->asc_after);
    pv_q_int(&q, rec->ctl_after);
    pv_q_text(&q, rec->authorization);
    pv_q_int(&q, rec->at);
    pv_q_text(&q, rec->authority_sig);
    return pv_q_write(&q);
}

/* A PSD's refills by one of the two statements that take (psd, since). */
static int refills_since(struct pv_store *st, enum pv_sql stmt, uint32_t psd_id, int64_t since,
                         struct pv_refill_rec **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, stmt);
    pv_q_int(&q, psd_id);
    pv_q_int(&q, since);
    return pv_q_list(&q, sizeof **out, read_refill, (void **) out, n);
}

int pv_store_refill_list(struct pv_store *st, uint32_t psd_id, int64_t since,
                         struct pv_refill_rec **out, size_t *n)
{
    return refills_since(st, S_REFILL_LIST, psd_id, since, out, n);
}

int pv_store_refill_from(struct pv_store *st, uint32_t psd_id, int64_t since,
                         struct pv_refill_rec **out, size_t *n)
{
    return refills_since(st, S_REFILL_FROM, psd_id, since, out, n);
}

int pv_store_reset_page(struct pv_store *st, int64_t before, size_t limit,
                        struct pv_refill_rec **out, size_t *n)
{
    struct pv_q q;

    *out = NULL;
    *n = 0;
    if (!st || before < 0 || limit == 0 || limit > 10000)
        return PV_EINVAL;
    pv_q_start(&q, st, S_RESET_PAGE);
    pv_q_int(&q, before ? before : INT64_MAX);
    pv_q_int(&q, (int64_t) limit);
    return pv_q_list(&q, sizeof **out, read_refill, (void **) out, n);
}

static int read_key(struct pv_row *r, void *p)
{
    struct pv_key_rec *rec = p;

    rec->key_id = (uint32_t) pv_r_int(r);
    rec->psd_id = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->algorithm, sizeof rec->algorithm);
    pv_r_text(r, rec->module, sizeof rec->module);
    pv_r_text(r, rec->key_ref, sizeof rec->key_ref);
    pv_r_text(r, rec->public_pem, sizeof rec->public_pem);
    rec->created = pv_r_int(r);
    pv_r_text(r, rec->module_id, sizeof rec->module_id);
    pv_r_text(r, rec->cert_pem, sizeof rec->cert_pem);
    rec->retired_at = pv_r_int(r);
    rec->revoked_at = pv_r_int(r);
    pv_r_text(r, rec->revoke_reason, sizeof rec->revoke_reason);
    return r->rc;
}

int pv_store_key_insert(struct pv_store *st, const struct pv_key_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->algorithm) || !PV_FITS(rec->module) || !PV_FITS(rec->key_ref) ||
        !PV_FITS(rec->public_pem) || !PV_FITS(rec->module_id) || !PV_FITS(rec->cert_pem) ||
        !PV_FITS(rec->revoke_reason))
        return PV_EINVAL;
    pv_q_start(&q, st, S_KEY_INSERT);
    pv_q_int(&q, rec->key_id);
    pv_q_int(&q, rec->psd_id);
    pv_q_text(&q, rec->algorithm);
    pv_q_text(&q, rec->module);
    pv_q_text(&q, rec->key_ref);
    pv_q_text(&q, rec->public_pem);
    pv_q_int(&q, rec->created);
    pv_q_text(&q, rec->module_id);
    pv_q_text(&q, rec->cert_pem);
    pv_q_int(&q, rec->retired_at);
    pv_q_int(&q, rec->revoked_at);
    pv_q_text(&q, rec->revoke_reason);
    return pv_q_write(&q);
}

int pv_store_key_set_cert(struct pv_store *st, uint32_t key_id, const char *cert_pem)
{
    struct pv_q q;

    if (!cert_pem || !pv_fits(cert_pem, sizeof((struct pv_key_rec *) 0)->cert_pem))
        return PV_EINVAL;
    pv_q_start(&q, st, S_KEY_SET_CERT);
    pv_q_text(&q, cert_pem);
    pv_q_int(&q, key_id);
    return pv_q_write_found(&q);
}

int pv_store_key_retire(struct pv_store *st, uint32_t key_id, int64_t at)
{
    struct pv_q q;

    pv_q_start(&q, st, S_KEY_RETIRE);
    pv_q_int(&q, at);
    pv_q_int(&q, key_id);
    return pv_q_write_found(&q);
}

int pv_store_key_revoke(struct pv_store *st, uint32_t key_id, int64_t at, const char *reason)
{
    struct pv_q q;

    if (!reason || !pv_fits(reason, sizeof((struct pv_key_rec *) 0)->revoke_reason) || at <= 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_KEY_REVOKE);
    pv_q_int(&q, at);
    pv_q_text(&q, reason);
    pv_q_int(&q, key_id);
    return pv_q_write_found(&q);
}

int pv_store_psd_set_key(struct pv_store *st, uint32_t psd_id, uint32_t key_id, int status)
{
    struct pv_q q;

    pv_q_start(&q, st, S_PSD_SET_KEY);
    pv_q_int(&q, key_id);
    pv_q_int(&q, status);
    pv_q_int(&q, psd_id);
    return pv_q_write_found(&q);
}

int pv_store_key_list(struct pv_store *st, struct pv_key_rec **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_KEY_LIST);
    return pv_q_list(&q, sizeof **out, read_key, (void **) out, n);
}

static int read_server(struct pv_row *r, void *p)
{
    struct pv_server_rec *rec = p;

    pv_r_text(r, rec->id, sizeof rec->id);
    pv_r_text(r, rec->address, sizeof rec->address);
    pv_r_text(r, rec->crypto_module, sizeof rec->crypto_module);
    pv_r_text(r, rec->key_ids, sizeof rec->key_ids);
    rec->status = (int) pv_r_int(r);
    rec->started_ms = pv_r_int(r);
    rec->heartbeat_ms = pv_r_int(r);
    pv_r_text(r, rec->module_id, sizeof rec->module_id);
    return r->rc;
}

int pv_store_server_register(struct pv_store *st, const struct pv_server_rec *rec)
{
    struct pv_q q;

    if (!PV_FITS(rec->id) || !rec->id[0] || !PV_FITS(rec->address) ||
        !PV_FITS(rec->crypto_module) || !PV_FITS(rec->key_ids) || !PV_FITS(rec->module_id))
        return PV_EINVAL;
    pv_q_start(&q, st, S_SERVER_REGISTER);
    pv_q_text(&q, rec->id);
    pv_q_text(&q, rec->address);
    pv_q_text(&q, rec->crypto_module);
    pv_q_text(&q, rec->key_ids);
    pv_q_int(&q, rec->status);
    pv_q_int(&q, rec->started_ms);
    pv_q_int(&q, rec->heartbeat_ms);
    pv_q_text(&q, rec->module_id);
    return pv_q_write(&q);
}

/* One statement: stamps the heartbeat and answers the status of the row it stamped. */
int pv_store_server_heartbeat(struct pv_store *st, const char *id, const char *key_ids,
                              int64_t now_ms, int *status)
{
    int64_t v = PV_SERVER_ACTIVE;
    struct pv_q q;
    int rc, own;

    *status = PV_SERVER_ACTIVE;
    if (!st || !pv_fits(id, PV_ID_MAX) ||
        !pv_fits(key_ids, sizeof((struct pv_server_rec *) 0)->key_ids))
        return PV_EINVAL;
    if ((rc = pv_write_enter(st, 0, &own)) != PV_OK)
        return rc;
    pv_q_start(&q, st, S_SERVER_HEARTBEAT);
    pv_q_int(&q, now_ms);
    pv_q_text(&q, key_ids);
    pv_q_text(&q, id);
    rc = pv_write_leave(st, own, pv_q_int64(&q, &v));
    if (rc == PV_OK)
        *status = (int) v;
    return rc;
}

int pv_store_server_list(struct pv_store *st, struct pv_server_rec **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_SERVER_LIST);
    return pv_q_list(&q, sizeof **out, read_server, (void **) out, n);
}

int pv_store_server_set_status(struct pv_store *st, const char *id, int status)
{
    struct pv_q q;

    if (!pv_fits(id, PV_ID_MAX) || status < PV_SERVER_ACTIVE || status > PV_SERVER_DISABLED)
        return PV_EINVAL;
    pv_q_start(&q, st, S_SERVER_SET_STATUS);
    pv_q_int(&q, status);
    pv_q_text(&q, id);
    return pv_q_write_found(&q);
}

static int read_count(struct pv_row *r, void *p)
{
    struct pv_server_count *rec = p;

    pv_r_text(r, rec->server_id, sizeof rec->server_id);
    rec->count = pv_r_int(r);
    return r->rc;
}

int pv_store_server_traffic(struct pv_store *st, int64_t since, struct pv_server_count **out,
                            size_t *n)
{
    struct pv_q q;

    if (since <= 0) { /* every indicium: the servers' counts (schema v38) */
        pv_q_start(&q, st, S_SERVER_PIECES);
    } else {
        pv_q_start(&q, st, S_SERVER_TRAFFIC);
        pv_q_int(&q, since / 60);
    }
    return pv_q_list(&q, sizeof **out, read_count, (void **) out, n);
}

/*
 * In a transaction (its own outside begin()), under the PSD's row lock
 * (PostgreSQL: SELECT ... FOR UPDATE; SQLite: the write lock): read its
 * lease, decide, write it and its log. A second acquirer waits for the
 * first to commit and then reads its lease.
 */
int pv_store_lease_acquire(struct pv_store *st, uint32_t psd_id, const char *holder, int64_t now_ms,
                           int64_t expires_ms)
{
    char cur[PV_ID_MAX] = "";
    int64_t cur_expires = 0;
    struct pv_row r;
    struct pv_q q;
    int rc, own;

    if (!st || !pv_fits(holder, PV_ID_MAX) || !holder[0] || expires_ms <= now_ms)
        return PV_EINVAL;
    rc = pv_write_enter(st, 1, &own);
    if (rc != PV_OK)
        return rc;
    pv_q_start(&q, st, pv_locking(st, S_LEASE_GET, S_LEASE_GET_LOCK));
    pv_q_int(&q, psd_id);
    rc = pv_q_row(&q);
    if (rc == PV_OK) {
        r = pv_row_of(&q);
        pv_r_text(&r, cur, sizeof cur);
        cur_expires = pv_r_int(&r);
        rc = r.rc;
    }
    pv_q_done(&q);
    if (rc != PV_OK)
        goto out;
    if (cur[0] && strcmp(cur, holder) != 0 && cur_expires >= now_ms) {
        rc = PV_EBUSY;
        goto out;
    }
    pv_q_start(&q, st, S_LEASE_SET);
    pv_q_text(&q, holder);
    pv_q_int(&q, expires_ms);
    pv_q_int(&q, psd_id);
    if ((rc = pv_q_exec(&q)) != PV_OK)
        goto out;
    /* A tenure starts no earlier than the last one ended: callers read their
     * clocks before waiting for this lock, so now_ms may be a little stale. */
    if (strcmp(cur, holder) == 0 && cur_expires >= now_ms) {
        /* A renewal extends the current tenure. */
        pv_q_start(&q, st, S_LEASE_LOG_EXTEND);
        pv_q_int(&q, expires_ms);
        pv_q_int(&q, psd_id);
        pv_q_text(&q, holder);
    } else {
        pv_q_start(&q, st, S_LEASE_LOG_INSERT);
        pv_q_int(&q, psd_id);
        pv_q_text(&q, holder);
        pv_q_int(&q, now_ms);
        pv_q_int(&q, expires_ms);
    }
    rc = pv_q_exec(&q);
out:
    /* PV_EBUSY and PV_ENOTFOUND broke no statement: an own transaction just rolls back. */
    return pv_write_leave(st, own, rc);
}

int pv_store_lease_release(struct pv_store *st, uint32_t psd_id, const char *holder, int64_t now_ms)
{
    struct pv_q q;
    int64_t changed;
    int rc, own;

    if (!st || !pv_fits(holder, PV_ID_MAX))
        return PV_EINVAL;
    rc = pv_write_enter(st, 1, &own);
    if (rc != PV_OK)
        return rc;
    pv_q_start(&q, st, S_LEASE_RELEASE);
    pv_q_int(&q, psd_id);
    pv_q_text(&q, holder);
    rc = pv_q_changed(&q, &changed);
    if (rc == PV_OK && changed > 0) {
        pv_q_start(&q, st, S_LEASE_LOG_EXTEND);
        pv_q_int(&q, now_ms);
        pv_q_int(&q, psd_id);
        pv_q_text(&q, holder);
        rc = pv_q_exec(&q);
    }
    return pv_write_leave(st, own, rc);
}

static int read_lease(struct pv_row *r, void *p)
{
    struct pv_lease_rec *rec = p;

    rec->psd_id = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->holder, sizeof rec->holder);
    rec->acquired_ms = pv_r_int(r);
    rec->expires_ms = pv_r_int(r);
    return r->rc;
}

int pv_store_lease_history(struct pv_store *st, uint32_t psd_id, struct pv_lease_rec **out,
                           size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_LEASE_HISTORY);
    pv_q_int(&q, psd_id);
    return pv_q_list(&q, sizeof **out, read_lease, (void **) out, n);
}
