/*
 * test_pkcs11.c - the PKCS#11 key module against throwaway SoftHSM2 tokens:
 * keys made in the token that it refuses to reveal (CKA_VALUE of the private
 * key cannot be read; CKA_SENSITIVE and CKA_EXTRACTABLE as asked), signatures
 * that verify through the same code as the file module's and with the
 * `openssl` command line, signing from several threads, the module's
 * identity, and clean errors for a missing module, a missing token, a wrong
 * PIN and a malformed spec. SOFTHSM2_CONF points at a config and token
 * directory under $STAMPD_TEST_TMP, made here with softhsm2-util.
 */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "stampd/error.h"

#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SOFTHSM "/usr/lib/softhsm/libsofthsm2.so"
#define PIN     "1234"
#define CAP     1024

static char dir[CAP];

static const char *tmp_base(void)
{
    const char *t = getenv("STAMPD_TEST_TMP");
    return t && *t ? t : "/tmp";
}

static void run(const char *cmd)
{
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

/* A SoftHSM2 config and token directory, and two tokens "alpha" and "beta". */
static int setup(void **state)
{
    char conf[CAP + 32], cmd[3 * CAP];
    FILE *f;

    (void) state;
    if (mkdir(tmp_base(), 0700) != 0 && errno != EEXIST)
        return -1;
    snprintf(dir, sizeof dir, "%s/p11-XXXXXX", tmp_base());
    if (!mkdtemp(dir))
        return -1;
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", dir);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tokens", dir);
    run(cmd);
    if (!(f = fopen(conf, "w")))
        return -1;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", conf, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label alpha --pin %s --so-pin 5678 >/dev/null && "
             "softhsm2-util --init-token --free --label beta --pin %s --so-pin 5678 >/dev/null",
             PIN, PIN);
    run(cmd);
    return 0;
}

