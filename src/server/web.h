/*
 * web.h - the web UI's static files, compiled into stampd (web.c).
 */
#ifndef STAMPD_WEB_H
#define STAMPD_WEB_H

#include "server/reply.h"

/*
 * pv_web_handle - answer rq from the web UI's files compiled into stampd
 * (web/ via cmake/embed_web.cmake): GET or HEAD of "/" (index.html) or a
 * file's path, 304 when If-None-Match names its ETag; 404 for any other
 * path, 405 for other methods. rp borrows the file's bytes.
 */
void pv_web_handle(const struct pv_request *rq, struct pv_reply *rp);

#endif
