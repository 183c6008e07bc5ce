/*
 * routes.h - the API as one route table and its dispatcher (routes.c;
 * docs/internals/http.md).
 */
#ifndef STAMPD_ROUTES_H
#define STAMPD_ROUTES_H

#include "server/app.h"
#include "server/reply.h"

/*
 * pv_routes_handle - answer one request (all borrowed) from the route
 * table: the matching route's handler, 404 "no such endpoint" when no path
 * matches, 405 when the path matches but not the method, 401/403 when the
 * caller may not; paths outside /v1 are the web UI's files. A valid purchase
 * is not answered here: rp->job is set instead (owned), and the caller hands
 * it to the front dispatcher (dispatch.h) and, once its on_done ran, to
 * pv_indicia_finish() - so no thread waits for the durable commit.
 */
void pv_routes_handle(struct pv_app *app, const struct pv_request *rq, struct pv_reply *rp);

#endif