static int teardown(void **state)
{
    char cmd[CAP + 16];

    (void) state;
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct pv_crypto *open_token(const char *label)
{
    char spec[256];
    struct pv_crypto *cm = NULL;

    snprintf(spec, sizeof spec, "pkcs11:module=%s;token=%s", SOFTHSM, label);
    assert_int_equal(pv_crypto_open_pin(spec, PIN, &cm), PV_OK);
    assert_non_null(cm);
    return cm;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_sign_verify(void **state)
{
    struct pv_crypto *cm = open_token("alpha");
    const uint8_t msg[] = "an indicium's signed bytes";
    uint8_t sig[64], der[80], bad[64];
    size_t der_len = 0;
    char *ref = NULL, *pem = NULL, path[CAP + 32], cmd[4 * CAP];
    FILE *f;

    (void) state;
    assert_string_equal(cm->ops->name, "pkcs11");
    assert_int_equal(pv_crypto_generate_key(cm, "psd-1", &ref, &pem), PV_OK);
    assert_non_null(strstr(ref, "p11:id="));
    assert_non_null(strstr(pem, "-----BEGIN PUBLIC KEY-----"));
    assert_int_equal(pv_crypto_sign(cm, ref, msg, sizeof msg - 1, sig), PV_OK);
    /* The same verify as the file module's keys (primitives.c). */
    assert_int_equal(pv_crypto_verify(pem, msg, sizeof msg - 1, sig), PV_OK);
    memcpy(bad, sig, sizeof bad);
    bad[10] ^= 1;
    assert_int_not_equal(pv_crypto_verify(pem, msg, sizeof msg - 1, bad), PV_OK);
    assert_int_not_equal(pv_crypto_verify(pem, msg, sizeof msg - 2, sig), PV_OK);

    /* And with the openssl command line: DER signature over the message. */
    assert_int_equal(pv_sig_raw_to_der(sig, der, sizeof der, &der_len), PV_OK);
    snprintf(path, sizeof path, "%s/pub.pem", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs(pem, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sig.der", dir);
    assert_non_null(f = fopen(path, "wb"));
    fwrite(der, 1, der_len, f);
    fclose(f);
    snprintf(path, sizeof path, "%s/msg", dir);
    assert_non_null(f = fopen(path, "wb"));
    fwrite(msg, 1, sizeof msg - 1, f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "openssl dgst -sha256 -verify %s/pub.pem -signature %s/sig.der %s/msg >/dev/null", dir,
             dir, dir);
    run(cmd);

    /* A key of another module, or no key at all: not found. */
    assert_int_equal(pv_crypto_sign(cm, "p11:id=00000000000000000000000000000000", msg, 3, sig),
                     PV_ENOTFOUND);
    assert_int_equal(pv_crypto_sign(cm, "/etc/passwd", msg, 3, sig), PV_ENOTFOUND);
    free(ref);
    free(pem);
    assert_int_equal(pv_crypto_generate_key(cm, "", &ref, &pem), PV_EINVAL);
    assert_null(ref);
    pv_crypto_close(cm);
}

/*
 * The PKCS#11 library as a third party sees it (stampd's module initialised
 * it in this process already): *f, and in *s an R/W session on the token
 * whose label starts with token (e.g. "alpha ") with in *h the private key
 * labelled label. Close *s and dlclose the returned handle when done.
 */
static void *raw_find(const char *token, const char *label, CK_FUNCTION_LIST_PTR *f,
                      CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *h)
{
    CK_C_GetFunctionList get;
    CK_SLOT_ID slots[8];
    CK_ULONG nslots = 8, i, n = 0;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls},
                           {CKA_LABEL, (void *) label, (CK_ULONG) strlen(label)}};
    void *dl = dlopen(SOFTHSM, RTLD_NOW);

    assert_non_null(dl);
    *(void **) (&get) = dlsym(dl, "C_GetFunctionList");
    assert_non_null(get);
    assert_int_equal(get(f), CKR_OK);
    assert_int_equal((*f)->C_Initialize(NULL), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    assert_int_equal((*f)->C_GetSlotList(CK_TRUE, slots, &nslots), CKR_OK);
    for (i = 0; i < nslots && n == 0; i++) {
        CK_TOKEN_INFO ti;
        assert_int_equal((*f)->C_GetTokenInfo(slots[i], &ti), CKR_OK);
        if (memcmp(ti.label, token, strlen(token)) != 0)
            continue;
        assert_int_equal(
            (*f)->C_OpenSession(slots[i], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s),
            CKR_OK);
        assert_int_equal((*f)->C_FindObjectsInit(*s, tmpl, 2), CKR_OK);
        assert_int_equal((*f)->C_FindObjects(*s, h, 1, &n), CKR_OK);
        (*f)->C_FindObjectsFinal(*s);
    }
    assert_int_equal(n, 1);
    return dl;
}

/* The private key stays in the token: CKA_VALUE cannot be read, and the
 * attributes say why. Talks PKCS#11 directly, as an attacker with the PIN
 * and the library would. */
static void test_private_value_unreadable(void **state)
{
    struct pv_crypto *cm = open_token("alpha");
    char *ref = NULL, *pem = NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE h;
    uint8_t value[256];
    CK_BBOOL sensitive = CK_FALSE, extractable = CK_TRUE, token = CK_FALSE;
    CK_ATTRIBUTE val = {CKA_VALUE, value, sizeof value};
    CK_ATTRIBUTE flags[] = {{CKA_SENSITIVE, &sensitive, sizeof sensitive},
                            {CKA_EXTRACTABLE, &extractable, sizeof extractable},
                            {CKA_TOKEN, &token, sizeof token}};
    void *dl;

    (void) state;
    assert_int_equal(pv_crypto_generate_key(cm, "psd-secret", &ref, &pem), PV_OK);
    dl = raw_find("alpha ", "psd-secret", &f, &s, &h);
    assert_int_equal(f->C_GetAttributeValue(s, h, &val, 1), CKR_ATTRIBUTE_SENSITIVE);
    assert_int_equal(val.ulValueLen, (CK_ULONG) -1);
    assert_int_equal(f->C_GetAttributeValue(s, h, flags, 3), CKR_OK);
    assert_int_equal(sensitive, CK_TRUE);
    assert_int_equal(extractable, CK_FALSE);
    assert_int_equal(token, CK_TRUE);
    f->C_CloseSession(s);
    /* Drops this reference only: the module holds one of its own. */
    dlclose(dl);
    free(ref);
    free(pem);
    pv_crypto_close(cm);
}

/* A key destroyed in the token after stampd used it: not found, cleanly, every time. */
static void test_key_gone_from_token(void **state)
{
    struct pv_crypto *cm = open_token("beta");
    char *ref = NULL, *pem = NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE h;
    uint8_t sig[64];
    void *dl;

    (void) state;
    assert_int_equal(pv_crypto_generate_key(cm, "psd-gone", &ref, &pem), PV_OK);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "x", 1, sig), PV_OK);
    dl = raw_find("beta ", "psd-gone", &f, &s, &h);
    assert_int_equal(f->C_DestroyObject(s, h), CKR_OK);
    f->C_CloseSession(s);
    dlclose(dl);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "x", 1, sig), PV_ENOTFOUND);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "x", 1, sig), PV_ENOTFOUND);
    free(ref);
    free(pem);
    pv_crypto_close(cm);
}

/* The token loses the login, then every session (an HSM restart): the next
 * signature logs in again and succeeds, with no error in between. */
