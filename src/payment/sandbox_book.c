/*
 * sandbox_book.c - what the sandbox gateway holds (sandbox_int.h): its
 * authorizations and the captures, voids and refunds made on them, in two
 * arrays found through hash indexes (strix.h), and the journal file that
 * makes them durable and shares them between processes (docs/payments.md,
 * "The sandbox journal"; sandbox.c says how the calls use it).
 */
#include "payment/sandbox_int.h"

#include "crypto/primitives.h"
#include "domain/json_text.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/timeutil.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

const char *const SB_OPS[] = {"authorize", "capture", "void", "refund"};

_Thread_local int sb_group_sync;

char *sb_dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);

    if (p)
        memcpy(p, s, n);
    return p;
}

void sb_digest(const char *s, uint8_t out[SB_NAME])
{
    uint8_t d[32];

    pv_sha256(s, strlen(s), d);
    memcpy(out, d, SB_NAME);
}

/* The source only tells a retry from a key reused with another card: two sources of one
 * key that hash alike answer the key's own charge, to the one who chose them both. */
uint64_t sb_source(const char *s)
{
    return pv_fnv1a64(s);
}

/* The instance's hex and the number read with codec.h's readers; then only the text
 * sb_id_text gives back for them is the id (lowercase hex, no leading zeros). */
int sb_id_parse(const char *s, uint8_t out[SB_NAME])
{
    static const char pre[] = "ch_sandbox_";
    char hex[17], again[SB_ID_MAX];
    const char *p;
    uint64_t n;

    if (strncmp(s, pre, sizeof pre - 1) != 0)
        return PV_ENOTFOUND;
    p = s + sizeof pre - 1;
    if (strnlen(p, 18) < 18 || p[16] != '_')
        return PV_ENOTFOUND;
    memcpy(hex, p, 16);
    hex[16] = '\0';
    if (pv_hex_decode(hex, out, 8) != PV_OK || pv_parse_u64(p + 17, 1, UINT64_MAX, &n) != PV_OK)
        return PV_ENOTFOUND;
    memcpy(out + 8, &n, sizeof n);
    sb_id_text(out, again);
    return strcmp(again, s) == 0 ? PV_OK : PV_ENOTFOUND;
}

void sb_id_text(const uint8_t id[SB_NAME], char out[SB_ID_MAX])
{
    char inst[17];
    uint64_t n;

    memcpy(&n, id + 8, sizeof n);
    snprintf(out, SB_ID_MAX, "ch_sandbox_%s_%llu", pv_hex_encode(id, 8, inst),
             (unsigned long long) n);
}

enum { IX_CHARGE_KEY, IX_CHARGE_ID, IX_EVENT_KEY };

/* The names the indexes know the elements by (strix.h); ctx is the sandbox. A declined
 * authorization has no id. */
static const uint8_t *name_charge_key(const void *ctx, size_t i)
{
    return ((const struct sandbox *) ctx)->charges[i].key;
}

static const uint8_t *name_charge_id(const void *ctx, size_t i)
{
    const struct sb_charge *c = &((const struct sandbox *) ctx)->charges[i];

    return c->result == PV_PAY_APPROVED ? c->id : NULL;
}

static const uint8_t *name_event_key(const void *ctx, size_t i)
{
    return ((const struct sandbox *) ctx)->events[i].key;
}

static long ix_find(const struct sandbox *sb, int w, const uint8_t *s)
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

struct sb_charge *sb_find_charge_by_key(struct sandbox *sb, const uint8_t key[SB_NAME])
{
    long i = ix_find(sb, IX_CHARGE_KEY, key);

    return i < 0 ? NULL : &sb->charges[i];
}

struct sb_charge *sb_find_charge_by_id(struct sandbox *sb, const char *id)
{
    uint8_t b[SB_NAME];
    long i = sb_id_parse(id, b) == PV_OK ? ix_find(sb, IX_CHARGE_ID, b) : -1;

    return i < 0 ? NULL : &sb->charges[i];
}

