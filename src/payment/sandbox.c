/*
 * sandbox.c - the "sandbox" payment gateway: deterministic outcomes from the
 * widely used test card numbers, no network, and - given a journal file -
 * a durable record of every hold, capture, void and refund of its own.
 *
 * Test keys (sk_test_...) use it; so do the tests. The card's outcome is
 * decided at tokenize time from its number and carried in the token
 * ("tok_sandbox_declined_<instance>_<n>"), never the number itself, so a
 * token saved with a payment method still means the same thing after a
 * restart. Authorizations and the later calls on them are kept in two
 * arrays under one mutex, looked up by idempotency key or charge id through
 * hash indexes (a benchmark makes hundreds of thousands of them).
 *
 * The journal (docs/payments.md, "The sandbox journal") is the sandbox's
 * stand-in for a real gateway's own database: one JSON object per line per
 * event, appended with write + fsync before the call answers, replayed at
 * open. Several processes (and the test and live sandboxes of one process)
 * may share one file: every call takes an exclusive flock on it and first
 * applies the lines others appended since it last looked, so a retry that
 * lands on another process finds the same key. A line cut short by a crash
 * is dropped under the lock: its call never answered. The journal is never
 * in stampd's store: a gateway call made while the writer holds a SQLite
 * write transaction must not wait for that database.
 *
 * Asynchronous calls (ops->submit, issue 15): the latency becomes a timer
 * (gwqueue.h): when calls are due, its thread makes them all under one
 * taking of the mutex and the journal's flock, keeps their records, writes
 * them with one write and one fsync, and only then calls their done
 * callbacks: one lock, one write and one durable sync per group of calls,
 * and no thread tied to a call in flight. What the sandbox holds and its
 * journal are in sandbox_book.c.
 */
#include "payment/sandbox_int.h"

#include "crypto/primitives.h"
#include "domain/json_text.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "stampd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The test cards and their outcomes; any other valid card approves. */
static const struct {
    const char *number;
    enum pv_pay_result result;
} TEST_CARDS[] = {
    {"4000000000000002", PV_PAY_DECLINED},
    {"4000000000009995", PV_PAY_INSUFFICIENT_FUNDS},
    {"4000000000000127", PV_PAY_INCORRECT_CVC},
    {"4000000000000119", PV_PAY_PROCESSING_ERROR},
};

/* Token tag for each result, indexed by enum pv_pay_result. */
static const char *const TAGS[] = {"approved", "declined", "nsf", "cvc", "error"};
#define N_TAGS (sizeof TAGS / sizeof TAGS[0])

static int key_ok(const char *key)
{
    return key && key[0] != '\0' && strnlen(key, PV_GATEWAY_MAX_KEY + 1) <= PV_GATEWAY_MAX_KEY;
}

/*
 * The result a source stands for: "tok_" or "pm_", "sandbox_", a tag, "_",
 * then one or more of [0-9a-z_]. Returns PV_OK, PV_EINVAL (empty or too
 * long) or PV_ENOTFOUND (not a sandbox reference).
 */
static int source_result(const char *src, enum pv_pay_result *out)
{
    size_t len = strnlen(src, PV_GATEWAY_MAX_REF + 1);
    const char *p;

    if (len == 0 || len > PV_GATEWAY_MAX_REF)
        return PV_EINVAL;
    if (strncmp(src, "tok_sandbox_", 12) == 0)
        p = src + 12;
    else if (strncmp(src, "pm_sandbox_", 11) == 0)
        p = src + 11;
    else
        return PV_ENOTFOUND;
    for (size_t i = 0; i < N_TAGS; i++) {
        size_t tl = strlen(TAGS[i]);
        const char *rest = p + tl + 1;

        if (strncmp(p, TAGS[i], tl) != 0 || p[tl] != '_' || *rest == '\0')
            continue;
        for (; *rest; rest++)
            if (!((*rest >= '0' && *rest <= '9') || (*rest >= 'a' && *rest <= 'z') || *rest == '_'))
                return PV_ENOTFOUND;
        *out = (enum pv_pay_result) i;
        return PV_OK;
    }
    return PV_ENOTFOUND;
}

