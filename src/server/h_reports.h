/*
 * h_reports.h - the daily per-device reports and the watchdog over HTTP
 * (h_reports.c; domain/report.h, docs/api.md "Daily reports").
 */
#ifndef STAMPD_H_REPORTS_H
#define STAMPD_H_REPORTS_H

#include "server/reply.h"

#include <stdint.h>

/* Route handlers (routes.c), postal keys: GET /v1/authority/reports (the
 * days with reports, newest first), GET /v1/authority/reports/{date} (JSON
 * Lines, ?format=csv, ?psd=N for one device's signed bytes) and GET
 * /v1/authority/reports/{date}/signatures (each device's signatures, key
 * and certificate). */
void pv_h_authority_reports(struct pv_call *c);
void pv_h_authority_report_day(struct pv_call *c);
void pv_h_authority_report_signatures(struct pv_call *c);

/* GET and PUT /v1/admin/watchdog (operator keys): the deadline in days
 * ({"deadline_days": 90}) and each live PSD's contact. */
void pv_h_admin_watchdog(struct pv_call *c);

/*
 * pv_contact_fields - add last_contact_at, contact_deadline_at (RFC 3339 or
 * null) and overdue to the device object j (borrowed) for PSD psd_id at now
 * with the deadline days (pv_contact_deadline_days). PV_OK or a store error.
 * For every view of a device (GET /v1/psds, the authority's devices).
 */
int pv_contact_fields(struct pv_store *st, json_t *j, uint32_t psd_id, int64_t days, int64_t now);

#endif