struct sb_event *sb_find_event(struct sandbox *sb, const uint8_t key[SB_NAME])
{
    long i = ix_find(sb, IX_EVENT_KEY, key);

    return i < 0 ? NULL : &sb->events[i];
}

/* Make room for one more element of an array; PV_OK or PV_ENOMEM. */
int sb_grow(void **arr, size_t *cap, size_t n, size_t elem)
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

/* Record an authorization (key and id borrowed and copied; id NULL unless approved). */
int sb_add_charge(struct sandbox *sb, const uint8_t key[SB_NAME], uint64_t source, pv_mills amount,
                  enum pv_pay_result result, const uint8_t *id)
{
    struct sb_charge c = {0};

    if (sb_grow((void **) &sb->charges, &sb->cap_charges, sb->n_charges, sizeof c) != PV_OK ||
        ix_reserve(sb, IX_CHARGE_KEY, sb->n_charges + 1) != PV_OK ||
        ix_reserve(sb, IX_CHARGE_ID, sb->n_charges + 1) != PV_OK)
        return PV_ENOMEM;
    memcpy(c.key, key, SB_NAME);
    if (id)
        memcpy(c.id, id, SB_NAME);
    c.source = source;
    c.amount = amount;
    c.result = (uint8_t) result;
    c.state = ST_AUTHORIZED;
    sb->charges[sb->n_charges++] = c;
    ix_put(sb, IX_CHARGE_KEY, sb->n_charges - 1);
    ix_put(sb, IX_CHARGE_ID, sb->n_charges - 1);
    return PV_OK;
}

/* Record a capture, void or refund of c (key borrowed and copied) and move c accordingly. */
int sb_add_event(struct sandbox *sb, int op, const uint8_t key[SB_NAME], struct sb_charge *c,
                 pv_mills amount)
{
    struct sb_event e = {0};
    pv_mills total;

    if (op == OP_REFUND &&
        (pv_money_add(c->refunded, amount, &total) != PV_OK || total > c->amount))
        return PV_EOVERFLOW;
    if (sb_grow((void **) &sb->events, &sb->cap_events, sb->n_events, sizeof e) != PV_OK ||
        ix_reserve(sb, IX_EVENT_KEY, sb->n_events + 1) != PV_OK)
        return PV_ENOMEM;
    memcpy(e.key, key, SB_NAME);
    e.charge = (uint32_t) (c - sb->charges);
    e.op = (uint8_t) op;
    e.amount = amount;
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

/* One journal record as read: its strings terminated, source NULL when absent. */
struct sb_rec {
    int op; /* enum sb_op, or -1: not one */
    const char *key, *id, *source, *result;
    json_int_t amount;
};

/* Apply one record. PV_EIO when it is not one this book can take. */
static int apply_rec(struct sandbox *sb, const struct sb_rec *r)
{
    enum pv_pay_result result = PV_PAY_PROCESSING_ERROR;
    struct sb_charge *c;
    uint8_t kd[SB_NAME], idb[SB_NAME];
    int rc = PV_EIO;

    if (r->op < 0 || !r->key || !r->key[0] || !r->id || r->amount < 0 || r->amount > PV_MILLS_MAX)
        return PV_EIO;
    sb_digest(r->key, kd);
    if (r->op == OP_AUTHORIZE) {
        if (!r->source || pv_pay_result_parse(r->result, &result) != PV_OK ||
            (result == PV_PAY_APPROVED) != (r->id[0] != '\0') ||
            (r->id[0] && sb_id_parse(r->id, idb) != PV_OK) || sb_find_charge_by_key(sb, kd))
            return PV_EIO;
        return sb_add_charge(sb, kd, sb_source(r->source), (pv_mills) r->amount, result,
                             r->id[0] ? idb : NULL);
    }
    if ((c = sb_find_charge_by_id(sb, r->id)) != NULL && !sb_find_event(sb, kd)) {
        rc = sb_add_event(sb, r->op, kd, c, (pv_mills) r->amount);
        rc = rc == PV_EOVERFLOW ? PV_EIO : rc;
    }
    return rc;
}

static int op_of(const char *op)
{
    for (int i = 0; op && i < 4; i++)
        if (strcmp(op, SB_OPS[i]) == 0)
            return i;
    return -1;
}

/* The fast reading of a line (issue 15, session 19: jansson took ~12 us a card at open): only
 * one exactly as sb_journal_append writes it, its strings printable ASCII without escapes and
 * its numbers plain, so that what it reads is what jansson would; any other line is jansson's
 * to read. Each scan_ moves *p past what it read, or answers 0. */
static int scan_lit(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);

    if ((size_t) (end - *p) < n || memcmp(*p, lit, n) != 0)
        return 0;
    *p += n;
    return 1;
}