static int sb_tokenize(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                       char **token, struct pv_card_info *info, const char **field)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct pv_card_info ci;
    enum pv_pay_result r = PV_PAY_APPROVED;
    char digits[PV_CARD_MAX_DIGITS + 1];
    char buf[PV_GATEWAY_MAX_REF];
    uint64_t n;
    int rc;

    *token = NULL;
    rc = pv_card_validate(card, today_yyyymm, &ci, field);
    if (rc != PV_OK)
        return rc;
    /* Validation passed, so the digits are well-formed. */
    if (pv_card_digits(card->number, digits, sizeof digits) != PV_OK)
        return PV_EINTERNAL;
    for (size_t i = 0; i < sizeof TEST_CARDS / sizeof TEST_CARDS[0]; i++)
        if (strcmp(digits, TEST_CARDS[i].number) == 0)
            r = TEST_CARDS[i].result;
    pv_card_wipe(digits, sizeof digits);

    pthread_mutex_lock(&sb->mu);
    n = ++sb->seq;
    pthread_mutex_unlock(&sb->mu);
    snprintf(buf, sizeof buf, "tok_sandbox_%s_%s_%llu", TAGS[r], sb->inst, (unsigned long long) n);
    *token = sb_dup_str(buf);
    if (!*token)
        return PV_ENOMEM;
    if (info)
        *info = ci;
    return PV_OK;
}

