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
 * (gwqueue.h): when calls are due, its thread makes them all - appending
 * their journal records without an fsync each - then fsyncs the journal
 * once and only then calls their done callbacks: one durable write per
 * group of calls, and no thread tied to a call in flight.
 */
#include "payment/gateway.h"
#include "payment/gwqueue.h"
#include "payment/strix.h"

#include "crypto/primitives.h"
#include "domain/json_text.h"
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

/* Journal operations, in the names the file uses. */
enum sb_op { OP_AUTHORIZE, OP_CAPTURE, OP_VOID, OP_REFUND };
static const char *const OPS[] = {"authorize", "capture", "void", "refund"};

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
};

/* Set on the timer thread while it makes a group of calls: their journal
 * records are fsynced once, after the group. */
static _Thread_local int sb_group_sync;

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

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

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
    *token = dup_str(buf);
    if (!*token)
        return PV_ENOMEM;
    if (info)
        *info = ci;
    return PV_OK;
}

enum { IX_CHARGE_KEY, IX_CHARGE_ID, IX_EVENT_KEY };

/* The names the indexes know the elements by (strix.h); ctx is the sandbox. */
static const char *name_charge_key(const void *ctx, size_t i)
{
    return ((const struct sandbox *) ctx)->charges[i].key;
}

static const char *name_charge_id(const void *ctx, size_t i)
{
    return ((const struct sandbox *) ctx)->charges[i].id;
}

static const char *name_event_key(const void *ctx, size_t i)
{
    return ((const struct sandbox *) ctx)->events[i].key;
}

static long ix_find(const struct sandbox *sb, int w, const char *s)
{
    return pv_strix_find(&sb->ix[w], s);
}

static int ix_reserve(struct sandbox *sb, int w, size_t n)
{
    return pv_strix_reserve(&sb->ix[w], n, w == IX_EVENT_KEY ? sb->n_events : sb->n_charges);
}

static void ix_put(struct sandbox *sb, int w, size_t e)
{
    pv_strix_put(&sb->ix[w], e);
}

static struct sb_charge *find_charge_by_key(struct sandbox *sb, const char *key)
{
    long i = ix_find(sb, IX_CHARGE_KEY, key);

    return i < 0 ? NULL : &sb->charges[i];
}

static struct sb_charge *find_charge_by_id(struct sandbox *sb, const char *id)
{
    long i = ix_find(sb, IX_CHARGE_ID, id);

    return i < 0 ? NULL : &sb->charges[i];
}

static struct sb_event *find_event(struct sandbox *sb, const char *key)
{
    long i = ix_find(sb, IX_EVENT_KEY, key);

    return i < 0 ? NULL : &sb->events[i];
}

/* Make room for one more element of an array; PV_OK or PV_ENOMEM. */
static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
    size_t ncap;
    void *p;

    if (n < *cap)
        return PV_OK;
    ncap = *cap ? *cap * 2 : 16;
    if (ncap > SIZE_MAX / elem)
        return PV_ENOMEM;
    p = realloc(*arr, ncap * elem);
    if (!p)
        return PV_ENOMEM;
    *arr = p;
    *cap = ncap;
    return PV_OK;
}

/* Record an authorization (strings borrowed and copied; id NULL unless approved). */
static int add_charge(struct sandbox *sb, const char *key, const char *source, pv_mills amount,
                      enum pv_pay_result result, const char *id)
{
    struct sb_charge c = {0};

    if (grow((void **) &sb->charges, &sb->cap_charges, sb->n_charges, sizeof c) != PV_OK ||
        ix_reserve(sb, IX_CHARGE_KEY, sb->n_charges + 1) != PV_OK ||
        ix_reserve(sb, IX_CHARGE_ID, sb->n_charges + 1) != PV_OK)
        return PV_ENOMEM;
    c.key = dup_str(key);
    c.source = dup_str(source);
    c.id = id ? dup_str(id) : NULL;
    c.amount = amount;
    c.result = result;
    c.state = ST_AUTHORIZED;
    if (!c.key || !c.source || (id && !c.id)) {
        free(c.key);
        free(c.source);
        free(c.id);
        return PV_ENOMEM;
    }
    sb->charges[sb->n_charges++] = c;
    ix_put(sb, IX_CHARGE_KEY, sb->n_charges - 1);
    ix_put(sb, IX_CHARGE_ID, sb->n_charges - 1);
    return PV_OK;
}

