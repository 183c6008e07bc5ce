/*
 * dispatch.c - the front dispatcher.
 */
#include "server/dispatch.h"

#include "server/processor.h"
#include "server/router.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_dispatch_submit(struct pv_app *app, struct pv_job *job)
{
    job->app = app;
    job->attempts = 1;
    if (app->router)
        return pv_router_submit(app->router, job);
    if (app->nprocs == 0)
        return PV_EBUSY;
    return pv_processor_enqueue(app->procs, atomic_fetch_add(&app->next_proc, 1) % app->nprocs,
                                job);
}

int pv_dispatch_retry(struct pv_job *job)
{
    struct pv_app *app = job->app;
    int err = job->res.err;

    /* Nothing was written for these: the same request may go elsewhere. */
    if ((err != PV_ENOPSD && err != PV_EBUSY) || !app || job->attempts >= app->nprocs)
        return PV_EBUSY;
    job->attempts++;
    return pv_processor_enqueue(app->procs, atomic_fetch_add(&app->next_proc, 1) % app->nprocs,
                                job);
}
