/*
 * tls.h - the TLS material of the front <-> processor channel, in memory:
 * read once at start-up (cmd_tls.c), then handed to the processor's HTTP
 * server (http.c, libmicrohttpd/GnuTLS) or the front's client (router.c,
 * libcurl/OpenSSL). Types only.
 */
#ifndef STAMPD_TLS_H
#define STAMPD_TLS_H

#include <stddef.h>

/* PEM text, NUL-terminated; the key's bytes are wiped when it is freed. */
struct pv_tls {
    char *ca_pem;   /* the internal CA: the only issuer the peer may have */
    char *cert_pem; /* this host's certificate (front: clientAuth; processor: serverAuth) */
    char *key_pem;  /* its private key (file mode 0600) */
};

#endif
