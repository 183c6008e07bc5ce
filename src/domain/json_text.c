/*
 * json_text.c - the compact JSON writer of json_text.h: jansson's own
 * output (dump.c, jansson 2.14) for the same values, written straight into
 * one growing buffer. test_json_text compares the two byte for byte.
 */
#include "domain/json_text.h"

#include "stampd/money.h"
#include "stampd/timeutil.h"

#include <stdlib.h>
#include <string.h>

void pv_jt_init(struct pv_jtext *t, size_t hint)
{
    memset(t, 0, sizeof t[0]);
    t->cap = hint < 64 ? 64 : hint;
    t->buf = malloc(t->cap);
    if (!t->buf) {
        t->cap = 0;
        t->failed = 1;
    }
}

void pv_jt_free(struct pv_jtext *t)
{
    free(t->buf);
    t->buf = NULL;
    t->len = t->cap = 0;
}

char *pv_jt_take(struct pv_jtext *t, size_t *len)
{
    char *s;

    *len = 0;
    if (t->failed || !t->buf) {
        pv_jt_free(t);
        t->failed = 1;
        return NULL;
    }
    /* Room for the NUL: put() keeps one byte spare. */
    t->buf[t->len] = '\0';
    s = t->buf;
    *len = t->len;
    t->buf = NULL;
    t->len = t->cap = 0;
    return s;
}

