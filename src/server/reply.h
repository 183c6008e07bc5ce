/*
 * reply.h - what a request handler reads and writes: the request, the
 * reply, the call a route's handler gets, and the small helpers every
 * handler shares (error and JSON replies, query arguments, pages of lists,
 * JSON bodies with an allowed set of keys, string fields, the
 * Idempotency-Key check). A leaf
 * of src/server: it includes nothing else from it, so any file may use it.
 */
#ifndef STAMPD_REPLY_H
#define STAMPD_REPLY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* An X-Request-Id: at most PV_REQUEST_ID_MAX - 1 characters (reply.c). */
#define PV_REQUEST_ID_MAX 65

/* Pages of lists: ?limit= defaults to LIST_DEFAULT and takes 1..LIST_MAX. */
#define LIST_DEFAULT 20
#define LIST_MAX     100

struct pv_app;
struct pv_job;
struct pv_principal;
struct pv_store;

/* What a handler answers: a status, a JSON body (owned) and headers, or a
 * purchase job still to run (owned; see dispatch.h). */
struct pv_reply {
    int status;
    json_t *body;
    int replayed; /* adds Idempotent-Replayed: true */
    struct pv_job *job;
    /* A document instead of JSON (labels): owned bytes, static type, file name. */
    uint8_t *raw;
    size_t raw_len;
    const char *content_type;
    char filename[128];
    /* A static file of the web UI instead (web.c): never freed, cacheable. */
    const unsigned char *asset;
    size_t asset_len;
    const char *cache_control; /* NULL = "no-store" */
    const char *etag;          /* an ETag header, or NULL */
    char set_cookie[256];      /* a Set-Cookie header, or "" */
    int retry_after;           /* seconds for a Retry-After header (429), or 0 */
    char signature[65];        /* an X-Stampd-Signature header (internal.h), or "" */
    /* Set by a handler before it validates a body: pv_reply_error then
     * collects field errors instead of replacing the first (reply.c). */
    int collect;
    /* For the access line and the metrics (routes.c fills them): the route
     * table's pattern of the path (static; NULL = none matched), and who
     * called - an API key's public prefix or "session", and the account. */
    const char *route;
    char auth[24];
    char owner[48];
};

struct pv_request {
    const char *method;
    const char *path;
    /* Query-string argument / request header by name, or NULL: arg(arg_ctx, "limit"). */
    const char *(*arg)(void *arg_ctx, const char *name);
    const char *(*header)(void *arg_ctx, const char *name);
    /* Every query argument in order, fn(cls, name, value) until fn answers
     * non-zero (names like "metadata[order]"); may be NULL: none. */
    void (*arg_each)(void *arg_ctx, int (*fn)(void *cls, const char *name, const char *value),
                     void *cls);
    void *arg_ctx;
    const char *authorization;
    const char *idempotency_key;
    const char *body;
    size_t body_len;
    const char *remote;     /* the client's address ("127.0.0.1"), for rate limits; may be NULL */
    const char *request_id; /* this request's X-Request-Id (http.c); may be NULL */
    int tls;                /* it came over stampd's own HTTPS (--tls-cert) */
};

/*
 * One call of a route's handler (routes.c): everything it may use, all
 * borrowed for the call. A handler answers by filling rp.
 */
struct pv_call {
    struct pv_app *app;
    struct pv_store *st;            /* a pooled handle; NULL on routes that need no store */
    const struct pv_principal *who; /* the caller; NULL on routes that need no key */
    const struct pv_request *rq;
    struct pv_reply *rp;
    const char *id; /* the path's {id} or {any} segment (NUL-terminated), or NULL */
};

/*
 * pv_reply_error - set rp to the standard error body for err. field and
 * message (borrowed) may be NULL: no field, the error's own message. An
 * error with a field also lists itself in the body's top-level `errors`
 * ([{code, field, message}]). When rp->collect is set and rp already holds
 * an error with a field, a further error with a field is appended to
 * `errors` instead (the status and `error` stay the first's; a field
 * already listed is not listed twice); an error without a field replaces
 * the body as always.
 */
void pv_reply_error(struct pv_reply *rp, int err, const char *field, const char *message);

/* pv_reply_failed - 1 when rp already holds an error answer (status >= 400). */
static inline int pv_reply_failed(const struct pv_reply *rp)
{
    return rp->body != NULL && rp->status >= 400;
}

/* pv_reply_json - answer status with body (taken; NULL means out of memory). */
void pv_reply_json(struct pv_reply *rp, int status, json_t *body);

/* pv_reply_declined - 402 card_declined with decline_code (borrowed). */
void pv_reply_declined(struct pv_reply *rp, const char *decline);

/* pv_query_arg - the query argument name (borrowed from the request), or NULL. */
static inline const char *pv_query_arg(const struct pv_request *rq, const char *name)
{
    return rq->arg ? rq->arg(rq->arg_ctx, name) : NULL;
}

