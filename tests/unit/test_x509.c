/*
 * test_x509.c - certificates from stampd's own CAs (src/crypto/x509.c): a
 * self-signed CA, a server and a client certificate issued for a given
 * public key, their extensions and names (read back with OpenSSL), the
 * checks pv_x509_check makes (chain, validity, purpose, key pair), bad
 * specs refused, and no OpenSSL error left behind.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/x509.h"
#include "stampd/error.h"

/* Only to read the certificates back independently. */
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ca {
    char *key, *cert;
};

static struct ca make_ca(int64_t now)
{
    struct pv_x509_spec spec;
    struct ca ca = {NULL, NULL};

    memset(&spec, 0, sizeof spec);
    spec.common_name = "test CA";
    spec.organization = "stampd test";
    spec.not_before = now - 60;
    spec.not_after = now + 86400;
    spec.usage = PV_X509_CA;
    assert_int_equal(pv_x509_key_new(&ca.key), PV_OK);
    assert_int_equal(pv_x509_issue(&spec, NULL, NULL, ca.key, &ca.cert), PV_OK);
    return ca;
}

static void free_ca(struct ca *ca)
{
    free(ca->key);
    free(ca->cert);
}

/* Issue a leaf for a new key: *key and the returned certificate owned. */
static char *leaf(const struct ca *ca, unsigned usage, const char *cn, int64_t nb, int64_t na,
                  uint64_t serial, char **key)
{
    struct pv_x509_spec spec;
    char *pub = NULL, *cert = NULL;

    memset(&spec, 0, sizeof spec);
    spec.common_name = cn;
    spec.not_before = nb;
    spec.not_after = na;
    spec.serial = serial;
    spec.usage = usage;
    spec.san[0] = "127.0.0.1";
    spec.san[1] = "proc-1.internal";
    spec.san[2] = "::1";
    assert_int_equal(pv_x509_key_new(key), PV_OK);
    assert_int_equal(pv_x509_public_pem(*key, &pub), PV_OK);
    assert_non_null(strstr(pub, "BEGIN PUBLIC KEY"));
    assert_int_equal(pv_x509_issue(&spec, pub, ca->cert, ca->key, &cert), PV_OK);
    free(pub);
    return cert;
}

static X509 *parse(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);

    BIO_free(b);
    assert_non_null(x);
    return x;
}

