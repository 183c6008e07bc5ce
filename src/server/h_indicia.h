/*
 * h_indicia.h - the purchase and indicium routes (h_indicia.c).
 */
#ifndef STAMPD_H_INDICIA_H
#define STAMPD_H_INDICIA_H

#include "server/job.h"
#include "server/reply.h"

/* Route handlers (routes.c): GET /v1/rates/quote, POST and GET /v1/indicia,
 * GET /v1/indicia/{id}. A valid purchase is not answered: c->rp->job is set
 * (owned) for the front dispatcher (dispatch.h) instead. */
void pv_h_quote(struct pv_call *c);
void pv_h_indicia_post(struct pv_call *c);
void pv_h_indicium_get(struct pv_call *c);
void pv_h_indicia_list(struct pv_call *c);

/* pv_indicia_finish - the answer for a finished job (or for err when
 * it could not be submitted); takes the job and frees it. */
void pv_indicia_finish(struct pv_job *job, int err, struct pv_reply *rp);

/* pv_indicia_fields - the NULL-terminated field names of a purchase body
 * (static). pv_indicia_parse - validate and price the purchase body root
 * (borrowed) into q exactly as POST /v1/indicia does (class, weight, ZIPs,
 * mail date, addresses, medium; not the payment): PV_OK, or the error with
 * rp set. Both for POST /v1/batches, whose items are purchase bodies. */
const char *const *pv_indicia_fields(void);
int pv_indicia_parse(json_t *root, struct pv_purchase_req *q, struct pv_reply *rp);

#endif