/* Room for n more bytes and the NUL; 0 when there is. */
static int room(struct pv_jtext *t, size_t n)
{
    size_t cap;
    char *b;

    if (t->failed)
        return -1;
    if (t->len + n + 1 <= t->cap)
        return 0;
    cap = t->cap;
    while (cap < t->len + n + 1) {
        if (cap > SIZE_MAX / 2) {
            t->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    if (!(b = realloc(t->buf, cap))) {
        t->failed = 1;
        return -1;
    }
    t->buf = b;
    t->cap = cap;
    return 0;
}

static void put(struct pv_jtext *t, const char *s, size_t n)
{
    if (room(t, n) == 0) {
        memcpy(t->buf + t->len, s, n);
        t->len += n;
    }
}

static void put_c(struct pv_jtext *t, char c)
{
    if (room(t, 1) == 0)
        t->buf[t->len++] = c;
}

/* The comma before a value at a level that already has one. */
static void value_start(struct pv_jtext *t)
{
    if (t->need_comma)
        put_c(t, ',');
    t->need_comma = 1;
}

void pv_jt_open(struct pv_jtext *t, char c)
{
    value_start(t);
    put_c(t, c);
    t->need_comma = 0;
}

void pv_jt_close(struct pv_jtext *t, char c)
{
    put_c(t, c);
    t->need_comma = 1;
}

void pv_jt_key(struct pv_jtext *t, const char *name)
{
    size_t n = strlen(name);

    value_start(t);
    if (room(t, n + 3) == 0) {
        t->buf[t->len++] = '"';
        memcpy(t->buf + t->len, name, n);
        t->len += n;
        t->buf[t->len++] = '"';
        t->buf[t->len++] = ':';
    }
    /* The value that follows is this member's: no comma before it. */
    t->need_comma = 0;
}

/* The code point of the UTF-8 sequence at s (its length into *n), or -1 for
 * what jansson's utf8_check_* refuse: a stray continuation byte, 0xC0/0xC1,
 * 0xF5 and up, a truncated sequence, an overlong form, a surrogate, past
 * U+10FFFF. */
static int32_t utf8_next(const unsigned char *s, size_t *n)
{
    unsigned char c = s[0];
    int32_t cp;
    size_t k, i;

    if (c < 0x80) {
        *n = 1;
        return c;
    }
    if (c < 0xC2)
        return -1;
    if (c < 0xE0) {
        k = 2;
        cp = c & 0x1F;
    } else if (c < 0xF0) {
        k = 3;
        cp = c & 0x0F;
    } else if (c < 0xF5) {
        k = 4;
        cp = c & 0x07;
    } else {
        return -1;
    }
    for (i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) /* also the NUL of a truncated sequence */
            return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *n = k;
    return cp;
}

static void put_u(struct pv_jtext *t, int32_t cp)
{
    static const char hex[] = "0123456789ABCDEF";
    char e[6] = {'\\',        'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
                 hex[cp & 15]};

    put(t, e, sizeof e);
}

void pv_jt_str(struct pv_jtext *t, const char *s)
{
    const unsigned char *p = (const unsigned char *) s, *run;
    size_t n;
    int32_t cp;

    if (!s) {
        pv_jt_null(t);
        return;
    }
    value_start(t);
    put_c(t, '"');
    while (*p) {
        for (run = p; *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\'; p++)
            ;
        if (p > run)
            put(t, (const char *) run, (size_t) (p - run));
        if (!*p)
            break;
        if ((cp = utf8_next(p, &n)) < 0) {
            t->failed = 1;
            return;
        }
        p += n;
        switch (cp) {
        case '"':
            put(t, "\\\"", 2);
            break;
        case '\\':
            put(t, "\\\\", 2);
            break;
        case '\b':
            put(t, "\\b", 2);
            break;
        case '\f':
            put(t, "\\f", 2);
            break;
        case '\n':
            put(t, "\\n", 2);
            break;
        case '\r':
            put(t, "\\r", 2);
            break;
        case '\t':
            put(t, "\\t", 2);
            break;
        default:
            if (cp < 0x10000) {
                put_u(t, cp);
            } else { /* a UTF-16 surrogate pair */
                put_u(t, 0xD800 | ((cp - 0x10000) >> 10));
                put_u(t, 0xDC00 | ((cp - 0x10000) & 0x3FF));
            }
        }
    }
    put_c(t, '"');
}

void pv_jt_int(struct pv_jtext *t, int64_t v)
{
    char d[24];
    size_t i = sizeof d;
    /* The magnitude as unsigned: INT64_MIN has no positive int64_t. */
    uint64_t u = v < 0 ? (uint64_t) 0 - (uint64_t) v : (uint64_t) v;

    do {
        d[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        d[--i] = '-';
    value_start(t);
    put(t, d + i, sizeof d - i);
}

void pv_jt_bool(struct pv_jtext *t, int v)
{
    value_start(t);
    if (v)
        put(t, "true", 4);
    else
        put(t, "false", 5);
}

void pv_jt_null(struct pv_jtext *t)
{
    value_start(t);
    put(t, "null", 4);
}

void pv_jt_tenths(struct pv_jtext *t, uint32_t v)
{
    char d[16];
    size_t i = sizeof d;
    uint32_t u = v / 10;

    /* "%.12g" of v / 10.0 is the shortest form for up to 12 digits, and
     * jansson adds ".0" to a whole number: always "<units>.<tenth>". */
    d[--i] = (char) ('0' + v % 10);
    d[--i] = '.';
    do {
        d[--i] = (char) ('0' + u % 10);
        u /= 10;
    } while (u);
    value_start(t);
    put(t, d + i, sizeof d - i);
}

void pv_jt_json(struct pv_jtext *t, json_t *v)
{
    char *s;

    if (!v) {
        t->failed = 1;
        return;
    }
    s = json_dumps(v, PV_JSON_ANSWER_FLAGS | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s) {
        t->failed = 1;
        return;
    }
    value_start(t);
    put(t, s, strlen(s));
    free(s);
}

/* v in decimal, at least width digits (zero-padded), ending at end: returns
 * where it starts ("%0*llu" without snprintf). */
static char *digits_back(char *end, uint64_t v, int width)
{
    do {
        *--end = (char) ('0' + v % 10);
        v /= 10;
        width--;
    } while (v || width > 0);
    return end;
}

/* A string value of plain ASCII (no character to escape), from s to end. */
static void put_plain(struct pv_jtext *t, const char *s, const char *end)
{
    value_start(t);
    if (room(t, (size_t) (end - s) + 2) == 0) {
        t->buf[t->len++] = '"';
        memcpy(t->buf + t->len, s, (size_t) (end - s));
        t->len += (size_t) (end - s);
        t->buf[t->len++] = '"';
    }
}

void pv_jt_money(struct pv_jtext *t, int64_t m)
{
    char d[48], *end = d + sizeof d, *p;
    /* As pv_money_format: PV_MILLS_MAX keeps -m representable; clamp anything wilder. */
    uint64_t a = m < 0 ? (uint64_t) - (m < -PV_MILLS_MAX ? -PV_MILLS_MAX : m) : (uint64_t) m;

    if (a % 10 == 0)
        p = digits_back(end, (a % 1000) / 10, 2);
    else
        p = digits_back(end, a % 1000, 3);
    *--p = '.';
    p = digits_back(p, a / 1000, 1);
    if (m < 0)
        *--p = '-';
    put_plain(t, p, end);
}

/* "YYYY-MM-DD" of ymd ending at end (as pv_date_format's "%04u-%02u-%02u"). */
static char *date_back(char *end, uint32_t ymd)
{
    char *p = digits_back(end, ymd % 100, 2);

    *--p = '-';
    p = digits_back(p, (ymd / 100) % 100, 2);
    *--p = '-';
    return digits_back(p, ymd / 10000, 4);
}

void pv_jt_date(struct pv_jtext *t, uint32_t ymd)
{
    char d[32], *end = d + sizeof d;

    put_plain(t, date_back(end, ymd), end);
}

void pv_jt_time(struct pv_jtext *t, int64_t u)
{
    char d[48], *end = d + sizeof d, *p;
    /* As pv_time_format: whole days down, then the seconds of that day. */
    int64_t days = u >= 0 ? u / 86400 : -((-u + 86399) / 86400);
    uint64_t secs = (uint64_t) (u - days * 86400);

    *--end = 'Z';
    p = digits_back(end, secs % 60, 2);
    *--p = ':';
    p = digits_back(p, (secs / 60) % 60, 2);
    *--p = ':';
    p = digits_back(p, secs / 3600, 2);
    *--p = 'T';
    p = date_back(p, pv_date_from_unix(days * 86400));
    put_plain(t, p, end + 1);
}