static void test_login_lost(void **state)
{
    struct pv_crypto *cm = open_token("alpha");
    char *ref = NULL, *pem = NULL;
    CK_FUNCTION_LIST_PTR f = NULL;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_SESSION_INFO si;
    CK_OBJECT_HANDLE h;
    uint8_t sig[64];
    void *dl;

    (void) state;
    assert_int_equal(pv_crypto_generate_key(cm, "psd-relogin", &ref, &pem), PV_OK);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "a", 1, sig), PV_OK);
    dl = raw_find("alpha ", "psd-relogin", &f, &s, &h);
    assert_int_equal(f->C_GetSessionInfo(s, &si), CKR_OK);
    /* A login belongs to the application: this logs stampd's module out too. */
    assert_int_equal(f->C_Logout(s), CKR_OK);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "b", 1, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pem, (const uint8_t *) "b", 1, sig), PV_OK);
    /* And every session of the application on the token closed. */
    assert_int_equal(f->C_CloseAllSessions(si.slotID), CKR_OK);
    assert_int_equal(pv_crypto_sign(cm, ref, (const uint8_t *) "c", 1, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pem, (const uint8_t *) "c", 1, sig), PV_OK);
    /* A key that is not there stays not found, logged in or not. */
    assert_int_equal(pv_crypto_sign(cm, "p11:id=00000000000000000000000000000000",
                                    (const uint8_t *) "d", 1, sig),
                     PV_ENOTFOUND);
    dlclose(dl);
    free(ref);
    free(pem);
    pv_crypto_close(cm);
}

struct worker {
    struct pv_crypto *cm;
    const char *ref;
    const char *pem;
    int bad;
};

static void *signer(void *arg)
{
    struct worker *w = arg;
    uint8_t msg[16], sig[64];
    int i;

    for (i = 0; i < 100; i++) {
        snprintf((char *) msg, sizeof msg, "piece %d", i);
        if (pv_crypto_sign(w->cm, w->ref, msg, strlen((char *) msg), sig) != PV_OK ||
            pv_crypto_verify(w->pem, msg, strlen((char *) msg), sig) != PV_OK)
            w->bad++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    struct pv_crypto *cm = open_token("alpha");
    char *ref = NULL, *pem = NULL;
    struct worker w[4];
    pthread_t t[4];
    int i;

    (void) state;
    assert_int_equal(pv_crypto_generate_key(cm, "psd-threads", &ref, &pem), PV_OK);
    for (i = 0; i < 4; i++) {
        w[i] = (struct worker){cm, ref, pem, 0};
        assert_int_equal(pthread_create(&t[i], NULL, signer, &w[i]), 0);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    free(ref);
    free(pem);
    pv_crypto_close(cm);
}

/* Two modules on one token share an identity and keys; another token has
 * neither. Closing one module leaves the other working. */
static void test_identity(void **state)
{
    struct pv_crypto *a1 = open_token("alpha"), *a2 = open_token("alpha"), *b = open_token("beta");
    char *ref = NULL, *pem = NULL;
    uint8_t sig[64];

    (void) state;
    assert_string_equal(a1->id, a2->id);
    assert_string_not_equal(a1->id, b->id);
    assert_true(strncmp(a1->id, "pkcs11:SoftHSM project/SoftHSM v2/", 34) == 0);
    assert_int_equal(pv_crypto_generate_key(a1, "psd-shared", &ref, &pem), PV_OK);
    pv_crypto_close(a1);
    assert_int_equal(pv_crypto_sign(a2, ref, (const uint8_t *) "x", 1, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pem, (const uint8_t *) "x", 1, sig), PV_OK);
    assert_int_equal(pv_crypto_sign(b, ref, (const uint8_t *) "x", 1, sig), PV_ENOTFOUND);
    free(ref);
    free(pem);
    pv_crypto_close(a2);
    pv_crypto_close(b);
}

static void test_errors(void **state)
{
    struct pv_crypto *cm = NULL;

    (void) state;
    assert_int_equal(
        pv_crypto_open_pin("pkcs11:module=/nonexistent/libp11.so;token=alpha", PIN, &cm),
        PV_EMODULE);
    assert_null(cm);
    /* A library that is not a PKCS#11 module. */
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=libz.so.1;token=alpha", PIN, &cm),
                     PV_EMODULE);
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=" SOFTHSM ";token=gamma", PIN, &cm),
                     PV_ETOKEN);
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=" SOFTHSM ";token=alpha", "0000", &cm),
                     PV_EPIN);
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=" SOFTHSM ";token=alpha", NULL, &cm),
                     PV_ECONFIG);
    assert_int_equal(pv_crypto_open("pkcs11:module=" SOFTHSM ";token=alpha", &cm), PV_ECONFIG);
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=" SOFTHSM, PIN, &cm), PV_ECONFIG);
    assert_int_equal(pv_crypto_open_pin("pkcs11:token=alpha", PIN, &cm), PV_ECONFIG);
    assert_int_equal(pv_crypto_open_pin("pkcs11:module=" SOFTHSM ";token=alpha;pin=1234", PIN, &cm),
                     PV_ECONFIG);
    assert_null(cm);
    /* After all that, the token still works (a wrong PIN or two lock nothing). */
    pv_crypto_close(open_token("alpha"));
    assert_true(pv_crypto_is_pkcs11("pkcs11:module=x;token=y"));
    assert_false(pv_crypto_is_pkcs11("openssl:/tmp"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),
        cmocka_unit_test(test_private_value_unreadable),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_key_gone_from_token),
        cmocka_unit_test(test_login_lost),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
