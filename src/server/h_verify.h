/*
 * h_verify.h - verification routes (h_verify.c).
 */
#ifndef STAMPD_H_VERIFY_H
#define STAMPD_H_VERIFY_H

#include "server/reply.h"

/* Route handlers (routes.c): GET /v1/keys, POST /v1/verify. */
void pv_h_keys(struct pv_call *c);
/* GET /v1/keys/crl: the vendor CA's current CRL as a PEM file (404 before a CA). */
void pv_h_keys_crl(struct pv_call *c);
void pv_h_verify(struct pv_call *c);

#endif
