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

/*
 * pv_internal_sign_answer - a processor's answer: hex HMAC-SHA256 under secret
 * of "ANSWER\nREQ_SIG\nSTATUS\nBODY" (pv_internal_sign with ANSWER for the
 * method, so never a request's), where req_sig is the X-Stampd-Signature of
 * the request answered: an answer is good for that one request only.
 */
int pv_internal_sign_answer(const char *secret, const char *req_sig, long status, const char *body,
                            size_t len, char out[PV_HASH_HEX]);

/* pv_internal_verify_answer - PV_OK when sig_hdr is that signature (constant
 * time); else PV_EUNAUTH. All borrowed. */
int pv_internal_verify_answer(const char *secret, const char *req_sig, long status,
                              const char *sig_hdr, const char *body, size_t len);

/*
 * The replay guard: the signatures a processor accepted, each kept until its
 * request's time is PV_INTERNAL_SKEW_MS old (after that pv_internal_verify
 * refuses it anyway), so each signed request is served once. Bounded: at most
 * PV_REPLAY_MAX signatures (~45 bytes each, ~6 MB) - one per purchase, and a
 * signature lives at most two windows (60 s), so that is room for ~2000
 * purchases a second per processor, well past one processor's PSD rate.
 * When full of live signatures it refuses (PV_EBUSY: the front tries
 * another processor) rather than forget one. Thread-safe.
 */
#define PV_REPLAY_MAX (1u << 17)
struct pv_replay;

/* pv_replay_new - an empty guard (owned; pv_replay_free). PV_ENOMEM. */
int pv_replay_new(struct pv_replay **out);
void pv_replay_free(struct pv_replay *g);

/*
 * pv_replay_claim - record sig_hdr (a signature pv_internal_verify accepted,
 * with its time_hdr): PV_OK the first time, PV_EUNAUTH if it was already
 * claimed (a replay), PV_EBUSY when the guard is full. All borrowed.
 */
int pv_replay_claim(struct pv_replay *g, const char *time_hdr, const char *sig_hdr, int64_t now_ms);

/* Purchase requests and results as JSON (owned json_t; from_json: PV_EINVAL for bad
 * input, PV_ENOMEM short of memory).
 * req_from_json overwrites *q: its texts are the caller's after, even on failure
 * (pv_purchase_req_clear); res_from_json frees what *r held first. */
json_t *pv_req_to_json(const struct pv_purchase_req *q);
int pv_req_from_json(json_t *o, struct pv_purchase_req *q);
json_t *pv_res_to_json(const struct pv_purchase_res *r);
int pv_res_from_json(json_t *o, struct pv_purchase_res *r);

#endif