/* Record a capture, void or refund of c (key borrowed) and move c accordingly. */
static int add_event(struct sandbox *sb, int op, const char *key, struct sb_charge *c,
                     pv_mills amount)
{
    struct sb_event e = {0};
    pv_mills total;

    if (op == OP_REFUND &&
        (pv_money_add(c->refunded, amount, &total) != PV_OK || total > c->amount))
        return PV_EOVERFLOW;
    if (grow((void **) &sb->events, &sb->cap_events, sb->n_events, sizeof e) != PV_OK ||
        ix_reserve(sb, IX_EVENT_KEY, sb->n_events + 1) != PV_OK)
        return PV_ENOMEM;
    e.op = op;
    e.key = dup_str(key);
    e.id = dup_str(c->id);
    e.amount = amount;
    if (!e.key || !e.id) {
        free(e.key);
        free(e.id);
        return PV_ENOMEM;
    }
    sb->events[sb->n_events++] = e;
    ix_put(sb, IX_EVENT_KEY, sb->n_events - 1);
    if (op == OP_CAPTURE)
        c->state = ST_CAPTURED;
    else if (op == OP_VOID)
        c->state = ST_VOIDED;
    else
        c->refunded = total;
    return PV_OK;
}

/* ---- the journal ------------------------------------------------------------------------- */

/* Apply one journal line (len bytes, no newline). PV_EIO when it is not a record. */
static int apply_line(struct sandbox *sb, const char *line, size_t len)
{
    json_t *o = json_loadb(line, len, 0, NULL);
    const char *op, *key, *id, *source = NULL, *res;
    json_t *amt;
    enum pv_pay_result result = PV_PAY_PROCESSING_ERROR;
    struct sb_charge *c;
    int k = -1, rc = PV_EIO;

    if (!o)
        return PV_EIO;
    op = json_string_value(json_object_get(o, "op"));
    key = json_string_value(json_object_get(o, "key"));
    id = json_string_value(json_object_get(o, "id"));
    amt = json_object_get(o, "amount");
    for (int i = 0; op && i < 4; i++)
        if (strcmp(op, OPS[i]) == 0)
            k = i;
    if (k < 0 || !key || !key[0] || !id || !json_is_integer(amt) || json_integer_value(amt) < 0 ||
        json_integer_value(amt) > PV_MILLS_MAX)
        goto out;
    if (k == OP_AUTHORIZE) {
        source = json_string_value(json_object_get(o, "source"));
        res = json_string_value(json_object_get(o, "result"));
        if (!source || pv_pay_result_parse(res, &result) != PV_OK ||
            (result == PV_PAY_APPROVED) != (id[0] != '\0') || find_charge_by_key(sb, key))
            goto out;
        rc = add_charge(sb, key, source, (pv_mills) json_integer_value(amt), result,
                        id[0] ? id : NULL);
    } else if ((c = find_charge_by_id(sb, id)) != NULL && !find_event(sb, key)) {
        rc = add_event(sb, k, key, c, (pv_mills) json_integer_value(amt));
        rc = rc == PV_EOVERFLOW ? PV_EIO : rc;
    }
out:
    json_decref(o);
    return rc;
}

/*
 * Under the flock: read and apply what was appended since sb->applied. A
 * last line without its newline is a write a crash cut short (writers hold
 * the lock until fsync returns): cut it off.
 */
static int journal_catch_up(struct sandbox *sb)
{
    struct stat stt;
    size_t n, start = 0, i;
    ssize_t got;
    char *buf;
    int rc = PV_OK;

    if (fstat(sb->fd, &stt) != 0 || stt.st_size < sb->applied)
        return PV_EIO;
    if (stt.st_size == sb->applied)
        return PV_OK;
    n = (size_t) (stt.st_size - sb->applied);
    if (!(buf = malloc(n)))
        return PV_ENOMEM;
    got = pread(sb->fd, buf, n, sb->applied);
    if (got < 0 || (size_t) got != n) {
        free(buf);
        return PV_EIO;
    }
    for (i = 0; i < n && rc == PV_OK; i++) {
        if (buf[i] != '\n')
            continue;
        rc = i > start ? apply_line(sb, buf + start, i - start) : PV_OK;
        if (rc == PV_OK)
            start = i + 1;
    }
    free(buf);
    if (rc == PV_OK && start < n && ftruncate(sb->fd, sb->applied + (off_t) start) != 0)
        rc = PV_EIO;
    sb->applied += (off_t) start;
    if (rc == PV_EIO)
        pv_log(PV_LOG_ERROR, "sandbox journal: a record at byte %lld is not readable\n",
               (long long) sb->applied);
    return rc;
}

/* Take the journal's lock and catch up; with sb->mu held. */
static int journal_begin(struct sandbox *sb)
{
    int rc;

    if (sb->fd < 0)
        return PV_OK;
    while (flock(sb->fd, LOCK_EX) != 0)
        if (errno != EINTR)
            return PV_EIO;
    if ((rc = journal_catch_up(sb)) != PV_OK)
        flock(sb->fd, LOCK_UN);
    return rc;
}

