/*
 * http.c - the HTTP front on libmicrohttpd.
 *
 * Collects the request body (capped at PV_BODY_MAX: anything larger is
 * answered 413 without being read into memory), hands a pv_request to the
 * API, and turns the pv_reply into a JSON response with security headers.
 * libmicrohttpd's own messages go through a logger that keeps any client
 * from growing the log.
 *
 * Slow clients: one address may hold at most limits->per_address
 * connections (libmicrohttpd's per-IP limit), and a request has a deadline
 * that trickling bytes cannot extend (libmicrohttpd's idle timeout restarts
 * on every byte). Every connection is tracked from libmicrohttpd's
 * connection-started to its connection-closed notice; a sweep thread shuts
 * down the socket of any connection that has waited more than
 * limits->deadline_s for its request's headers (since it opened, or since
 * its previous answer) or, once they came, for the body. A request being
 * handled or answered, or a purchase waiting for its batch, has no deadline.
 *
 * A processor (pv_http_start with TLS material) serves HTTPS through
 * libmicrohttpd's GnuTLS and asks for a client certificate; libmicrohttpd
 * only asks, so before the first request of a connection is handled this
 * file has GnuTLS verify the front's certificate against the internal CA,
 * for clientAuth, and closes the connection unless it verifies. Every answer
 * of a processor is signed for the request it answers (pv_h_internal_seal).
 * The public listener's HTTPS (--tls-cert) takes its pair from pubtls.c.
 */
#include "server/http.h"
#include "server/http_args.h"

#include "server/dispatch.h"
#include "server/h_indicia.h"
#include "server/h_internal.h"
#include "server/job.h"
#include "server/metrics.h"
#include "server/pubtls.h"
#include "server/routes.h"

#include "domain/json_text.h"
#include "domain/ledger.h"

#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/timeutil.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* The web UI has no inline script or style and talks only to this server. */
#define PV_CSP                                                                                     \
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "        \
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "            \
    "manifest-src 'self'"

/* tracked.wait_ms of a connection the sweep has cut. */
#define WAIT_CUT (-1)

/* One open connection, from libmicrohttpd's STARTED notice to its CLOSED
 * notice (its socket_context); linked in pv_http.tracked under pv_http.mu. */
struct tracked {
    struct tracked *prev, *next;
    MHD_socket fd;           /* valid until the CLOSED notice: MHD closes it after */
    _Atomic int64_t wait_ms; /* when it began waiting for bytes; 0 = being handled,
                                WAIT_CUT = shut down by the sweep */
    int peer_ok;             /* TLS: the client's certificate verified (once per connection) */
};

struct pv_http {
    struct MHD_Daemon *d;
    struct pv_app *app;
    atomic_int quiescing; /* pv_http_quiesce: every new connection is refused */
    atomic_int in_flight; /* purchases accepted and not yet answered */
    int64_t deadline_ms;  /* for a request's headers, and again for its body */
    pthread_mutex_t mu;   /* guards tracked, stopping */
    pthread_cond_t wake;  /* ends the sweep early at stop */
    struct tracked *tracked;
    int stopping;
    pthread_t sweeper;
    int sweeping; /* the sweeper thread was started */
    int tls;      /* HTTPS with client certificates (a processor) */
    int https;    /* HTTPS of any kind: HSTS on answers, Secure cookies */
    /* --connection-limit, counted here (on_accept), not by libmicrohttpd: see pv_http_start. */
    atomic_uint open;
    unsigned limit;
};

struct conn_state {
    char *body;
    size_t len, cap;
    int too_big;
    size_t body_max; /* PV_BODY_MAX, or PV_BODY_MAX_BATCH for POST /v1/batches */
    struct MHD_Connection *conn;
    struct pv_job *job; /* a purchase waiting for its batch; conn is suspended */
    int purchase;       /* counted in pv_http.in_flight until completed */
    /* For the X-Request-Id and the access line: the request's id (the
     * proxy's, or a new one), when its headers were in, and - while a
     * purchase waits - what routes.c said about it. */
    char request_id[PV_REQUEST_ID_MAX];
    int64_t start_us;
    const char *route;
    char auth[24];
    char owner[48];
};

