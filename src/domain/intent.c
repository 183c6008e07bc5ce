/*
 * intent.c - payment intents: written before the gateway is called, moved
 * by guarded updates, finished by the settle step or the recovery
 * (intent.h, docs/payments.md "Payment intents").
 *
 * Gateway keys: the intent's own (kind:owner:client key:attempt) for the
 * hold or the refund, with ":capture" or ":void" appended for the calls
 * that finish a hold, so that whoever finishes it - the request's settle
 * step, a retry, the recovery on any processor - sends the same key and
 * the gateway acts once.
 */
#include "domain/intent.h"

#include "crypto/primitives.h"
#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void pv_intent_key(const char *kind, const char *owner, const char *client_key, int attempt,
                   char out[PV_IDEM_KEY_MAX])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];
    char h[72];
    int n;

    n = snprintf(out, PV_IDEM_KEY_MAX, "%s:%s:%s:%d", kind, owner, client_key, attempt);
    if (n >= 0 && n <= PV_INTENT_KEY_MAX)
        return;
    pv_sha256(client_key, strlen(client_key), d);
    memcpy(h, "sha256:", 7);
    for (size_t i = 0; i < sizeof d; i++) {
        h[7 + 2 * i] = hex[d[i] >> 4];
        h[8 + 2 * i] = hex[d[i] & 15];
    }
    h[7 + 2 * sizeof d] = '\0';
    snprintf(out, PV_IDEM_KEY_MAX, "%s:%s:%s:%d", kind, owner, h, attempt);
}

static int is(const struct pv_intent_rec *it, const char *state)
{
    return strcmp(it->state, state) == 0;
}

void pv_intent_draft(struct pv_intent_rec *it, const char *kind, const char *owner,
                     const char *customer_id, int test, const char *client_key,
                     const char *req_hash, pv_mills amount, const struct pv_payment *card,
                     const char *server_id)
{
    memset(it, 0, sizeof *it);
    pv_str_copy(it->kind, sizeof it->kind, kind);
    pv_str_copy(it->owner, sizeof it->owner, owner);
    pv_str_copy(it->customer_id, sizeof it->customer_id, customer_id);
    it->test = test;
    pv_str_copy(it->client_key, sizeof it->client_key, client_key);
    pv_str_copy(it->req_hash, sizeof it->req_hash, req_hash ? req_hash : "");
    it->amount = amount;
    if (card) {
        pv_str_copy(it->source, sizeof it->source, card->source);
        pv_str_copy(it->payment_method_id, sizeof it->payment_method_id, card->payment_method_id);
        pv_str_copy(it->brand, sizeof it->brand, card->brand);
        pv_str_copy(it->last4, sizeof it->last4, card->last4);
    }
    pv_str_copy(it->server_id, sizeof it->server_id, server_id);
}

int pv_intent_done(const struct pv_intent_rec *it)
{
    return is(it, PV_INTENT_SETTLING) || is(it, PV_INTENT_CAPTURED) || is(it, PV_INTENT_PAID);
}

int pv_intent_plan(struct pv_intent_rec *it, const struct pv_intent_rec *latest, int64_t now_ms)
{
    int rc;

    if (latest && (is(latest, PV_INTENT_PENDING) || is(latest, PV_INTENT_AUTHORIZED))) {
        /* A retry: the same hold, never a second - if it is the same request.
         * A typed card is tokenized anew by each retry: the intent's
         * source (the first token) stands; the fingerprint says it is the
         * same card. */
        if (strcmp(latest->req_hash, it->req_hash) != 0 || latest->amount != it->amount)
            return PV_EIDEMREUSED;
        *it = *latest;
        return PV_OK;
    }
    if (latest && pv_intent_done(latest)) {
        *it = *latest;
        return PV_EEXIST;
    }
    /* None yet, or the last was declined or voided (or is being voided). */
    it->attempt = latest ? latest->attempt + 1 : 1;
    pv_intent_key(it->kind, it->owner, it->client_key, it->attempt, it->gateway_key);
    if ((rc = pv_new_id("pi", it->id)) != PV_OK)
        return rc;
    pv_str_copy(it->state, sizeof it->state, PV_INTENT_PENDING);
    it->charge_id[0] = '\0';
    it->created = it->updated = now_ms;
    return 1;
}

