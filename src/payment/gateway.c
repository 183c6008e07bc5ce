/*
 * gateway.c - choosing a payment gateway by name, and the thin wrappers the
 * rest of stampd calls instead of reaching into gw->ops (plus the one-step
 * charge, authorize then capture).
 *
 * This file knows the backends only by their open functions, so adding a
 * real gateway is one more line in pv_gateway_open and one more file.
 */
#include "payment/gateway.h"

#include "stampd/error.h"

#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Backend constructors: *out gets an owned gateway released through
 * ops->close. Defined in the backend's own file (sandbox.c); o is borrowed
 * and never NULL.
 */
int pv_gateway_sandbox_open(const struct pv_gateway_opts *o, struct pv_gateway **out);

int pv_gateway_open_with(const char *name, const struct pv_gateway_opts *o, struct pv_gateway **out)
{
    static const struct pv_gateway_opts none = {NULL, 0};

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!o)
        o = &none;
    if (o->latency_ms < 0 || o->latency_ms > 60000)
        return PV_ECONFIG;
    if (name && strcmp(name, "sandbox") == 0)
        return pv_gateway_sandbox_open(o, out);
    return PV_ECONFIG;
}

int pv_gateway_open(const char *name, struct pv_gateway **out)
{
    return pv_gateway_open_with(name, NULL, out);
}

void pv_gateway_close(struct pv_gateway *gw)
{
    if (gw && gw->ops && gw->ops->close)
        gw->ops->close(gw);
}

int pv_gateway_tokenize(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                        char **token, struct pv_card_info *info, const char **field)
{
    if (token)
        *token = NULL;
    if (info)
        memset(info, 0, sizeof *info);
    if (field)
        *field = NULL;
    if (!gw || !gw->ops || !gw->ops->tokenize || !card || !token)
        return PV_EINVAL;
    return gw->ops->tokenize(gw, card, today_yyyymm, token, info, field);
}

int pv_gateway_authorize(struct pv_gateway *gw, const char *source, pv_mills amount,
                         const char *idempotency_key, enum pv_pay_result *result, char **charge_id)
{
    if (charge_id)
        *charge_id = NULL;
    if (result)
        *result = PV_PAY_PROCESSING_ERROR;
    if (!gw || !gw->ops || !gw->ops->authorize || !source || !result)
        return PV_EINVAL;
    return gw->ops->authorize(gw, source, amount, idempotency_key, result, charge_id);
}

int pv_gateway_capture(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key)
{
    if (!gw || !gw->ops || !gw->ops->capture || !charge_id)
        return PV_EINVAL;
    return gw->ops->capture(gw, charge_id, idempotency_key);
}

int pv_gateway_void(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key)
{
    if (!gw || !gw->ops || !gw->ops->void_charge || !charge_id)
        return PV_EINVAL;
    return gw->ops->void_charge(gw, charge_id, idempotency_key);
}

int pv_gateway_refund(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                      const char *idempotency_key, pv_mills *refunded_total)
{
    if (refunded_total)
        *refunded_total = 0;
    if (!gw || !gw->ops || !gw->ops->refund || !charge_id)
        return PV_EINVAL;
    return gw->ops->refund(gw, charge_id, amount, idempotency_key, refunded_total);
}

int pv_gateway_charge(struct pv_gateway *gw, const char *source, pv_mills amount,
                      const char *idempotency_key, enum pv_pay_result *result, char **charge_id)
{
    char key[PV_GATEWAY_MAX_KEY + 1], *id = NULL;
    int rc;

    if (charge_id)
        *charge_id = NULL;
    if (idempotency_key && strlen(idempotency_key) > PV_GATEWAY_MAX_KEY - 8)
        return PV_EIDEMREQUIRED;
    rc = pv_gateway_authorize(gw, source, amount, idempotency_key, result, &id);
    if (rc != PV_OK || *result != PV_PAY_APPROVED)
        return rc;
    snprintf(key, sizeof key, "%s:capture", idempotency_key);
    rc = pv_gateway_capture(gw, id, key);
    if (rc == PV_OK && charge_id)
        *charge_id = id;
    else
        free(id);
    return rc;
}

void pv_gateway_call_sync(struct pv_gateway *gw, struct pv_gateway_call *call)
{
    call->charge_id = NULL;
    call->result = PV_PAY_PROCESSING_ERROR;
    switch (call->op) {
    case PV_GW_AUTHORIZE:
        call->rc = pv_gateway_authorize(gw, call->source, call->amount, call->key, &call->result,
                                        &call->charge_id);
        break;
    case PV_GW_CAPTURE:
        call->rc = pv_gateway_capture(gw, call->charge_id_in, call->key);
        break;
    case PV_GW_VOID:
        call->rc = pv_gateway_void(gw, call->charge_id_in, call->key);
        break;
    default:
        call->rc = PV_EINVAL;
    }
}

