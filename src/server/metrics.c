/*
 * metrics.c - the process's own counters for GET /metrics (metrics.h).
 *
 * Fixed tables under one mutex: a slot per (route pattern, method) with,
 * per status class, a request count and a latency histogram; a histogram of
 * purchase latencies; one of batch sizes; counters per error code and per
 * decline code. Route patterns are the route table's static strings, so a
 * slot is found by pointer, and the label set is bounded by the table -
 * never by what clients send. Error and decline codes come from the one
 * error table and the gateways, both bounded; a table that is full counts
 * in its last slot ("other").
 */
#include "server/metrics.h"

#include "stampd/codec.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

/* Latency buckets, in microseconds (exported in seconds). */
static const int64_t lat_le_us[] = {1000,   5000,   10000,   25000,   50000,   100000,
                                    250000, 500000, 1000000, 2500000, 5000000, 10000000};
#define NLAT (sizeof lat_le_us / sizeof lat_le_us[0])
/* Batch-size buckets (jobs per batch: at most 256 queued and 512 held cards, processor.c). */
static const int64_t batch_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
#define NBATCH (sizeof batch_le / sizeof batch_le[0])

#define ROUTE_SLOTS   192
#define CODE_SLOTS    128
#define DECLINE_SLOTS 16
#define NMETHODS      6

static const char *const methods[NMETHODS] = {"GET", "POST", "PUT", "DELETE", "HEAD", "other"};

struct hist {
    uint64_t bucket[NLAT]; /* cumulative at write time, counted per bucket here */
    uint64_t count;
    int64_t sum_us;
};

struct route_slot {
    const char *route; /* NULL = free */
    int method;
    struct hist by_class[5]; /* 1xx .. 5xx */
};

struct code_slot {
    char code[48];
    uint64_t n;
};

static struct {
    pthread_mutex_t mu;
    struct route_slot routes[ROUTE_SLOTS];
    struct hist purchase;
    uint64_t batch_bucket[NBATCH], batch_count, batch_sum, batch_retries;
    struct code_slot errors[CODE_SLOTS];
    struct code_slot declines[DECLINE_SLOTS];
} m = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* The key cache's, on every request: atomics, not the mutex. */
static _Atomic uint64_t apikey_hits, apikey_misses;

static const char *const no_route = "(none)";

static void observe(struct hist *hi, int64_t us)
{
    size_t i;

    if (us < 0)
        us = 0;
    for (i = 0; i < NLAT; i++)
        if (us <= lat_le_us[i]) {
            hi->bucket[i]++;
            break;
        }
    hi->count++;
    hi->sum_us += us;
}

static int method_index(const char *method)
{
    int i;

    for (i = 0; i < NMETHODS - 1; i++)
        if (method && strcmp(method, methods[i]) == 0)
            return i;
    return NMETHODS - 1;
}

void pv_metrics_http(const char *route, const char *method, int status, int64_t duration_us)
{
    int mi = method_index(method), cls = status / 100 - 1;
    size_t i;

    if (!route)
        route = no_route;
    if (cls < 0 || cls > 4)
        cls = 4;
    pthread_mutex_lock(&m.mu);
    for (i = 0; i < ROUTE_SLOTS - 1; i++)
        if (!m.routes[i].route || (m.routes[i].route == route && m.routes[i].method == mi))
            break;
    if (!m.routes[i].route) {
        m.routes[i].route = i == ROUTE_SLOTS - 1 ? no_route : route;
        m.routes[i].method = mi;
    }
    observe(&m.routes[i].by_class[cls], duration_us);
    pthread_mutex_unlock(&m.mu);
}

void pv_metrics_purchase(int64_t duration_us)
{
    pthread_mutex_lock(&m.mu);
    observe(&m.purchase, duration_us);
    pthread_mutex_unlock(&m.mu);
}

void pv_metrics_batch(size_t n)
{
    size_t i;

    pthread_mutex_lock(&m.mu);
    for (i = 0; i < NBATCH; i++)
        if ((int64_t) n <= batch_le[i]) {
            m.batch_bucket[i]++;
            break;
        }
    m.batch_count++;
    m.batch_sum += n;
    pthread_mutex_unlock(&m.mu);
}

void pv_metrics_apikey(int hit)
{
    atomic_fetch_add_explicit(hit ? &apikey_hits : &apikey_misses, 1, memory_order_relaxed);
}

void pv_metrics_batch_retries(uint64_t n)
{
    pthread_mutex_lock(&m.mu);
    m.batch_retries += n;
    pthread_mutex_unlock(&m.mu);
}

/* Count code in table (n slots; the last one is "other" once the rest are taken). */
static void count_code(struct code_slot *t, size_t n, const char *code)
{
    size_t i;

    for (i = 0; i < n - 1; i++)
        if (!t[i].code[0] || strcmp(t[i].code, code) == 0)
            break;
    if (!t[i].code[0] || i == n - 1)
        pv_str_copy(t[i].code, sizeof t[i].code, i == n - 1 ? "other" : code);
    t[i].n++;
}

void pv_metrics_error(const char *code, const char *decline)
{
    if (!code || !code[0])
        return;
    pthread_mutex_lock(&m.mu);
    count_code(m.errors, CODE_SLOTS, code);
    if (decline && decline[0])
        count_code(m.declines, DECLINE_SLOTS, decline);
    pthread_mutex_unlock(&m.mu);
}

