/*
 * pubtls.c - the public listener's certificate and key, in GnuTLS form.
 *
 * libmicrohttpd 0.9.75 (Debian) reads MHD_OPTION_HTTPS_MEM_CERT/KEY once, at
 * start; with MHD_OPTION_HTTPS_CERT_CALLBACK it calls GnuTLS's retrieve
 * function in every handshake instead. So the pair lives here, behind a
 * mutex: pv_pubtls_set checks a new pair (parses, and the key matches the
 * certificate) and only then makes it current; a handshake takes whatever is
 * current when it starts. A handshake may still use the pair it was given
 * after a reload, so a replaced pair is kept (linked behind the new one)
 * until pv_pubtls_clear at shutdown: a few kilobytes per reload.
 *
 * One public listener per process: the state is this file's.
 */
#include "server/pubtls.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/timeutil.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHAIN 8

struct pair {
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned npcert;
    gnutls_privkey_t key;
    int64_t not_after; /* the leaf's expiry, Unix seconds */
    struct pair *older;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct pair *current;

static void pair_free(struct pair *p)
{
    unsigned i;

    for (i = 0; i < p->npcert; i++)
        gnutls_pcert_deinit(&p->pcert[i]);
    if (p->key)
        gnutls_privkey_deinit(p->key);
    free(p);
}

/* 0 when key_pem's key is the one cert_pem's leaf certifies (GnuTLS checks it). */
static int key_matches(const gnutls_datum_t *cert, const gnutls_datum_t *key, char *why, size_t n)
{
    gnutls_certificate_credentials_t cred;
    int rc;

    if (gnutls_certificate_allocate_credentials(&cred) < 0) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    rc = gnutls_certificate_set_x509_key_mem(cred, cert, key, GNUTLS_X509_FMT_PEM);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0) {
        pv_str_copy(why, n, gnutls_strerror(rc));
        return -1;
    }
    return 0;
}

int pv_pubtls_set(const char *cert_pem, const char *key_pem, char *why, size_t n)
{
    gnutls_datum_t cert = {(unsigned char *) (uintptr_t) cert_pem, (unsigned) strlen(cert_pem)};
    gnutls_datum_t key = {(unsigned char *) (uintptr_t) key_pem, (unsigned) strlen(key_pem)};
    struct pair *p;
    int rc;

    if (key_matches(&cert, &key, why, n) != 0)
        return PV_ECONFIG;
    if (!(p = calloc(1, sizeof *p)))
        return PV_ENOMEM;
    p->npcert = MAX_CHAIN;
    rc = gnutls_pcert_list_import_x509_raw(p->pcert, &p->npcert, &cert, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0) {
        p->npcert = 0;
        pair_free(p);
        snprintf(why, n, "certificate: %s", gnutls_strerror(rc));
        return PV_ECONFIG;
    }
    if ((rc = gnutls_privkey_init(&p->key)) < 0 ||
        (rc = gnutls_privkey_import_x509_raw(p->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
        pair_free(p);
        snprintf(why, n, "key: %s", gnutls_strerror(rc));
        return PV_ECONFIG;
    }
    {
        gnutls_x509_crt_t leaf;
        if (gnutls_pcert_export_x509(&p->pcert[0], &leaf) == 0) {
            p->not_after = (int64_t) gnutls_x509_crt_get_expiration_time(leaf);
            gnutls_x509_crt_deinit(leaf);
        }
    }
    if (p->not_after > 0) {
        char when[32];
        int64_t left = p->not_after - pv_now();
        pv_time_format(p->not_after, when, sizeof when);
        if (left <= 0)
            pv_log(PV_LOG_ERROR, "tls: the certificate expired at %s: clients refuse it\n", when);
        else if (left < (int64_t) PV_PUBTLS_WARN_DAYS * 86400)
            pv_log(PV_LOG_WARNING,
                   "tls: the certificate expires at %s (within %lld days): renew it and send "
                   "SIGHUP\n",
                   when, (long long) ((left + 86399) / 86400));
    }
    pthread_mutex_lock(&mu);
    p->older = current;
    current = p;
    pthread_mutex_unlock(&mu);
    return PV_OK;
}

int64_t pv_pubtls_not_after(void)
{
    int64_t t;

    pthread_mutex_lock(&mu);
    t = current ? current->not_after : 0;
    pthread_mutex_unlock(&mu);
    return t;
}

/* GnuTLS's gnutls_certificate_retrieve_function2: the current pair. */
int pv_pubtls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                       const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                       gnutls_pcert_st **pcert, unsigned int *pcert_length,
                       gnutls_privkey_t *privkey)
{
    (void) session;
    (void) req_ca_rdn;
    (void) nreqs;
    (void) pk_algos;
    (void) pk_algos_length;
    pthread_mutex_lock(&mu);
    if (!current) {
        pthread_mutex_unlock(&mu);
        return -1;
    }
    *pcert = current->pcert;
    *pcert_length = current->npcert;
    *privkey = current->key;
    pthread_mutex_unlock(&mu);
    return 0;
}

void pv_pubtls_clear(void)
{
    pthread_mutex_lock(&mu);
    while (current) {
        struct pair *older = current->older;
        pair_free(current);
        current = older;
    }
    pthread_mutex_unlock(&mu);
}
