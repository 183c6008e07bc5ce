/*
 * store_backends.h - constructors of the store backends, private to src/store.
 *
 * store.c parses the DSN and calls one of these; nothing outside src/store
 * includes this header. Each constructor returns an owned handle in *out
 * (released through its ops->close, i.e. pv_store_close()) and sets *out to
 * NULL on failure.
 */
#ifndef STAMPD_STORE_BACKENDS_H
#define STAMPD_STORE_BACKENDS_H

#include "store/store_int.h"

struct pv_store_ops {
    /* Ledger. journal_post writes one entry of n lines and adds each line to
     * its account's balance (creating the account at 0 when new). It does
     * not check the sum: pv_ledger_post() in src/domain does. */

    /* PSDs and their keys. psd_get: PV_ENOTFOUND. psd_update writes the
     * registers, status and last_refill_at of rec->id. */

    /* Customers, operators and API keys (stored as SHA-256 hex only). */
    /* apikey_lookup: PV_ENOTFOUND for an unknown or revoked key. */

    /* Idempotency. get: PV_ENOTFOUND, or the request hash and indicium id
     * stored for (owner, key). put: PV_EEXIST when (owner, key) exists. */

    /* Indicia. get: PV_ENOTFOUND. list: the customer's indicia newest
     * first, strictly older than the indicium whose id is before_id (NULL
     * or "" = from the newest), at most limit; PV_ECURSOR for an unknown
     * before_id. find: by (device id, serial). present: count one more
     * presentation and return how many there were before it. */
    int (*indicium_insert)(struct pv_store *st, const struct pv_indicium_rec *rec);
    int (*indicium_get)(struct pv_store *st, const char *id, struct pv_indicium_rec *rec);
    int (*indicium_list)(struct pv_store *st, const char *customer_id, const char *before_id,
                         size_t limit, struct pv_indicium_rec **out, size_t *n);
    int (*indicium_find)(struct pv_store *st, uint32_t device_id, uint32_t serial,
                         struct pv_indicium_rec *rec);
    int (*indicium_present)(struct pv_store *st, const char *id, int64_t at,
                            int64_t *presented_before);

    /* Printing (schema v2). render_record notes one render of an indicium
     * (who, when, format, layout) and counts it in the indicium's prints:
     * PV_ENOTFOUND for an unknown indicium. printer_put creates or replaces
     * the customer's printer rec->name; get/delete: PV_ENOTFOUND. */
    int (*render_record)(struct pv_store *st, const char *indicium_id, const char *actor_id,
                         const char *format, const char *layout, int64_t at);
    int (*printer_put)(struct pv_store *st, const char *customer_id,
                       const struct pv_printer_rec *rec);
    int (*printer_get)(struct pv_store *st, const char *customer_id, const char *name,
                       struct pv_printer_rec *rec);
    int (*printer_list)(struct pv_store *st, const char *customer_id, struct pv_printer_rec **out,
                        size_t *n);
    int (*printer_delete)(struct pv_store *st, const char *customer_id, const char *name);

    /* Scale-out (schema v3). server_register inserts the server or updates
     * its address, module, keys, start and heartbeat - an existing row keeps
     * the status an operator gave it. server_heartbeat stamps now_ms and the
     * key ids and answers the status; PV_ENOTFOUND. server_set_status:
     * PV_ENOTFOUND. server_traffic counts indicia per server created at or
     * after since (unix seconds); *out owned. */

    /* PSD leases. lease_acquire gives holder the PSD until expires_ms when it
     * is free, expired (lease_expires_ms < now_ms) or already the holder's
     * (a renewal): PV_OK. PV_EBUSY when another holder's lease runs; PV_ENOTFOUND.
     * Atomic: two processors can never both succeed for one PSD at once.
     * lease_release ends the holder's lease now (nothing when not the holder).
     * lease_history lists tenures of one PSD, oldest first; *out owned. */

    /* ledger_audit - count journals and accounts, and list every journal whose
     * lines do not sum to zero and every account whose balance is not the sum
     * of its lines (*out owned, NULL when none). */

    /* ---- schema v4: accounts, payments, refunds ---- */

