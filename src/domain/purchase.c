/*
 * purchase.c - one purchase inside a savepoint, many inside one commit.
 *
 * PSD selection policy (docs/api.md, "PSD selection"): a processor keeps
 * using its current PSD while it can cover the piece; when it cannot, the
 * next of its PSDs that can becomes current; when none can, the next PSD
 * after the current one is refilled from the postal deposit and becomes
 * current. Pieces come from one device in runs, devices take turns, and a
 * refill happens only when no device of the processor can cover the piece.
 * A refill (reset) takes at most this processor's share of the deposit
 * (reset_size; docs/internals/leases.md, "Reset sizing") and carries the
 * postal authority's signature of its record (reset_auth.h), obtained
 * before anything is written.
 * Only PSDs whose lease this processor holds are candidates; the leases and
 * the fair share are lease.c's (docs/internals/leases.md), the path from
 * request to commit docs/internals/purchase-path.md.
 *
 * Test purchases (sk_test_ keys) take the same path on the test PSD, which
 * is never leased (its row lock orders writers) and is refilled from
 * "test:postal_authority"; their money moves in "test:" accounts.
 *
 * Payment (docs/payments.md): a card is held before the batch
 * (pv_purchase_authorize, purchase_pay.c, with its payment intent
 * committed first); in the batch its intent moves to "settling" before the
 * jobs (pv_purchase_claim: one statement for the batch), the hold is booked
 * as the piece's charge, and a job refused moves it on to "voiding"; after the
 * commit pv_purchase_settle captures it, or voids the hold of a job that
 * did not commit. A balance payment that crosses the customer's
 * auto-refill trigger is deferred: its refill is charged and credited after
 * the commit (purchase_pay.c) and the job run again.
 *
 * Price: the processor does not take the front's word for it. Every piece
 * is priced again here from its class, weight and mail date with the rate
 * tables the front uses (rates.c), and a postage that differs is refused
 * (PV_EPOSTAGE) before anything is read for update or written, so a holder
 * of the internal secret cannot have a 13 oz flat signed for 0.001. The
 * medium's price is never the front's: pv_media_check reads it from the
 * store. Priced options (services) and a parcel's zone, computed here from
 * the ZIP codes, are part of that price (pricing.h).
 */
#include "domain/purchase.h"

#include "domain/claims.h"
#include "domain/events.h"
#include "domain/indicium_view.h"
#include "domain/intent.h"
#include "domain/ledger.h"
#include "domain/lifecycle.h"
#include "domain/pricing.h"
#include "domain/psd_batch.h"
#include "domain/psd_refill.h"
#include "domain/reset_auth.h"
#include "crypto/signpool.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/psd.h"
#include "stampd/rates.h"
#include "stampd/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

/* The signed services byte (indicium.h) is the request's (rates.h), bit for bit. */
_Static_assert(PV_IND_SVC_CERTIFIED == PV_SVC_CERTIFIED &&
                   PV_IND_SVC_RETURN_RECEIPT == PV_SVC_RETURN_RECEIPT &&
                   PV_IND_SVC_NONMACHINABLE == PV_SVC_NONMACHINABLE && PV_IND_SVC_ALL == PV_SVC_ALL,
               "indicium services bits differ from the rate options");

