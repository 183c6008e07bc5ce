/*
 * pubtls.h - the certificate of the public listener's HTTPS (pubtls.c):
 * libmicrohttpd asks for it per handshake (MHD_OPTION_HTTPS_CERT_CALLBACK),
 * so SIGHUP can put a new pair in place without a restart.
 */
#ifndef STAMPD_PUBTLS_H
#define STAMPD_PUBTLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stddef.h>
#include <stdint.h>

/*
 * pv_pubtls_set - check cert_pem (a chain, leaf first) and key_pem (both
 * borrowed, NUL-terminated PEM) and make them the pair new handshakes get.
 * A pair that does not parse or does not match keeps the current one and
 * writes why into why (n bytes). PV_OK, PV_ECONFIG, PV_ENOMEM.
 */
int pv_pubtls_set(const char *cert_pem, const char *key_pem, char *why, size_t n);

/* pv_pubtls_retrieve - GnuTLS's gnutls_certificate_retrieve_function2, for
 * libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK: the current pair (owned
 * here). -1 (no certificate) before the first pv_pubtls_set. */
int pv_pubtls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                       gnutls_pcert_st **pcert, unsigned int *pcert_length,
                       gnutls_privkey_t *privkey);

/* pv_pubtls_not_after - when the current pair's leaf certificate expires
 * (Unix seconds), or 0 before the first pv_pubtls_set (no HTTPS). */
int64_t pv_pubtls_not_after(void);

/* How long before its expiry a certificate set is warned about in the log. */
#define PV_PUBTLS_WARN_DAYS 21

/* pv_pubtls_clear - free every pair set (after the server stopped). */
void pv_pubtls_clear(void);

#endif
