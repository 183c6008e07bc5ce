/*
 * job.h - a purchase on its way from the front to a processor and back:
 * what the handler parsed, what the processor answered, and who is told.
 */
#ifndef STAMPD_JOB_H
#define STAMPD_JOB_H

#include "domain/purchase.h"

struct pv_job {
    struct pv_purchase_req req;
    struct pv_purchase_res res;
    /* Called on the processor's thread once res is final (committed or
     * refused); must not block. ctx is the caller's. */
    void (*on_done)(struct pv_job *job);
    void *ctx;
    struct pv_job *next;
    struct pv_app *app; /* set by pv_dispatch_submit */
    unsigned attempts;  /* processors tried */
    int internal;       /* came over the internal protocol: answer in its format */
};

#endif