    /* password_set stores an encoded argon2id hash for a customer
     * (PV_ROLE_CUSTOMER) or operator: PV_ENOTFOUND. credential_get finds a
     * customer or operator (role) by email, case-insensitively: PV_ENOTFOUND. */
    /* operator_get: the operator's email; PV_ENOTFOUND. */

    /* Sessions. get: PV_ENOTFOUND when unknown or expired before now.
     * insert also deletes the sessions that expired before rec->created. */

    /* API keys with mode and name. apikey_create: PV_EEXIST on a duplicate
     * id or hash. apikey_list: the owner's keys, newest first, revoked ones
     * included (*out owned). apikey_revoke: PV_ENOTFOUND unless owner_id
     * has an active key key_id. apikey_lookup (above) fills principal.test. */

    /* Saved cards. get: PV_ENOTFOUND unless the customer's and not deleted.
     * list: the customer's live (test 0) or test cards, oldest first.
     * delete: PV_ENOTFOUND; deleted cards are kept for the charges that name them. */

    /* Charges. charge_find: the charge with purpose and ref (PV_ENOTFOUND).
     * charge_add_refund adds amount to refunded: PV_EOVERFLOW when that would
     * exceed the charge, PV_ENOTFOUND. charge_count: how many charges a
     * customer has with purpose ("" = any). */

    /* Auto-refill: put creates or replaces (customer_id, test); get: PV_ENOTFOUND. */

    /* Refunds. refund_insert: PV_EEXIST for a second approved refund of one
     * indicium. refund_latest: the indicium's newest request (PV_ENOTFOUND).
     * indicium_mark_refunded sets refunded_at: PV_EEXIST when already set,
     * PV_ENOTFOUND. */

    /* account_lines: the account's journal lines newest first, with
     * journal_id < before (0 = from the newest), at most limit; *out owned. */
    /* Media (schema v5). Secrets: media_key_list oldest first (*out owned).
     * affiliate_get: PV_ENOTFOUND; insert: PV_EEXIST on a taken id or group;
     * list in creation order (*out owned). */

    /* media_batch_insert gives rec->batch the next batch number (highest + 1)
     * and writes the batch and one sheet row per sheet (rec->payment, no
     * use); PV_EOVERFLOW past PV_SERIAL_MAX_BATCH. batch_get: PV_ENOTFOUND. */

    /* media_sheet_get: PV_ENOTFOUND; inside a transaction it locks the sheet
     * row until commit, which serialises every use of the sheet's labels.
     * media_sheet_update writes payment, paid_by/at, labels_used, first and
     * last use of (rec->batch, rec->sheet): PV_ENOTFOUND. */

    /* media_label_insert: PV_EEXIST when that label was printed already.
     * media_label_list: the sheet's printed labels by position (*out owned). */

    /* media_usage - the affiliate's labels: *total in its batches, *used of
     * them, *used_since of them printed at or after since. */

    /* Resupply orders. resupply_open inserts rec unless the affiliate has an
     * open order already (a partial unique index: at most one open order per
     * affiliate, whatever the concurrency); either way rec is then that open
     * order and *opened says whether it is new. get: PV_ENOTFOUND. list:
     * newest first (*out owned). resupply_ship marks an open order shipped
     * with its batch: PV_ENOTFOUND when no open order has that id. */

    /* ---- the web UI's history and charts (no schema change) ---- */

    /* indicium_search: indicium_list narrowed by f (borrowed; NULL = no
     * filter), with the same cursor rules: newest first, strictly older than
     * before_id, PV_ECURSOR unless before_id is the customer's. A cursor need
     * not match the filter itself, so pages stay correct when it changes. */
    int (*indicium_search)(struct pv_store *st, const char *customer_id,
                           const struct pv_indicium_filter *f, const char *before_id, size_t limit,
                           struct pv_indicium_rec **out, size_t *n);
    /* sales_daily: indicia created at or after since (unix s), counted and
     * summed per (UTC day, PSD), ordered by day then PSD; *out owned. */
    int (*sales_daily)(struct pv_store *st, int64_t since, struct pv_sales_day **out, size_t *n);
};

#endif
