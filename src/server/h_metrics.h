/*
 * h_metrics.h - health and metrics routes (h_metrics.c).
 */
#ifndef STAMPD_H_METRICS_H
#define STAMPD_H_METRICS_H

#include "server/reply.h"

/* Route handlers (routes.c): GET /healthz (no store, no key), GET /metrics. */
void pv_h_health(struct pv_call *c);
void pv_h_metrics(struct pv_call *c);

#endif