static int append(struct conn_state *s, const char *data, size_t n)
{
    if (s->too_big || s->len + n > s->body_max) {
        s->too_big = 1;
        return 0;
    }
    if (s->len + n + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        char *b;
        while (cap < s->len + n + 1)
            cap *= 2;
        /* Not realloc: the old buffer is wiped before it is freed (card numbers). */
        b = malloc(cap);
        if (!b)
            return -1;
        if (s->body) {
            memcpy(b, s->body, s->len);
            pv_card_wipe(s->body, s->len);
            free(s->body);
        }
        s->body = b;
        s->cap = cap;
    }
    memcpy(s->body + s->len, data, n);
    s->len += n;
    s->body[s->len] = '\0';
    return 0;
}

static enum MHD_Result send_reply(struct MHD_Connection *c, struct pv_reply *rp,
                                  const char *request_id, int https)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    const char *type = "application/json";
    char *text = NULL, disposition[192];
    size_t len = 0;

    if (rp->asset) {
        /* A file of the web UI: static bytes, nothing to free. */
        resp = MHD_create_response_from_buffer(rp->asset_len, (void *) (uintptr_t) rp->asset,
                                               MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        type = rp->content_type;
    } else if (rp->raw) {
        /* A document: the response takes the bytes. */
        resp = MHD_create_response_from_buffer(rp->raw_len, rp->raw, MHD_RESPMEM_MUST_FREE);
        if (!resp)
            return MHD_NO;
        rp->raw = NULL;
        type = rp->content_type;
        if (rp->filename[0]) {
            snprintf(disposition, sizeof disposition, "attachment; filename=\"%s\"", rp->filename);
            MHD_add_response_header(resp, "Content-Disposition", disposition);
        }
    } else {
        if (rp->body) {
            text = json_dumps(rp->body, PV_JSON_ANSWER_FLAGS); /* as json_text.h writes */
            if (!text)
                return MHD_NO;
            len = strlen(text);
        }
        resp = MHD_create_response_from_buffer(
            len, text ? text : (char *) "", text ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
        if (!resp) {
            free(text);
            return MHD_NO;
        }
    }
    if (rp->status != 304 || rp->content_type)
        MHD_add_response_header(resp, "Content-Type", type);
    MHD_add_response_header(resp, "Cache-Control",
                            rp->cache_control ? rp->cache_control : "no-store");
    if (rp->etag)
        MHD_add_response_header(resp, "ETag", rp->etag);
    /* Every answer, the web UI's pages and the API's JSON alike, may only run
     * our own scripts and styles, never be framed, and leak no referrer. */
    MHD_add_response_header(resp, "Content-Security-Policy", PV_CSP);
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
    MHD_add_response_header(resp, "Permissions-Policy", "camera=(), microphone=(), geolocation=()");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (https)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (request_id[0])
        MHD_add_response_header(resp, "X-Request-Id", request_id);
    if (rp->replayed)
        MHD_add_response_header(resp, "Idempotent-Replayed", "true");
    if (rp->signature[0])
        MHD_add_response_header(resp, "X-Stampd-Signature", rp->signature);
    if (rp->set_cookie[0])
        MHD_add_response_header(resp, "Set-Cookie", rp->set_cookie);
    if (rp->retry_after > 0) {
        char secs[24];
        snprintf(secs, sizeof secs, "%d", rp->retry_after);
        MHD_add_response_header(resp, "Retry-After", secs);
    }
    ret = MHD_queue_response(c, (unsigned int) rp->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* s's request id: the one a proxy set (X-Request-Id), if it is sane, else a new one. */
static void take_request_id(struct MHD_Connection *c, struct conn_state *s)
{
    const char *given = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Request-Id");
    char id[PV_REQUEST_ID_MAX];

    if (pv_request_id_ok(given))
        pv_str_copy(s->request_id, sizeof s->request_id, given);
    else if (pv_request_id_new(id) == PV_OK)
        pv_str_copy(s->request_id, sizeof s->request_id, id);
}

/* The access line of the request s answered with rp (docs/operations.md, "Logs"). */
static void log_access(struct MHD_Connection *c, const struct pv_http *h,
                       const struct conn_state *s, const char *method, const char *url,
                       const struct pv_reply *rp)
{
    struct pv_log_access a;
    json_t *e = rp->body ? json_object_get(rp->body, "error") : NULL;
    char remote[INET6_ADDRSTRLEN];

    memset(&a, 0, sizeof a);
    a.request_id = s->request_id;
    a.method = method;
    a.path = url;
    a.route = rp->route;
    a.status = rp->status;
    a.duration_us = pv_mono_us() - s->start_us;
    a.auth = rp->auth;
    a.owner = rp->owner;
    a.remote = pv_http_source_address(h->app, c, remote, sizeof remote);
    a.error = e ? json_string_value(json_object_get(e, "code")) : NULL;
    pv_log_access(&a);
    pv_metrics_http(rp->route, method, rp->status, a.duration_us);
    if (a.error)
        pv_metrics_error(a.error, json_string_value(json_object_get(e, "decline_code")));
    if (rp->route && strcmp(rp->route, "/v1/indicia") == 0 && strcmp(method, "POST") == 0)
        pv_metrics_purchase(a.duration_us);
}

/* Milliseconds on the monotonic clock, >= 1: deadlines ignore clock steps. */
static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
}

/*
 * Start (mono_ms()) or stop (0) the deadline of c's wait for bytes. -1 when the
 * sweep has already cut c: then its request must not be handled (nobody
 * would get the answer). The compare-and-swap here and in sweep() makes
 * "handled" and "cut" exclusive.
 */
static int set_wait(struct MHD_Connection *c, int64_t since_ms)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tracked *t = ci ? ci->socket_context : NULL;
    int64_t cur;

    if (!t)
        return 0;
    cur = atomic_load(&t->wait_ms);
    do {
        if (cur == WAIT_CUT)
            return -1;
    } while (!atomic_compare_exchange_weak(&t->wait_ms, &cur, since_ms));
    return 0;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap);

/* A line of this file's own about a client: at most MHD_LOG_BURST a minute. */
static void log_bounded(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    mhd_logger(NULL, fmt, ap);
    va_end(ap);
}

/*
 * TLS: 1 when c's client presented a certificate that chains to the internal
 * CA (libmicrohttpd's trust list) and allows clientAuth - a front's, not a
 * processor's. Verified once per connection.
 */
static int peer_verified(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *sc =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    struct tracked *t = sc ? sc->socket_context : NULL;
    gnutls_typed_vdata_st purpose;
    gnutls_session_t session;
    unsigned status = 1;

    if (t && t->peer_ok)
        return 1;
    if (!ci || !ci->tls_session)
        return 0;
    session = (gnutls_session_t) ci->tls_session;
    memset(&purpose, 0, sizeof purpose);
    purpose.type = GNUTLS_DT_KEY_PURPOSE_OID;
    purpose.data = (unsigned char *) (uintptr_t) GNUTLS_KP_TLS_WWW_CLIENT;
    if (gnutls_certificate_type_get2(session, GNUTLS_CTYPE_PEERS) != GNUTLS_CRT_X509 ||
        gnutls_certificate_verify_peers(session, &purpose, 1, &status) < 0 || status != 0)
        return 0;
    if (t)
        t->peer_ok = 1;
    return 1;
}

/* On a processor's or the router's thread: the purchase is final (the
 * dispatcher retried what it could), wake its connection. */
static void job_done(struct pv_job *job)
{
    struct conn_state *s = job->ctx;

    MHD_resume_connection(s->conn);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    struct pv_http *h = cls;
    struct conn_state *s = *req_cls;
    struct pv_request rq;
    struct pv_reply rp;
    enum MHD_Result ret;
    char remote[INET6_ADDRSTRLEN];

    if (!s) {
        /* A processor serves fronts only: no verified certificate, no answer. */
        if (h->tls && !peer_verified(c)) {
            char addr[INET6_ADDRSTRLEN];
            const char *who = pv_http_client_address(c, addr, sizeof addr);
            /* Anyone can knock: through the logger that bounds the log. */
            log_bounded("%s: no client certificate of the internal CA", who ? who : "?");
            return MHD_NO;
        }
        s = calloc(1, sizeof *s);
        if (!s)
            return MHD_NO;
        s->start_us = pv_mono_us();
        s->body_max = pv_body_max(method, url);
        take_request_id(c, s);
        *req_cls = s;
        /* The headers are in: the body gets a deadline of its own. */
        return set_wait(c, mono_ms()) == 0 ? MHD_YES : MHD_NO;
    }
    if (*upload_data_size) {
        if (append(s, upload_data, *upload_data_size) < 0)
            return MHD_NO;
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* The whole request is in: no deadline while it is handled and answered. */
    if (set_wait(c, 0) != 0)
        return MHD_NO;
    memset(&rp, 0, sizeof rp);
    if (s->job) {
        /* Called again after job_done() resumed us: answer the purchase. */
        pv_indicia_finish(s->job, PV_OK, &rp);
        s->job = NULL;
        rp.route = s->route;
        memcpy(rp.auth, s->auth, sizeof rp.auth);
        memcpy(rp.owner, s->owner, sizeof rp.owner);
    } else if (s->too_big) {
        pv_reply_error(&rp, PV_ETOOBIG, NULL, NULL);
    } else {
        memset(&rq, 0, sizeof rq);
        rq.method = method;
        rq.path = url;
        rq.arg = pv_http_query_arg;
        rq.arg_each = pv_http_query_each;
        rq.header = pv_http_header;
        rq.arg_ctx = c;
        rq.authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
        rq.idempotency_key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
        rq.body = s->body ? s->body : "";
        rq.body_len = s->len;
        rq.remote = pv_http_source_address(h->app, c, remote, sizeof remote);
        rq.request_id = s->request_id;
        rq.tls = h->https;
        pv_routes_handle(h->app, &rq, &rp);
        if (rp.job) {
            int rc;
            /* The processor logs the same id; the answer's line needs the caller. */
            pv_str_copy(rp.job->request_id, sizeof rp.job->request_id, s->request_id);
            s->route = rp.route;
            memcpy(s->auth, rp.auth, sizeof s->auth);
            memcpy(s->owner, rp.owner, sizeof s->owner);
            /* Suspend before queueing, so the resume cannot come first. */
            s->job = rp.job;
            s->conn = c;
            rp.job->ctx = s;
            rp.job->on_done = job_done;
            /* Counted before it is queued, so shutdown cannot miss it. */
            s->purchase = 1;
            atomic_fetch_add(&h->in_flight, 1);
            MHD_suspend_connection(c);
            if ((rc = pv_dispatch_submit(h->app, rp.job)) == PV_OK)
                return MHD_YES;
            s->purchase = 0;
            atomic_fetch_sub(&h->in_flight, 1);
            MHD_resume_connection(c);
            s->job = NULL;
            pv_indicia_finish(rp.job, rc, &rp);
        }
    }
    /* A processor's answers are the front's to read: their bodies stay as signed. */
    if (h->app->internal)
        pv_h_internal_seal(h->app, pv_http_header(c, "X-Stampd-Signature"), &rp);
    else
        pv_reply_request_id(&rp, s->request_id);
    ret = send_reply(c, &rp, s->request_id, h->https);
    log_access(c, h, s, method, url, &rp);
    json_decref(rp.body);
    free(rp.raw);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pv_http *h = cls;
    struct conn_state *s = *req_cls;

    /* Answered: a kept-alive connection waits for its next request's headers. */
    set_wait(c, mono_ms());
    if (s) {
        if (s->purchase)
            atomic_fetch_sub(&h->in_flight, 1);
        pv_job_free(s->job); /* only when the connection died before the answer */
        /* A body may hold a card number: leave nothing of it in freed memory. */
        if (s->body)
            pv_card_wipe(s->body, s->len);
        free(s->body);
        free(s);
        *req_cls = NULL;
    }
}

/*
 * libmicrohttpd writes a message for every connection a client drops
 * mid-request, so anyone could fill the disk with them: at most
 * MHD_LOG_BURST lines a minute (for all daemons of the process), then one
 * line saying how many were left out. A message may quote the client's
 * bytes: control characters become '?', so a line stays one line.
 */
#define MHD_LOG_BURST     10
#define MHD_LOG_WINDOW_MS 60000

static struct {
    pthread_mutex_t mu;
    int64_t window_ms; /* start of the current minute */
    unsigned lines;    /* written in it */
    unsigned long dropped;
} mhd_log = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0};

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char line[256];
    int64_t now = pv_now_ms();
    size_t i, n;

    (void) cls;
    pthread_mutex_lock(&mhd_log.mu);
    if (now - mhd_log.window_ms >= MHD_LOG_WINDOW_MS) {
        if (mhd_log.dropped)
            pv_log(PV_LOG_WARNING, "http: %lu more libmicrohttpd messages not logged\n",
                   mhd_log.dropped);
        mhd_log.window_ms = now;
        mhd_log.lines = 0;
        mhd_log.dropped = 0;
    }
    if (mhd_log.lines >= MHD_LOG_BURST) {
        mhd_log.dropped++;
        goto out;
    }
    mhd_log.lines++;
    vsnprintf(line, sizeof line, fmt, ap);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    for (i = 0; i < n; i++)
        if ((unsigned char) line[i] < 0x20 || (unsigned char) line[i] == 0x7f)
            line[i] = '?';
    pv_log(PV_LOG_WARNING, "http: %s", line);
out:
    pthread_mutex_unlock(&mhd_log.mu);
}

