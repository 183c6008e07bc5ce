/*
 * psd_refill.h - a PSD refilled (reset) inside a purchase batch, from the
 * postal deposit (purchase.c's selection policy decides when;
 * docs/internals/leases.md, "Reset sizing").
 */
#ifndef PV_DOMAIN_PSD_REFILL_H
#define PV_DOMAIN_PSD_REFILL_H

#include "domain/lease.h"
#include "domain/psd_batch.h"

/*
 * pv_psd_batch_refill - refill p (a row of ctx->psdb, borrowed) so that it
 * can dispense v, from the postal deposit (the test PSD: from the test
 * authority), at most the processor's share of it unless the piece needs
 * more (docs/internals/leases.md, "Reset sizing"): the authority's signature,
 * the refills record, the registers, the journal psd_refill and the PSD's
 * event, in the caller's transaction. PV_EDEPOSIT, PV_ERESETLOCK, or another
 * error; nothing is written before the signature.
 */
int pv_psd_batch_refill(struct pv_store *st, struct pv_processor_ctx *ctx, struct pv_psd_rec *p,
                        pv_mills v, int64_t now);

#endif
