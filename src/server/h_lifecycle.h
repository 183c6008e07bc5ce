/*
 * h_lifecycle.h - PSD lifecycle routes (h_lifecycle.c; docs/api.md,
 * "Device lifecycle").
 */
#ifndef STAMPD_H_LIFECYCLE_H
#define STAMPD_H_LIFECYCLE_H

#include "server/reply.h"

/* Postal keys: GET /v1/authority/devices (a page of live devices),
 * GET /v1/authority/devices/{id}, GET .../{id}/history (its status history,
 * oldest first), POST .../{id}/suspend and .../{id}/resume ({"reason"}),
 * POST /v1/authority/resets/lock and /unlock ({"reason"}). */
void pv_h_authority_devices(struct pv_call *c);
void pv_h_authority_device(struct pv_call *c);
void pv_h_authority_device_history(struct pv_call *c);
void pv_h_authority_device_suspend(struct pv_call *c);
void pv_h_authority_device_resume(struct pv_call *c);
void pv_h_authority_resets_lock(struct pv_call *c);
void pv_h_authority_resets_unlock(struct pv_call *c);

/* Operator keys: GET /v1/admin/psds/{id}/history, POST
 * /v1/admin/psds/{id}/suspend|resume ({"reason"}) and .../withdraw
 * ({"reason", "confirm"}). */
void pv_h_admin_psd_history(struct pv_call *c);
void pv_h_admin_psd_suspend(struct pv_call *c);
void pv_h_admin_psd_resume(struct pv_call *c);
void pv_h_admin_psd_withdraw(struct pv_call *c);

#endif