/* libmicrohttpd's connection notices: track each connection while it is open. */
/* The place under --connection-limit that on_accept took on this worker thread for the
 * connection libmicrohttpd is now setting up; its NOTIFY_STARTED hands it over to that
 * connection. libmicrohttpd's workers call both on the accepting thread, one connection
 * at a time. Taking the place at accept, not at STARTED, is what makes the limit exact:
 * counted at STARTED, two workers could both see one place left and both take it. If
 * libmicrohttpd gives up in between (out of memory), the place stays with the thread
 * for its next connection instead of being lost. */
static _Thread_local struct pv_http *place_held;

/* A new connection past --connection-limit is closed at once (see pv_http_start). */
static enum MHD_Result on_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct pv_http *h = cls;
    unsigned n;

    (void) addr;
    (void) addrlen;
    if (atomic_load(&h->quiescing))
        return MHD_NO;
    if (place_held == h)
        return MHD_YES;
    n = atomic_load(&h->open);
    do {
        if (n >= h->limit)
            return MHD_NO;
    } while (!atomic_compare_exchange_weak(&h->open, &n, n + 1));
    place_held = h;
    return MHD_YES;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct pv_http *h = cls;
    struct tracked *t = *socket_context;

    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        if (place_held == h)
            place_held = NULL; /* the place on_accept took is this connection's now */
        else
            atomic_fetch_add(&h->open, 1);
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        atomic_fetch_sub(&h->open, 1);
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!ci || !(t = calloc(1, sizeof *t)))
            return; /* untracked: only MHD's idle timeout closes it */
        t->fd = ci->connect_fd;
        atomic_store(&t->wait_ms, mono_ms());
        pthread_mutex_lock(&h->mu);
        t->next = h->tracked;
        if (h->tracked)
            h->tracked->prev = t;
        h->tracked = t;
        pthread_mutex_unlock(&h->mu);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && t) {
        /* Under mu: the sweep never touches a socket MHD is about to close. */
        pthread_mutex_lock(&h->mu);
        if (t->prev)
            t->prev->next = t->next;
        else
            h->tracked = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&h->mu);
        free(t);
        *socket_context = NULL;
    }
}

