/*
 * dispatch.h - the front dispatcher: hands a purchase job to a processor,
 * in this process or in another one, and retries it elsewhere when that is
 * safe (dispatch.c; docs/internals/dispatch.md).
 */
#ifndef STAMPD_DISPATCH_H
#define STAMPD_DISPATCH_H

#include "server/app.h"
#include "server/job.h"

/*
 * pv_dispatch_submit - send job (borrowed until its on_done ran; on_done
 * and ctx set by the caller) to the next processor, round-robin: over HTTP
 * when app has a router (stampd front), else in this process. A processor
 * that could not take it (no PSD lease, busy, unreachable) passes it on to
 * the next; job->on_done runs once, when res is final. Returns PV_OK, or
 * PV_EBUSY when nothing can take it now (stopping, no processor) - then
 * on_done will not run.
 */
int pv_dispatch_submit(struct pv_app *app, struct pv_job *job);

#endif