static void journal_end(struct sandbox *sb)
{
    if (sb->fd >= 0)
        flock(sb->fd, LOCK_UN);
}

/* Append one record and make it durable, under the lock (source NULL but for authorize). */
static int journal_append(struct sandbox *sb, int op, const char *key, const char *id,
                          const char *source, pv_mills amount, enum pv_pay_result result)
{
    struct pv_jtext t;
    char *text = NULL;
    size_t len, done = 0;
    int rc = PV_ENOMEM;

    if (sb->fd < 0)
        return PV_OK;
    /* Written as text (json_text.h: one buffer, not a jansson tree a call; issue 15); a
     * key that is not UTF-8 fails it, as json_string did. */
    pv_jt_init(&t, 256);
    pv_jt_open(&t, '{');
    pv_jt_key(&t, "t");
    pv_jt_int(&t, pv_now_ms());
    pv_jt_key(&t, "op");
    pv_jt_str(&t, OPS[op]);
    pv_jt_key(&t, "key");
    pv_jt_str(&t, key);
    pv_jt_key(&t, "id");
    pv_jt_str(&t, id ? id : "");
    if (source) {
        pv_jt_key(&t, "source");
        pv_jt_str(&t, source);
    }
    pv_jt_key(&t, "amount");
    pv_jt_int(&t, amount);
    pv_jt_key(&t, "result");
    pv_jt_str(&t, pv_pay_result_code(result));
    pv_jt_close(&t, '}');
    if (!(text = pv_jt_take(&t, &len)))
        goto out;
    text[len++] = '\n'; /* the text's NUL becomes the newline; the length is known */
    rc = PV_OK;
    while (done < len) {
        ssize_t w = pwrite(sb->fd, text + done, len - done, sb->applied + (off_t) done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = PV_EIO;
            break;
        }
        done += (size_t) w;
    }
    if (rc == PV_OK && !sb_group_sync && fsync(sb->fd) != 0)
        rc = PV_EIO;
    if (rc == PV_OK)
        sb->applied += (off_t) len;
    else if (ftruncate(sb->fd, sb->applied) != 0)
        pv_log(PV_LOG_ERROR, "sandbox journal: cannot cut a failed write back\n");
out:
    free(text);
    return rc;
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

/* Report a recorded authorization to the caller. */
static int answer(const struct sb_charge *c, enum pv_pay_result *result, char **charge_id)
{
    *result = c->result;
    if (charge_id && c->id) {
        *charge_id = dup_str(c->id);
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

    pthread_mutex_lock(&sb->mu);
    if ((rc = journal_begin(sb)) != PV_OK)
        goto unlock;
    old = find_charge_by_key(sb, idempotency_key);
    if (old) {
        rc = (old->amount == amount && strcmp(old->source, source) == 0)
                 ? answer(old, result, charge_id)
                 : PV_EIDEMREUSED;
        goto out;
    }
    buf[0] = '\0';
    if (decided == PV_PAY_APPROVED)
        snprintf(buf, sizeof buf, "ch_sandbox_%s_%llu", sb->inst, (unsigned long long) ++sb->seq);
    /* Room first, so that a record once written is always applied. */
    if ((rc = grow((void **) &sb->charges, &sb->cap_charges, sb->n_charges, sizeof *sb->charges)) !=
            PV_OK ||
        (rc = journal_append(sb, OP_AUTHORIZE, idempotency_key, buf, source, amount, decided)) !=
            PV_OK ||
        (rc = add_charge(sb, idempotency_key, source, amount, decided, buf[0] ? buf : NULL)) !=
            PV_OK)
        goto out;
    rc = answer(&sb->charges[sb->n_charges - 1], result, charge_id);
out:
    journal_end(sb);
unlock:
    pthread_mutex_unlock(&sb->mu);
    return rc;
}

/*
 * The common part of capture, void and refund: the key's earlier answer, or
 * the charge to act on (*c) with *fresh = 1. Under the locks.
 */
static int lookup(struct sandbox *sb, int op, const char *charge_id, const char *key,
                  pv_mills amount, struct sb_charge **c, int *fresh)
{
    struct sb_event *e = find_event(sb, key);

    *fresh = 0;
    *c = find_charge_by_id(sb, charge_id);
    if (e)
        return e->op == op && strcmp(e->id, charge_id) == 0 &&
                       (op != OP_REFUND || e->amount == amount)
                   ? PV_OK
                   : PV_EIDEMREUSED;
    if (!*c)
        return PV_ENOTFOUND;
    *fresh = 1;
    return PV_OK;
}

/* Write and apply one capture, void or refund of c. */
static int record(struct sandbox *sb, int op, const char *key, struct sb_charge *c, pv_mills amount)
{
    pv_mills total;
    int rc;

    if (op == OP_REFUND &&
        (pv_money_add(c->refunded, amount, &total) != PV_OK || total > c->amount))
        return PV_EOVERFLOW;
    if ((rc = grow((void **) &sb->events, &sb->cap_events, sb->n_events, sizeof *sb->events)) !=
            PV_OK ||
        (rc = journal_append(sb, op, key, c->id, NULL, amount, PV_PAY_APPROVED)) != PV_OK)
        return rc;
    return add_event(sb, op, key, c, amount);
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
    int rc, fresh;

    if (!key_ok(idempotency_key))
        return PV_EIDEMREQUIRED;
    latency(sb);
    pthread_mutex_lock(&sb->mu);
    if ((rc = journal_begin(sb)) != PV_OK)
        goto unlock;
    rc = lookup(sb, op, charge_id, idempotency_key, amount, &c, &fresh);
    if (rc == PV_OK && fresh) {
        if (op == OP_CAPTURE)
            /* Captured already: the same answer. Released: too late. */
            rc = c->state == ST_VOIDED       ? PV_EPAYSTATE
                 : c->state == ST_AUTHORIZED ? record(sb, OP_CAPTURE, idempotency_key, c, c->amount)
                                             : PV_OK;
        else if (op == OP_VOID)
            /* A hold is released whole; a captured charge gives back what is left of it. */
            rc = c->state == ST_VOIDED
                     ? PV_OK
                     : record(sb, OP_VOID, idempotency_key, c,
                              c->state == ST_AUTHORIZED ? c->amount : c->amount - c->refunded);
        else
            rc = c->state != ST_CAPTURED ? PV_EPAYSTATE
                                         : record(sb, OP_REFUND, idempotency_key, c, amount);
    }
    if (rc == PV_OK && refunded_total && c)
        *refunded_total = c->refunded;
    journal_end(sb);
unlock:
    pthread_mutex_unlock(&sb->mu);
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

    for (size_t i = 0; i < sb->n_charges; i++) {
        free(sb->charges[i].key);
        free(sb->charges[i].source);
        free(sb->charges[i].id);
    }
    for (size_t i = 0; i < sb->n_events; i++) {
        free(sb->events[i].key);
        free(sb->events[i].id);
    }
    free(sb->charges);
    free(sb->events);
    for (size_t i = 0; i < sizeof sb->ix / sizeof sb->ix[0]; i++)
        pv_strix_free(&sb->ix[i]);
    if (sb->fd >= 0)
        close(sb->fd);
    pthread_mutex_destroy(&sb->mu);
    free(sb);
}

/* ---- asynchronous calls (gwqueue.h) ------------------------------------------------------ */

static void sb_group_begin(struct pv_gateway *gw)
{
    (void) gw;
    sb_group_sync = 1;
}

/* One fsync for the group's records; before it, no call of the group is answered. */
static int sb_group_end(struct pv_gateway *gw)
{
    struct sandbox *sb = (struct sandbox *) gw;
    int failed = 0;

    sb_group_sync = 0;
    if (sb->fd >= 0) {
        pthread_mutex_lock(&sb->mu);
        failed = fsync(sb->fd) != 0;
        pthread_mutex_unlock(&sb->mu);
    }
    return failed ? PV_EIO : PV_OK;
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
    static const char hex[] = "0123456789abcdef";
    struct sandbox *sb;
    uint8_t rnd[8];
    int rc;

    *out = NULL;
    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    sb = calloc(1, sizeof *sb);
    if (!sb)
        return PV_ENOMEM;
    sb->fd = -1;
    if (pthread_mutex_init(&sb->mu, NULL) != 0) {
        free(sb);
        return PV_ENOMEM;
    }
    sb->ix[IX_CHARGE_KEY] = (struct pv_strix){NULL, 0, name_charge_key, sb};
    sb->ix[IX_CHARGE_ID] = (struct pv_strix){NULL, 0, name_charge_id, sb};
    sb->ix[IX_EVENT_KEY] = (struct pv_strix){NULL, 0, name_event_key, sb};
    sb->q.gw = &sb->base;
    sb->q.latency_ms = o->latency_ms;
    sb->q.group_begin = sb_group_begin;
    sb->q.group_end = sb_group_end;
    if (pv_gwq_init(&sb->q) != PV_OK) {
        pthread_mutex_destroy(&sb->mu);
        free(sb);
        return PV_ENOMEM;
    }
    for (size_t i = 0; i < sizeof rnd; i++) {
        sb->inst[2 * i] = hex[rnd[i] >> 4];
        sb->inst[2 * i + 1] = hex[rnd[i] & 15];
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
        rc = journal_begin(sb);
        journal_end(sb);
        pthread_mutex_unlock(&sb->mu);
        if (rc != PV_OK) {
            sb_close(&sb->base);
            return rc;
        }
    }
    *out = &sb->base;
    return PV_OK;
}
