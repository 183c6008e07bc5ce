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

#endif
