/*
 * purchase_types.h - one purchase as the batch sees it: the request the
 * front validated and priced, and what the batch did with it. Apart from
 * purchase.h because the media module reads and fills these too
 * (pv_media_check, pv_media_record) while the purchase path calls media:
 * both depend on the types, neither on the other's header.
 */
#ifndef STAMPD_PURCHASE_TYPES_H
#define STAMPD_PURCHASE_TYPES_H

#include "domain/media.h"
#include "domain/payment.h"
#include "stampd/error.h" /* PV_OK */
#include "store/store.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What the front validated and priced; borrowed by the batch. */
struct pv_purchase_req {
    char customer_id[PV_ID_MAX];
    char idem_key[PV_IDEM_KEY_MAX];
    char req_hash[PV_HASH_HEX]; /* sha-256 hex of the canonical request */
    int mail_class;
    uint16_t weight_tenth_oz;
    uint32_t mail_date; /* YYYYMMDD */
    uint8_t services;   /* PV_SVC_* (rates.h): priced options, stored with the piece */
    char from_zip[6];
    char to_zip[10];
    char medium_serial[PV_MEDIUM_MAX + 1];
    /* Owned strings, NULL when none (as the piece's, store_indicium.h), each
     * shorter than PV_ADDRESS_MAX / PV_METADATA_MAX: the addresses, printed and
     * not signed; the metadata (metadata.h), kept and not signed. Whoever owns
     * the request frees them (pv_purchase_req_clear); copies borrow them. */
    char *from_address;
    char *to_address;
    char *metadata;
    uint8_t flags; /* PV_IND_FLAG_*; PV_IND_FLAG_TEST exactly when test */
    pv_mills postage;
    int test;              /* bought with an sk_test_ key: test PSD, test money, sandbox */
    struct pv_payment pay; /* balance (default) or a card's gateway source */
    int commit_medium; /* "commit_to_purchase_medium": buy an unpaid medium with this purchase */
};

/*
 * An auto-refill across batches: a balance purchase that crosses its
 * customer's trigger is deferred - its savepoint rolled back, the refill's
 * intent recorded in the batch - and, once the refill was tried after the
 * commit (pv_purchase_refill), run again. Kept by every stage. A held card
 * job whose intent another transaction holds is deferred the same way, with
 * no refill (pv_purchase_book_hold).
 */
struct pv_refill_carry {
    int deferred;              /* run this job again (after the refills) */
    int want;                  /* this job's refill is to be recorded (the batch's business) */
    int done;                  /* this job's refill was tried: never again for this job */
    int rounds;                /* batches it waited: another job's refill, its held card's intent
                                  another transaction held (pv_purchase_book_hold) */
    int err;                   /* the refill's error, PV_OK when credited */
    char decline[24];          /* its decline code */
    char intent_id[PV_ID_MAX]; /* the refill's intent */
};

struct pv_purchase_res {
    /* Set by pv_purchase_authorize before the batch, kept by it: */
    int pre_err;               /* the job was refused before the batch (card declined, ...) */
    int held;                  /* 1: this job holds the card payment of intent_id */
    char intent_id[PV_ID_MAX]; /* the card payment's intent (intent.h), or "" */
    int err;                   /* PV_OK or the job's error */
    int replayed;              /* 1 when an earlier purchase with this key was returned */
    pv_mills balance_after;
    char decline[24]; /* PV_ECARDDECLINED: "card_declined", "insufficient_funds", ... */
    /* The card's hold (by pv_purchase_authorize: captured after the commit,
     * voided when the job or the batch does not commit), and the refill
     * credited for this job before its last run (pv_purchase_refill). */
    char charge_id[PV_REF_MAX]; /* paid by card */
    pv_mills charged;
    /* 1: its hold's answer rides on this batch (or, deferred, on the one that buys it): the
     * intent moves from "pending" (charge_id recorded with that move), not from "authorized" */
    int held_pending;
    /* 1: the batch moved its intent to "settling" before its jobs (pv_purchase_claim), naming
     * piece_id, the id its indicium takes; its charge row is written after the jobs
     * (pv_purchase_card_tails). Kept, as held_pending, when a job is run again within its
     * batch's run (pv_purchase_res_again); claimed again, with a new piece id, after a late
     * batch's undo. */
    int claimed;
    char piece_id[PV_ID_MAX];
    char refill_id[PV_REF_MAX]; /* auto-refill before a balance payment */
    pv_mills refilled;
    struct pv_refill_carry refill;
    struct pv_indicium_rec rec;
    struct pv_media_use medium; /* with a medium_serial (media.h) */
};

/* pv_purchase_req_clear - frees q's texts (NULL after); the rest stays. */
static inline void pv_purchase_req_clear(struct pv_purchase_req *q)
{
    free(q->from_address);
    free(q->to_address);
    free(q->metadata);
    q->from_address = q->to_address = q->metadata = NULL;
}

/* pv_purchase_res_pays - 1 when r's job made its piece in the batch (not a replay): its card
 * hold, if any, is captured after the commit. */
static inline int pv_purchase_res_pays(const struct pv_purchase_res *r)
{
    return r->err == PV_OK && !r->replayed;
}

/* pv_purchase_res_settles - 1 when r's card hold is the batch's to capture or void after its
 * commit: a replay's hold is the committed twin's, unless the batch claimed it (and gave it up,
 * voiding); a job deferred to a later batch keeps its hold for it. */
static inline int pv_purchase_res_settles(const struct pv_purchase_res *r)
{
    return r->held && !r->refill.deferred && (!r->replayed || r->claimed);
}

/* pv_purchase_res_reset - r zeroed, the texts of its piece freed (store.h). */
static inline void pv_purchase_res_reset(struct pv_purchase_res *r)
{
    pv_indicium_rec_clear(&r->rec);
    memset(r, 0, sizeof *r);
}

#endif
