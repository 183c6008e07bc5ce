/*
 * router.c - the front's side of scale-out: which processor gets a purchase.
 *
 * The list of processors comes from the servers table (refreshed at most
 * every REFRESH_MS): active, with a heartbeat younger than LIVE_MS, and an
 * http address. This is the HTTP transport of the front dispatcher
 * (dispatch.c): purchases queue here, and dispatcher threads post each one,
 * signed with the internal secret, to the processor the dispatcher's round
 * names; a connection error, a timeout or a 5xx comes back as PV_EBUSY, and
 * the dispatcher decides whether the same request - same idempotency key,
 * so never a second stamp - goes to the next one. So does any answer, of
 * any status, that the processor did not sign for this request
 * (pv_internal_verify_answer): whoever sits on the wire can neither forge
 * a result nor turn a purchase into an error the customer is told.
 *
 * The channel is mutual TLS (TLS 1.2 at least): the front trusts only the
 * internal CA (never the system's CAs), checks that the processor's
 * certificate names the host it dials and is a server certificate, and
 * presents its own client certificate; processors (http.c) demand it. With
 * --internal-plaintext (development) it is plain HTTP to http:// processors;
 * a TLS front never posts to an http:// address. Only libcurl and this
 * file know about HTTP clients.
 */
#include "server/router.h"

#include "server/internal.h"
#include "server/reply.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REFRESH_MS  1000
#define LIVE_MS     3000
#define ANSWER_MAX  (64 * 1024)
#define MAX_TARGETS 64

struct target {
    char id[PV_ID_MAX];
    char url[320];
};

struct pv_router {
    char *dsn;
    char secret[128];
    const struct pv_tls *tls; /* borrowed; NULL: plain HTTP */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pv_job *head, *tail;
    int stopping;
    pthread_t *threads;
    unsigned nthreads;
    /* the processor list, under list_mu */
    pthread_mutex_t list_mu;
    struct target targets[MAX_TARGETS];
    size_t ntargets;
    int64_t refreshed_ms;
    struct pv_store *st; /* for refreshes, under list_mu */
    atomic_size_t next;
    /* The last X-Stampd-Time this front signed: each post gets a later one,
     * so no two posts of the same body share a signature (a processor
     * serves each signature once, internal.c). */
    _Atomic int64_t last_ms;
};

struct answer {
    char buf[ANSWER_MAX];
    size_t len;
    int overflow;
    char sig[PV_HASH_HEX]; /* its X-Stampd-Signature, or "" */
};

/* Keep the answer's X-Stampd-Signature header (a well-formed one only). */
static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    static const char name[] = "X-Stampd-Signature:";
    struct answer *a = ud;
    size_t len = size * n, i = sizeof name - 1;

    if (len > i && strncasecmp(p, name, i) == 0) {
        while (i < len && (p[i] == ' ' || p[i] == '\t'))
            i++;
        if (len - i >= PV_HASH_HEX - 1 &&
            (len - i == PV_HASH_HEX - 1 || p[i + PV_HASH_HEX - 1] == '\r' ||
             p[i + PV_HASH_HEX - 1] == '\n')) {
            memcpy(a->sig, p + i, PV_HASH_HEX - 1);
            a->sig[PV_HASH_HEX - 1] = '\0';
        }
    }
    return len;
}

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;

    if (a->len + len >= sizeof a->buf) {
        a->overflow = 1;
        return 0;
    }
    memcpy(a->buf + a->len, p, len);
    a->len += len;
    return len;
}

/* Reload the processor list when it is older than REFRESH_MS. */
static void refresh(struct pv_router *r)
{
    struct pv_server_rec *servers = NULL;
    size_t n = 0, i;
    int64_t now = pv_now_ms();

    pthread_mutex_lock(&r->list_mu);
    if (now - r->refreshed_ms < REFRESH_MS)
        goto out;
    r->refreshed_ms = now;
    if (pv_store_server_list(r->st, &servers, &n) != PV_OK)
        goto out; /* keep the last good list */
    r->ntargets = 0;
    for (i = 0; i < n && r->ntargets < MAX_TARGETS; i++) {
        /* Only the scheme this front speaks: a TLS front never goes plain. */
        if (servers[i].status != PV_SERVER_ACTIVE || servers[i].heartbeat_ms < now - LIVE_MS ||
            strncmp(servers[i].address, r->tls ? "https://" : "http://", r->tls ? 8 : 7) != 0)
            continue;
        pv_str_copy(r->targets[r->ntargets].id, sizeof r->targets[0].id, servers[i].id);
        snprintf(r->targets[r->ntargets].url, sizeof r->targets[0].url, "%s%s", servers[i].address,
                 PV_INTERNAL_PATH);
        r->ntargets++;
    }
out:
    pthread_mutex_unlock(&r->list_mu);
    free(servers);
}