static int scan_str(const char **p, const char *end, char *out, size_t cap)
{
    const char *s = *p;
    size_t n = 0;

    if (s >= end || *s != '"')
        return 0;
    for (s++; s < end && *s != '"'; s++) {
        if (*s < 0x20 || *s > 0x7e || *s == '\\' || n + 1 >= cap)
            return 0;
        out[n++] = *s;
    }
    if (s >= end)
        return 0;
    out[n] = '\0';
    *p = s + 1;
    return 1;
}

_Static_assert(sizeof(json_int_t) >= 8, "scan_int reads 18 digits into a json_int_t");

static int scan_int(const char **p, const char *end, json_int_t *out)
{
    const char *s = *p;
    json_int_t v = 0;
    int neg = s < end && *s == '-', digits = 0;

    s += neg;
    if (s >= end || *s < '0' || *s > '9' ||
        (*s == '0' && s + 1 < end && s[1] >= '0' && s[1] <= '9'))
        return 0; /* none, or a leading zero (not JSON) */
    for (; s < end && *s >= '0' && *s <= '9'; s++) {
        if (++digits > 18)
            return 0;
        v = v * 10 + (*s - '0');
    }
    *out = neg ? -v : v;
    *p = s;
    return 1;
}

/* Apply one journal line (len bytes, no newline). PV_EIO when it is not a record. */
static int apply_line(struct sandbox *sb, const char *line, size_t len)
{
    char op[16], key[PV_GATEWAY_MAX_KEY + 1], id[SB_ID_MAX], src[PV_GATEWAY_MAX_REF + 1], res[32];
    const char *p = line, *end = line + len;
    struct sb_rec r = {-1, key, id, NULL, res, 0};
    json_int_t t;
    json_t *o;
    int rc;

    if (scan_lit(&p, end, "{\"t\":") && scan_int(&p, end, &t) && scan_lit(&p, end, ",\"op\":") &&
        scan_str(&p, end, op, sizeof op) && scan_lit(&p, end, ",\"key\":") &&
        scan_str(&p, end, key, sizeof key) && scan_lit(&p, end, ",\"id\":") &&
        scan_str(&p, end, id, sizeof id) &&
        (!scan_lit(&p, end, ",\"source\":") ||
         (r.source = src, scan_str(&p, end, src, sizeof src))) &&
        scan_lit(&p, end, ",\"amount\":") && scan_int(&p, end, &r.amount) &&
        scan_lit(&p, end, ",\"result\":") && scan_str(&p, end, res, sizeof res) &&
        scan_lit(&p, end, "}") && p == end) {
        r.op = op_of(op);
        return apply_rec(sb, &r);
    }
    if (!(o = json_loadb(line, len, 0, NULL)))
        return PV_EIO;
    r.op = op_of(json_string_value(json_object_get(o, "op")));
    r.key = json_string_value(json_object_get(o, "key"));
    r.id = json_string_value(json_object_get(o, "id"));
    r.source = json_string_value(json_object_get(o, "source"));
    r.result = json_string_value(json_object_get(o, "result"));
    r.amount = json_is_integer(json_object_get(o, "amount"))
                   ? json_integer_value(json_object_get(o, "amount"))
                   : -1;
    rc = apply_rec(sb, &r);
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
int sb_journal_begin(struct sandbox *sb)
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

void sb_journal_end(struct sandbox *sb)
{
    if (sb->fd >= 0)
        flock(sb->fd, LOCK_UN);
}

/* Append one record and make it durable, under the lock (source NULL but for authorize). */
/* Write len bytes of text at the journal's end (sb->applied) and, unless sync is 0, fsync
 * it; then they count as applied. A failed write is cut back off. */
static int journal_write(struct sandbox *sb, const char *text, size_t len, int sync)
{
    size_t done = 0;
    int rc = PV_OK;

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
    if (rc == PV_OK && sync && fsync(sb->fd) != 0)
        rc = PV_EIO;
    if (rc == PV_OK)
        sb->applied += (off_t) len;
    else if (ftruncate(sb->fd, sb->applied) != 0)
        pv_log(PV_LOG_ERROR, "sandbox journal: cannot cut a failed write back\n");
    return rc;
}

int sb_journal_append(struct sandbox *sb, int op, const char *key, const char *id,
                      const char *source, pv_mills amount, enum pv_pay_result result)
{
    struct pv_jtext t;
    char *text = NULL;
    size_t len;
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
    pv_jt_str(&t, SB_OPS[op]);
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
    if (!sb->in_group) {
        rc = journal_write(sb, text, len, 1);
        goto out;
    }
    /* In a group: kept for its one write (sb_journal_flush); the lock is held till then. */
    if (sb->glen + len > sb->gcap) {
        size_t cap = sb->gcap ? sb->gcap : 4096;
        char *p;

        while (cap < sb->glen + len)
            cap *= 2;
        if (!(p = realloc(sb->gbuf, cap)))
            goto out;
        sb->gbuf = p;
        sb->gcap = cap;
    }
    memcpy(sb->gbuf + sb->glen, text, len);
    sb->glen += len;
    rc = PV_OK;
out:
    free(text);
    return rc;
}

/*
 * After a group's write failed (cut back off the file) its records are in memory
 * only: the book again from the file, so that memory holds exactly what is durable
 * and a call asked again under the same key is made again, not answered from a
 * record no other process and no restart will ever read. Under the lock.
 */
static int book_reload(struct sandbox *sb)
{
    char *gbuf = sb->gbuf;
    size_t gcap = sb->gcap;

    sb->gbuf = NULL; /* kept: the next group's */
    sb_book_free(sb);
    sb->charges = NULL;
    sb->events = NULL;
    sb->n_charges = sb->cap_charges = sb->n_events = sb->cap_events = 0;
    sb_book_init(sb);
    sb->gbuf = gbuf;
    sb->gcap = gcap;
    sb->applied = 0;
    return journal_catch_up(sb);
}

int sb_journal_flush(struct sandbox *sb)
{
    int rc = PV_OK;

    if (sb->fd >= 0 && sb->glen && (rc = journal_write(sb, sb->gbuf, sb->glen, 1)) != PV_OK &&
        book_reload(sb) != PV_OK)
        pv_log(PV_LOG_ERROR, "sandbox journal: cannot read the journal again after a failed "
                             "write\n");
    sb->glen = 0;
    return rc;
}

void sb_book_init(struct sandbox *sb)
{
    sb->ix[IX_CHARGE_KEY] = (struct pv_strix){NULL, 0, name_charge_key, sb};
    sb->ix[IX_CHARGE_ID] = (struct pv_strix){NULL, 0, name_charge_id, sb};
    sb->ix[IX_EVENT_KEY] = (struct pv_strix){NULL, 0, name_event_key, sb};
}

void sb_book_free(struct sandbox *sb)
{
    free(sb->charges);
    free(sb->events);
    for (size_t i = 0; i < sizeof sb->ix / sizeof sb->ix[0]; i++)
        pv_strix_free(&sb->ix[i]);
    free(sb->gbuf);
}
