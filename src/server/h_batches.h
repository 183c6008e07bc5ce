/*
 * h_batches.h - the bulk-buying routes (h_batches.c; docs/api.md "Batches").
 */
#ifndef STAMPD_H_BATCHES_H
#define STAMPD_H_BATCHES_H

#include "server/reply.h"

/* Route handlers (routes.c): POST and GET /v1/batches, GET /v1/batches/{id}
 * and GET /v1/batches/{id}/labels; each answers c->rp. */
void pv_h_batches_post(struct pv_call *c);
void pv_h_batches_list(struct pv_call *c);
void pv_h_batch_get(struct pv_call *c);
void pv_h_batch_labels(struct pv_call *c);

#endif