#define SWEEP_MS 500

/*
 * The sweep thread: every SWEEP_MS, shut down the socket of each connection
 * waiting for bytes longer than the deadline. shutdown(), not close(): the
 * descriptor stays libmicrohttpd's, which sees the end of the stream and
 * closes the connection on its own thread.
 */
static void *sweep(void *arg)
{
    struct pv_http *h = arg;

    pthread_mutex_lock(&h->mu);
    while (!h->stopping) {
        struct timespec ts;
        int64_t now = mono_ms();
        struct tracked *t;

        for (t = h->tracked; t; t = t->next) {
            int64_t since = atomic_load(&t->wait_ms);
            if (since > 0 && now - since > h->deadline_ms &&
                atomic_compare_exchange_strong(&t->wait_ms, &since, WAIT_CUT))
                shutdown(t->fd, SHUT_RDWR);
        }
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += SWEEP_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->wake, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

static void stop_sweep(struct pv_http *h)
{
    if (h->sweeping) {
        pthread_mutex_lock(&h->mu);
        h->stopping = 1;
        pthread_cond_signal(&h->wake);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->sweeper, NULL);
        h->sweeping = 0;
    }
}

static void http_free(struct pv_http *h)
{
    if (h->https && !h->tls)
        pv_pubtls_clear();
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->wake);
    free(h);
}