/* Choose a PSD for a piece of value v, refilling when needed (see top). */
static int select_psd(struct pv_store *st, struct pv_processor_ctx *ctx, int test, pv_mills v,
                      int64_t now, struct pv_psd_rec *out, const struct pv_psd_key **key)
{
    size_t i, idx, refill_idx = SIZE_MAX, fullest = SIZE_MAX, overdue = 0;
    pv_mills most = -1;
    int64_t now_ms = pv_now_ms();
    int rc;

    if (test) {
        if (!ctx->test_psd.held)
            return PV_ENOPSD;
        if ((rc = pv_psd_batch_get(st, &ctx->psdb, ctx->test_psd.psd_id, out)) != PV_OK)
            return rc;
        if (out->status != PV_PSD_ACTIVE || !out->test)
            return PV_ENOPSD;
        /* A rotated key (certs.c): sign with the PSD's key of now. */
        if (out->key_id != ctx->test_psd.key_id &&
            (rc = pv_psd_key_follow(st, ctx, &ctx->test_psd, out->key_id)) != PV_OK)
            return rc == PV_EKEYMODULE ? PV_ENOPSD : rc;
        *key = &ctx->test_psd;
        return out->descending >= v ? PV_OK : pv_psd_batch_refill(st, ctx, out, v, now);
    }
    /* i == 0 is the current PSD; then the others in turn. */
    for (i = 0; i < ctx->npsds; i++) {
        idx = (ctx->current + i) % ctx->npsds;
        if (!ctx->psds[idx].held)
            continue;
        if (ctx->psds[idx].overdue) {
            overdue++; /* the watchdog locked it until it reports (report.h) */
            continue;
        }
        if ((rc = pv_psd_batch_get(st, &ctx->psdb, ctx->psds[idx].psd_id, out)) != PV_OK)
            return rc;
        /* The row is the authority: only the lease holder moves registers. */
        if (out->status != PV_PSD_ACTIVE || strcmp(out->lease_holder, ctx->server_id) != 0 ||
            out->lease_expires_ms <= now_ms) {
            ctx->psds[idx].held = 0;
            continue;
        }
        if (out->key_id != ctx->psds[idx].key_id &&
            (rc = pv_psd_key_follow(st, ctx, &ctx->psds[idx], out->key_id)) != PV_OK) {
            if (rc != PV_ENOPSD && rc != PV_EKEYMODULE)
                return rc;
            ctx->psds[idx].held = 0;
            continue;
        }
        if (out->descending >= v) {
            ctx->current = idx;
            *key = &ctx->psds[idx];
            return PV_OK;
        }
        /* Refill the next device after the current one, so devices take turns. */
        if (refill_idx == SIZE_MAX || (i > 0 && refill_idx == ctx->current))
            refill_idx = idx;
        if (out->descending > most) {
            most = out->descending;
            fullest = idx;
        }
    }
    if (refill_idx == SIZE_MAX)
        return overdue ? PV_EOVERDUE : PV_ENOPSD;
    if ((rc = pv_psd_batch_get(st, &ctx->psdb, ctx->psds[refill_idx].psd_id, out)) != PV_OK)
        return rc;
    rc = pv_psd_batch_refill(st, ctx, out, v, now);
    if (rc == PV_EDEPOSIT && fullest != refill_idx) {
        /* The deposit is short for that one: the device that needs least
         * may still be reset by what the deposit can cover (reset_size wrote
         * nothing). */
        refill_idx = fullest;
        if ((rc = pv_psd_batch_get(st, &ctx->psdb, ctx->psds[refill_idx].psd_id, out)) != PV_OK)
            return rc;
        rc = pv_psd_batch_refill(st, ctx, out, v, now);
    }
    if (rc != PV_OK)
        return rc;
    ctx->current = refill_idx;
    *key = &ctx->psds[refill_idx];
    return PV_OK;
}

/* The mail dates a processor signs: the front's window (rates.h) with a day
 * more on each side for clocks that differ and requests that wait around
 * midnight. An older rate table could be cheaper. */
#define CLOCK_SLACK_DAYS 1

/* PV_OK when q's postage is the rate of its piece on its mail date at the
 * time now (unix seconds): PV_EMAILDATE outside the window, the quote's error
 * for a class or weight without a rate, PV_EPOSTAGE for any other price. */
/* pv_purchase_check_price, keeping the quote: its breakdown into *pr and
 * the parcel's zone into *zone (both set only on PV_OK). */
static int check_price(const struct pv_purchase_req *q, int64_t now, struct pv_rate_price *pr,
                       int *zone)
{
    uint32_t today = pv_date_from_unix(now);
    int rc;

    if (q->mail_date < pv_date_add_days(today, -(PV_MAIL_DATE_BEHIND + CLOCK_SLACK_DAYS)) ||
        q->mail_date > pv_date_add_days(today, PV_MAIL_DATE_AHEAD + CLOCK_SLACK_DAYS))
        return PV_EMAILDATE;
    if ((rc = pv_price_piece(q->mail_class, q->weight_tenth_oz, q->mail_date, q->services,
                             q->from_zip, q->to_zip, pr, zone)) != PV_OK)
        return rc;
    return pr->total == q->postage ? PV_OK : PV_EPOSTAGE;
}

int pv_purchase_check_price(const struct pv_purchase_req *q, int64_t now)
{
    struct pv_rate_price pr;
    int zone;

    return check_price(q, now, &pr, &zone);
}

/* The piece's options and the price breakdown that check_price quoted into rec. */
static void record_price(const struct pv_purchase_req *q, const struct pv_rate_price *pr, int zone,
                         struct pv_indicium_rec *rec)
{
    rec->services = q->services;
    rec->zone = zone;
    memcpy(rec->rate_version, pr->version, sizeof rec->rate_version);
    rec->surcharge_mills = pr->surcharge;
    rec->certified_mills = pr->certified;
    rec->return_receipt_mills = pr->return_receipt;
}

static int replay(struct pv_store *st, const struct pv_purchase_req *q, struct pv_purchase_res *r,
                  const char *stored_hash, const char *indicium_id)
{
    char acct[PV_ACCOUNT_MAX];
    int rc;

    if (strcmp(stored_hash, q->req_hash) != 0)
        return PV_EIDEMREUSED;
    pv_indicium_rec_clear(&r->rec); /* an earlier run's */
    if ((rc = pv_store_indicium_get(st, indicium_id, &r->rec)) != PV_OK)
        return rc;
    pv_account_customer_mode(q->customer_id, q->test, acct);
    r->replayed = 1;
    return pv_balance(st, acct, &r->balance_after);
}

/* Batches a purchase waits for another job's refill before the balance decides. */
#define REFILL_WAIT_ROUNDS 200

