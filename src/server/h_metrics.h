/*
 * h_metrics.h - health and metrics routes (h_metrics.c).
 */
#ifndef STAMPD_H_METRICS_H
#define STAMPD_H_METRICS_H

#include "server/reply.h"

/* Route handlers (routes.c): GET /healthz (no store, no key), GET /metrics
 * (an operator's key, or the metrics token: pv_h_metrics_token_ok). */
void pv_h_health(struct pv_call *c);

/*
 * GET /readyz (no key): 200 {"status": "ready"} when the store answers,
 * some live active processor holds a lease on an active PSD, and one of
 * those PSDs can sell the cheapest piece or the deposit can refill it; else
 * 503 not_ready with error.reasons [{code, message}] (docs/operations.md,
 * "Readiness").
 */
void pv_h_ready(struct pv_call *c);
void pv_h_metrics(struct pv_call *c);

/* GET /metrics on a stampd processor's internal port: this process's own
 * counters (no database figures: a front has those), for the metrics token
 * only (--metrics-token-file); 404 without one. */
void pv_h_metrics_process(struct pv_call *c);

/* pv_h_metrics_token_ok - 1 when rq (borrowed) carries app's metrics token
 * as its bearer (compared in constant time), else 0. */
int pv_h_metrics_token_ok(const struct pv_app *app, const struct pv_request *rq);

#endif
