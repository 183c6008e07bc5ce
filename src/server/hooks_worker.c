/*
 * hooks_worker.c - the webhook delivery worker (hooks_worker.h).
 *
 * A loop on its own thread and store handle: read the due deliveries,
 * claim each by a guarded update (a lease of the timeout plus a margin:
 * a worker killed mid-attempt leaves a lease that simply runs out, and
 * the delivery is sent again - at least once), resolve the endpoint's
 * host and refuse private addresses (pinned with CURLOPT_RESOLVE, so a
 * second lookup cannot swap in another address), POST the signed event,
 * and write the outcome and its attempt in one transaction.
 */
#include "server/hooks_worker.h"

#include "crypto/primitives.h"
#include "domain/events.h"
#include "server/app.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/timeutil.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 128 /* deliveries claimed per round: one commit each way for all of them */

struct pv_hooks {
    struct pv_hooks_opts o;
    struct pv_store *st;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop;
    char holder[PV_ID_MAX];
};

#ifdef NDEBUG
#define LOOPBACK_OK 0
#else
#define LOOPBACK_OK 1 /* debug builds: development and tests call 127.0.0.1 */
#endif

/* 0: allowed; else why in why. Private (1) or loopback (2) as pv_hook_addr_private. */
static int addr_refused(int allow_private, int family, const unsigned char *a)
{
    int p = pv_hook_addr_private(family, a);

    if (!p || allow_private)
        return 0;
    return p == 2 && LOOPBACK_OK ? 0 : p;
}

int pv_hooks_url_allowed(const struct pv_app *app, const char *url, char *why, size_t n)
{
    char host[256], w[160];
    unsigned char a[16];
    int port, family = 0, allow = app && app->hooks_private;

    if (pv_hook_url_check(url, allow || LOOPBACK_OK, w, host, &port) != PV_OK) {
        pv_str_copy(why, n, w);
        return PV_EWEBHOOKURL;
    }
    if (inet_pton(AF_INET, host, a) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, host, a) == 1)
        family = AF_INET6;
    if (family && addr_refused(allow, family, a)) {
        snprintf(why, n,
                 "url names a private or loopback address (%.80s), which stampd does not "
                 "call",
                 host);
        return PV_EWEBHOOKURL;
    }
    /* http (debug builds): only to loopback, named literally or as localhost. */
    if (!allow && strncmp(url, "http://", 7) == 0 &&
        !((family && pv_hook_addr_private(family, a) == 2) || strcmp(host, "localhost") == 0)) {
        snprintf(why, n, "url must start with https://");
        return PV_EWEBHOOKURL;
    }
    return PV_OK;
}

