/*
 * http_args.h - a libmicrohttpd connection's query arguments and headers
 * as struct pv_request reads them (reply.h): the callbacks http.c puts in
 * every request. ctx is the struct MHD_Connection (borrowed); the strings
 * returned are the connection's, valid while it answers the request.
 */
#ifndef STAMPD_HTTP_ARGS_H
#define STAMPD_HTTP_ARGS_H

/* pv_http_query_arg - the query argument name, or NULL. */
const char *pv_http_query_arg(void *ctx, const char *name);

/* pv_http_header - the request header name (any case), or NULL. */
const char *pv_http_header(void *ctx, const char *name);

/* pv_http_query_each - fn(cls, name, value) for every query argument in
 * order (value "" when it has none) until fn answers non-zero. */
void pv_http_query_each(void *ctx, int (*fn)(void *cls, const char *name, const char *value),
                        void *cls);

#endif