int pv_intent_open(struct pv_store *st, struct pv_intent_rec *it, int64_t now_ms)
{
    struct pv_intent_rec old;
    int rc, tries;

    for (tries = 0; tries < 3; tries++) {
        rc = pv_store_intent_latest(st, it->kind, it->owner, it->client_key, &old);
        if (rc != PV_OK && rc != PV_ENOTFOUND)
            return rc;
        if ((rc = pv_intent_plan(it, rc == PV_OK ? &old : NULL, now_ms)) != 1)
            return rc;
        rc = pv_store_intent_insert(st, it);
        if (rc != PV_EEXIST)
            return rc;
        /* A concurrent twin wrote this attempt first: adopt it. */
    }
    return PV_EBUSY;
}

int pv_intent_authorized(struct pv_store *st, struct pv_intent_rec *it, int call_rc,
                         enum pv_pay_result result, const char *charge_id, char decline[24],
                         int64_t now_ms)
{
    const char *to;
    int rc, out;

    decline[0] = '\0';
    if (call_rc == PV_ENOTFOUND || call_rc == PV_EINVAL) {
        result = PV_PAY_DECLINED;
        out = PV_ECARDINVALID; /* a token or saved card the gateway no longer knows */
    } else if (call_rc != PV_OK) {
        return call_rc; /* unknown whether it holds: pending, for the recovery to ask again */
    } else if (result == PV_PAY_APPROVED) {
        out = PV_OK;
    } else if (result == PV_PAY_PROCESSING_ERROR) {
        out = PV_EGATEWAY;
    } else {
        pv_str_copy(decline, 24, pv_pay_result_code(result));
        out = PV_ECARDDECLINED;
    }
    if (out == PV_OK)
        pv_crash_point("after_authorize");
    to = out == PV_OK ? PV_INTENT_AUTHORIZED : PV_INTENT_DECLINED;
    if (charge_id && call_rc == PV_OK)
        pv_str_copy(it->charge_id, sizeof it->charge_id, charge_id);
    rc = pv_store_intent_move(st, it->id, it->state, to, it->charge_id, NULL, it->server_id, 0,
                              now_ms);
    if (rc == PV_EPAYSTATE) {
        /* A twin request recorded the same answer first, or the recovery took it. */
        struct pv_intent_rec now;
        if ((rc = pv_store_intent_get(st, it->id, &now)) != PV_OK)
            return rc;
        if (is(&now, PV_INTENT_SETTLING) || is(&now, PV_INTENT_CAPTURED))
            return PV_EEXIST; /* and committed what it paid for: the caller replays */
        if (!is(&now, to))
            return PV_EPAYSTATE;
    } else if (rc != PV_OK) {
        return rc;
    }
    pv_str_copy(it->state, sizeof it->state, to);
    it->updated = now_ms;
    return out;
}

int pv_intent_authorize(struct pv_store *st, struct pv_gateway *gw, struct pv_intent_rec *it,
                        char decline[24], int64_t now_ms)
{
    enum pv_pay_result result;
    char *charge_id = NULL;
    int rc;

    decline[0] = '\0';
    if (!gw)
        return PV_ENOGATEWAY;
    if (is(it, PV_INTENT_AUTHORIZED) && it->charge_id[0])
        return PV_OK; /* adopted with its hold */
    rc = pv_gateway_authorize(gw, it->source, it->amount, it->gateway_key, &result, &charge_id);
    rc = pv_intent_authorized(st, it, rc, result, charge_id, decline, now_ms);
    free(charge_id);
    return rc;
}

void pv_intent_finish_key(const struct pv_intent_rec *it, int capture,
                          char out[PV_INTENT_SUBKEY_MAX])
{
    snprintf(out, PV_INTENT_SUBKEY_MAX, "%s%s", it->gateway_key, capture ? ":capture" : ":void");
}

void pv_intent_finish_failed(const struct pv_intent_rec *it, int capture, int rc)
{
    pv_log(PV_LOG_WARNING, "intent %s: cannot %s %s: %s (retried by the recovery)\n", it->id,
           capture ? "capture" : "void", it->charge_id, pv_strerror(rc));
}

