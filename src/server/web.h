/*
 * web.h - the web UI's static files, compiled into stampd (web.c).
 */
#ifndef STAMPD_WEB_H
#define STAMPD_WEB_H

#include "server/reply.h"

struct pv_web_file;

/* pv_web_find - the web UI's file at path (borrowed; "/" is index.html),
 * or NULL when there is none. The file is static: never freed. */
const struct pv_web_file *pv_web_find(const char *path);

/*
 * pv_web_answer - answer a GET or HEAD of f (the route dispatcher checked
 * the method): 304 when If-None-Match names its ETag, else the file; rp
 * borrows the file's bytes.
 */
void pv_web_answer(const struct pv_web_file *f, const struct pv_request *rq, struct pv_reply *rp);

#endif
