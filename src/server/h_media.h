/*
 * h_media.h - media with identifier codes: the purchase's medium check and
 * result, and the media routes (h_media.c).
 */
#ifndef STAMPD_H_MEDIA_H
#define STAMPD_H_MEDIA_H

#include "domain/purchase.h"
#include "server/app.h"
#include "server/reply.h"
#include "store/store.h"

/*
 * pv_medium_check - the purchase body's medium_serial (root borrowed),
 * when it is one, authenticated against the app's serial secrets before any
 * database work for the purchase: PV_OK, or PV_EMEDIUMINVALID with rp set.
 * A medium_serial of the wrong type or syntax is left to parse_purchase.
 */
int pv_medium_check(struct pv_app *app, struct pv_store *st, json_t *root, struct pv_reply *rp);

/* pv_medium_result - add what the purchase did with its medium to the
 * answer: j (borrowed) on success, or rp's error body (price due). */
void pv_medium_result(const struct pv_purchase_res *res, json_t *j, struct pv_reply *rp);

/* pv_medium_parse - a medium_serial's syntax: 1-32 letters, digits or
 * hyphens, upper-cased into out. PV_OK or PV_EINVAL. */
int pv_medium_parse(const char *s, char out[PV_MEDIUM_MAX + 1]);

/* Route handlers (routes.c). Operators: batches, a serial's record,
 * affiliates, resupply orders; customers: buying a medium. */
void pv_h_media_batch_post(struct pv_call *c);
void pv_h_medium_get(struct pv_call *c);
void pv_h_affiliate_post(struct pv_call *c);
void pv_h_affiliates_list(struct pv_call *c);
void pv_h_resupply_list(struct pv_call *c);
void pv_h_resupply_ship(struct pv_call *c);
void pv_h_medium_purchase(struct pv_call *c);

#endif