/*
 * Before a balance payment: when the customer has auto-refill on and this
 * purchase would leave the balance under the trigger, the saved card is to
 * be charged the refill amount first. The card is not charged here, inside
 * the batch (intent.h): the job is deferred (PV_EBUSY with
 * r->refill.deferred) and its refill recorded after its savepoint is rolled
 * back (pv_purchase_refill_record), charged and credited after the commit,
 * and the job run again. The balance row is locked and the refill's intent
 * is written under the writer lock, so of many concurrent purchases exactly
 * the first one below the trigger refills: later ones see its intent and
 * go on while the balance covers them, or wait for it. A refill that failed
 * (declined, gateway error, no usable card) refuses the purchase only when
 * the balance cannot cover it anyway.
 */
static int auto_refill(struct pv_store *st, const struct pv_purchase_req *q,
                       struct pv_purchase_res *r, pv_mills due, pv_mills balance, unsigned facts)
{
    struct pv_autorefill_rec ar;
    struct pv_payment_method_rec pm;
    struct pv_intent_rec active;
    char owner[PV_ID_MAX];
    pv_mills after;
    int rc;

    if (r->refill.done) {
        /* Tried for this job: credited (in the balance now) or failed. */
        if (r->refill.err == PV_OK || balance >= due)
            return PV_OK;
        pv_str_copy(r->decline, sizeof r->decline, r->refill.decline);
        return r->refill.err;
    }
    /* No rule, as the batch's read found (pv_store_batch_facts): nothing to read. */
    rc = facts & PV_FACT_RULE ? pv_store_autorefill_get(st, q->customer_id, q->test, &ar)
                              : PV_ENOTFOUND;
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return rc;
    if (!ar.enabled || ar.amount <= 0 || pv_money_sub(balance, due, &after) != PV_OK ||
        after >= ar.trigger)
        return PV_OK;
    rc = pv_store_pm_get(st, q->customer_id, ar.payment_method_id, &pm);
    if (rc == PV_ENOTFOUND)
        return PV_OK; /* the card was removed: no refill; the balance decides */
    if (rc != PV_OK)
        return rc;
    pv_idem_owner(q->customer_id, q->test, owner);
    rc = pv_store_intent_active(st, "auto_refill", owner, &active);
    if (rc == PV_OK && strcmp(active.client_key, q->idem_key) == 0)
        rc = PV_ENOTFOUND; /* this job's own, from before a crash: adopt it below */
    if (rc == PV_OK) {
        /* Another job's refill is on its way. */
        if (balance >= due || r->refill.rounds >= REFILL_WAIT_ROUNDS)
            return PV_OK;
        r->refill.rounds++;
        r->refill.deferred = 1;
        return PV_EBUSY;
    }
    if (rc != PV_ENOTFOUND)
        return rc;
    r->refill.want = 1;
    r->refill.deferred = 1;
    return PV_EBUSY;
}

/*
 * A purchase in two halves, so that a batch's signatures can be made
 * together on several threads (signpool.h): purchase_head checks, moves the
 * registers and the money, and encodes the indicium's body; then the body is
 * signed (sign_piece); purchase_tail stores the signed indicium and what
 * refers to it. pd carries what the tail needs; pd->owed is 0 when the head
 * answered a replay (nothing to sign or store).
 */
struct pending {
    /* The key as the body names it (copied: a later job of the batch may
     * follow a rotated key in ctx, pv_psd_key_follow). */
    char key_ref[sizeof((struct pv_psd_key *) 0)->key_ref];
    uint32_t psd_id, key_id;
    size_t body_len;
    pv_mills before; /* the balance the events compare against */
    int owed;
    int hooks; /* 0: its customer has no webhook endpoint in its mode (hooks_known) */
};

/* Which owed jobs' customers have a webhook endpoint: one read for the batch
 * instead of one a piece (a round trip each on PostgreSQL), of the jobs whose
 * facts left PV_FACT_HOOK set - none, and nothing is read. */
static int hooks_known(struct pv_store *st, const struct pv_purchase_req *reqs,
                       const struct pv_purchase_res *res, struct pending *pd, const uint8_t *facts,
                       size_t n)
{
    const char **ids = calloc(n ? n : 1, sizeof *ids);
    uint8_t *has = calloc(n ? n : 1, 1);
    size_t i, m = 0;
    int rc = PV_ENOMEM;

    for (i = 0; ids && i < n; i++)
        if (res[i].err == PV_OK && pd[i].owed && (facts[i] & PV_FACT_HOOK))
            ids[m++] = reqs[i].customer_id;
    if (ids && has && (rc = m ? pv_store_hook_owners(st, ids, m, has) : PV_OK) == PV_OK)
        for (i = 0, m = 0; i < n; i++)
            if (res[i].err == PV_OK && pd[i].owed)
                pd[i].hooks = facts[i] & PV_FACT_HOOK ? has[m++] & (reqs[i].test ? 2 : 1) : 0;
    free(ids);
    free(has);
    return rc;
}