/* What a network round trip costs, outside every lock. */
static void latency(const struct sandbox *sb)
{
    struct timespec ts;

    if (sb->latency_ms <= 0 || sb_group_sync)
        return; /* a timer's call waited already */
    ts.tv_sec = sb->latency_ms / 1000;
    ts.tv_nsec = (long) (sb->latency_ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- the calls --------------------------------------------------------------------------- */

/* A call's locks: sb->mu and the journal's flock (with what others appended applied), or,
 * in a group, those its thread holds already (sb_group_begin). */
static int call_begin(struct sandbox *sb)
{
    int rc;

    if (sb_group_sync)
        return sb->group_rc;
    pthread_mutex_lock(&sb->mu);
    if ((rc = sb_journal_begin(sb)) != PV_OK)
        pthread_mutex_unlock(&sb->mu);
    return rc;
}

static void call_end(struct sandbox *sb)
{
    if (sb_group_sync)
        return;
    sb_journal_end(sb);
    pthread_mutex_unlock(&sb->mu);
}

/* Report a recorded authorization to the caller. */
static int answer(const struct sb_charge *c, enum pv_pay_result *result, char **charge_id)
{
    char id[SB_ID_MAX];

    *result = (enum pv_pay_result) c->result;
    if (charge_id && c->result == PV_PAY_APPROVED) {
        sb_id_text(c->id, id);
        *charge_id = sb_dup_str(id);
        if (!*charge_id)
            return PV_ENOMEM;
    }
    return PV_OK;
}

static int sb_authorize(struct pv_gateway *gw, const char *source, pv_mills amount,
                        const char *idempotency_key, enum pv_pay_result *result, char **charge_id)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct sb_charge *old;
    enum pv_pay_result decided;
    char buf[PV_GATEWAY_MAX_REF];
    uint8_t kd[SB_NAME], idb[SB_NAME];
    uint64_t src;
    int rc;

    if (charge_id)
        *charge_id = NULL;
    *result = PV_PAY_PROCESSING_ERROR;
    if (amount <= 0)
        return PV_EINVAL;
    if (amount > PV_MILLS_MAX)
        return PV_EOVERFLOW;
    rc = source_result(source, &decided);
    if (rc != PV_OK)
        return rc;
    if (!key_ok(idempotency_key))
        return PV_EIDEMREQUIRED;
    latency(sb);
    sb_digest(idempotency_key, kd); /* before the locks, but for a group's calls */
    src = sb_source(source);

    if ((rc = call_begin(sb)) != PV_OK)
        return rc;
    old = sb_find_charge_by_key(sb, kd);
    if (old) {
        rc = (old->amount == amount && old->source == src) ? answer(old, result, charge_id)
                                                           : PV_EIDEMREUSED;
        goto out;
    }
    buf[0] = '\0';
    if (decided == PV_PAY_APPROVED) {
        uint64_t n = ++sb->seq;

        memcpy(idb, sb->inst_id, sizeof sb->inst_id);
        memcpy(idb + 8, &n, sizeof n);
        sb_id_text(idb, buf);
    }
    /* Room first, so that a record once written is always applied. */
    if ((rc = sb_grow((void **) &sb->charges, &sb->cap_charges, sb->n_charges,
                      sizeof *sb->charges)) != PV_OK ||
        (rc = sb_journal_append(sb, OP_AUTHORIZE, idempotency_key, buf, source, amount, decided)) !=
            PV_OK ||
        (rc = sb_add_charge(sb, kd, src, amount, decided, buf[0] ? idb : NULL)) != PV_OK)
        goto out;
    rc = answer(&sb->charges[sb->n_charges - 1], result, charge_id);
out:
    call_end(sb);
    return rc;
}

/*
 * The common part of capture, void and refund: the key's earlier answer, or
 * the charge to act on (*c) with *fresh = 1. Under the locks.
 */
static int lookup(struct sandbox *sb, int op, const char *charge_id, const uint8_t key[SB_NAME],
                  pv_mills amount, struct sb_charge **c, int *fresh)
{
    struct sb_event *e = sb_find_event(sb, key);

    *fresh = 0;
    *c = sb_find_charge_by_id(sb, charge_id);
    if (e)
        return e->op == op && *c == &sb->charges[e->charge] &&
                       (op != OP_REFUND || e->amount == amount)
                   ? PV_OK
                   : PV_EIDEMREUSED;
    if (!*c)
        return PV_ENOTFOUND;
    *fresh = 1;
    return PV_OK;
}

/* Write and apply one capture, void or refund of c. */
static int record(struct sandbox *sb, int op, const char *key, const uint8_t kd[SB_NAME],
                  struct sb_charge *c, pv_mills amount)
{
    char id[SB_ID_MAX];
    pv_mills total;
    int rc;

    if (op == OP_REFUND &&
        (pv_money_add(c->refunded, amount, &total) != PV_OK || total > c->amount))
        return PV_EOVERFLOW;
    sb_id_text(c->id, id);
    if ((rc = sb_grow((void **) &sb->events, &sb->cap_events, sb->n_events, sizeof *sb->events)) !=
            PV_OK ||
        (rc = sb_journal_append(sb, op, key, id, NULL, amount, PV_PAY_APPROVED)) != PV_OK)
        return rc;
    return sb_add_event(sb, op, kd, c, amount);
}

/*
 * capture, void and refund: the key's earlier answer, or the call made and
 * recorded under both locks. amount is the refund's (0 otherwise).
 */
static int finish_call(struct pv_gateway *gw, int op, const char *charge_id, pv_mills amount,
                       const char *idempotency_key, pv_mills *refunded_total)
{
    struct sandbox *sb = (struct sandbox *) gw;
    struct sb_charge *c;
    uint8_t kd[SB_NAME];
    int rc, fresh;

    if (!key_ok(idempotency_key))
        return PV_EIDEMREQUIRED;
    latency(sb);
    sb_digest(idempotency_key, kd);
    if ((rc = call_begin(sb)) != PV_OK)
        return rc;
    rc = lookup(sb, op, charge_id, kd, amount, &c, &fresh);
    if (rc == PV_OK && fresh) {
        if (op == OP_CAPTURE)
            /* Captured already: the same answer. Released: too late. */
            rc = c->state == ST_VOIDED ? PV_EPAYSTATE
                 : c->state == ST_AUTHORIZED
                     ? record(sb, OP_CAPTURE, idempotency_key, kd, c, c->amount)
                     : PV_OK;
        else if (op == OP_VOID)
            /* A hold is released whole; a captured charge gives back what is left of it. */
            rc = c->state == ST_VOIDED
                     ? PV_OK
                     : record(sb, OP_VOID, idempotency_key, kd, c,
                              c->state == ST_AUTHORIZED ? c->amount : c->amount - c->refunded);
        else
            rc = c->state != ST_CAPTURED ? PV_EPAYSTATE
                                         : record(sb, OP_REFUND, idempotency_key, kd, c, amount);
    }
    if (rc == PV_OK && refunded_total && c)
        *refunded_total = c->refunded;
    call_end(sb);
    return rc;
}

static int sb_capture(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key)
{
    return finish_call(gw, OP_CAPTURE, charge_id, 0, idempotency_key, NULL);
}

static int sb_void(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key)
{
    return finish_call(gw, OP_VOID, charge_id, 0, idempotency_key, NULL);
}

static int sb_refund(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                     const char *idempotency_key, pv_mills *refunded_total)
{
    if (refunded_total)
        *refunded_total = 0;
    if (amount <= 0)
        return PV_EINVAL;
    if (amount > PV_MILLS_MAX)
        return PV_EOVERFLOW;
    return finish_call(gw, OP_REFUND, charge_id, amount, idempotency_key, refunded_total);
}

static void sb_close(struct pv_gateway *gw)
{
    struct sandbox *sb = (struct sandbox *) gw;

    if (sb->q.gw)
        pv_gwq_destroy(&sb->q);

    sb_book_free(sb);
    if (sb->fd >= 0)
        close(sb->fd);
    pthread_mutex_destroy(&sb->mu);
    free(sb);
}

/* ---- asynchronous calls (gwqueue.h) ------------------------------------------------------ */

/* A group's calls, made on this thread: sb->mu and the journal's lock taken once for them
 * all (another process's calls wait the group's few milliseconds), their records written
 * once at the end. */
static void sb_group_begin(struct pv_gateway *gw)
{
    struct sandbox *sb = (struct sandbox *) gw;

    pthread_mutex_lock(&sb->mu);
    sb->group_rc = sb_journal_begin(sb);
    sb->in_group = 1;
    sb_group_sync = 1;
}

/* The group's records in one write and one fsync; before it, no call of the group is
 * answered. When it fails every call of the group that had succeeded is answered an error
 * (gwqueue.h): the caller asks again under the same key, and the sandbox answers what it
 * holds in memory, as when an fsync failed before. */
static int sb_group_end(struct pv_gateway *gw)
{
    struct sandbox *sb = (struct sandbox *) gw;
    int rc = sb->group_rc;

    sb_group_sync = 0;
    sb->in_group = 0;
    if (rc == PV_OK) {
        rc = sb_journal_flush(sb);
        sb_journal_end(sb);
    }
    sb->glen = 0;
    pthread_mutex_unlock(&sb->mu);
    return rc;
}

static void sb_submit(struct pv_gateway *gw, struct pv_gateway_call *call)
{
    pv_gwq_submit(&((struct sandbox *) gw)->q, call);
}

static const struct pv_gateway_ops SANDBOX_OPS = {
    .version = 2,
    .name = "sandbox",
    .tokenize = sb_tokenize,
    .authorize = sb_authorize,
    .capture = sb_capture,
    .void_charge = sb_void,
    .refund = sb_refund,
    .close = sb_close,
    .submit = sb_submit,
};

/*
 * pv_gateway_sandbox_open - a new sandbox gateway in *out (owned, released
 * by pv_gateway_close): empty, or with the journal o->journal (borrowed;
 * created when missing) replayed. Errors: PV_ENOMEM, PV_ECRYPTO, PV_EIO.
 */
int pv_gateway_sandbox_open(const struct pv_gateway_opts *o, struct pv_gateway **out)
{
    struct sandbox *sb;
    int rc;

    *out = NULL;
    sb = calloc(1, sizeof *sb);
    if (!sb)
        return PV_ENOMEM;
    if (pv_random(sb->inst_id, sizeof sb->inst_id) != PV_OK) {
        free(sb);
        return PV_ECRYPTO;
    }
    pv_hex_encode(sb->inst_id, sizeof sb->inst_id, sb->inst);
    sb->fd = -1;
    if (pthread_mutex_init(&sb->mu, NULL) != 0) {
        free(sb);
        return PV_ENOMEM;
    }
    sb_book_init(sb);
    sb->q.gw = &sb->base;
    sb->q.latency_ms = o->latency_ms;
    sb->q.group_begin = sb_group_begin;
    sb->q.group_end = sb_group_end;
    if (pv_gwq_init(&sb->q) != PV_OK) {
        pthread_mutex_destroy(&sb->mu);
        free(sb);
        return PV_ENOMEM;
    }
    sb->base.ops = &SANDBOX_OPS;
    sb->latency_ms = o->latency_ms;
    if (o->journal && o->journal[0]) {
        sb->fd = open(o->journal, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (sb->fd < 0) {
            pv_log(PV_LOG_ERROR, "sandbox journal %s: %s\n", o->journal, strerror(errno));
            sb_close(&sb->base);
            return PV_EIO;
        }
        pthread_mutex_lock(&sb->mu);
        rc = sb_journal_begin(sb);
        sb_journal_end(sb);
        pthread_mutex_unlock(&sb->mu);
        if (rc != PV_OK) {
            sb_close(&sb->base);
            return rc;
        }
    }
    *out = &sb->base;
    return PV_OK;
}