/* Mutual TLS on curl (after curl_easy_reset): the internal CA alone. */
static CURLcode set_tls(CURL *curl, const struct pv_tls *t)
{
    struct curl_blob ca = {t->ca_pem, strlen(t->ca_pem), CURL_BLOB_NOCOPY};
    struct curl_blob cert = {t->cert_pem, strlen(t->cert_pem), CURL_BLOB_NOCOPY};
    struct curl_blob key = {t->key_pem, strlen(t->key_pem), CURL_BLOB_NOCOPY};
    CURLcode c;

    /* No system CA file or directory: a public CA's certificate for a
     * processor's name must not do. */
    if ((c = curl_easy_setopt(curl, CURLOPT_CAINFO, NULL)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_CAPATH, NULL)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_CAINFO_BLOB, &ca)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSLCERT_BLOB, &cert)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM")) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSLKEY_BLOB, &key)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM")) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L)) != CURLE_OK ||
        (c = curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L)) != CURLE_OK)
        return c;
    return curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
}

/* Post body to one processor. PV_OK with res filled; PV_EBUSY to try the next. */
static int post_one(struct pv_router *r, CURL *curl, const char *url, const char *body,
                    const char *request_id, struct pv_purchase_res *res)
{
    struct curl_slist *hdrs = NULL;
    struct answer *a = calloc(1, sizeof *a);
    char h_time[64], h_sig[96], h_rid[32 + PV_REQUEST_ID_MAX], sig[PV_HASH_HEX];
    int64_t now = pv_now_ms(), last = atomic_load(&r->last_ms);
    long status = 0;
    json_t *j = NULL;
    CURLcode cc;
    int rc = PV_EBUSY, oom;

    if (!a)
        return PV_ENOMEM;
    do {
        if (now <= last)
            now = last + 1;
    } while (!atomic_compare_exchange_weak(&r->last_ms, &last, now));
    if (pv_internal_sign(r->secret, "POST", PV_INTERNAL_PATH, now, body, strlen(body), sig) !=
        PV_OK)
        goto out;
    snprintf(h_time, sizeof h_time, "X-Stampd-Time: %lld", (long long) now);
    snprintf(h_sig, sizeof h_sig, "X-Stampd-Signature: %s", sig);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, h_time);
    hdrs = curl_slist_append(hdrs, h_sig);
    /* The same request id in the processor's log as in the front's. */
    if (request_id[0]) {
        snprintf(h_rid, sizeof h_rid, "X-Request-Id: %s", request_id);
        hdrs = curl_slist_append(hdrs, h_rid);
    }
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 1000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, r->tls ? "https" : "http");
    if (r->tls && set_tls(curl, r->tls) != CURLE_OK)
        goto out;
    if ((cc = curl_easy_perform(curl)) != CURLE_OK) {
        /* Connection refused, reset, timeout, a certificate refused: the next one. */
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
            cc == CURLE_SSL_CERTPROBLEM)
            pv_log(PV_LOG_ERROR, "front: %s: TLS refused: %s\n", url, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (a->overflow)
        goto out;
    /* An answer the processor did not sign for this request - of any
     * status - is no answer: try the next one (PV_EBUSY). Safe although
     * this one may have written: the retry has the same idempotency key,
     * so it replays that piece. */
    if (pv_internal_verify_answer(r->secret, sig, status, a->sig, a->buf, a->len) != PV_OK) {
        pv_log(PV_LOG_ERROR, "front: %s answered %ld without a valid signature\n", url, status);
        goto out;
    }
    if (status >= 500)
        goto out; /* signed "not here" (no PSD lease, busy): the next one */
    if (status != 200) {
        /* A signed 400: a bug - the same everywhere, so say so. */
        pv_log(PV_LOG_ERROR, "front: %s answered %ld\n", url, status);
        rc = PV_EINTERNAL;
        goto out;
    }
    /* Short of memory jansson may parse another answer than was signed. */
    j = pv_json_loadb(a->buf, a->len, 0, NULL, &oom);
    rc = j ? pv_res_from_json(j, res) : PV_EINVAL;
    rc = rc == PV_OK ? PV_OK : oom || rc == PV_ENOMEM ? PV_ENOMEM : PV_EINTERNAL;
out:
    json_decref(j);
    curl_slist_free_all(hdrs);
    free(a);
    return rc;
}

