/*
 * h_admin.h - the operator routes (h_admin.c): servers, statistics, PSD
 * registers and leases, the ledger check.
 */
#ifndef STAMPD_H_ADMIN_H
#define STAMPD_H_ADMIN_H

#include "server/reply.h"

/* Route handlers (routes.c); each answers c->rp. */
void pv_h_psds(struct pv_call *c);
void pv_h_admin_servers(struct pv_call *c);
void pv_h_admin_stats(struct pv_call *c);
void pv_h_admin_leases(struct pv_call *c);
void pv_h_admin_ledger(struct pv_call *c);
void pv_h_admin_server_status(struct pv_call *c);

#endif