int pv_http_start(struct pv_app *app, const char *host, uint16_t port, unsigned threads,
                  const struct pv_http_limits *limits, const struct pv_tls *tls,
                  struct pv_http **out, uint16_t *bound_port)
{
    struct pv_http *h = calloc(1, sizeof *h);
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    /* TLS 1.2 and 1.3 only; the client's certificate is checked per connection. */
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? tls->key_pem : NULL},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, tls ? tls->cert_pem : NULL},
        {MHD_OPTION_HTTPS_MEM_TRUST, 0, tls ? tls->ca_pem : NULL},
        {MHD_OPTION_HTTPS_PRIORITIES, 0,
         (void *) (uintptr_t) "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"},
        {MHD_OPTION_END, 0, NULL},
    };

    if (!h)
        return PV_ENOMEM;
    if (limits->deadline_s == 0) {
        free(h);
        return PV_ECONFIG;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->wake, NULL);
    h->deadline_ms = (int64_t) limits->deadline_s * 1000;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
        http_free(h);
        return PV_ECONFIG;
    }
    h->app = app;
    h->tls = tls && tls->ca_pem;
    h->https = tls != NULL;
    if (!tls)
        tls_opts[0].option = MHD_OPTION_END;
    else if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES ||
             (!h->tls && MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK) != MHD_YES)) {
        pv_log(PV_LOG_ERROR, "http: this libmicrohttpd has no TLS (or no certificate callback)\n");
        http_free(h);
        return PV_ECONFIG;
    } else if (!h->tls) {
        /* Public HTTPS: the pair comes from pubtls.c per handshake (reloadable). */
        char why[160];
        if (pv_pubtls_set(tls->cert_pem, tls->key_pem, why, sizeof why) != PV_OK) {
            pv_log(PV_LOG_ERROR, "http: --tls-cert/--tls-key: %s\n", why);
            http_free(h);
            return PV_ECONFIG;
        }
        tls_opts[0] = tls_opts[3];
        tls_opts[1].option = MHD_OPTION_END;
    }
    /* The connection limit is counted here, and libmicrohttpd's own is set where no
     * worker thread reaches its share: a worker at its share takes the listening
     * socket out of its epoll set and back, which 0.9.75 does not do safely against
     * another thread doing the same (see pv_http_quiesce). */
    h->limit = limits->connections ? limits->connections : PV_HTTP_CONNECTIONS;
    h->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
            MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC | (tls ? MHD_USE_TLS : 0),
        /* The logger first: libmicrohttpd sends messages about the options after it to it. */
        0, on_accept, h, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (const struct sockaddr *) &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int) threads, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t) PV_HTTP_CONNECTION_MEMORY, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int) (h->limit + 64) * (unsigned int) (threads > 0 ? threads : 1),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) limits->per_address,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_ARRAY, tls_opts,
        h->https && !h->tls ? MHD_OPTION_HTTPS_CERT_CALLBACK : MHD_OPTION_END, pv_pubtls_retrieve,
        MHD_OPTION_END);
    if (!h->d) {
        http_free(h);
        return PV_EIO;
    }
    if (pthread_create(&h->sweeper, NULL, sweep, h) != 0) {
        MHD_stop_daemon(h->d);
        http_free(h);
        return PV_EIO;
    }
    h->sweeping = 1;
    info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    *out = h;
    return PV_OK;
}

/* Not MHD_quiesce_daemon: in libmicrohttpd 0.9.75 it takes the listening socket out of
 * each worker's epoll set while a worker may be doing the same, and the loser aborts the
 * process ("Failed to remove listen FD from epoll set"; seen at SIGTERM in CI, with few
 * connections as with many). The accept policy refuses instead: a connection accepted
 * from now on is closed at once; the socket stays bound until pv_http_stop, as before. */
void pv_http_quiesce(struct pv_http *h)
{
    if (h)
        atomic_store(&h->quiescing, 1);
}

void pv_http_stop(struct pv_http *h)
{
    int waited_ms = 0;

    if (!h)
        return;
    /* Purchases the processors finished are resumed but maybe not yet sent:
     * give them a moment, so a committed purchase is answered, not dropped. */
    while (atomic_load(&h->in_flight) > 0 && waited_ms < 5000) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        waited_ms += 10;
    }
    stop_sweep(h);
    MHD_stop_daemon(h->d);
    http_free(h);
}
