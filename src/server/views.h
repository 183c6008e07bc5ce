/*
 * views.h - a ledger report's JSON and the server status names shared by
 * several handlers, the one check of whether a caller may see an
 * indicium, and the answer of a purchase (views.c). The indicium's own views are the domain's
 * (domain/indicium_view.h).
 */
#ifndef STAMPD_VIEWS_H
#define STAMPD_VIEWS_H

#include "server/reply.h"
#include "store/store.h"

struct pv_ledger_report;

/* The names of enum pv_server_status, by value. */
extern const char *const pv_view_server_status[3];

/*
 * pv_view_own_indicium - load indicium id into *rec if the caller may see it
 * (its customer in the piece's mode, or an operator). Otherwise PV_ENOTFOUND
 * - another customer's indicium, or one of the other mode, does not exist
 * for this key - with rp set ("no such indicium").
 */
int pv_view_own_indicium(struct pv_store *st, const struct pv_principal *who, const char *id,
                         struct pv_indicium_rec *rec, struct pv_reply *rp);

/*
 * pv_view_purchase - rp set to the 201 answer of a purchase or its replay:
 * the stored piece rec (borrowed; pv_indicium_json's object) with
 * "balance_mills" balance, then "payment" and "address_corrections" when
 * not NULL (both TAKEN). rp's body is the text (rp->raw); out of memory:
 * rp set to that error.
 */
void pv_view_purchase(const struct pv_indicium_rec *rec, pv_mills balance, json_t *payment,
                      json_t *fixes, struct pv_reply *rp);

/* pv_view_ledger - a ledger report (borrowed) as JSON (owned; NULL on OOM). */
json_t *pv_view_ledger(const struct pv_ledger_report *rep);

#endif