/* One histogram's _bucket, _sum and _count lines; labels "" or 'a="b",'. */
void pv_metrics_put_hist(void (*put)(void *, const char *, ...), void *ctx, const char *name,
                         const char *labels, const int64_t *le_us, const uint64_t *bucket, size_t n,
                         uint64_t count, int64_t sum_us)
{
    uint64_t cum = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        cum += bucket[i];
        put(ctx, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double) le_us[i] / 1e6,
            (unsigned long long) cum);
    }
    put(ctx, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long) count);
    if (!labels[0]) {
        put(ctx, "%s_sum %.6f\n%s_count %llu\n", name, (double) sum_us / 1e6, name,
            (unsigned long long) count);
        return;
    }
    /* The labels without their last comma. */
    put(ctx, "%s_sum{%.*s} %.6f\n", name, (int) strlen(labels) - 1, labels, (double) sum_us / 1e6);
    put(ctx, "%s_count{%.*s} %llu\n", name, (int) strlen(labels) - 1, labels,
        (unsigned long long) count);
}

static void write_hist(void (*put)(void *, const char *, ...), void *ctx, const char *name,
                       const char *labels, const struct hist *hi)
{
    pv_metrics_put_hist(put, ctx, name, labels, lat_le_us, hi->bucket, NLAT, hi->count, hi->sum_us);
}

void pv_metrics_write(void (*put)(void *ctx, const char *fmt, ...), void *ctx)
{
    char labels[256];
    size_t i, c;
    uint64_t cum = 0;

    pthread_mutex_lock(&m.mu);
    put(ctx, "# HELP stampd_http_requests_total HTTP requests answered, by route pattern, "
             "method and status class.\n# TYPE stampd_http_requests_total counter\n");
    for (i = 0; i < ROUTE_SLOTS && m.routes[i].route; i++)
        for (c = 0; c < 5; c++)
            if (m.routes[i].by_class[c].count)
                put(ctx,
                    "stampd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%zuxx\"} "
                    "%llu\n",
                    m.routes[i].route, methods[m.routes[i].method], c + 1,
                    (unsigned long long) m.routes[i].by_class[c].count);
    put(ctx, "# HELP stampd_http_request_duration_seconds Time from a request's headers to its "
             "answer.\n# TYPE stampd_http_request_duration_seconds histogram\n");
    for (i = 0; i < ROUTE_SLOTS && m.routes[i].route; i++)
        for (c = 0; c < 5; c++)
            if (m.routes[i].by_class[c].count) {
                snprintf(labels, sizeof labels, "route=\"%s\",method=\"%s\",status=\"%zuxx\",",
                         m.routes[i].route, methods[m.routes[i].method], c + 1);
                write_hist(put, ctx, "stampd_http_request_duration_seconds", labels,
                           &m.routes[i].by_class[c]);
            }
    put(ctx, "# HELP stampd_purchase_duration_seconds Purchases (POST /v1/indicia) from request "
             "to answer, the batch's durable commit included.\n"
             "# TYPE stampd_purchase_duration_seconds histogram\n");
    write_hist(put, ctx, "stampd_purchase_duration_seconds", "", &m.purchase);
    put(ctx, "# HELP stampd_batch_size Purchase jobs per group-commit batch of this process's "
             "processors.\n# TYPE stampd_batch_size histogram\n");
    for (i = 0; i < NBATCH; i++) {
        cum += m.batch_bucket[i];
        put(ctx, "stampd_batch_size_bucket{le=\"%lld\"} %llu\n", (long long) batch_le[i],
            (unsigned long long) cum);
    }
    put(ctx,
        "stampd_batch_size_bucket{le=\"+Inf\"} %llu\nstampd_batch_size_sum %llu\n"
        "stampd_batch_size_count %llu\n",
        (unsigned long long) m.batch_count, (unsigned long long) m.batch_sum,
        (unsigned long long) m.batch_count);
    put(ctx,
        "# HELP stampd_batch_retries_total Purchase batches that locked their customers late, "
        "found a balance moved under a decision (or a refill the deposit of which another batch "
        "held) and ran again locking "
        "first (PostgreSQL).\n# TYPE stampd_batch_retries_total counter\n"
        "stampd_batch_retries_total %llu\n",
        (unsigned long long) m.batch_retries);
    put(ctx,
        "# HELP stampd_apikey_cache_hits_total API keys answered from the front's memory "
        "(docs/security.md).\n# TYPE stampd_apikey_cache_hits_total counter\n"
        "stampd_apikey_cache_hits_total %llu\n"
        "# HELP stampd_apikey_cache_misses_total API keys read from the database while the "
        "cache was on.\n# TYPE stampd_apikey_cache_misses_total counter\n"
        "stampd_apikey_cache_misses_total %llu\n",
        (unsigned long long) atomic_load(&apikey_hits),
        (unsigned long long) atomic_load(&apikey_misses));
    put(ctx, "# HELP stampd_errors_total Error answers by their stable code (docs/api.md).\n"
             "# TYPE stampd_errors_total counter\n");
    for (i = 0; i < CODE_SLOTS && m.errors[i].code[0]; i++)
        put(ctx, "stampd_errors_total{code=\"%s\"} %llu\n", m.errors[i].code,
            (unsigned long long) m.errors[i].n);
    put(ctx, "# HELP stampd_card_declines_total Declined cards by the issuer's decline code.\n"
             "# TYPE stampd_card_declines_total counter\n");
    for (i = 0; i < DECLINE_SLOTS && m.declines[i].code[0]; i++)
        put(ctx, "stampd_card_declines_total{decline_code=\"%s\"} %llu\n", m.declines[i].code,
            (unsigned long long) m.declines[i].n);
    pthread_mutex_unlock(&m.mu);
}