/* Capture or void it at its gateway (nothing held: nothing to do). */
static int gateway_finish(const struct pv_gateways *gws, const struct pv_intent_rec *it,
                          int capture)
{
    struct pv_gateway *gw = pv_pay_gateway(gws, it->test);
    char key[PV_INTENT_SUBKEY_MAX];
    int rc;

    if (!it->charge_id[0])
        return PV_OK;
    if (!gw)
        return PV_ENOGATEWAY;
    pv_intent_finish_key(it, capture, key);
    rc = capture ? pv_gateway_capture(gw, it->charge_id, key)
                 : pv_gateway_void(gw, it->charge_id, key);
    if (rc != PV_OK)
        pv_intent_finish_failed(it, capture, rc);
    return rc;
}

/* The end state of it, which is in it->state; someone else recording it is fine. */
static int record_end(struct pv_store *st, const struct pv_intent_rec *it, int capture,
                      int64_t now_ms)
{
    int rc =
        pv_store_intent_move(st, it->id, it->state, capture ? PV_INTENT_CAPTURED : PV_INTENT_VOIDED,
                             NULL, NULL, NULL, 0, now_ms);

    return rc == PV_EPAYSTATE ? PV_OK : rc;
}

/* Capture or void it at its gateway and record the end state. */
static int finish(struct pv_store *st, const struct pv_gateways *gws,
                  const struct pv_intent_rec *it, int capture, int64_t now_ms)
{
    int rc = gateway_finish(gws, it, capture);

    return rc == PV_OK ? record_end(st, it, capture, now_ms) : rc;
}