/*
 * The fallback for a backend without submit: a bounded pool of threads
 * that make the calls synchronously, so that a synchronous driver still
 * has up to pool_max calls in flight at once (issue 15). Threads start
 * when calls wait and none is idle, up to pool_max, and then stay (they
 * hold nothing but their stack). pool_max 0: each call on the caller's
 * thread, as before the pool.
 */
static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cv = PTHREAD_COND_INITIALIZER;
static struct pv_gateway_call *pool_head, *pool_tail;
static size_t pool_max, pool_threads, pool_idle, pool_waiting;

static void *pool_main(void *arg)
{
    (void) arg;
    pthread_mutex_lock(&pool_mu);
    for (;;) {
        struct pv_gateway_call *call;

        while (!pool_head) {
            pool_idle++;
            pthread_cond_wait(&pool_cv, &pool_mu);
            pool_idle--;
        }
        call = pool_head;
        pool_head = call->link;
        if (!pool_head)
            pool_tail = NULL;
        pool_waiting--;
        pthread_mutex_unlock(&pool_mu);
        pv_gateway_call_sync(call->via, call);
        call->done(call);
        pthread_mutex_lock(&pool_mu);
    }
    return NULL;
}

void pv_gateway_sync_threads(size_t n)
{
    pthread_mutex_lock(&pool_mu);
    if (n > PV_GATEWAY_SYNC_THREADS_MAX)
        n = PV_GATEWAY_SYNC_THREADS_MAX;
    pool_max = n;
    pthread_mutex_unlock(&pool_mu);
}

/* Queue call for the pool; 0 when it has no thread for it (the caller makes it). */
static int pool_submit(struct pv_gateway *gw, struct pv_gateway_call *call)
{
    pthread_attr_t attr;
    pthread_t t;
    int queued = 0;

    pthread_mutex_lock(&pool_mu);
    if (pool_max > 0) {
        if (pool_idle <= pool_waiting && pool_threads < pool_max && pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            pthread_attr_setstacksize(&attr, 512 * 1024);
            if (pthread_create(&t, &attr, pool_main, NULL) == 0)
                pool_threads++;
            pthread_attr_destroy(&attr);
        }
        if (pool_threads > 0) {
            call->via = gw;
            call->link = NULL;
            if (pool_tail)
                pool_tail->link = call;
            else
                pool_head = call;
            pool_tail = call;
            pool_waiting++;
            pthread_cond_signal(&pool_cv);
            queued = 1;
        }
    }
    pthread_mutex_unlock(&pool_mu);
    return queued;
}

void pv_gateway_submit(struct pv_gateway *gw, struct pv_gateway_call *call)
{
    call->charge_id = NULL;
    call->result = PV_PAY_PROCESSING_ERROR;
    call->rc = PV_EINVAL;
    if (gw && gw->ops && gw->ops->submit &&
        (call->op == PV_GW_AUTHORIZE || call->op == PV_GW_CAPTURE || call->op == PV_GW_VOID)) {
        gw->ops->submit(gw, call);
        return;
    }
    if (gw && pool_submit(gw, call))
        return;
    if (gw)
        pv_gateway_call_sync(gw, call);
    call->done(call);
}

int pv_pay_result_parse(const char *code, enum pv_pay_result *out)
{
    static const enum pv_pay_result all[] = {PV_PAY_APPROVED, PV_PAY_DECLINED,
                                             PV_PAY_INSUFFICIENT_FUNDS, PV_PAY_INCORRECT_CVC,
                                             PV_PAY_PROCESSING_ERROR};

    for (size_t i = 0; code && i < sizeof all / sizeof all[0]; i++)
        if (strcmp(code, pv_pay_result_code(all[i])) == 0) {
            *out = all[i];
            return PV_OK;
        }
    return PV_EINVAL;
}

const char *pv_pay_result_code(enum pv_pay_result r)
{
    switch (r) {
    case PV_PAY_APPROVED:
        return "approved";
    case PV_PAY_DECLINED:
        return "card_declined";
    case PV_PAY_INSUFFICIENT_FUNDS:
        return "insufficient_funds";
    case PV_PAY_INCORRECT_CVC:
        return "incorrect_cvc";
    case PV_PAY_PROCESSING_ERROR:
        return "processing_error";
    }
    return "unknown";
}