static void test_ca_and_leaves(void **state)
{
    int64_t now = (int64_t) time(NULL);
    struct ca ca = make_ca(now);
    char *skey = NULL, *ckey = NULL, why[128];
    char *server = leaf(&ca, PV_X509_SERVER, "p1", now - 60, now + 3600, 0, &skey);
    char *client = leaf(&ca, PV_X509_CLIENT, "front", now - 60, now + 3600, 4242, &ckey);
    X509 *x = parse(ca.cert), *s = parse(server), *c = parse(client);
    char cn[64];

    (void) state;
    /* The CA: self-signed, CA:TRUE, may sign certificates. */
    assert_int_equal(X509_check_ca(x), 1);
    assert_int_equal(X509_check_issued(x, x), X509_V_OK);
    assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
    /* The server certificate: issued by it, serverAuth only, its names. */
    assert_int_equal(X509_check_issued(x, s), X509_V_OK);
    assert_int_equal(X509_check_ca(s), 0);
    assert_true(X509_get_extended_key_usage(s) & XKU_SSL_SERVER);
    assert_false(X509_get_extended_key_usage(s) & XKU_SSL_CLIENT);
    assert_int_equal(X509_check_host(s, "proc-1.internal", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(s, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(s, "::1", 0), 1);
    assert_int_equal(X509_check_ip_asc(s, "127.0.0.2", 0), 0);
    X509_NAME_get_text_by_NID(X509_get_subject_name(s), NID_commonName, cn, sizeof cn);
    assert_string_equal(cn, "p1");
    /* The client certificate: clientAuth only, the serial asked for. */
    assert_true(X509_get_extended_key_usage(c) & XKU_SSL_CLIENT);
    assert_false(X509_get_extended_key_usage(c) & XKU_SSL_SERVER);
    assert_int_equal(ASN1_INTEGER_get(X509_get0_serialNumber(c)), 4242);

    /* pv_x509_check: the right pairs pass, the wrong purpose or key does not. */
    assert_int_equal(pv_x509_check(server, skey, ca.cert, PV_X509_SERVER, now, why, sizeof why),
                     PV_OK);
    assert_int_equal(pv_x509_check(client, ckey, ca.cert, PV_X509_CLIENT, now, why, sizeof why),
                     PV_OK);
    assert_int_equal(pv_x509_check(server, skey, ca.cert, PV_X509_CLIENT, now, why, sizeof why),
                     PV_ECONFIG);
    assert_int_equal(pv_x509_check(client, skey, ca.cert, PV_X509_CLIENT, now, why, sizeof why),
                     PV_ECONFIG);
    assert_non_null(strstr(why, "key"));
    /* Expired, and not yet valid. */
    assert_int_equal(
        pv_x509_check(server, NULL, ca.cert, PV_X509_SERVER, now + 7200, why, sizeof why),
        PV_ECONFIG);
    assert_int_equal(
        pv_x509_check(server, NULL, ca.cert, PV_X509_SERVER, now - 7200, why, sizeof why),
        PV_ECONFIG);
    assert_int_equal(ERR_peek_error(), 0);

    X509_free(x);
    X509_free(s);
    X509_free(c);
    free(server);
    free(client);
    free(skey);
    free(ckey);
    free_ca(&ca);
}

static void test_other_ca_refused(void **state)
{
    int64_t now = (int64_t) time(NULL);
    struct ca ca = make_ca(now), other = make_ca(now);
    char *key = NULL, why[128];
    char *cert = leaf(&other, PV_X509_SERVER, "p1", now - 60, now + 3600, 0, &key);

    (void) state;
    assert_int_equal(pv_x509_check(cert, key, other.cert, PV_X509_SERVER, now, why, sizeof why),
                     PV_OK);
    assert_int_equal(pv_x509_check(cert, key, ca.cert, PV_X509_SERVER, now, why, sizeof why),
                     PV_ECONFIG);
    /* A bundle of both CAs (while one replaces the other) accepts it. */
    {
        size_t a = strlen(ca.cert), b = strlen(other.cert);
        char *bundle = malloc(a + b + 1);
        assert_non_null(bundle);
        memcpy(bundle, ca.cert, a);
        memcpy(bundle + a, other.cert, b + 1);
        assert_int_equal(pv_x509_check(cert, key, bundle, PV_X509_SERVER, now, why, sizeof why),
                         PV_OK);
        free(bundle);
    }
    /* The issuer key must be the issuer certificate's. */
    {
        struct pv_x509_spec spec;
        char *pub = NULL, *bad = NULL;
        memset(&spec, 0, sizeof spec);
        spec.common_name = "x";
        spec.not_before = now;
        spec.not_after = now + 60;
        spec.usage = PV_X509_SIGNING;
        assert_int_equal(pv_x509_public_pem(key, &pub), PV_OK);
        assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, other.key, &bad), PV_ECRYPTO);
        assert_null(bad);
        /* A PSD-style signing certificate for a given public key. */
        assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &bad), PV_OK);
        assert_int_equal(pv_x509_check(bad, key, ca.cert, 0, now, why, sizeof why), PV_OK);
        free(bad);
        free(pub);
    }
    assert_int_equal(ERR_peek_error(), 0);
    free(cert);
    free(key);
    free_ca(&ca);
    free_ca(&other);
}

static void test_bad_specs(void **state)
{
    int64_t now = (int64_t) time(NULL);
    struct ca ca = make_ca(now);
    struct pv_x509_spec spec;
    char *pub = NULL, *cert = NULL;
    static const char *const bad_san[] = {"",    "a,b", "-x.example", "x..y",
                                          "x y", "a=b", "under_score"};
    size_t i;

    (void) state;
    assert_int_equal(pv_x509_public_pem(ca.key, &pub), PV_OK);
    memset(&spec, 0, sizeof spec);
    spec.common_name = "ok";
    spec.not_before = now;
    spec.not_after = now + 60;
    spec.usage = PV_X509_SERVER;
    for (i = 0; i < sizeof bad_san / sizeof bad_san[0]; i++) {
        spec.san[0] = bad_san[i];
        assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &cert), PV_EINVAL);
        assert_null(cert);
    }
    spec.san[0] = NULL;
    spec.common_name = "a,CN=evil";
    assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &cert), PV_EINVAL);
    spec.common_name = "";
    assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &cert), PV_EINVAL);
    spec.common_name = "ok";
    spec.not_after = now;
    assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &cert), PV_EINVAL);
    spec.not_after = now + 60;
    spec.usage = 0;
    assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, ca.key, &cert), PV_EINVAL);
    spec.usage = PV_X509_SERVER;
    assert_int_equal(pv_x509_issue(&spec, "not a key", ca.cert, ca.key, &cert), PV_ECRYPTO);
    assert_int_equal(pv_x509_issue(&spec, pub, ca.cert, "not a key", &cert), PV_ECRYPTO);
    assert_int_equal(pv_x509_public_pem("junk", &cert), PV_ECRYPTO);
    assert_null(cert);
    assert_int_equal(ERR_peek_error(), 0);
    free(pub);
    free_ca(&ca);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ca_and_leaves),
        cmocka_unit_test(test_other_ca_refused),
        cmocka_unit_test(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