/*
 * pv_json_alloc_init - make jansson allocate through a counter of failed
 * allocations, so that pv_body_object answers a parse that ran out of
 * memory 500 internal_error rather than 400 invalid_json (or a body with a
 * character lost: jansson 2.14 drops one it cannot store). Call once at
 * start-up, before any thread uses jansson (main does).
 */
void pv_json_alloc_init(void);

/* pv_json_failures - how many of jansson's allocations failed in this
 * thread so far (after pv_json_alloc_init): compare before and after a
 * call whose NULL may mean either bad input or no memory. */
unsigned pv_json_failures(void);

/*
 * pv_json_loadb - json_loadb(buf, len, flags, err) (buf borrowed; the value
 * returned owned), except that when an allocation failed while parsing it
 * returns NULL with *oom set to 1 (else 0): jansson reports some of those
 * as syntax errors, and its lexer (2.14) drops a character it cannot store
 * and goes on, so what it returns then may differ from the text. Knows of
 * failures only after pv_json_alloc_init.
 */
json_t *pv_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err, int *oom);

/*
 * pv_body_object - the request body as a JSON object whose keys are all in
 * the NULL-terminated allowed list. Returns it owned (json_decref), or NULL
 * with rp set to the error: 500 internal_error when an allocation failed
 * while parsing (pv_json_loadb). With rp->collect set, every unknown field
 * is listed as an error and the object is still returned: the caller goes
 * on checking the other fields and answers once pv_reply_failed.
 */
json_t *pv_body_object(const struct pv_request *rq, const char *const *allowed,
                       struct pv_reply *rp);

/*
 * pv_body_string - string field name of root into *out (borrowed from
 * root; NULL when absent and not required). Errors set rp: missing_field,
 * invalid_type, or toolong when longer than maxlen.
 */
int pv_body_string(json_t *root, const char *name, int required, size_t maxlen, int toolong,
                   const char **out, struct pv_reply *rp);

/* A page of a list, as asked for by ?limit= and ?cursor=. */
struct pv_list_page {
    uint64_t limit;     /* rows on the page: 1..LIST_MAX, LIST_DEFAULT when not given */
    const char *cursor; /* ?cursor= (borrowed from the request; shorter than any id), or NULL */
};

/*
 * pv_list_args - ?limit= and ?cursor= of a list request into pg. PV_OK, or
 * with rp set: PV_ELIMIT (limit not an integer 1..LIST_MAX), PV_ECURSOR (a
 * cursor as long as no id is). The handler checks the cursor's form further.
 */
int pv_list_args(const struct pv_request *rq, struct pv_list_page *pg, struct pv_reply *rp);

/*
 * pv_list_cursor_num - the cursor of pg (borrowed) when it is prefix
 * (borrowed) and a number 1..max: the number into *out (0 when there is no
 * cursor). PV_OK, or PV_ECURSOR with rp set.
 */
int pv_list_cursor_num(const struct pv_list_page *pg, const char *prefix, uint64_t max,
                       uint64_t *out, struct pv_reply *rp);

/*
 * pv_list_push - append item (taken; NULL means out of memory) to the list
 * *data; if that fails, *data is released and becomes NULL (pv_reply_list
 * then answers out of memory). Nothing is appended to a NULL *data.
 */
void pv_list_push(json_t **data, json_t *item);

/*
 * pv_reply_list - answer 200 with a page of a list: data (taken; NULL
 * means out of memory), has_more exactly when next_cursor (borrowed) is not
 * NULL, and next_cursor.
 */
void pv_reply_list(struct pv_reply *rp, json_t *data, const char *next_cursor);

/* pv_request_id_ok - 1 when id (borrowed; a proxy's X-Request-Id) may be
 * taken as this request's id: 1..PV_REQUEST_ID_MAX-1 characters of
 * printable ASCII other than space, '"' and '\\'. */
int pv_request_id_ok(const char *id);

/* pv_request_id_new - a new request id into out, shaped as pv_new_id makes
 * ids: "req_", the time in 9 characters, 11 random ones. PV_OK or
 * PV_ECRYPTO (no seed from the system's random source). */
int pv_request_id_new(char out[PV_REQUEST_ID_MAX]);

/* pv_reply_request_id - add request_id (borrowed) to rp's error body, if it
 * is one ({"error": {...}}): error.request_id. */
void pv_reply_request_id(struct pv_reply *rp, const char *request_id);

/* pv_idem_key_check - PV_OK when k (borrowed; the request's
 * Idempotency-Key) is 1..PV_IDEM_KEY_MAX-1 printable ASCII characters;
 * else rp is set: idempotency_key_required (absent) or invalid_request. */
int pv_idem_key_check(const char *k, struct pv_reply *rp);

#endif
