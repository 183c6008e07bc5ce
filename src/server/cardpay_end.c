/*
 * cardpay_end.c - the end states of a processor's card payments (cardpay_int.h): each capture's
 * or void's answer recorded (captured / voided), in the writer's round (cardpay.c), or - with a
 * store whose connections write side by side (PostgreSQL) - by the settler's thread in
 * transactions of a connection of its own, so that the writer's backend, which binds a
 * processor's card purchases there, does not write them (issue 15, session 18;
 * docs/internals/purchase-path.md).
 */
#include "server/cardpay_int.h"

#include "stampd/error.h"
#include "stampd/log.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

/* One card's end state alone, in its savepoint (and after a store error, whether the batch
 * can go on). */
static int settled_one(struct pv_store *st, struct cp_item *x)
{
    int one, rc = cp_sp_open(st);

    if (rc != PV_OK)
        return rc;
    one = pv_intent_settle_record(st, &x->it, &x->capture, &x->ok, 1, 1, pv_now_ms());
    return cp_sp_end(st, one != PV_OK);
}

/* Captures and voids answered (or not needed): their end states, eight to a statement
 * (pv_store_intents_end), captures and voids apart, each statement in a savepoint of its own
 * (sp_open: none on SQLite, where a statement that fails undoes itself alone) - on
 * PostgreSQL one round trip for eight instead of one each (issue 15, session 14). A statement
 * that fails is undone and its eight written one by one, so that a store error on one card's
 * row still fails that card only. A card whose intent is not in the state its call finishes
 * is written alone. Not recorded: the recovery records it (the gateway answers the same call
 * again). */
int cp_db_settled(struct pv_store *st, struct cp_list *l)
{
    static const char *const from[2] = {PV_INTENT_VOIDING, PV_INTENT_SETTLING};
    static const char *const to[2] = {PV_INTENT_VOIDED, PV_INTENT_CAPTURED};
    struct cp_item *xs[2][GROUP_MAX];
    const char *ids[8];
    size_t n[2] = {0, 0}, i, k, m;
    int rc, one;

    for (struct cp_item *x = l->head; x; x = x->next) {
        int c = x->capture != 0;

        if (!x->ok)
            continue;
        if (strcmp(x->it.state, from[c]) == 0 && n[c] < GROUP_MAX)
            xs[c][n[c]++] = x;
        else if ((rc = settled_one(st, x)) != PV_OK)
            return rc;
    }
    for (int c = 0; c < 2; c++) {
        for (i = 0; i < n[c]; i += m) {
            m = n[c] - i < 8 ? n[c] - i : 8;
            for (k = 0; k < m; k++)
                ids[k] = xs[c][i + k]->it.id;
            if ((rc = cp_sp_open(st)) != PV_OK)
                return rc;
            one = pv_store_intents_end(st, ids, m, from[c], to[c], pv_now_ms());
            if ((rc = cp_sp_end(st, one != PV_OK)) != PV_OK)
                return rc;
            if (one == PV_OK)
                continue;
            for (k = 0; k < m; k++)
                if ((rc = settled_one(st, xs[c][i + k])) != PV_OK)
                    return rc;
        }
    }
    return PV_OK;
}

/* ... and the jobs whose end state is recorded are answered (a capture's has been). */
static void post_settled(struct pv_cardpay *cp, struct cp_list *l)
{
    struct cp_item *x, *next;

    for (x = l->head; x; x = next) {
        next = x->next;
        if (x->job)
            cp->hooks.settled(cp->hooks.owner, x->job);
        free(x);
    }
}

/* After end states' commit (rc its outcome): their jobs answered; when it failed, written
 * again in a later round, and the jobs still waiting (voids) answered only after that; after a
 * few failed rounds answered anyway, the recovery recording the state. */
void cp_settled_after(struct pv_cardpay *cp, struct cp_list *l, int rc)
{
    struct cp_list again = {NULL, NULL, 0}, give_up = {NULL, NULL, 0};

    if (rc == PV_OK) {
        post_settled(cp, l);
        return;
    }
    for (struct cp_item *x = l->head, *next; x; x = next) {
        next = x->next;
        cp_list_push(++x->tries < SETTLED_TRIES ? &again : &give_up, x);
    }
    pthread_mutex_lock(&cp->mu);
    for (struct cp_item *x = again.head, *next; x; x = next) {
        next = x->next;
        cp_list_push(&cp->settled, x);
    }
    /* The settler's: told, whether the failed round was its own or the writer's (whose round
     * still writes the end states of what it found nothing to call for). */
    if (cp->sst && again.head)
        pthread_cond_signal(&cp->work);
    pthread_mutex_unlock(&cp->mu);
    post_settled(cp, &give_up);
}

/* The settler's thread: each round of end states in a transaction of its own connection, beside
 * the writer's batches (PostgreSQL: another backend, on another core); a failed one is written
 * again after a pause. Leaves once told to stop with nothing left. */
static void *settler(void *arg)
{
    struct pv_cardpay *cp = arg;
    struct cp_list l;
    int rc;

    prctl(PR_SET_NAME, "stampd-settle", 0, 0, 0); /* for `top -H` */
    pthread_mutex_lock(&cp->mu);
    for (;;) {
        while (!cp->settled.head && !cp->s_stop)
            pthread_cond_wait(&cp->work, &cp->mu);
        if (!cp->settled.head)
            break;
        l = cp_list_take(&cp->settled);
        cp->s_busy = 1;
        pthread_mutex_unlock(&cp->mu);
        if ((rc = pv_store_begin(cp->sst)) == PV_OK && (rc = cp_db_settled(cp->sst, &l)) == PV_OK)
            rc = pv_store_commit(cp->sst);
        if (rc != PV_OK) {
            pv_store_rollback(cp->sst);
            pv_log(PV_LOG_WARNING,
                   "%s: recording card payments' end states: %s (written again, or left to "
                   "the recovery)\n",
                   cp->ctx->server_id, pv_strerror(rc));
        }
        cp_settled_after(cp, &l, rc);
        if (rc != PV_OK)
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        pthread_mutex_lock(&cp->mu);
        cp->s_busy = 0;
        pthread_mutex_unlock(&cp->mu);
        cp->hooks.wake(cp->hooks.owner); /* a writer stopping waits until this is done */
        pthread_mutex_lock(&cp->mu);
    }
    pthread_mutex_unlock(&cp->mu);
    return NULL;
}

int pv_cardpay_settler(struct pv_cardpay *cp, struct pv_store *st)
{
    cp->sst = st;
    if (pthread_create(&cp->settler, NULL, settler, cp) != 0) {
        cp->sst = NULL;
        pv_store_close(st);
        return PV_EINTERNAL;
    }
    return PV_OK;
}