static int purchase_head(struct pv_store *st, struct pv_processor_ctx *ctx,
                         const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now,
                         struct pending *pd, unsigned facts)
{
    char stored_hash[PV_HASH_HEX], stored_id[PV_ID_MAX], acct[PV_ACCOUNT_MAX], owner[PV_ID_MAX];
    struct pv_ledger_line lines[6]; /* postage_sale's, then a card's card_charge */
    struct pv_psd_rec p;
    struct pv_psd_regs regs;
    const struct pv_psd_key *key = NULL;
    struct pv_indicium *ind = &r->rec.ind;
    pv_mills balance, due;
    struct pv_rate_price price;
    int rc, zone = 0;

    pd->owed = 0;
    pd->hooks = 1;
    pv_idem_owner(q->customer_id, q->test, owner);
    /* Its hold, balance and auto-refill rule travel with the key's read (PostgreSQL). */
    pv_account_customer_mode(q->customer_id, q->test, acct);
    if ((rc = pv_store_prefetch_customer(st, q->customer_id, q->test, acct, facts)) != PV_OK)
        return rc;
    /* A bit the batch's read left clear is a sure "none" (pv_store_batch_facts). */
    rc = facts & PV_FACT_IDEM
             ? pv_store_purchase_key(st, owner, q->idem_key, stored_hash, stored_id)
             : PV_ENOTFOUND;
    /* A card on its way under the key: this card job's own (or twin's), else the key in use. */
    if (rc == PV_OK && !stored_id[0]) {
        if (q->pay.method != PV_PAY_CARD || strcmp(stored_hash, q->req_hash) != 0)
            return PV_EIDEMREUSED;
        rc = PV_ENOTFOUND;
    }
    if (rc == PV_OK)
        return replay(st, q, r, stored_hash, stored_id);
    if (rc != PV_ENOTFOUND)
        return rc;
    if (q->postage < 0 || q->postage > UINT32_MAX)
        return PV_EOVERFLOW;
    /* Priced once: the check, and the breakdown recorded with the piece. */
    if ((rc = check_price(q, now, &price, &zone)) != PV_OK)
        return rc;
    /* Read under the writer lock: a hold placed while this job was on its way wins. */
    if ((facts & PV_FACT_HOLD) && (rc = pv_hold_check(st, q->customer_id)) != PV_OK)
        return rc;

    if ((rc = pv_balance(st, acct, &balance)) != PV_OK)
        return rc;
    /* Media (media.c): checked before anything moves, recorded after the
     * indicium. The money is checked here, once the medium's price is known:
     * the postage and a medium bought with it, after any auto-refill. */
    if (q->medium_serial[0] && (rc = pv_media_check(st, q, &r->medium)) != PV_OK)
        return rc;
    if ((rc = pv_money_add(q->postage, r->medium.price, &due)) != PV_OK)
        return rc;
    if (q->pay.method == PV_PAY_BALANCE &&
        (rc = auto_refill(st, q, r, due, balance, facts)) != PV_OK)
        return rc;
    if (q->pay.method == PV_PAY_BALANCE && balance < due)
        return PV_EFUNDS;

    if ((rc = select_psd(st, ctx, q->test, q->postage, now, &p, &key)) != PV_OK)
        return rc;
    pv_psd_regs_from(&p, &regs);
    if ((rc = pv_psd_debit(&regs, q->postage)) != PV_OK)
        return rc;
    pv_psd_regs_to(&regs, &p);

    pv_indicium_rec_clear(&r->rec); /* an earlier run's */
    memset(&r->rec, 0, sizeof r->rec);
    if (r->claimed) /* the id its intent names since the claim */
        pv_str_copy(r->rec.id, sizeof r->rec.id, r->piece_id);
    else if ((rc = pv_new_id("ind", r->rec.id)) != PV_OK)
        return rc;
    if (q->pay.method == PV_PAY_CARD) {
        /* The hold pays the piece and its medium: into the balance, out as the sales. */
        if ((rc = pv_purchase_book_hold(st, ctx, q, r, due, now, lines + 4)) != PV_OK)
            return rc;
        if ((rc = pv_money_add(balance, due, &balance)) != PV_OK)
            return rc;
    }
    pv_str_copy(r->rec.customer_id, sizeof r->rec.customer_id, q->customer_id);
    pv_str_copy(r->rec.server_id, sizeof r->rec.server_id, ctx->server_id);
    if ((rc = pv_text_set(&r->rec.from_address, q->from_address)) != PV_OK ||
        (rc = pv_text_set(&r->rec.to_address, q->to_address)) != PV_OK ||
        (rc = pv_text_set(&r->rec.metadata, q->metadata)) != PV_OK)
        return rc;
    /* The medium position, in the indicium's own row (docs/media.md). */
    pv_str_copy(r->rec.medium_sheet, sizeof r->rec.medium_sheet, r->medium.sheet_serial);
    r->rec.medium_label = r->medium.position;
    record_price(q, &price, zone, &r->rec);
    r->rec.created = now;
    ind->version = PV_INDICIUM_VERSION;
    ind->sig_alg = PV_SIGALG_P256_SHA256;
    ind->flags = (uint8_t) ((q->flags & ~PV_IND_FLAG_TEST) | (q->test ? PV_IND_FLAG_TEST : 0));
    pv_str_copy(ind->license, sizeof ind->license, ctx->license);
    ind->device_id = p.id;
    ind->key_id = key->key_id;
    ind->serial = p.piece_count;
    ind->ascending_mills = p.ascending;
    ind->postage_mills = q->postage;
    ind->mail_date = q->mail_date;
    ind->mail_class = (uint8_t) q->mail_class;
    ind->weight_tenth_oz = q->weight_tenth_oz;
    memcpy(ind->from_zip, q->from_zip, sizeof ind->from_zip);
    memcpy(ind->to_zip, q->to_zip, sizeof ind->to_zip);
    pv_str_copy(ind->software_id, sizeof ind->software_id, PV_SOFTWARE_ID);
    pv_str_copy(ind->medium_serial, sizeof ind->medium_serial, r->medium.serial);
    /* Version 2 (docs/indicium.md): the device's vendor and model, the
     * descending register, the extra services, the piece's own id. */
    ind->vendor_id = PV_VENDOR_ID;
    ind->model_id = PV_MODEL_ID;
    ind->descending_mills = p.descending;
    ind->services = q->services; /* signed: the rate category's extra services */
    if ((rc = pv_indicium_set_piece(ind, r->rec.id)) != PV_OK)
        return rc;

