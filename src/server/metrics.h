/*
 * metrics.h - what this process counts for GET /metrics (metrics.c;
 * docs/operations.md, "Monitoring"): HTTP requests and their latency by
 * route pattern, method and status class, purchase latency, group-commit
 * batch sizes, errors and card declines by their stable codes. Process-wide
 * and thread-safe; counters start at zero when the process starts.
 */
#ifndef STAMPD_METRICS_H
#define STAMPD_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* pv_metrics_http - one answered request: route (a static route-table
 * pattern, or NULL: no route matched), method and status (borrowed), and
 * how long it took. */
void pv_metrics_http(const char *route, const char *method, int status, int64_t duration_us);

/* pv_metrics_purchase - one purchase answered (any status), from request to answer. */
void pv_metrics_purchase(int64_t duration_us);

/* pv_metrics_batch - one group-commit batch of n purchase jobs ran. */
void pv_metrics_batch(size_t n);
/* pv_metrics_batch_retries - n more batches ran again locking first (pv_purchase_late). */
void pv_metrics_batch_retries(uint64_t n);

/* pv_metrics_apikey - one API key looked up while the key cache was on (keycache.h):
 * hit 1 answered from memory, 0 read from the database. */
void pv_metrics_apikey(int hit);

/* pv_metrics_error - one error answer: its code and, for card_declined, the
 * decline code (both borrowed; decline may be NULL). */
void pv_metrics_error(const char *code, const char *decline);

/*
 * pv_metrics_put_hist - one histogram in Prometheus text format through put (as
 * pv_metrics_write's): name and labels (borrowed; labels "" or 'k="v",' pairs each
 * ending in a comma), n upper bounds le_us in microseconds (borrowed, exported in
 * seconds) with the count in each (bucket, borrowed, not cumulative), and the count
 * and sum of all observations, those above the last bound included.
 */
void pv_metrics_put_hist(void (*put)(void *ctx, const char *fmt, ...), void *ctx, const char *name,
                         const char *labels, const int64_t *le_us, const uint64_t *bucket, size_t n,
                         uint64_t count, int64_t sum_us);

/*
 * pv_metrics_write - the counters in Prometheus text format, through put
 * (called with ctx and printf-style arguments, one or more lines each).
 */
void pv_metrics_write(void (*put)(void *ctx, const char *fmt, ...), void *ctx);

#endif
