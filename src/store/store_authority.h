/*
 * store_authority.h - the store's operations for the postal authority as a
 * party (schema v8: its accounts, presentations, deposit credits) and its
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

/* ---- the postal authority as a party (schema v8, issue 13) ---- */
#define PV_POSTAL_NAME_MAX 128 /* a postal account's name + NUL */
#define PV_LOCATION_MAX    65  /* where a piece was presented (a facility id) + NUL */
#define PV_DEPOSIT_REF_MAX 129 /* the authority's reference of a deposit credit + NUL */

/* One presentation of a piece to the postal authority (POST /v1/verify). */
struct pv_presentation_rec {
    char indicium_id[PV_ID_MAX];
    int64_t seq;                    /* 1 for the first presentation, 2 for the next... */
    char postal_id[PV_ID_MAX];      /* the postal account whose key presented it */
    int64_t presented_at;           /* when the authority says (unix s) */
    char location[PV_LOCATION_MAX]; /* where the authority says ("" = not said) */
    int64_t recorded_at;            /* when the vendor recorded it */
};

/* A credit of the postal deposit by the authority. */
struct pv_deposit_credit_rec {
    char id[PV_ID_MAX]; /* "dep_...": also the journal's ref */
    pv_mills amount;
    char reference[PV_DEPOSIT_REF_MAX];
    char credited_by[PV_ID_MAX]; /* the postal account, or "cli" (stampd authority deposit) */
    int64_t at;
};

/* One entry of the deposit's history: a credit or a draw (a PSD refill). */
struct pv_deposit_entry {
    int64_t journal_id; /* the cursor: increasing with time */
    char kind[24];      /* "postal_deposit" (a credit) or "psd_refill" (a draw) */
    char ref[PV_ID_MAX];
    pv_mills amount;  /* + credit, - draw */
    pv_mills balance; /* the deposit right after this entry */
    int64_t at;
    char reference[PV_DEPOSIT_REF_MAX]; /* a credit's reference ("" otherwise) */
    int64_t psd_id;                     /* a draw's PSD (0 otherwise) */
};

/* postal_insert: PV_EEXIST on a taken id or name. postal_get: the name of
 * a postal account into name (PV_POSTAL_NAME_MAX); PV_ENOTFOUND. */
int pv_store_postal_insert(struct pv_store *st, const char *id, const char *name, int64_t at);
int pv_store_postal_get(struct pv_store *st, const char *id, char name[PV_POSTAL_NAME_MAX]);
/* presentation_insert: PV_EEXIST when (indicium_id, seq) is taken.
 * presentation_first: the piece's first presentation; PV_ENOTFOUND. */
int pv_store_presentation_insert(struct pv_store *st, const struct pv_presentation_rec *rec);
int pv_store_presentation_first(struct pv_store *st, const char *indicium_id,
                                struct pv_presentation_rec *out);
/* deposit_credit_insert: PV_EEXIST on a taken id. deposit_credit_get: PV_ENOTFOUND. */
int pv_store_deposit_credit_insert(struct pv_store *st, const struct pv_deposit_credit_rec *rec);
int pv_store_deposit_credit_get(struct pv_store *st, const char *id,
                                struct pv_deposit_credit_rec *out);
/* deposit_history: the journals that moved account (the deposit), newest
 * first, with journal id < before (0 = from the newest), at most limit,
 * each with the account's balance right after it; *out owned (free()).
 * PV_EINVAL for an account other than a customer's or the deposit's. */
int pv_store_deposit_history(struct pv_store *st, const char *account, int64_t before, size_t limit,
                             struct pv_deposit_entry **out, size_t *n);

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

/* The authority's resets (GET /v1/authority/resets). reset_page: the live PSDs' refills (a
 * test PSD's left out) with an id below before (0: from the newest), newest first, at most
 * limit (1..10000); *out owned (NULL and *n 0 on any failure). */
int pv_store_reset_page(struct pv_store *st, int64_t before, size_t limit,
                        struct pv_refill_rec **out, size_t *n);

#endif