    if ((rc = pv_indicium_encode_body(ind, r->rec.data, sizeof r->rec.data, &pd->body_len)) !=
        PV_OK)
        return rc;
    /* The body is encoded: the signature will follow it (docs/indicium.md). */
    if (sizeof r->rec.data - pd->body_len < PV_SIG_LEN)
        return PV_EINVAL;
    memcpy(pd->key_ref, key->key_ref, sizeof pd->key_ref);
    pd->psd_id = key->psd_id;
    pd->key_id = key->key_id;

    if ((rc = pv_psd_batch_put(st, &ctx->psdb, &p)) != PV_OK)
        return rc;
    memset(lines, 0, 4 * sizeof lines[0]);
    pv_str_copy(lines[0].account, sizeof lines[0].account, acct);
    lines[0].amount = -q->postage;
    pv_account_mode(PV_ACCT_REVENUE, q->test, lines[1].account);
    lines[1].amount = q->postage;
    lines[1].shared = 1; /* every batch adds to it: this writer's part (set_part) */
    pv_account_psd(p.id, lines[2].account);
    lines[2].amount = -q->postage;
    pv_account_mode(PV_ACCT_DISPENSED, q->test, lines[3].account);
    lines[3].amount = q->postage;
    lines[3].shared = 1;
    if ((rc = pv_ledger_post2(st, "card_charge", lines + 4, q->pay.method == PV_PAY_CARD ? 2 : 0,
                              "postage_sale", lines, 4, r->rec.id, now)) != PV_OK)
        return rc;
    /* No foreign key to the indicium row, which the tail writes. A card's intent, moved to
     * settling with the indicium above, is its record where the store writes one at a time. */
    if ((rc = q->pay.method == PV_PAY_CARD
                  ? pv_store_card_key_put(st, owner, q->idem_key, q->req_hash, r->rec.id, now)
                  : pv_store_idem_put(st, owner, q->idem_key, q->req_hash, r->rec.id, now)) !=
        PV_OK)
        return rc;
    if ((rc = pv_money_sub(balance, q->postage, &r->balance_after)) != PV_OK)
        return rc;
    pd->before = balance;
    pd->owed = 1;
    return PV_OK;
}

/* The signature of the head's body: after it in r->rec.data. */
static int sign_done(const struct pv_processor_ctx *ctx, const struct pending *pd,
                     struct pv_purchase_res *r, int rc)
{
    if (rc != PV_OK) {
        /* The customer sees a server error; the operator needs to know which key. */
        pv_log(PV_LOG_ERROR, "%s: PSD %u cannot sign with key %u: %s\n", ctx->server_id,
               (unsigned) pd->psd_id, (unsigned) pd->key_id, pv_strerror(rc));
        return PV_ECRYPTO;
    }
    memcpy(r->rec.data + pd->body_len, r->rec.ind.signature, PV_SIG_LEN);
    r->rec.data_len = pd->body_len + PV_SIG_LEN;
    return PV_OK;
}

/* What follows the signed indicium's row: its medium's use, its events. */
static int tail_rest(struct pv_store *st, const struct pv_purchase_req *q,
                     struct pv_purchase_res *r, const struct pending *pd, int64_t now)
{
    int rc;

    if (q->medium_serial[0] && (rc = pv_media_record(st, q, r, now)) != PV_OK)
        return rc;
    /* Its webhook events (events.h), committed with it or not at all. */
    return pv_event_piece(st, q->customer_id, q->test, &r->rec, q->pay.method == PV_PAY_BALANCE,
                          pd->before, r->balance_after, pd->hooks, now);
}

