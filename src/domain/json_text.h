/*
 * json_text.h - a small writer of compact JSON text, byte for byte what
 * jansson's json_dumps makes of the same object with PV_JSON_ANSWER_FLAGS
 * (keys in the order written, "," and ":" with no spaces, every character
 * outside ASCII as \uXXXX, control characters escaped as jansson does).
 *
 * For answers sent often (a purchase's): building a jansson tree of forty
 * keys and dumping it costs some hundred allocations; this writes the same
 * bytes into one buffer. Parts written rarely may still be jansson objects
 * (pv_jt_json dumps them in place with the same flags).
 *
 * Strings must be valid UTF-8 (as json_string requires): anything else
 * makes the text fail, as json_pack would. A failed writer (allocation or
 * bad string) keeps failing and pv_jt_take returns NULL.
 */
#ifndef STAMPD_JSON_TEXT_H
#define STAMPD_JSON_TEXT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The flags every JSON answer of the API is dumped with (http.c). */
#define PV_JSON_ANSWER_FLAGS (JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(12))

struct pv_jtext {
    char *buf;      /* owned until pv_jt_take */
    size_t len;     /* bytes written */
    size_t cap;     /* bytes allocated */
    int failed;     /* nonzero: out of memory or a string jansson would refuse */
    int need_comma; /* a member or element was written at this level */
};

/* pv_jt_init - an empty writer with room for about hint bytes (allocated now). */
void pv_jt_init(struct pv_jtext *t, size_t hint);

/* pv_jt_free - release what t holds (after a failure, or instead of pv_jt_take). */
void pv_jt_free(struct pv_jtext *t);

/* pv_jt_take - the text written (owned, NUL-terminated; free()) and its
 * length into *len, t emptied; NULL (t freed) when anything failed. */
char *pv_jt_take(struct pv_jtext *t, size_t *len);

/* pv_jt_open / pv_jt_close - '{' or '[' (c) opening a level, and its end
 * ('}' or ']'). The first member of a level gets no comma. */
void pv_jt_open(struct pv_jtext *t, char c);
void pv_jt_close(struct pv_jtext *t, char c);

/* pv_jt_key - the name of the next member (borrowed, plain ASCII with no
 * character to escape: the names are the code's own) with its comma. */
void pv_jt_key(struct pv_jtext *t, const char *name);

/* pv_jt_str - a string value (borrowed, NUL-terminated UTF-8), escaped;
 * NULL writes null. In an array, after pv_jt_open(t, '['), it is an element. */
void pv_jt_str(struct pv_jtext *t, const char *s);

/* pv_jt_int, pv_jt_bool, pv_jt_null - a number, true/false, null. */
void pv_jt_int(struct pv_jtext *t, int64_t v);
void pv_jt_bool(struct pv_jtext *t, int v);
void pv_jt_null(struct pv_jtext *t);

/* pv_jt_tenths - a number of tenths as jansson writes the real v / 10.0
 * with 12 digits of precision ("3.5", "1.0"); v >= 0. */
void pv_jt_tenths(struct pv_jtext *t, uint32_t v);

/* pv_jt_money, pv_jt_date, pv_jt_time - as strings, what pv_money_format
 * (mills as "7.30", "0.735"), pv_date_format (YYYYMMDD as "YYYY-MM-DD")
 * and pv_time_format (unix time as "2026-11-22T01:02:03Z") write, without
 * snprintf. */
void pv_jt_money(struct pv_jtext *t, int64_t m);
void pv_jt_date(struct pv_jtext *t, uint32_t ymd);
void pv_jt_time(struct pv_jtext *t, int64_t u);

/* pv_jt_json - the jansson value v (TAKEN: released here; NULL fails t)
 * dumped in place with PV_JSON_ANSWER_FLAGS. */
void pv_jt_json(struct pv_jtext *t, json_t *v);

#endif