/* The first address of host that may be called, as text into out; else why. */
static int resolve(const struct pv_hooks *h, const char *host, char *out, size_t n, char *why,
                   size_t wn)
{
    struct addrinfo hints, *res = NULL, *ai;
    int rc, refused = 0;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((rc = getaddrinfo(host, NULL, &hints, &res)) != 0) {
        snprintf(why, wn, "cannot resolve %.80s: %s", host, gai_strerror(rc));
        return PV_EIO;
    }
    out[0] = '\0';
    for (ai = res; ai; ai = ai->ai_next) {
        const unsigned char *a = NULL;
        if (ai->ai_family == AF_INET)
            a = (const unsigned char *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr;
        else if (ai->ai_family == AF_INET6)
            a = (const unsigned char *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
        if (!a)
            continue;
        /* One private address among public ones refuses the name: a rebinding trick. */
        if (addr_refused(h->o.allow_private, ai->ai_family, a)) {
            refused = 1;
            break;
        }
        if (!out[0])
            inet_ntop(ai->ai_family, a, out, (socklen_t) n);
    }
    freeaddrinfo(res);
    if (refused || !out[0]) {
        snprintf(why, wn,
                 "%.80s resolves to a private or loopback address, which stampd does not "
                 "call",
                 host);
        return PV_EWEBHOOKURL;
    }
    return PV_OK;
}

struct answer {
    char buf[PV_HOOK_EXCERPT + 1];
    size_t len;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ctx)
{
    struct answer *a = ctx;
    size_t n = size * nmemb, take = n;

    if (take > PV_HOOK_EXCERPT - a->len)
        take = PV_HOOK_EXCERPT - a->len;
    memcpy(a->buf + a->len, p, take);
    a->len += take;
    return n; /* the rest is read and dropped */
}

/* Printable ASCII only: the excerpt is stored as text and shown in JSON. */
static void clean(char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f)
            *s = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : '?';
}

/* One POST of body to ep; the attempt's fields into at. */
static void post(struct pv_hooks *h, const struct pv_hook_endpoint_rec *ep, const char *event_id,
                 const char *body, struct pv_hook_attempt_rec *at)
{
    char host[256], addr[INET6_ADDRSTRLEN + 2], pin[300], why[PV_HOOK_ERROR_MAX],
        sig[PV_HOOK_SIG_MAX];
    char h_sig[PV_HOOK_SIG_MAX + 32], h_id[PV_ID_MAX + 32], cerr[CURL_ERROR_SIZE];
    struct curl_slist *hdrs = NULL, *resolve_list = NULL;
    struct answer ans;
    int port, rc;
    long code = 0;
    int64_t t0;
    CURL *curl = NULL;
    CURLcode cc;

    memset(&ans, 0, sizeof ans);
    at->at = pv_now();
    t0 = pv_now_ms();
    if (pv_hook_url_check(ep->url, 1, why, host, &port) != PV_OK) {
        pv_str_copy(at->error, sizeof at->error, why);
        return;
    }
    if (resolve(h, host, addr, sizeof addr, why, sizeof why) != PV_OK) {
        pv_str_copy(at->error, sizeof at->error, why);
        goto out;
    }
    if ((rc = pv_hook_sign(ep->secret, at->at, body, strlen(body), sig)) != PV_OK) {
        snprintf(at->error, sizeof at->error, "signing: %s", pv_strerror(rc));
        goto out;
    }
    snprintf(pin, sizeof pin, strchr(addr, ':') ? "%s:%d:[%s]" : "%s:%d:%s", host, port, addr);
    snprintf(h_sig, sizeof h_sig, "Stampd-Signature: %s", sig);
    snprintf(h_id, sizeof h_id, "Stampd-Event-Id: %s", event_id);
    if (!(curl = curl_easy_init()) || !(resolve_list = curl_slist_append(NULL, pin)) ||
        !(hdrs = curl_slist_append(hdrs, "Content-Type: application/json")) ||
        !(hdrs = curl_slist_append(hdrs, h_sig)) || !(hdrs = curl_slist_append(hdrs, h_id))) {
        snprintf(at->error, sizeof at->error, "out of memory");
        goto out;
    }
    cerr[0] = '\0';
    curl_easy_setopt(curl, CURLOPT_URL, ep->url);
    curl_easy_setopt(curl, CURLOPT_RESOLVE, resolve_list);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "stampd-webhooks/1");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &ans);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) h->o.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) h->o.timeout_ms);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        pv_str_copy(at->error, sizeof at->error, cerr[0] ? cerr : curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
        at->status_code = (int) code;
        if (code < 200 || code > 299)
            snprintf(at->error, sizeof at->error, "HTTP %ld", code);
    }
out:
    at->latency_ms = pv_now_ms() - t0;
    ans.buf[ans.len] = '\0';
    clean(ans.buf);
    pv_str_copy(at->response, sizeof at->response, ans.buf);
    clean(at->error);
    if (curl)
        curl_easy_cleanup(curl);
    curl_slist_free_all(hdrs);
    curl_slist_free_all(resolve_list);
}