/* The signed indicium, its medium's use, its events. */
static int purchase_tail(struct pv_store *st, const struct pv_purchase_req *q,
                         struct pv_purchase_res *r, const struct pending *pd, int64_t now)
{
    int rc = pv_store_indicium_insert(st, &r->rec);

    return rc == PV_OK ? tail_rest(st, q, r, pd, now) : rc;
}

/* The batch's signed halves, with pv_store_defer on. First what needs no signature - the
 * jobs' journals and the PSDs' registers, sent to the server at once (PostgreSQL) - while the
 * pool's threads sign (pv_sign_pool_start); then the signatures, sr[0..m), finished here in
 * any case; then the indicia in one statement and the rest of each tail. recs has room for
 * n. Any failure fails the batch (pv_purchase_batch). */
static int batch_tails(struct pv_store *st, struct pv_processor_ctx *ctx,
                       const struct pv_purchase_req *reqs, struct pv_purchase_res *res,
                       const struct pending *pd, struct pv_sign_req *sr, size_t n, size_t m,
                       const struct pv_indicium_rec **recs, int64_t now)
{
    size_t i;
    int rc = pv_store_journal_batch(st, 0);

    if (rc == PV_OK)
        rc = pv_psd_batch_flush(st, &ctx->psdb);
    if (rc == PV_OK)
        rc = pv_store_push(st);
    pv_sign_pool_finish(ctx->sign_pool, ctx->cm, sr, m);
    for (i = 0, m = 0; i < n && rc == PV_OK; i++)
        if (res[i].err == PV_OK && pd[i].owed &&
            (rc = sign_done(ctx, &pd[i], &res[i], sr[m].rc)) == PV_OK)
            recs[m++] = &res[i].rec;
    if (rc == PV_OK)
        rc = pv_store_indicia_insert(st, recs, m);
    for (i = 0; i < n && rc == PV_OK; i++)
        if (res[i].err == PV_OK && pd[i].owed)
            rc = tail_rest(st, &reqs[i], &res[i], &pd[i], now);
    return rc;
}

/* A whole purchase, signed on this thread. */
static int purchase_one(struct pv_store *st, struct pv_processor_ctx *ctx,
                        const struct pv_purchase_req *q, struct pv_purchase_res *r, int64_t now,
                        unsigned facts)
{
    struct pending pd;
    int rc;

    if ((rc = purchase_head(st, ctx, q, r, now, &pd, facts)) != PV_OK || !pd.owed)
        return rc;
    rc = pv_crypto_sign(ctx->cm, pd.key_ref, r->rec.data, pd.body_len, r->rec.ind.signature);
    if ((rc = sign_done(ctx, &pd, r, rc)) != PV_OK)
        return rc;
    return purchase_tail(st, q, r, &pd, now);
}

