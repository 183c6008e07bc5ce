/*
 * cardpay_int.h - private to a processor's card payments (cardpay.c, the holds and the
 * writer's rounds; cardpay_end.c, the end states: recorded in the writer's round, or by the
 * settler's thread on a connection of its own): their items, lists and state.
 */
#ifndef STAMPD_CARDPAY_INT_H
#define STAMPD_CARDPAY_INT_H

#include "server/cardpay.h"

#include "domain/intent.h"
#include "payment/gateway.h"

#include <pthread.h>
#include <stddef.h>

/* At most this many jobs per stage in one round (one batch). */
#define GROUP_MAX PV_CARDPAY_GROUP_MAX

/* One card job between the writer's card rounds (one stage). */
struct cp_item {
    struct cp_item *next;
    struct pv_job *job; /* NULL for a committed purchase's capture: answered before it */
    struct pv_intent_rec it;
    struct pv_gateway_call call;
    char key[PV_INTENT_SUBKEY_MAX];
    int need;    /* hold: 1 the hold is to be asked for; < 0 to be opened alone, after */
    int out;     /* held: what recording the gateway's answer gave */
    int capture; /* settle: capture (1) or void (0) */
    int ok;      /* settle: the call succeeded (or none was needed): record the end state */
    struct pv_purchase_res *slot; /* held: its job is in this batch, its result here */
    struct pv_cardpay *cp;
    int tries; /* settled: rounds whose batch failed to commit its end state */
};

/* A settled job whose end state did not commit is written again in this many rounds at most;
 * then it is answered (a void's job; a capture's was answered before) and the recovery
 * records it. */
#define SETTLED_TRIES 3

struct cp_list {
    struct cp_item *head, *tail;
    size_t n;
};

struct pv_cardpay {
    struct pv_processor_ctx *ctx;
    struct pv_cardpay_hooks hooks;
    pthread_mutex_t mu;
    struct cp_list to_hold, held, to_settle, settled;
    size_t in_flight; /* gateway calls submitted, not yet answered */
    size_t in_cb;     /* done callbacks still inside answered(): stop waits for them */
    pthread_cond_t quiet;
    /* The writer's round: taken and written in a batch, acted on after its commit. */
    struct cp_list r_held, r_hold, r_settle, r_settled, r_calls;
    /* With a store of writers side by side (PostgreSQL): the end states are written by the
     * settler's thread on a connection of its own (pv_cardpay_settler), not by the writer. */
    struct pv_store *sst; /* owned: closed by pv_cardpay_stop */
    pthread_t settler;
    pthread_cond_t work; /* settled has items, or s_stop */
    int s_busy, s_stop;  /* a round of the settler's is being written; told to stop */
};

/* cp_list_push - x (taken) at l's end. cp_list_take - up to GROUP_MAX items off l's head. */
void cp_list_push(struct cp_list *l, struct cp_item *x);
struct cp_list cp_list_take(struct cp_list *l);

/* cp_sp_open / cp_sp_end - a card's savepoint when its store needs one, and its end (failed:
 * rolled back); PV_OK or the store's error, after which the transaction is to be rolled back. */
int cp_sp_open(struct pv_store *st);
int cp_sp_end(struct pv_store *st, int failed);

/* cp_db_settled - the end states of l's captures and voids answered, inside a transaction of st
 * (borrowed); PV_OK, or a store error that ends the transaction. */
int cp_db_settled(struct pv_store *st, struct cp_list *l);

/* cp_settled_after - after l's end states' commit (rc its outcome): their jobs answered and the
 * items freed, or (failed) queued to be written again, a few times at most (l's items taken). */
void cp_settled_after(struct pv_cardpay *cp, struct cp_list *l, int rc);

#endif
