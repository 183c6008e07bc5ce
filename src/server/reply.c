/*
 * reply.c - the request/reply helpers every handler shares (reply.h):
 * error and JSON replies from the one error table, the ?limit= and ?cursor=
 * of lists and their answer, JSON bodies checked against their allowed
 * keys, string fields, the Idempotency-Key check, and jansson's allocator,
 * which lets a parse that ran out of memory be told from bad JSON.
 */
#include "server/reply.h"

#include "crypto/primitives.h"
#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Field errors of one answer: {code, field, message}. */
static json_t *field_error(int err, const char *field, const char *message)
{
    return json_pack("{s:s, s:s, s:s}", "code", pv_error_code(err), "field", field, "message",
                     message ? message : pv_strerror(err));
}

/* Append a field error to rp's `errors` (collect mode); 1 when rp held one. */
static int collect_error(struct pv_reply *rp, int err, const char *field, const char *message)
{
    json_t *list = pv_reply_failed(rp) ? json_object_get(rp->body, "errors") : NULL, *v;
    size_t i;

    if (!json_is_array(list))
        return 0;
    json_array_foreach(list, i, v)
    {
        const char *f = json_string_value(json_object_get(v, "field"));
        if (f && strcmp(f, field) == 0)
            return 1;
    }
    if (json_array_append_new(list, field_error(err, field, message)) != 0) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return 1;
    }
    return 1;
}

void pv_reply_error(struct pv_reply *rp, int err, const char *field, const char *message)
{
    json_t *e;

    if (rp->collect && field && collect_error(rp, err, field, message))
        return;
    e = json_pack("{s:s, s:s}", "code", pv_error_code(err), "message",
                  message ? message : pv_strerror(err));
    if (e && field)
        json_object_set_new(e, "field", json_string(field));
    json_decref(rp->body);
    rp->status = pv_error_http(err);
    rp->body = e ? json_pack("{s:o}", "error", e) : NULL;
    if (rp->body && field &&
        json_object_set_new(rp->body, "errors",
                            json_pack("[o]", field_error(err, field, message))) != 0) {
        json_decref(rp->body);
        rp->body = NULL;
    }
}

void pv_reply_json(struct pv_reply *rp, int status, json_t *body)
{
    if (!body) {
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return;
    }
    json_decref(rp->body);
    rp->status = status;
    rp->body = body;
}

int pv_list_args(const struct pv_request *rq, struct pv_list_page *pg, struct pv_reply *rp)
{
    const char *limit = pv_query_arg(rq, "limit");

    pg->limit = LIST_DEFAULT;
    pg->cursor = pv_query_arg(rq, "cursor");
    if (limit && pv_parse_u64(limit, 1, LIST_MAX, &pg->limit) != PV_OK) {
        pv_reply_error(rp, PV_ELIMIT, "limit", "limit must be an integer from 1 to 100");
        return PV_ELIMIT;
    }
    if (pg->cursor && strlen(pg->cursor) >= PV_ID_MAX) {
        pv_reply_error(rp, PV_ECURSOR, "cursor", NULL);
        return PV_ECURSOR;
    }
    return PV_OK;
}

int pv_list_cursor_num(const struct pv_list_page *pg, const char *prefix, uint64_t max,
                       uint64_t *out, struct pv_reply *rp)
{
    size_t n = strlen(prefix);

    *out = 0;
    if (!pg->cursor)
        return PV_OK;
    if (strncmp(pg->cursor, prefix, n) != 0 || pv_parse_u64(pg->cursor + n, 1, max, out) != PV_OK) {
        *out = 0;
        pv_reply_error(rp, PV_ECURSOR, "cursor", NULL);
        return PV_ECURSOR;
    }
    return PV_OK;
}

void pv_list_push(json_t **data, json_t *item)
{
    if (!*data) {
        json_decref(item);
        return;
    }
    /* json_array_append_new takes item even when it fails. */
    if (json_array_append_new(*data, item) != 0) {
        json_decref(*data);
        *data = NULL;
    }
}

void pv_reply_list(struct pv_reply *rp, json_t *data, const char *next_cursor)
{
    pv_reply_json(rp, 200,
                  data ? json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", data,
                                   "has_more", next_cursor != NULL, "next_cursor",
                                   next_cursor ? json_string(next_cursor) : json_null())
                       : NULL);
}

/* Allocation failures of jansson in this thread, counted by the allocator
 * pv_json_alloc_init installs, so a parse that lost memory half-way is told
 * from one of bad JSON. */
static _Thread_local unsigned json_oom;

static void *json_alloc(size_t n)
{
    void *p = malloc(n);

    if (!p)
        json_oom++;
    return p;
}

static void json_release(void *p)
{
    free(p);
}

/* pv_json_alloc_init - see reply.h. */
void pv_json_alloc_init(void)
{
    json_set_alloc_funcs(json_alloc, json_release);
}

/* pv_json_failures - see reply.h. */
unsigned pv_json_failures(void)
{
    return json_oom;
}