/* One claimed delivery: send it; its outcome into d and the attempt into at.
 * 0 when there is nothing to record (the store failed: it is tried again). */
static int attempt(struct pv_hooks *h, struct pv_hook_delivery_rec *d,
                   struct pv_hook_attempt_rec *at)
{
    struct pv_hook_endpoint_rec ep;
    struct pv_hook_event_rec ev;
    json_t *j = NULL;
    char *body = NULL;
    uint8_t rnd[4] = {0};
    int rc;

    memset(at, 0, sizeof *at);
    memset(&ev, 0, sizeof ev);
    at->attempt = d->attempts + 1;
    rc = pv_store_hook_endpoint_get(h->st, NULL, 0, d->endpoint_id, &ep);
    if (rc == PV_OK && (rc = pv_store_hook_event_get(h->st, NULL, 0, d->event_id, &ev)) == PV_OK &&
        !((j = pv_event_json(&ev)) && (body = json_dumps(j, JSON_COMPACT))))
        rc = PV_ENOMEM;
    at->at = pv_now();
    if (rc == PV_ENOTFOUND) {
        snprintf(at->error, sizeof at->error, "endpoint deleted");
    } else if (rc != PV_OK) {
        pv_log(PV_LOG_WARNING, "webhooks: delivery %lld: %s (tried again later)\n",
               (long long) d->seq, pv_strerror(rc));
    } else if (!ep.enabled) {
        snprintf(at->error, sizeof at->error, "endpoint disabled");
    } else {
        post(h, &ep, ev.id, body, at);
    }
    memset(ep.secret, 0, sizeof ep.secret);
    d->attempts = at->attempt;
    d->last_code = at->status_code;
    pv_str_copy(d->last_error, sizeof d->last_error, at->error);
    if (rc == PV_OK && at->status_code >= 200 && at->status_code <= 299 && !at->error[0]) {
        d->status = PV_HOOK_DELIVERED;
    } else if (rc == PV_ENOTFOUND || (rc == PV_OK && !ep.enabled) ||
               at->at - d->first_at >= h->o.window_s) {
        d->status = PV_HOOK_FAILED;
    } else {
        d->status = PV_HOOK_PENDING;
        pv_random(rnd, sizeof rnd);
        d->next_at = pv_now_ms() + pv_hook_backoff_ms(at->attempt, h->o.base_ms,
                                                      (uint32_t) rnd[0] << 24 | rnd[1] << 16 |
                                                          rnd[2] << 8 | rnd[3]);
    }
    at->outcome = d->status;
    json_decref(j);
    free(body);
    free(ev.data);
    return rc == PV_OK || rc == PV_ENOTFOUND;
}

static int stopping(struct pv_hooks *h)
{
    int stop;

    pthread_mutex_lock(&h->mu);
    stop = h->stop;
    pthread_mutex_unlock(&h->mu);
    return stop;
}

/*
 * One round: claim the due deliveries (one statement), send them while the
 * lease leaves room for another attempt, then record every outcome and give
 * back the unsent in ONE transaction - one commit per round, not two per
 * delivery, so deliveries take little from the purchases' writer. Returns
 * how many were claimed.
 */