int pv_purchase_batch(struct pv_store *st, struct pv_processor_ctx *ctx,
                      const struct pv_purchase_req *reqs, struct pv_purchase_res *res, size_t n,
                      int64_t now)
{
    /* With a sign pool, the batch's signatures are made together after the
     * heads (a job with a medium is signed and stored in its own turn: its
     * medium's use must be refused in its savepoint, not after). */
    int repeats = pv_purchase_repeats(reqs, n); /* once a batch */
    struct pending *pd = ctx->sign_pool && n > 1 && !repeats ? calloc(n, sizeof *pd) : NULL;
    struct pv_sign_req *sr = pd ? calloc(n, sizeof *sr) : NULL;
    const struct pv_indicium_rec **recs = sr ? calloc(n, sizeof *recs) : NULL;
    uint8_t *facts = malloc(n ? n : 1);
    pv_mills *shift = NULL;
    struct pv_refill_carry *carry = NULL; /* each job's refill as the batch found it */
    size_t i, m = 0, saved_current = ctx->current;
    int rc = PV_ENOMEM, late = 0, moved = 0, queued_rc, signing = 0; /* sr[0..m): the pool's */
    int round_first = 0; /* its card round before its gate and customers' rows */
    int64_t now_arg = now;

    if (!facts)
        goto fail;
    if (sr && !recs) {
        free(sr); /* out of memory: each job signed in its own turn */
        sr = NULL;
    }
    if (sr && !ctx->lock_whole && !pv_purchase_lock_whole(reqs, res, n)) /* pv_purchase_late */
        late = (shift = calloc(n, sizeof *shift)) && (carry = calloc(n, sizeof *carry));
    ctx->late = ctx->late_moved = 0;

    for (i = 0; i < n; i++) {
        pv_purchase_res_rerun(&res[i], 0);
        if (carry)
            carry[i] = res[i].refill;
    }
    /* A batch locking first runs its card round before its gate and customers' rows, as a
     * batch locking late runs it before its gate: no round waits for another round's intent
     * while its batch holds the gate (pv_purchase_lock_first). One locking whole excludes every
     * batch. */
    round_first =
        ctx->in_batch && !late && !ctx->lock_whole && !pv_purchase_lock_whole(reqs, res, n);
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto fail;
    if ((rc = pv_purchase_lock(st, reqs, res, n, ctx->lock_whole, late || round_first)) != PV_OK)
        goto fail_rollback;
    if (round_first && ((rc = ctx->in_batch(ctx->in_batch_arg, st)) != PV_OK ||
                        (rc = pv_purchase_lock_first(st, reqs, res, n)) != PV_OK))
        goto fail_rollback;
    /* Its jobs' keys, holds, rules, endpoints and first PSD rows: one read, after the locks. */
    ctx->psdb.n = 0; /* its PSD rows: read once, written before the commit (psd_batch.h) */
    if ((rc = pv_purchase_facts(st, ctx, reqs, res, n, repeats, facts)) != PV_OK)
        goto fail_rollback;
    /* After the customers' rows: a batch that waited for another one's reads its time later.
     * Its locks may still be queued (PostgreSQL: when the facts were not read): held first. */
    if (now == PV_NOW_AT_LOCK) {
        if ((rc = pv_store_barrier(st)) != PV_OK)
            goto fail_rollback;
        now = pv_now_ms() / 1000;
    }
    /* The card payments' round commits with the batch (lease.h, in_batch). */
    if (ctx->in_batch && !round_first && (rc = ctx->in_batch(ctx->in_batch_arg, st)) != PV_OK)
        goto fail_rollback;
    /* The jobs' journals wait for the end (journal_batch; SQLite too since session 12). */
    if ((rc = pv_store_journal_batch(st, 1)) != PV_OK)
        goto fail_rollback;
    if (late && (rc = pv_purchase_late(st, reqs, res, n, &late)) != PV_OK)
        goto fail_rollback;
again:
    /* Its card jobs' intents settling, in one statement: after the gate (a late batch's rows
     * locked before it are only its PSDs'), and again after a late batch's undo. */
    if ((rc = pv_purchase_claim(st, ctx, res, n)) != PV_OK)
        goto fail_rollback;
    /* One writer at a time (SQLite): a claimed card's intent has held its key since its card
     * round - any purchase that read the key since was refused (purchase_key): no read. */
    if (!pv_store_writers_parallel(st))
        for (i = 0; i < n; i++)
            if (res[i].claimed)
                facts[i] &= (uint8_t) ~PV_FACT_IDEM;
    ctx->late = late;
    for (i = 0; i < n; i++) {
        if (res[i].pre_err != PV_OK) {
            res[i].err = res[i].pre_err;
            continue;
        }
        pv_psd_batch_save(&ctx->psdb);
        if ((rc = pv_store_savepoint(st)) != PV_OK)
            goto fail_rollback;
        /* Its writes may be queued (PostgreSQL's pipeline, pv_store_defer) and answer
         * here, before its savepoint is released: a failure there is this job's. */
        pv_store_defer(st, 1);
        if (sr && !reqs[i].medium_serial[0])
            res[i].err = purchase_head(st, ctx, &reqs[i], &res[i], now, &pd[i], facts[i]);
        else
            res[i].err = purchase_one(st, ctx, &reqs[i], &res[i], now, facts[i]);
        if ((rc = pv_store_defer(st, 0)) != PV_OK)
            res[i].err = rc;
        if (res[i].err != PV_OK) {
            /* Undo this job's writes only; the rest of the batch stands. */
            rc = pv_store_rollback_to(st);
            pv_psd_batch_restore(&ctx->psdb);
            /* A PSD refill (the deposit after the customers), or an auto-refill decided
             * with no row locked - another processor's may be on its way, unseen. */
            if (rc == PV_OK && (ctx->late_moved || (late && res[i].refill.want)))
                goto late_undo;
            if (rc == PV_OK && res[i].err == PV_EEXIST && !(facts[i] & PV_FACT_IDEM)) {
                /* Its key was stored by another batch since this one's read: the
                 * job again, reading it (a replay, as it would have been). What the
                 * card round set for this batch stays (its hold's answer rides on it). */
                facts[i] = PV_FACT_ALL;
                pv_purchase_res_again(&res[i]);
                i--;
                continue;
            }
            /* A deferred job's refill is written outside its savepoint, so that
             * it commits with the batch and later jobs see it. */
            if (rc == PV_OK && res[i].refill.want)
                rc = pv_purchase_refill_record(st, ctx, &reqs[i], &res[i]);
            /* Its hold is given up with the batch's commit (voided after it), unless the
             * job is deferred: a later batch buys with it. */
            if (rc == PV_OK && !res[i].refill.deferred)
                rc = pv_purchase_hold_drop(st, ctx, &res[i]);
            pv_indicium_rec_clear(&res[i].rec);
            memset(&res[i].rec, 0, sizeof res[i].rec);
            if (res[i].err != PV_EMEDIUMPAYMENT)
                memset(&res[i].medium, 0, sizeof res[i].medium);
            res[i].replayed = 0;
        } else {
            rc = pv_store_release(st);
            /* Claimed, then a replay (a twin committed its key first): paid by nothing here. */
            if (rc == PV_OK && res[i].claimed && res[i].replayed)
                rc = pv_purchase_hold_drop(st, ctx, &res[i]);
        }
        if (rc != PV_OK)
            goto fail_rollback;
    }
    if (sr) {
        /* The deferred halves. A failure here cannot be undone for its job
         * alone (its savepoint is released): the batch fails as a whole, as
         * when its commit fails, and every job may be sent again. */
        for (i = 0; i < n; i++) {
            if (res[i].err == PV_OK && pd[i].owed) {
                sr[m].key_ref = pd[i].key_ref;
                sr[m].msg = res[i].rec.data;
                sr[m].len = pd[i].body_len;
                sr[m].sig = res[i].rec.ind.signature;
                m++;
            }
        }
        /* Signed on the pool's threads meanwhile; batch_tails finishes them. */
        pv_sign_pool_start(ctx->sign_pool, ctx->cm, sr, m);
        signing = 1;
        if ((rc = hooks_known(st, reqs, res, pd, facts, n)) != PV_OK)
            goto fail_rollback;
        if (late) { /* the customers' rows now: do the jobs' decisions hold against them? */
            if ((rc = pv_purchase_late_settle(st, reqs, res, n, facts, shift, &moved)) != PV_OK)
                goto fail_rollback;
            if (moved)
                goto late_undo;
            /* Its pieces' time read again under the customers' rows: another processor's batch
             * that held them committed first, so a customer's pieces are newest first by time
             * as by order of commit (the time is not signed; the journals keep the first). */
            if (now_arg == PV_NOW_AT_LOCK) {
                int64_t t = pv_now_ms() / 1000;
                now = t > now ? t : now;
            }
            for (i = 0; i < n; i++) { /* its answer's balance moved by the settle, events' too */
                if (res[i].err != PV_OK || !pd[i].owed)
                    continue;
                res[i].rec.created = now;
                if ((rc = pv_money_add(pd[i].before, shift[i], &pd[i].before)) != PV_OK)
                    goto fail_rollback;
            }
            late = ctx->late = 0;
        }
        /* The tails' writes queued too (PostgreSQL); any failure fails the batch. */
        pv_store_defer(st, 1);
        rc = batch_tails(st, ctx, reqs, res, pd, sr, n, m, recs, now);
        signing = 0;
        /* Left queued: the COMMIT reads them, in its round trip (pv_store_commit). A read of
         * the tails (an event's endpoints) that found a queued write failed answers
         * PV_ESTORE: that write's own code is defer's. */
        if (rc == PV_ESTORE && (queued_rc = pv_store_defer(st, 0)) != PV_OK)
            rc = queued_rc;
        if (rc != PV_OK)
            goto fail_rollback;
    }
    /* The claimed card jobs' charges, queued for the COMMIT's round trip with the rest. */
    pv_store_defer(st, 1);
    if ((rc = pv_purchase_card_tails(st, reqs, res, n, now)) != PV_OK ||
        (rc = pv_store_journal_batch(st, 0)) != PV_OK ||
        (rc = pv_psd_batch_flush(st, &ctx->psdb)) != PV_OK || (rc = pv_store_commit(st)) != PV_OK)
        goto fail_rollback;
    free(shift);
    free(carry);
    free(facts);
    free(recs);
    free(sr);
    free(pd);
    return PV_OK;

late_undo: /* back to before the jobs, nothing answered; them again, locking first */
    if (signing)
        pv_sign_pool_cancel(ctx->sign_pool, m); /* none made for nothing; before the texts go */
    signing = 0;
    ctx->late_retries++; /* stampd_batch_retries_total */
    ctx->late = ctx->late_moved = late = 0;
    if ((rc = pv_store_batch_undo(st)) != PV_OK ||
        (rc = pv_purchase_lock(st, reqs, res, n, 0, 0)) != PV_OK)
        goto fail_rollback;
    ctx->current = saved_current;
    ctx->psdb.n = m = 0;
    for (i = 0; i < n; i++) {
        facts[i] |= PV_FACT_IDEM; /* a key stored meanwhile: read, so its job replays */
        /* With it the indicium and its signature, never answered. */
        pv_purchase_res_again(&res[i]);
        res[i].refill = carry[i]; /* a refill recorded in the first run is undone */
    }
    if (now_arg == PV_NOW_AT_LOCK)
        now = pv_now_ms() / 1000;
    goto again;

fail_rollback:
    pv_store_rollback(st);
fail:
    if (signing)
        pv_sign_pool_cancel(ctx->sign_pool, m); /* none made for nothing; before the texts go */
    ctx->late = ctx->late_moved = 0;
    ctx->current = saved_current;
    for (i = 0; i < n; i++) {
        pv_purchase_res_rerun(&res[i], 1);
        res[i].err = rc;
    }
    free(shift);
    free(carry);
    free(facts);
    free(recs);
    free(sr);
    free(pd);
    return rc;
}
