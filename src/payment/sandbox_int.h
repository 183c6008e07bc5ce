/*
 * sandbox_int.h - private to the sandbox gateway (sandbox.c, the calls;
 * sandbox_book.c, what it holds and its journal): the sandbox's state and
 * the book's operations, all under sb->mu (and the journal's flock where a
 * call writes).
 */
#ifndef STAMPD_PAYMENT_SANDBOX_INT_H
#define STAMPD_PAYMENT_SANDBOX_INT_H

#include "payment/gateway.h"
#include "payment/gwqueue.h"
#include "payment/strix.h"

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

/* Journal operations, in the names the file uses. */
enum sb_op { OP_AUTHORIZE, OP_CAPTURE, OP_VOID, OP_REFUND };
extern const char *const SB_OPS[]; /* indexed by enum sb_op */

enum sb_state { ST_AUTHORIZED, ST_CAPTURED, ST_VOIDED };

/* One authorization, approved or not. */
struct sb_charge {
    char *key;    /* idempotency key */
    char *source; /* token or payment-method ref as given */
    pv_mills amount;
    enum pv_pay_result result;
    char *id;  /* "ch_..." when approved, else NULL */
    int state; /* enum sb_state; approved ones only */
    pv_mills refunded;
};

/* One capture, void or refund, by its idempotency key. */
struct sb_event {
    int op; /* enum sb_op */
    char *key;
    char *id;
    pv_mills amount;
};

struct sandbox {
    struct pv_gateway base; /* first: a struct pv_gateway * is a struct sandbox * */
    pthread_mutex_t mu;
    char inst[17]; /* random per instance, so ids from two runs differ */
    uint64_t seq;
    int latency_ms;
    int fd;        /* the journal, or -1: in memory only */
    off_t applied; /* journal bytes read into the arrays */
    struct sb_charge *charges;
    size_t n_charges, cap_charges;
    struct sb_event *events;
    size_t n_events, cap_events;
    struct pv_strix ix[3]; /* charges by key, charges by id, events by key */
    struct pv_gwq q;       /* asynchronous calls: the latency as a timer */
    /* A group of asynchronous calls (sb_group_begin .. sb_group_end) holds mu and the
     * journal's lock throughout, and its records are written once, at its end. */
    int in_group;
    int group_rc; /* what taking the journal's lock for the group gave */
    char *gbuf;   /* the group's records, not yet written */
    size_t glen, gcap;
};

/* Set on the thread that makes a group of calls (the timer's), which holds sb->mu and the
 * journal's lock for the whole group: its calls take neither again. */
extern _Thread_local int sb_group_sync;

/* sb_dup_str - a copy of s (owned), or NULL when out of memory. */
char *sb_dup_str(const char *s);

/* sb_book_init / sb_book_free - the book's indexes made ready; all it holds released. */
void sb_book_init(struct sandbox *sb);
void sb_book_free(struct sandbox *sb);

/* The authorization of an idempotency key, or of a charge id; a capture, void or
 * refund by its key (all borrowed): NULL when none. */
struct sb_charge *sb_find_charge_by_key(struct sandbox *sb, const char *key);
struct sb_charge *sb_find_charge_by_id(struct sandbox *sb, const char *id);
struct sb_event *sb_find_event(struct sandbox *sb, const char *key);

/* sb_grow - room for one more element of an array; PV_OK or PV_ENOMEM. */
int sb_grow(void **arr, size_t *cap, size_t n, size_t elem);

/* sb_add_charge - record an authorization (strings borrowed and copied; id NULL unless
 * approved). PV_OK or PV_ENOMEM. */
int sb_add_charge(struct sandbox *sb, const char *key, const char *source, pv_mills amount,
                  enum pv_pay_result result, const char *id);

/* sb_add_event - record a capture, void or refund of c (key borrowed) and move c
 * accordingly. PV_OK, PV_ENOMEM or PV_EOVERFLOW (a refund over what is left). */
int sb_add_event(struct sandbox *sb, int op, const char *key, struct sb_charge *c, pv_mills amount);

/* sb_journal_begin / sb_journal_end - take the journal's lock and apply what others
 * appended (PV_OK, PV_EIO, PV_ENOMEM); give it back. With sb->mu held; no journal: nothing. */
int sb_journal_begin(struct sandbox *sb);
void sb_journal_end(struct sandbox *sb);

/* sb_journal_append - append one record (strings borrowed; source NULL but for authorize)
 * and make it durable, under the lock; in a group (sb->in_group) keep it for the group's
 * one write instead (sb_journal_flush). PV_OK, PV_EIO, PV_ENOMEM. */
int sb_journal_append(struct sandbox *sb, int op, const char *key, const char *id,
                      const char *source, pv_mills amount, enum pv_pay_result result);

/* sb_journal_flush - the group's records written with one write and made durable with one
 * fsync, under the lock. PV_OK or PV_EIO (nothing of them left in the file). */
int sb_journal_flush(struct sandbox *sb);

#endif