/* One attempt: post job to the next processor of the list (the front
 * dispatcher's round, pv_job_target) and tell the dispatcher how it went. */
static void post_next(struct pv_router *r, CURL *curl, struct pv_job *job)
{
    struct target t;
    size_t n;
    json_t *jq = pv_req_to_json(&job->req);
    char *body = jq ? json_dumps(jq, JSON_COMPACT) : NULL;
    int64_t wait = job->not_before_ms - pv_now_ms();
    int rc = body ? PV_EBUSY : PV_ENOMEM;

    json_decref(jq);
    if (wait > 0) {
        /* Between rounds: nobody took it a moment ago. */
        struct timespec ts = {(time_t) (wait / 1000), (long) (wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pv_purchase_res_reset(&job->res);
    refresh(r);
    pthread_mutex_lock(&r->list_mu);
    n = r->ntargets;
    if (n > 0)
        t = r->targets[pv_job_target(job, n)];
    pthread_mutex_unlock(&r->list_mu);
    if (n == 0)
        job->round_n = 0; /* nobody to ask this round */
    else if (body)
        rc = post_one(r, curl, t.url, body, job->request_id, &job->res);
    free(body);
    if (rc != PV_OK) {
        /* Not reached (or no answer to read): nothing was written there. */
        pv_purchase_res_reset(&job->res);
        job->res.err = rc == PV_EBUSY ? PV_EBUSY : PV_EINTERNAL;
    }
    job->on_reply(job);
}

static void *dispatcher(void *arg)
{
    struct pv_router *r = arg;
    CURL *curl = curl_easy_init();
    struct pv_job *job;

    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->head && !r->stopping)
            pthread_cond_wait(&r->cv, &r->mu);
        job = r->head;
        if (job) {
            r->head = job->next;
            if (!r->head)
                r->tail = NULL;
        }
        pthread_mutex_unlock(&r->mu);
        if (!job)
            break; /* stopping and drained */
        if (!curl) {
            pv_purchase_res_reset(&job->res);
            job->res.err = PV_ENOMEM;
            job->on_reply(job);
            continue;
        }
        post_next(r, curl, job);
    }
    curl_easy_cleanup(curl);
    return NULL;
}

int pv_router_start(const char *dsn, const char *secret, const struct pv_tls *tls, unsigned threads,
                    struct pv_router **out)
{
    struct pv_router *r = calloc(1, sizeof *r);
    unsigned i;
    int rc;

    if (!r)
        return PV_ENOMEM;
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    pthread_mutex_init(&r->list_mu, NULL);
    pv_str_copy(r->secret, sizeof r->secret, secret);
    r->tls = tls;
    if (!(r->dsn = strdup(dsn)) || !(r->threads = calloc(threads, sizeof *r->threads))) {
        rc = PV_ENOMEM;
        goto fail;
    }
    if ((rc = pv_store_open_checked(dsn, &r->st)) != PV_OK)
        goto fail;
    refresh(r);
    for (i = 0; i < threads; i++) {
        if (pthread_create(&r->threads[i], NULL, dispatcher, r) != 0) {
            rc = PV_EINTERNAL;
            goto fail;
        }
        r->nthreads++;
    }
    *out = r;
    return PV_OK;
fail:
    pv_router_stop(r);
    return rc;
}

void pv_router_stop(struct pv_router *r)
{
    unsigned i;

    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    for (i = 0; i < r->nthreads; i++)
        pthread_join(r->threads[i], NULL);
    pv_store_close(r->st);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->list_mu);
    free(r->threads);
    free(r->dsn);
    free(r);
}

int pv_router_submit(struct pv_router *r, struct pv_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&r->mu);
    /* A retry comes from a dispatcher thread, which will take it before it
     * stops: only new purchases are refused once stopping. */
    if (r->stopping && job->tries == 0) {
        pthread_mutex_unlock(&r->mu);
        return PV_EBUSY;
    }
    if (r->tail)
        r->tail->next = job;
    else
        r->head = job;
    r->tail = job;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return PV_OK;
}
