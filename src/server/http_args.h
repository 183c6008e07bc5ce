/*
 * http_args.h - a libmicrohttpd connection's query arguments and headers
 * as struct pv_request reads them (reply.h): the callbacks http.c puts in
 * every request. ctx is the struct MHD_Connection (borrowed); the strings
 * returned are the connection's, valid while it answers the request.
 */
#ifndef STAMPD_HTTP_ARGS_H
#define STAMPD_HTTP_ARGS_H

#include <stddef.h>

struct pv_app;

/* pv_http_query_arg - the query argument name, or NULL. */
const char *pv_http_query_arg(void *ctx, const char *name);

/* pv_http_header - the request header name (any case), or NULL. */
const char *pv_http_header(void *ctx, const char *name);

/* pv_http_query_each - fn(cls, name, value) for every query argument in
 * order (value "" when it has none) until fn answers non-zero. */
void pv_http_query_each(void *ctx, int (*fn)(void *cls, const char *name, const char *value),
                        void *cls);

/* pv_http_client_address - the peer's address as text into buf (n bytes),
 * an IPv6 peer's /64; NULL when unknown. */
const char *pv_http_client_address(void *ctx, char *buf, size_t n);

/*
 * pv_http_source_address - the address failed attempts are counted against
 * (into buf): the peer, or - when the peer is app's trusted proxy - the
 * last address of its X-Forwarded-For (the one the proxy itself appended;
 * earlier ones the client could forge). NULL when unknown.
 */
const char *pv_http_source_address(const struct pv_app *app, void *ctx, char *buf, size_t n);

#endif
