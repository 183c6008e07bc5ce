/*
 * h_batches.h - the bulk-buying routes (h_batches.c; docs/api.md "Batches").
 */
#ifndef STAMPD_H_BATCHES_H
#define STAMPD_H_BATCHES_H

#include "server/reply.h"
#include "store/store.h"

/* pv_batch_view_json - the batch b (borrowed) without its items, as
 * GET /v1/batches/{id} and the batch.completed event show it; returns owned
 * (NULL: no memory). */
json_t *pv_batch_view_json(struct pv_app *app, const struct pv_batch_rec *b);

/* Route handlers (routes.c): POST and GET /v1/batches, GET /v1/batches/{id}
 * and GET /v1/batches/{id}/labels; each answers c->rp. */
void pv_h_batches_post(struct pv_call *c);
void pv_h_batches_list(struct pv_call *c);
void pv_h_batch_get(struct pv_call *c);
void pv_h_batch_labels(struct pv_call *c);

#endif