int pv_intent_settle_prepare(struct pv_store *st, const char *const *ids, const int *capture,
                             size_t n, struct pv_intent_rec *its, int *go, int in_tx,
                             int64_t now_ms)
{
    int rc = PV_OK, give_up = 0;
    size_t i;

    for (i = 0; i < n; i++)
        go[i] = 0;
    for (i = 0; i < n && rc == PV_OK; i++) {
        rc = pv_store_intent_get(st, ids[i], &its[i]);
        give_up |= !capture[i] && is(&its[i], PV_INTENT_AUTHORIZED);
    }
    /* Holds of a batch that did not commit: given up first, in one transaction. */
    if (rc == PV_OK && give_up && (in_tx || (rc = pv_store_begin(st)) == PV_OK)) {
        for (i = 0; i < n && rc == PV_OK; i++) {
            if (capture[i] || !is(&its[i], PV_INTENT_AUTHORIZED))
                continue;
            rc = pv_store_intent_move(st, its[i].id, PV_INTENT_AUTHORIZED, PV_INTENT_VOIDING, NULL,
                                      NULL, NULL, 0, now_ms);
            if (rc == PV_OK)
                pv_str_copy(its[i].state, sizeof its[i].state, PV_INTENT_VOIDING);
            rc = rc == PV_EPAYSTATE ? PV_OK : rc;
        }
        if (!in_tx)
            rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    if (rc != PV_OK)
        return rc;
    for (i = 0; i < n; i++)
        go[i] = is(&its[i], capture[i] ? PV_INTENT_SETTLING : PV_INTENT_VOIDING);
    return PV_OK;
}

int pv_intent_settle_record(struct pv_store *st, const struct pv_intent_rec *its,
                            const int *capture, const int *ok, size_t n, int in_tx, int64_t now_ms)
{
    size_t i, k = 0;
    int rc;

    for (i = 0; i < n; i++)
        k += ok[i] != 0;
    if (k == 0)
        return PV_OK;
    /* The end states of the group: one commit. */
    if (!in_tx && (rc = pv_store_begin(st)) != PV_OK)
        return rc;
    for (i = 0, rc = PV_OK; i < n && rc == PV_OK; i++)
        if (ok[i])
            rc = record_end(st, &its[i], capture[i], now_ms);
    if (in_tx)
        return rc;
    return rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
}

int pv_intent_settle_batch(struct pv_store *st, const struct pv_gateways *gws,
                           const char *const *ids, const int *capture, size_t n, int64_t now_ms)
{
    struct pv_intent_rec *its;
    int *ok, rc;
    size_t i;

    if (n == 0)
        return PV_OK;
    its = calloc(n, sizeof *its);
    ok = calloc(n, sizeof *ok);
    if (!its || !ok) {
        rc = PV_ENOMEM;
        goto out;
    }
    if ((rc = pv_intent_settle_prepare(st, ids, capture, n, its, ok, 0, now_ms)) != PV_OK)
        goto out;
    for (i = 0; i < n; i++)
        ok[i] = ok[i] && gateway_finish(gws, &its[i], capture[i]) == PV_OK;
    rc = pv_intent_settle_record(st, its, capture, ok, n, 0, now_ms);
out:
    free(its);
    free(ok);
    return rc;
}

int pv_intent_settle(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                     int capture, int64_t now_ms)
{
    struct pv_intent_rec it;
    int rc;

    if ((rc = pv_store_intent_get(st, id, &it)) != PV_OK)
        return rc;
    if (!is(&it, capture ? PV_INTENT_SETTLING : PV_INTENT_VOIDING))
        return PV_OK; /* finished already */
    return finish(st, gws, &it, capture, now_ms);
}

int pv_intent_abandon(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                      int64_t now_ms)
{
    int rc = pv_store_intent_move(st, id, PV_INTENT_AUTHORIZED, PV_INTENT_VOIDING, NULL, NULL, NULL,
                                  0, now_ms);

    if (rc != PV_OK && rc != PV_EPAYSTATE)
        return rc;
    return pv_intent_settle(st, gws, id, 0, now_ms);
}

/* An intent nobody finished: claim it for voiding, find its hold, void it. */
static int recover_stale(struct pv_store *st, const struct pv_gateways *gws,
                         struct pv_intent_rec *it, const char *server_id, int64_t before,
                         int64_t now_ms)
{
    struct pv_gateway *gw = pv_pay_gateway(gws, it->test);
    enum pv_pay_result result;
    char *charge_id = NULL;
    int rc;

    if (!gw)
        return PV_OK;
    rc = pv_store_intent_move(st, it->id, it->state, PV_INTENT_VOIDING, NULL, NULL, server_id,
                              before, now_ms);
    if (rc == PV_EPAYSTATE)
        return PV_OK; /* a retry adopted it, or another processor took it */
    if (rc != PV_OK)
        return rc;
    pv_str_copy(it->state, sizeof it->state, PV_INTENT_VOIDING);
    if (!it->charge_id[0]) {
        /* Asked again under its key, the gateway answers the hold it made, if any. */
        rc = pv_gateway_authorize(gw, it->source, it->amount, it->gateway_key, &result, &charge_id);
        if (rc == PV_OK && charge_id) {
            pv_str_copy(it->charge_id, sizeof it->charge_id, charge_id);
            rc = pv_store_intent_move(st, it->id, PV_INTENT_VOIDING, PV_INTENT_VOIDING,
                                      it->charge_id, NULL, NULL, 0, now_ms);
        } else if (rc == PV_OK || rc == PV_ENOTFOUND || rc == PV_EINVAL) {
            rc = PV_OK; /* nothing held */
        }
        free(charge_id);
        if (rc != PV_OK)
            return rc;
    }
    return finish(st, gws, it, 0, now_ms);
}

/* Whether the gateway refused a call for good (it does not know the charge, the charge is not
 * in a state that allows it, the amount or the key does not fit): asking again would get the
 * same answer. Anything else may pass later. */
static int refused_for_good(int rc)
{
    return rc == PV_ENOTFOUND || rc == PV_EPAYSTATE || rc == PV_EOVERFLOW || rc == PV_EIDEMREUSED ||
           rc == PV_EIDEMREQUIRED;
}

/* A refund decided and committed whose gateway refund has not answered yet. */
static int recover_refund(struct pv_store *st, const struct pv_gateways *gws,
                          const struct pv_intent_rec *it, int64_t now_ms)
{
    struct pv_gateway *gw = pv_pay_gateway(gws, it->test);
    struct pv_intent_rec paid;
    int rc;

    if (!gw)
        return PV_OK;
    /* The purchase it returns may be answered before its capture (issue 15, session 17): a
     * refund never reaches the gateway before the capture of what it returns. That capture is
     * made here first under its own key - the gateway answers the one on its way the same - and
     * recorded (or, not recorded now, by whoever finishes it next). A capture that failed for now
     * leaves the refund pending, and the recovery tries both again; one refused for good (the
     * hold voided or unknown) lets the refund go on, to be refused and reported below. */
    rc = pv_store_intent_settling(st, it->charge_id, &paid);
    if (rc == PV_OK) {
        rc = gateway_finish(gws, &paid, 1);
        if (rc == PV_OK)
            (void) record_end(st, &paid, 1, now_ms); /* else whoever finishes it next */
        else if (!refused_for_good(rc))
            return rc;
    } else if (rc != PV_ENOTFOUND) {
        return rc;
    }
    rc = pv_gateway_refund(gw, it->charge_id, it->amount, it->gateway_key, NULL);
    if (refused_for_good(rc)) {
        /* The gateway will never pay it: say so once, for the operator. */
        pv_log(PV_LOG_ERROR,
               "refund intent %s (%s, %lld mills to %s) refused by the gateway: %s; "
               "reconcile by hand\n",
               it->id, it->ref, (long long) it->amount, it->charge_id, pv_strerror(rc));
        rc = pv_store_intent_move(st, it->id, PV_INTENT_PENDING, PV_INTENT_DECLINED, NULL, NULL,
                                  NULL, 0, now_ms);
    } else if (rc == PV_OK) {
        rc = pv_store_intent_move(st, it->id, PV_INTENT_PENDING, PV_INTENT_PAID, NULL, NULL, NULL,
                                  0, now_ms);
    }
    return rc == PV_EPAYSTATE ? PV_OK : rc;
}

int pv_intent_refund(struct pv_store *st, const struct pv_gateways *gws, const char *id,
                     int64_t now_ms)
{
    struct pv_intent_rec it;
    int rc;

    if ((rc = pv_store_intent_get(st, id, &it)) != PV_OK)
        return rc;
    if (strcmp(it.kind, "refund") != 0 || !is(&it, PV_INTENT_PENDING))
        return PV_OK; /* paid already, or given up */
    return recover_refund(st, gws, &it, now_ms);
}

int pv_intent_recover(struct pv_store *st, const struct pv_gateways *gws, const char *server_id,
                      int64_t stale_ms, int64_t now_ms, size_t limit, size_t *acted)
{
    return pv_intent_recover_after(st, gws, server_id, stale_ms, 0, now_ms, limit, acted);
}

int pv_intent_recover_after(struct pv_store *st, const struct pv_gateways *gws,
                            const char *server_id, int64_t stale_ms, int64_t grace_ms,
                            int64_t now_ms, size_t limit, size_t *acted)
{
    static const char *const states[] = {PV_INTENT_SETTLING, PV_INTENT_VOIDING, PV_INTENT_PENDING,
                                         PV_INTENT_AUTHORIZED};
    struct pv_intent_rec *list = NULL;
    size_t n = 0, done = 0;
    int rc = PV_OK;

    for (size_t s = 0; s < sizeof states / sizeof states[0] && rc == PV_OK; s++) {
        /* Settling and voiding ones are decided: finish them whatever their age
         * (but grace_ms: the live settle step is finishing the young ones). */
        int64_t before = s < 2 ? now_ms + 1 - grace_ms : now_ms - stale_ms;

        rc = pv_store_intent_due(st, states[s], before, limit, &list, &n);
        for (size_t i = 0; rc == PV_OK && i < n; i++) {
            struct pv_intent_rec *it = &list[i];
            int one;

            if (strcmp(it->kind, "refund") == 0)
                one = s == 2 ? recover_refund(st, gws, it, now_ms) : PV_OK;
            else if (s < 2)
                one = finish(st, gws, it, s == 0, now_ms);
            else
                one = recover_stale(st, gws, it, server_id, before, now_ms);
            /* A gateway that cannot answer now is asked again next time. */
            if (one == PV_OK)
                done++;
            else if (one == PV_ESTORE || one == PV_ENOMEM)
                rc = one;
        }
        free(list);
        list = NULL;
    }
    if (acted)
        *acted = done;
    return rc;
}

static const char *crash_at;
static pthread_once_t crash_once = PTHREAD_ONCE_INIT;

static void crash_read(void)
{
    crash_at = getenv("STAMPD_CRASH_POINT");
}

void pv_crash_point(const char *name)
{
    pthread_once(&crash_once, crash_read);
    if (crash_at && strcmp(crash_at, name) == 0) {
        pv_log(PV_LOG_ERROR, "STAMPD_CRASH_POINT=%s: exiting\n", name);
        _exit(137);
    }
}
