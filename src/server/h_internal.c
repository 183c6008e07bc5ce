/*
 * h_internal.c - the processor side of the front -> processor protocol
 * (internal.c): a signed purchase from a front becomes a job, and every
 * answer a processor gives - the job's outcome (h_indicia.c) or an error
 * here or in http.c - is signed for the request it answers.
 */
#include "server/h_internal.h"

#include "server/app.h"
#include "server/internal.h"
#include "server/job.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* stampd processor: only signed purchases from a front (internal.c). */
void pv_h_internal_purchase(struct pv_call *c)
{
    struct pv_app *app = c->app;
    const struct pv_request *rq = c->rq;
    struct pv_reply *rp = c->rp;
    struct pv_job *job;
    const char *t_hdr = rq->header ? rq->header(rq->arg_ctx, "X-Stampd-Time") : NULL;
    const char *s_hdr = rq->header ? rq->header(rq->arg_ctx, "X-Stampd-Signature") : NULL;
    int64_t now = pv_now_ms();
    json_t *root;
    int rc, oom;

    rc = pv_internal_verify(app->secret, "POST", PV_INTERNAL_PATH, t_hdr, s_hdr, rq->body,
                            rq->body_len, now);
    /* Each signed request is served once: a copy is refused like a forgery. */
    if (rc == PV_OK)
        rc = app->replay ? pv_replay_claim(app->replay, t_hdr, s_hdr, now) : PV_EUNAUTH;
    if (rc == PV_EBUSY) {
        pv_reply_error(rp, PV_EBUSY, NULL, "too many signed requests in the window");
        return;
    }
    if (rc != PV_OK) {
        pv_reply_error(rp, PV_EUNAUTH, "X-Stampd-Signature", "not a signed internal request");
        return;
    }
    /* Short of memory jansson may parse another request than was signed. */
    root = pv_json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, NULL, &oom);
    job = calloc(1, sizeof *job);
    if (job && root && (rc = pv_req_from_json(root, &job->req)) == PV_ENOMEM)
        oom = 1;
    if (!root || !job || rc != PV_OK) {
        pv_reply_error(rp, job && !oom ? PV_EINVAL : PV_ENOMEM, NULL,
                       job && !oom ? "bad internal purchase" : NULL);
        pv_job_free(job);
    } else {
        job->internal = 1;
        job->app = app; /* its secret signs the answer, even if never dispatched */
        pv_str_copy(job->req_sig, sizeof job->req_sig, s_hdr);
        rp->job = job;
    }
    json_decref(root);
}

void pv_h_internal_seal(const struct pv_app *app, const char *req_sig, struct pv_reply *rp)
{
    static const char unbound[PV_HASH_HEX] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    char *text;
    size_t i;

    if (rp->signature[0] || rp->raw || rp->asset || rp->job)
        return; /* signed already, or not an answer of the internal API */
    if (!req_sig || strlen(req_sig) != PV_HASH_HEX - 1)
        req_sig = unbound;
    for (i = 0; req_sig != unbound && i < PV_HASH_HEX - 1; i++)
        if (!strchr("0123456789abcdefABCDEF", req_sig[i]))
            req_sig = unbound;
    text = rp->body ? json_dumps(rp->body, JSON_COMPACT | JSON_ENSURE_ASCII) : strdup("");
    if (!text)
        return;
    if (pv_internal_sign_answer(app->secret, req_sig, rp->status, text, strlen(text),
                                rp->signature) != PV_OK) {
        rp->signature[0] = '\0';
        free(text);
        return;
    }
    json_decref(rp->body);
    rp->body = NULL;
    rp->raw = (uint8_t *) text;
    rp->raw_len = strlen(text);
    rp->content_type = "application/json";
}
