/*
 * store_authority.h - the store's operations for the postal authority's
 * orders (schema v13, issue 13): refunds of unused postage claimed back
 * from it, its holds on a customer, and the pieces it has seen. Part of
 * store.h (which includes it at its end, with every type it uses); include
 * store.h, never this file.
 *
 * Each write is one statement, atomic on its own; the domain puts them in
 * the transactions they belong to (domain/claims.h: a claim beside its
 * refund and journal entry, a decision beside its journal entry).
 */
#ifndef STAMPD_STORE_AUTHORITY_H
#define STAMPD_STORE_AUTHORITY_H

#define PV_CLAIM_REASON_MAX 257 /* the authority's reason for a decision or a hold + NUL */

enum pv_claim_status { PV_CLAIM_PENDING = 0, PV_CLAIM_ACCEPTED = 1, PV_CLAIM_REJECTED = 2 };

/* A refund of unused postage claimed back from the postal authority. */
struct pv_claim_rec {
    char id[PV_ID_MAX];          /* "rcl_" + the refund id's tail */
    char refund_id[PV_ID_MAX];   /* "rfd_..." */
    char indicium_id[PV_ID_MAX]; /* the refunded piece */
    uint32_t psd_id;             /* the piece's PSD and serial */
    uint32_t serial;
    pv_mills amount; /* the refunded postage, > 0 */
    int status;      /* enum pv_claim_status */
    char reason[PV_CLAIM_REASON_MAX];
    char decided_by[PV_ID_MAX]; /* the postal account ("" while pending) */
    int64_t created;            /* unix s */
    int64_t decided_at;         /* 0 while pending */
    int64_t presentations;      /* read only: times the authority was shown the piece */
};

/* What the claims add up to, per status (count and mills). */
struct pv_claim_totals {
    int64_t count[3];
    pv_mills amount[3];
};

/* An order of the postal authority to stop a customer's purchases. */
struct pv_hold_rec {
    char id[PV_ID_MAX]; /* "hld_..." */
    char customer_id[PV_ID_MAX];
    char reason[PV_CLAIM_REASON_MAX];
    char placed_by[PV_ID_MAX]; /* the postal account */
    int64_t placed_at;
    uint32_t psd_id; /* placed by a piece: its PSD and serial (serial -1: by customer) */
    int64_t serial;
    char lifted_by[PV_ID_MAX]; /* "" while it stands */
    int64_t lifted_at;         /* 0 while it stands */
    char lift_reason[PV_CLAIM_REASON_MAX];
};

/* A piece the authority has seen, with its first and last presentation. */
struct pv_presented_rec {
    int64_t seq; /* the cursor: the indicium's row */
    uint32_t psd_id;
    uint32_t serial;
    int64_t presentations;
    int has_first, has_last; /* 0: counted before presentations were recorded (v8) */
    int64_t first_at, last_at;
    char first_location[PV_LOCATION_MAX], last_location[PV_LOCATION_MAX];
};

/*
 * claim_insert: PV_EEXIST on a taken id or a second claim of one refund.
 * claim_get: PV_ENOTFOUND. claim_decide: pending -> status with reason and
 * by, at; PV_ENOTFOUND when the claim is unknown or no longer pending.
 * claim_list: status -1 for every one, newest first, those before the
 * claim after_id (borrowed; "" from the newest; an unknown one gives
 * none), at most limit; *out owned (free()). claim_totals: per status.
 */
int pv_store_claim_insert(struct pv_store *st, const struct pv_claim_rec *rec);
int pv_store_claim_get(struct pv_store *st, const char *id, struct pv_claim_rec *out);
int pv_store_claim_decide(struct pv_store *st, const char *id, int status, const char *reason,
                          const char *by, int64_t at);
int pv_store_claim_list(struct pv_store *st, int status, const char *after_id, size_t limit,
                        struct pv_claim_rec **out, size_t *n);
int pv_store_claim_totals(struct pv_store *st, struct pv_claim_totals *out);

/*
 * hold_insert: PV_EEXIST on a taken id. hold_get: PV_ENOTFOUND.
 * hold_lift: PV_ENOTFOUND when unknown or lifted already. hold_standing:
 * the customer's oldest hold not lifted (PV_ENOTFOUND: none). hold_list:
 * standing only when standing, newest first, before after_id as for
 * claim_list; *out owned (free()).
 */
int pv_store_hold_insert(struct pv_store *st, const struct pv_hold_rec *rec);
int pv_store_hold_get(struct pv_store *st, const char *id, struct pv_hold_rec *out);
int pv_store_hold_lift(struct pv_store *st, const char *id, const char *by, const char *reason,
                       int64_t at);
int pv_store_hold_standing(struct pv_store *st, const char *customer_id, struct pv_hold_rec *out);
int pv_store_hold_list(struct pv_store *st, int standing, const char *after_id, size_t limit,
                       struct pv_hold_rec **out, size_t *n);

/*
 * presented_list: pieces presented at least min_presentations (>= 1)
 * times, newest piece first, with row seq < before (0: from the newest),
 * at most limit; *out owned (free()).
 */
int pv_store_presented_list(struct pv_store *st, int64_t min_presentations, int64_t before,
                            size_t limit, struct pv_presented_rec **out, size_t *n);

#endif
