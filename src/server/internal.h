/*
 * internal.h - the authenticated front -> processor protocol (internal.c).
 */
#ifndef STAMPD_INTERNAL_H
#define STAMPD_INTERNAL_H

#include "domain/purchase.h"

#include <jansson.h>

#define PV_INTERNAL_PATH    "/internal/v1/purchase"
#define PV_INTERNAL_SKEW_MS 30000

/* pv_internal_sign - hex HMAC-SHA256 of "METHOD\nPATH\nTIME\nBODY" under secret into out. */
int pv_internal_sign(const char *secret, const char *method, const char *path, int64_t time_ms,
                     const char *body, size_t len, char out[PV_HASH_HEX]);

/*
 * pv_internal_verify - PV_OK when sig_hdr signs the request at time_hdr (unix
 * ms, within PV_INTERNAL_SKEW_MS of now_ms) under secret; else PV_EUNAUTH.
 * Compares in constant time. All borrowed.
 */
int pv_internal_verify(const char *secret, const char *method, const char *path,
                       const char *time_hdr, const char *sig_hdr, const char *body, size_t len,
                       int64_t now_ms);

/* Purchase requests and results as JSON (owned json_t; from_json: PV_EINVAL for bad input). */
json_t *pv_req_to_json(const struct pv_purchase_req *q);
int pv_req_from_json(json_t *o, struct pv_purchase_req *q);
json_t *pv_res_to_json(const struct pv_purchase_res *r);
int pv_res_from_json(json_t *o, struct pv_purchase_res *r);

#endif
