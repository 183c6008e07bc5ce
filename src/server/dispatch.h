/*
 * dispatch.h - the front dispatcher: hands a purchase job to a processor,
 * in this process or in another one, and retries it elsewhere when that is
 * safe (dispatch.c; docs/internals/dispatch.md).
 */
#ifndef STAMPD_DISPATCH_H
#define STAMPD_DISPATCH_H

#include "server/app.h"
#include "server/job.h"

/* pv_dispatch_submit - queue job (borrowed until its on_done ran) on the
 * next processor (round-robin). PV_OK, or PV_EBUSY when the server is
 * stopping (on_done will not run). */
int pv_dispatch_submit(struct pv_app *app, struct pv_job *job);

/* pv_dispatch_retry - from on_done: when the job failed for a reason
 * another processor may not have (no PSD lease, busy), queue it on the next
 * one and answer PV_OK (on_done will run again); otherwise PV_EBUSY. */
int pv_dispatch_retry(struct pv_job *job);

#endif
