/*
 * http.h - the HTTP front on libmicrohttpd (http.c).
 */
#ifndef STAMPD_HTTP_H
#define STAMPD_HTTP_H

#include "server/app.h"
#include "server/tls.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define PV_BODY_MAX (64 * 1024)
/* POST /v1/batches: up to 1,000 purchases (h_batches.c). */
#define PV_BODY_MAX_BATCH (1024 * 1024)

/* pv_body_max - the body cap of a request (method and path borrowed). */
static inline size_t pv_body_max(const char *method, const char *path)
{
    return strcmp(method, "POST") == 0 && strcmp(path, "/v1/batches") == 0 ? PV_BODY_MAX_BATCH
                                                                           : PV_BODY_MAX;
}

struct pv_http;

/* What one slow or greedy client may hold (docs/operations.md). */
struct pv_http_limits {
    unsigned per_address; /* open connections per client address; 0 = no limit */
    unsigned deadline_s;  /* for a request's headers, and again for its body (>= 1) */
    unsigned connections; /* open connections in all; 0 = PV_HTTP_CONNECTIONS */
};

#define PV_HTTP_PER_ADDRESS 64
#define PV_HTTP_DEADLINE_S  10
#define PV_HTTP_CONNECTIONS 1000
/* libmicrohttpd's memory of one connection: its request's headers and read buffer and
 * the answer's headers. All of it is touched, so it is what an open connection costs
 * (libmicrohttpd's default, 32 KiB, made 4,096 connections 128 MiB); a request's
 * headers may take up to about 15 KiB (431 beyond). Bodies are read into a buffer of
 * stampd's own (PV_BODY_MAX). */
#define PV_HTTP_CONNECTION_MEMORY (16 * 1024)

/*
 * pv_http_start - serve app on host:port (port 0 = any free port) with
 * threads worker threads, within limits (borrowed for the call). tls
 * (borrowed: it must outlive the server; NULL = plain HTTP): serve HTTPS
 * (TLS 1.2 or 1.3) with tls->cert_pem and serve only clients whose
 * certificate chains to tls->ca_pem and allows clientAuth (a front's): a
 * connection without one is closed before its request is handled. tls
 * without ca_pem: public HTTPS (TLS 1.2 or 1.3, no client certificates) with
 * that pair, replaceable while running with pv_pubtls_set (pubtls.h); answers
 * carry Strict-Transport-Security.
 * *bound_port gets the port actually bound.
 */
int pv_http_start(struct pv_app *app, const char *host, uint16_t port, unsigned threads,
                  const struct pv_http_limits *limits, const struct pv_tls *tls,
                  struct pv_http **out, uint16_t *bound_port);
/* pv_http_quiesce - refuse new connections (each is closed as soon as it is accepted);
 * open ones go on. */
void pv_http_quiesce(struct pv_http *h);
/* pv_http_stop - close everything; call after the processors stopped, so no
 * connection is still suspended waiting for a purchase. */
void pv_http_stop(struct pv_http *h);

#endif