/* pv_json_loadb - see reply.h. */
json_t *pv_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err, int *oom)
{
    unsigned before = json_oom;
    json_t *j = json_loadb(buf, len, flags, err);

    *oom = json_oom != before;
    if (*oom) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* Parse a JSON object body; on error rp is set and NULL returned. Checks
 * that every key is one of the NULL-terminated allowed names. */
json_t *pv_body_object(const struct pv_request *rq, const char *const *allowed, struct pv_reply *rp)
{
    json_error_t jerr;
    json_t *root, *v;
    const char *k;
    size_t i;
    int oom;

    root = pv_json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr,
                         &oom);
    if (oom) { /* the server's failure, not the client's bad JSON */
        pv_reply_error(rp, PV_ENOMEM, NULL, NULL);
        return NULL;
    }
    if (!root) {
        /* Not jerr.text: it quotes the token near the error, which may be a
         * card number or CVC. Where is enough to find the mistake. */
        char msg[96];
        snprintf(msg, sizeof msg, "request body is not valid JSON (line %d, column %d)", jerr.line,
                 jerr.column);
        pv_reply_error(rp, PV_EJSON, NULL, msg);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        pv_reply_error(rp, PV_ETYPE, NULL, "request body must be a JSON object");
        return NULL;
    }
    json_object_foreach(root, k, v)
    {
        for (i = 0; allowed[i]; i++)
            if (strcmp(k, allowed[i]) == 0)
                break;
        if (!allowed[i]) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field \"%.100s\"", k);
            pv_reply_error(rp, PV_EUNKNOWNFIELD, k, msg);
            if (!rp->collect) {
                json_decref(root);
                return NULL;
            }
        }
    }
    return root;
}

/* A string field: NULL when absent (and not required). A string longer than
 * maxlen is refused with the field's own error code, toolong. */
int pv_body_string(json_t *root, const char *name, int required, size_t maxlen, int toolong,
                   const char **out, struct pv_reply *rp)
{
    json_t *v = json_object_get(root, name);

    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required) {
            pv_reply_error(rp, PV_EMISSING, name, NULL);
            return PV_EMISSING;
        }
        return PV_OK;
    }
    if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
        pv_reply_error(rp, PV_ETYPE, name, NULL);
        return PV_ETYPE;
    }
    if (json_string_length(v) > maxlen) {
        pv_reply_error(rp, toolong, name, "value is too long");
        return toolong;
    }
    *out = json_string_value(v);
    return PV_OK;
}

int pv_idem_key_check(const char *k, struct pv_reply *rp)
{
    size_t i, n;

    if (!k) {
        pv_reply_error(rp, PV_EIDEMREQUIRED, "Idempotency-Key", NULL);
        return PV_EIDEMREQUIRED;
    }
    n = strlen(k);
    for (i = 0; i < n && n < PV_IDEM_KEY_MAX; i++)
        if (k[i] < 0x20 || k[i] > 0x7e)
            break;
    if (n == 0 || n >= PV_IDEM_KEY_MAX || i < n) {
        pv_reply_error(rp, PV_EINVAL, "Idempotency-Key",
                       "Idempotency-Key must be 1-255 printable ASCII characters");
        return PV_EINVAL;
    }
    return PV_OK;
}

int pv_request_id_ok(const char *id)
{
    size_t i;

    if (!id)
        return 0;
    for (i = 0; id[i]; i++)
        if (i + 1 >= PV_REQUEST_ID_MAX || id[i] <= 0x20 || id[i] >= 0x7f || id[i] == '"' ||
            id[i] == '\\')
            return 0;
    return i > 0;
}

/*
 * pv_request_id_new - see reply.h. The random part comes from a generator
 * of this thread (splitmix64) seeded once from pv_random: a request id only
 * ties log lines together (a proxy may choose it, X-Request-Id), it guards
 * nothing, and RAND_bytes on every request cost the HTTP workers more than
 * the rest of the id.
 */
int pv_request_id_new(char out[PV_REQUEST_ID_MAX])
{
    static _Thread_local uint64_t state;
    static _Thread_local int seeded;
    uint8_t rnd[PV_ID_CHARS - PV_ID_TIME_CHARS];
    uint64_t z = 0;
    size_t i;

    if (!seeded) {
        if (pv_random((uint8_t *) &state, sizeof state) != PV_OK)
            return PV_ECRYPTO;
        seeded = 1;
    }
    for (i = 0; i < sizeof rnd; i++, z >>= 5) {
        if (i % 12 == 0) { /* 12 characters of 5 bits from each 64-bit draw */
            z = (state += 0x9e3779b97f4a7c15u);
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
            z ^= z >> 31;
        }
        rnd[i] = (uint8_t) (z & 31);
    }
    memcpy(out, "req_", 4);
    pv_id_tail(pv_now_ms(), rnd, out + 4);
    return PV_OK;
}

void pv_reply_request_id(struct pv_reply *rp, const char *request_id)
{
    json_t *e = rp->body ? json_object_get(rp->body, "error") : NULL;

    if (e && json_is_object(e) && request_id && request_id[0])
        json_object_set_new(e, "request_id", json_string(request_id));
}

/* A declined card: 402 with the gateway's reason. */
void pv_reply_declined(struct pv_reply *rp, const char *decline)
{
    json_t *e;

    pv_reply_error(rp, PV_ECARDDECLINED, "payment", NULL);
    e = rp->body ? json_object_get(rp->body, "error") : NULL;
    if (e)
        json_object_set_new(e, "decline_code",
                            json_string(decline && decline[0] ? decline : "card_declined"));
}
