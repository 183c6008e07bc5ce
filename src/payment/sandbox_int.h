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

/*
 * What the book keeps of a key or a charge id: 16 bytes, not the text
 * (issue 15: a card's hold and capture took ~450 bytes of heap as seven strings
 * and two structures; now 96 bytes and its three index slots). A key is the
 * first half of its SHA-256 (sb_digest): no two keys found in a book will share
 * it, even chosen by someone who tries. A charge id is the 8 bytes of its
 * instance and its 8-byte number (sb_id_parse), given back as the same text
 * (sb_id_text).
 */
#define SB_NAME   PV_STRIX_NAME
#define SB_ID_MAX 52 /* "ch_sandbox_" + 16 hex + "_" + 20 digits + NUL, with room */

/* One authorization, approved or not. */
struct sb_charge {
    uint8_t key[SB_NAME]; /* the idempotency key's digest */
    uint8_t id[SB_NAME];  /* the charge id's bytes; zero when not approved */
    uint64_t source;      /* the source's 64-bit hash (sb_source): a retry must match it */
    pv_mills amount;
    pv_mills refunded;
    uint8_t result; /* enum pv_pay_result */
    uint8_t state;  /* enum sb_state; approved ones only */
};

/* One capture, void or refund, by its idempotency key's digest. */
struct sb_event {
    uint8_t key[SB_NAME];
    uint32_t charge; /* its index in sb->charges */
    uint8_t op;      /* enum sb_op */
    pv_mills amount;
};

struct sandbox {
    struct pv_gateway base; /* first: a struct pv_gateway * is a struct sandbox * */
    pthread_mutex_t mu;
    uint8_t inst_id[8]; /* random per instance, so ids from two runs differ */
    char inst[17];      /* the same as hex, for tokens */
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

/* sb_digest - the name the book keeps of the borrowed text s; sb_source - the
 * 8 bytes it keeps of a source (FNV-1a). */
void sb_digest(const char *s, uint8_t out[SB_NAME]);
uint64_t sb_source(const char *s);

/* sb_id_parse - a sandbox charge id's bytes ("ch_sandbox_", 16 lowercase hex
 * digits, "_", a number from 1 without leading zeros; borrowed): PV_OK, or
 * PV_ENOTFOUND when s is not one. sb_id_text - the id's text again. */
int sb_id_parse(const char *s, uint8_t out[SB_NAME]);
void sb_id_text(const uint8_t id[SB_NAME], char out[SB_ID_MAX]);

/* The authorization of an idempotency key's digest, or of a charge id's text; a
 * capture, void or refund by its key's digest (all borrowed): NULL when none. */
struct sb_charge *sb_find_charge_by_key(struct sandbox *sb, const uint8_t key[SB_NAME]);
struct sb_charge *sb_find_charge_by_id(struct sandbox *sb, const char *id);
struct sb_event *sb_find_event(struct sandbox *sb, const uint8_t key[SB_NAME]);

/* sb_grow - room for one more element of an array; PV_OK or PV_ENOMEM. */
int sb_grow(void **arr, size_t *cap, size_t n, size_t elem);

/* sb_add_charge - record an authorization (key and id borrowed and copied; id NULL
 * unless approved). PV_OK or PV_ENOMEM. */
int sb_add_charge(struct sandbox *sb, const uint8_t key[SB_NAME], uint64_t source, pv_mills amount,
                  enum pv_pay_result result, const uint8_t *id);

/* sb_add_event - record a capture, void or refund of c (key borrowed and copied) and
 * move c accordingly. PV_OK, PV_ENOMEM or PV_EOVERFLOW (a refund over what is left). */
int sb_add_event(struct sandbox *sb, int op, const uint8_t key[SB_NAME], struct sb_charge *c,
                 pv_mills amount);

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
