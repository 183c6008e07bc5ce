/*
 * job.c - jobs made and freed, kept for reuse in between (job.h).
 */
#include "server/job.h"

#include "stampd/freelist.h"

/* Enough for the jobs a burst of answers frees at once (a batch is at most a few thousand);
 * a quiet server keeps no more than it had in flight. */
#define JOBS_KEPT 4096

_Static_assert(sizeof(struct pv_job) % 8 == 0, "a job is a freelist block (freelist.h)");

static struct pv_freelist jobs = PV_FREELIST_INIT(sizeof(struct pv_job), JOBS_KEPT);

/* pv_job_new - see job.h. */
struct pv_job *pv_job_new(void)
{
    return pv_freelist_get(&jobs);
}

/* pv_job_free - see job.h. */
void pv_job_free(struct pv_job *job)
{
    if (!job)
        return;
    pv_purchase_req_clear(&job->req);
    pv_purchase_res_reset(&job->res);
    json_decref(job->fixes);
    pv_freelist_put(&jobs, job);
}

/* pv_job_drain - see job.h. */
void pv_job_drain(void)
{
    pv_freelist_drain(&jobs);
}