static size_t round_once(struct pv_hooks *h)
{
    struct pv_hook_delivery_rec *ds = NULL;
    struct pv_hook_attempt_rec *ats = NULL;
    int64_t *due = NULL, now = pv_now_ms(), lease = now + 2 * h->o.timeout_ms + 5000;
    size_t n = 0, i, sent = 0;
    char *record = NULL;
    int rc;

    /* A read first: claiming is a write, and usually nothing is due. */
    rc = pv_store_hook_delivery_due(h->st, now, 1, &due, &n);
    free(due);
    if (rc != PV_OK || n == 0)
        return 0;
    if (pv_store_hook_delivery_claim_due(h->st, h->holder, now, lease, BATCH, &ds, &n) != PV_OK ||
        n == 0)
        return 0;
    if (!(ats = calloc(n, sizeof *ats)) || !(record = calloc(n, 1)))
        goto out; /* the leases run out and the deliveries are claimed again */
    for (i = 0; i < n; i++) {
        /* Room for this attempt's timeout inside the lease, and not shutting down. */
        if (pv_now_ms() + h->o.timeout_ms + 2000 > lease || stopping(h))
            break;
        record[i] = (char) attempt(h, &ds[i], &ats[i]);
        sent = i + 1;
    }
    if ((rc = pv_store_begin(h->st)) == PV_OK) {
        for (i = 0; rc == PV_OK && i < n; i++) {
            if (i >= sent || !record[i])
                rc = pv_store_hook_delivery_release(h->st, ds[i].seq, h->holder);
            else if ((rc = pv_store_hook_delivery_finish(h->st, &ds[i], h->holder, &ats[i])) ==
                     PV_EBUSY)
                rc = PV_OK; /* its lease ran out: another worker has it now */
        }
        rc = rc == PV_OK ? pv_store_commit(h->st) : (pv_store_rollback(h->st), rc);
    }
    if (rc != PV_OK)
        pv_log(PV_LOG_WARNING, "webhooks: %zu deliveries not recorded: %s (sent again)\n", sent,
               pv_strerror(rc));
out:
    free(ds);
    free(ats);
    free(record);
    return n;
}

static void *run(void *arg)
{
    struct pv_hooks *h = arg;
    /* A quarter of the first retry's delay, at most a second: retries run about on time. */
    int64_t poll_ms = h->o.base_ms / 4 < 1000 ? h->o.base_ms / 4 : 1000;

    if (poll_ms < 50)
        poll_ms = 50;
    pthread_mutex_lock(&h->mu);
    while (!h->stop) {
        struct timespec ts;
        int64_t wait_ms;
        size_t sent;

        pthread_mutex_unlock(&h->mu);
        sent = round_once(h);
        pthread_mutex_lock(&h->mu);
        if (h->stop)
            continue;
        /* A full round: more is due, but wait a moment so the next round takes many at
         * once - every round is two commits on the purchases' database. */
        clock_gettime(CLOCK_REALTIME, &ts);
        wait_ms = sent == BATCH ? 50 : poll_ms;
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&h->cv, &h->mu, &ts);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

int pv_hooks_start(const struct pv_hooks_opts *o, struct pv_hooks **out)
{
    struct pv_hooks *h;
    uint8_t rnd[6];
    int rc;

    *out = NULL;
    if (!(h = calloc(1, sizeof *h)))
        return PV_ENOMEM;
    h->o = *o;
    if (h->o.base_ms <= 0)
        h->o.base_ms = PV_HOOK_BASE_MS_DEFAULT;
    if (h->o.window_s <= 0)
        h->o.window_s = PV_HOOK_WINDOW_S_DEFAULT;
    if (h->o.timeout_ms <= 0)
        h->o.timeout_ms = 10000;
    if ((rc = pv_random(rnd, sizeof rnd)) != PV_OK) {
        free(h);
        return rc;
    }
    snprintf(h->holder, sizeof h->holder, "hooks-%ld-%02x%02x%02x%02x%02x%02x", (long) getpid(),
             rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5]);
    if ((rc = pv_store_open_checked(o->dsn, &h->st)) != PV_OK) {
        free(h);
        return rc;
    }
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->cv, NULL);
    if (pthread_create(&h->thread, NULL, run, h) != 0) {
        pthread_mutex_destroy(&h->mu);
        pthread_cond_destroy(&h->cv);
        pv_store_close(h->st);
        free(h);
        return PV_EINTERNAL;
    }
    *out = h;
    return PV_OK;
}

void pv_hooks_stop(struct pv_hooks *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->mu);
    h->stop = 1;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->mu);
    pthread_cond_destroy(&h->cv);
    pv_store_close(h->st);
    free(h);
}
