/*
 * h_internal.h - the internal purchase route of stampd processor (h_internal.c).
 */
#ifndef STAMPD_H_INTERNAL_H
#define STAMPD_H_INTERNAL_H

#include "server/reply.h"

/* pv_h_internal_purchase - POST /internal/v1/purchase: a signed purchase
 * from a front becomes c->rp->job (owned), or c->rp is the error. */
void pv_h_internal_purchase(struct pv_call *c);

#endif
