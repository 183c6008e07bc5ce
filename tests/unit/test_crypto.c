/*
 * test_crypto.c - the crypto module interface and its OpenSSL backend:
 * module specs, key files (mode 0600, PKCS#8 PEM), sign/verify round trips
 * from one and from several threads, key_ref confinement, public-key
 * checks, raw<->DER signatures, SHA-256 / HMAC-SHA256 known answers,
 * random and constant-time compare, and that failures leave OpenSSL's error
 * queue empty. Key directories live under $STAMPD_TEST_TMP (or /tmp).
 */
/* realpath() and mkdtemp() with the build's _POSIX_C_SOURCE. */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"

/* Only to check that failures leave no error behind for later callers. */
#include <openssl/err.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TMP_CAP  1024 /* temporary directories */
#define PATH_CAP 4096 /* anything built from one, and realpath() results */

/* A P-384 and an Ed25519 public key: well-formed PEM, wrong kind of key. */
static const char p384_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                               "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEzt62NV3ZjUuea6ppAShi1c1VpFfzx2J6\n"
                               "x/X9FbyQ7R0oxiQH73RkiPDU1SWgrmUprgpxRVt9F+cA3L3wwzWmnhzReyho64Xd\n"
                               "scHaPFrYNHzBHz388KqrkFnLBEpLpQAJ\n"
                               "-----END PUBLIC KEY-----\n";
static const char ed25519_pub[] = "-----BEGIN PUBLIC KEY-----\n"
                                  "MCowBQYDK2VwAyEAn3jz5Czfy8y4L8CRx2lenWUyJFM7UhTrvkxqoQhF894=\n"
                                  "-----END PUBLIC KEY-----\n";

/* ---- helpers ------------------------------------------------------------ */

static const char *tmp_base(void)
{
    const char *t = getenv("STAMPD_TEST_TMP");
    return t && *t ? t : "/tmp";
}

/* A fresh directory $STAMPD_TEST_TMP/<tag>-XXXXXX into buf (cap bytes). */
static void make_tmpdir(const char *tag, char *buf, size_t cap)
{
    const char *base = tmp_base();

    /* CTest points STAMPD_TEST_TMP at build/tmp, which may not exist yet. */
    if (mkdir(base, 0700) != 0 && errno != EEXIST)
        fail_msg("cannot create %s", base);
    assert_true(snprintf(buf, cap, "%s/%s-XXXXXX", base, tag) < (int) cap);
    assert_non_null(mkdtemp(buf));
}

/* rm -r of a test directory (files and nested directories). */
static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;

    if (!d) {
        unlink(path);
        return;
    }
    while ((e = readdir(d)) != NULL) {
        char sub[PATH_CAP];
        struct stat st;

        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >= (int) sizeof sub)
            continue;
        if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(sub);
        else
            unlink(sub);
    }
    closedir(d);
    rmdir(path);
}

/* Whole file into an owned NUL-terminated buffer (free()), or NULL. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n;

    if (!f)
        return NULL;
    buf = malloc(65536);
    if (buf) {
        n = fread(buf, 1, 65535, f);
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

static const char *source_dir(void)
{
    const char *s = getenv("STAMPD_SOURCE_DIR");
    return s && *s ? s : ".";
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void assert_no_openssl_error(void)
{
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- module specs -------------------------------------------------------- */

static void test_open_bad_specs(void **state)
{
    static const char *bad[] = {
        "", "openssl", "openssl:", "OPENSSL:/tmp/x", "pkcs11:/tmp/x", "file:/tmp/x", "openssl:/"};
    struct pv_crypto *cm = (struct pv_crypto *) 1;
    size_t i;

    (void) state;
    assert_int_equal(pv_crypto_open(NULL, &cm), PV_ECONFIG);
    assert_null(cm);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cm = (struct pv_crypto *) 1;
        assert_int_equal(pv_crypto_open(bad[i], &cm), PV_ECONFIG);
        assert_null(cm);
    }
    assert_int_equal(pv_crypto_open("openssl:/tmp/x", NULL), PV_EINVAL);
    pv_crypto_close(NULL);
}

static void test_open_creates_dir_0700(void **state)
{
    char tmp[TMP_CAP], spec[PATH_CAP], keys[TMP_CAP + 16], file[PATH_CAP], under[PATH_CAP];
    struct pv_crypto *cm = NULL;
    struct stat st;
    FILE *f;

    (void) state;
    make_tmpdir("crypto-open", tmp, sizeof tmp);
    snprintf(keys, sizeof keys, "%s/a/b/keys", tmp);
    snprintf(spec, sizeof spec, "openssl:%s", keys);
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    assert_non_null(cm);
    assert_string_equal(cm->ops->name, "openssl");
    assert_int_equal(cm->ops->version, 1);
    assert_int_equal(stat(keys, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    pv_crypto_close(cm);

    /* Opening an existing directory again is fine. */
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    pv_crypto_close(cm);

    /* An existing directory others may read is made the owner's alone. */
    assert_int_equal(chmod(keys, 0755), 0);
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    pv_crypto_close(cm);
    assert_int_equal(stat(keys, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(chmod(keys, 0777), 0);
    assert_int_equal(pv_crypto_open(spec, &cm), PV_OK);
    pv_crypto_close(cm);
    assert_int_equal(stat(keys, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);

    /* A regular file in the way is an I/O error, not a crash. */
    snprintf(file, sizeof file, "%s/plain", tmp);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(under, sizeof under, "openssl:%s/plain/keys", tmp);
    cm = (struct pv_crypto *) 1;
    assert_int_equal(pv_crypto_open(under, &cm), PV_EIO);
    assert_null(cm);
    remove_tree(tmp);
}

/* ---- keys ------------------------------------------------------------------ */

struct fixture {
    char dir[TMP_CAP];
    struct pv_crypto *cm;
};

static int setup_module(void **state)
{
    struct fixture *fx = calloc(1, sizeof *fx);
    char spec[TMP_CAP + 16];

    if (!fx)
        return -1;
    make_tmpdir("crypto", fx->dir, sizeof fx->dir);
    snprintf(spec, sizeof spec, "openssl:%s", fx->dir);
    if (pv_crypto_open(spec, &fx->cm) != PV_OK) {
        free(fx);
        return -1;
    }
    *state = fx;
    return 0;
}

static int teardown_module(void **state)
{
    struct fixture *fx = *state;

    pv_crypto_close(fx->cm);
    remove_tree(fx->dir);
    free(fx);
    return 0;
}

static void test_generate_key_file(void **state)
{
    struct fixture *fx = *state;
    char *ref = NULL, *pub = NULL, *ref2 = NULL, *pub2 = NULL, *text;
    char real[PATH_CAP];
    const char *base;
    struct stat st;
    size_t i;

    assert_int_equal(pv_crypto_generate_key(fx->cm, "psd-1", &ref, &pub), PV_OK);
    assert_non_null(ref);
    assert_non_null(pub);

    /* key_ref is <realpath of DIR>/psd-1-<8 hex>.pem */
    assert_non_null(realpath(fx->dir, real));
    assert_true(starts_with(ref, real));
    assert_int_equal(ref[strlen(real)], '/');
    base = ref + strlen(real) + 1;
    assert_int_equal(strlen(base), strlen("psd-1-") + 8 + strlen(".pem"));
    assert_true(starts_with(base, "psd-1-"));
    for (i = 6; i < 14; i++)
        assert_non_null(strchr("0123456789abcdef", base[i]));
    assert_string_equal(base + 14, ".pem");

    assert_int_equal(lstat(ref, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    text = slurp(ref);
    assert_non_null(text);
    assert_true(starts_with(text, "-----BEGIN PRIVATE KEY-----\n"));
    assert_non_null(strstr(text, "-----END PRIVATE KEY-----\n"));
    free(text);
    assert_true(starts_with(pub, "-----BEGIN PUBLIC KEY-----\n"));
    assert_non_null(strstr(pub, "-----END PUBLIC KEY-----\n"));

    /* Same label again: a new key in a new file. */
    assert_int_equal(pv_crypto_generate_key(fx->cm, "psd-1", &ref2, &pub2), PV_OK);
    assert_string_not_equal(ref, ref2);
    assert_string_not_equal(pub, pub2);
    free(ref);
    free(pub);
    free(ref2);
    free(pub2);
    assert_no_openssl_error();
}

static void test_generate_key_bad_label(void **state)
{
    static const char *bad[] = {
        "",
        "../psd",
        "a/b",
        ".hidden",
        "psd 1",
        "psd\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"};
    struct fixture *fx = *state;
    char *ref = (char *) 1, *pub = (char *) 1;
    size_t i;

    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pv_crypto_generate_key(fx->cm, bad[i], &ref, &pub), PV_EINVAL);
        assert_null(ref);
        assert_null(pub);
    }
    assert_int_equal(pv_crypto_generate_key(NULL, "x", &ref, &pub), PV_EINVAL);
    assert_int_equal(pv_crypto_generate_key(fx->cm, NULL, &ref, &pub), PV_EINVAL);
    assert_int_equal(pv_crypto_generate_key(fx->cm, "x", NULL, &pub), PV_EINVAL);
}

static void test_sign_verify_round_trip(void **state)
{
    struct fixture *fx = *state;
    char *ref = NULL, *pub = NULL, *ref2 = NULL, *pub2 = NULL;
    static const uint8_t msg[] = "stampd indicium body";
    uint8_t sig[64], sig2[64], bad[64];
    size_t len = sizeof msg - 1;

    assert_int_equal(pv_crypto_generate_key(fx->cm, "psd-2", &ref, &pub), PV_OK);
    assert_int_equal(pv_crypto_generate_key(fx->cm, "psd-3", &ref2, &pub2), PV_OK);

    assert_int_equal(pv_crypto_sign(fx->cm, ref, msg, len, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pub, msg, len, sig), PV_OK);
    /* Second use comes from the cache; ECDSA is randomised. */
    assert_int_equal(pv_crypto_sign(fx->cm, ref, msg, len, sig2), PV_OK);
    assert_int_equal(pv_crypto_verify(pub, msg, len, sig2), PV_OK);
    assert_memory_not_equal(sig, sig2, 64);

    /* Wrong message, wrong key, flipped bits: PV_ESIGNATURE. */
    assert_int_equal(pv_crypto_verify(pub, msg, len - 1, sig), PV_ESIGNATURE);
    assert_int_equal(pv_crypto_verify(pub2, msg, len, sig), PV_ESIGNATURE);
    memcpy(bad, sig, 64);
    bad[10] ^= 0x01;
    assert_int_equal(pv_crypto_verify(pub, msg, len, bad), PV_ESIGNATURE);
    memcpy(bad, sig, 64);
    bad[63] ^= 0x80;
    assert_int_equal(pv_crypto_verify(pub, msg, len, bad), PV_ESIGNATURE);
    /* r = s = 0 and r = s = 0xff..ff are out of range, not crashes. */
    memset(bad, 0, 64);
    assert_int_equal(pv_crypto_verify(pub, msg, len, bad), PV_ESIGNATURE);
    memset(bad, 0xff, 64);
    assert_int_equal(pv_crypto_verify(pub, msg, len, bad), PV_ESIGNATURE);

    /* Always the low form s <= n/2 (a random s is high half the time), and it
     * still verifies. The top byte of n/2 is 0x7f. */
    for (int i = 0; i < 64; i++) {
        assert_int_equal(pv_crypto_sign(fx->cm, ref, msg, len, sig), PV_OK);
        assert_true(sig[32] <= 0x7f);
        assert_int_equal(pv_crypto_verify(pub, msg, len, sig), PV_OK);
    }

    /* The empty message is a message too. */
    assert_int_equal(pv_crypto_sign(fx->cm, ref2, NULL, 0, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pub2, (const uint8_t *) "", 0, sig), PV_OK);
    assert_no_openssl_error();

    free(ref);
    free(pub);
    free(ref2);
    free(pub2);
}

/* A thread keeps the signing contexts of its last 8 keys (openssl.c): more keys
 * than that in turn, each signature by its own key; and a module opened again
 * (new key objects at maybe the same addresses) signs with what it loaded. */
static void test_sign_many_keys(void **state)
{
    struct fixture *fx = *state;
    enum { NKEYS = 12 };
    char *ref[NKEYS], *pub[NKEYS], label[16], spec[TMP_CAP + 16];
    static const uint8_t msg[] = "many keys";
    struct pv_crypto *again = NULL;
    uint8_t sig[64];
    int i, round;

    for (i = 0; i < NKEYS; i++) {
        snprintf(label, sizeof label, "psd-%d", 10 + i);
        assert_int_equal(pv_crypto_generate_key(fx->cm, label, &ref[i], &pub[i]), PV_OK);
    }
    for (round = 0; round < 3; round++)
        for (i = 0; i < NKEYS; i++) {
            assert_int_equal(pv_crypto_sign(fx->cm, ref[i], msg, sizeof msg, sig), PV_OK);
            assert_int_equal(pv_crypto_verify(pub[i], msg, sizeof msg, sig), PV_OK);
            assert_int_equal(pv_crypto_verify(pub[(i + 1) % NKEYS], msg, sizeof msg, sig),
                             PV_ESIGNATURE);
        }
    pv_crypto_close(fx->cm);
    fx->cm = NULL;
    snprintf(spec, sizeof spec, "openssl:%s", fx->dir);
    assert_int_equal(pv_crypto_open(spec, &again), PV_OK);
    fx->cm = again;
    for (i = NKEYS; i-- > 0;) {
        assert_int_equal(pv_crypto_sign(again, ref[i], msg, sizeof msg, sig), PV_OK);
        assert_int_equal(pv_crypto_verify(pub[i], msg, sizeof msg, sig), PV_OK);
    }
    for (i = 0; i < NKEYS; i++) {
        free(ref[i]);
        free(pub[i]);
    }
    assert_no_openssl_error();
}

static void test_sign_key_ref_confined(void **state)
{
    struct fixture *fx = *state;
    char real[PATH_CAP], path[PATH_CAP + 64];
    uint8_t sig[64];
    FILE *f;

    assert_non_null(realpath(fx->dir, real));

    /* Not in this module's directory, or not a key file name. */
    assert_int_equal(pv_crypto_sign(fx->cm, "/etc/passwd", (const uint8_t *) "m", 1, sig),
                     PV_ENOTFOUND);
    snprintf(path, sizeof path, "%s/../escape.pem", real);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);
    snprintf(path, sizeof path, "%s/sub/k.pem", real);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);
    snprintf(path, sizeof path, "%s/.pem", real);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);
    snprintf(path, sizeof path, "%s/k.txt", real);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);
    /* In the directory but absent. */
    snprintf(path, sizeof path, "%s/absent-00000000.pem", real);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);
    assert_int_equal(pv_crypto_sign(fx->cm, "", (const uint8_t *) "m", 1, sig), PV_ENOTFOUND);

    /* Present but not a key. */
    snprintf(path, sizeof path, "%s/junk.pem", real);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n", f);
    fclose(f);
    assert_int_equal(pv_crypto_sign(fx->cm, path, (const uint8_t *) "m", 1, sig), PV_ECRYPTO);

    /* A symlink is not followed, even to a real key inside the directory. */
    {
        char *ref = NULL, *pub = NULL, link[PATH_CAP + 64];

        assert_int_equal(pv_crypto_generate_key(fx->cm, "target", &ref, &pub), PV_OK);
        snprintf(link, sizeof link, "%s/link.pem", real);
        assert_int_equal(symlink(ref, link), 0);
        assert_int_equal(pv_crypto_sign(fx->cm, link, (const uint8_t *) "m", 1, sig), PV_EIO);
        free(ref);
        free(pub);
    }

    assert_int_equal(pv_crypto_sign(NULL, path, (const uint8_t *) "m", 1, sig), PV_EINVAL);
    assert_int_equal(pv_crypto_sign(fx->cm, NULL, (const uint8_t *) "m", 1, sig), PV_EINVAL);
    assert_int_equal(pv_crypto_sign(fx->cm, path, NULL, 1, sig), PV_EINVAL);
    assert_no_openssl_error();
}

/* The committed test key, provisioned by copying its file into a module
 * directory, signs; the committed public key verifies. */
static void test_sign_with_provisioned_key(void **state)
{
    struct fixture *fx = *state;
    char src[PATH_CAP], real[PATH_CAP], dst[PATH_CAP + 64];
    char *key_text, *pub;
    uint8_t sig[64];
    int fd;

    snprintf(src, sizeof src, "%s/tests/vectors/indicium-test-key.pem", source_dir());
    key_text = slurp(src);
    assert_non_null(key_text);
    assert_non_null(realpath(fx->dir, real));
    snprintf(dst, sizeof dst, "%s/indicium-test-key.pem", real);
    fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, key_text, strlen(key_text)), (ssize_t) strlen(key_text));
    close(fd);
    free(key_text);

    snprintf(src, sizeof src, "%s/tests/vectors/indicium-test-key.pub.pem", source_dir());
    pub = slurp(src);
    assert_non_null(pub);
    assert_int_equal(pv_crypto_sign(fx->cm, dst, (const uint8_t *) "abc", 3, sig), PV_OK);
    assert_int_equal(pv_crypto_verify(pub, (const uint8_t *) "abc", 3, sig), PV_OK);
    free(pub);
}

/* Several threads sign with one module instance and two keys at once. */
#define THREADS          4
#define SIGNS_PER_THREAD 25

struct worker {
    struct pv_crypto *cm;
    const char *ref;
    const char *pub;
    int failures;
};

static void *sign_worker(void *arg)
{
    struct worker *w = arg;
    uint8_t msg[16], sig[64];
    int i;

    for (i = 0; i < SIGNS_PER_THREAD; i++) {
        memset(msg, i, sizeof msg);
        if (pv_crypto_sign(w->cm, w->ref, msg, sizeof msg, sig) != PV_OK ||
            pv_crypto_verify(w->pub, msg, sizeof msg, sig) != PV_OK)
            w->failures++;
    }
    return NULL;
}

static void test_sign_from_threads(void **state)
{
    struct fixture *fx = *state;
    char *ref[2] = {NULL, NULL}, *pub[2] = {NULL, NULL};
    struct worker w[THREADS];
    pthread_t t[THREADS];
    int i;

    assert_int_equal(pv_crypto_generate_key(fx->cm, "mt-a", &ref[0], &pub[0]), PV_OK);
    assert_int_equal(pv_crypto_generate_key(fx->cm, "mt-b", &ref[1], &pub[1]), PV_OK);
    for (i = 0; i < THREADS; i++) {
        w[i].cm = fx->cm;
        w[i].ref = ref[i % 2];
        w[i].pub = pub[i % 2];
        w[i].failures = 0;
        assert_int_equal(pthread_create(&t[i], NULL, sign_worker, &w[i]), 0);
    }
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(w[i].failures, 0);
    }
    for (i = 0; i < 2; i++) {
        free(ref[i]);
        free(pub[i]);
    }
}

/* ---- public keys ------------------------------------------------------------ */

static void test_verify_rejects_other_keys(void **state)
{
    struct fixture *fx = *state;
    char *ref = NULL, *pub = NULL, *priv;
    uint8_t sig[64];
    char *truncated;

    assert_int_equal(pv_crypto_generate_key(fx->cm, "kind", &ref, &pub), PV_OK);
    assert_int_equal(pv_crypto_sign(fx->cm, ref, (const uint8_t *) "m", 1, sig), PV_OK);

    assert_int_equal(pv_crypto_verify(p384_pub, (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    assert_no_openssl_error();
    assert_int_equal(pv_crypto_verify(ed25519_pub, (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    assert_int_equal(pv_crypto_verify("", (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    assert_int_equal(pv_crypto_verify("not a pem", (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    /* The private key file is not a public key PEM. */
    priv = slurp(ref);
    assert_non_null(priv);
    assert_int_equal(pv_crypto_verify(priv, (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    free(priv);
    /* A PEM cut short. */
    truncated = strdup(pub);
    assert_non_null(truncated);
    truncated[strlen(truncated) / 2] = '\0';
    assert_int_equal(pv_crypto_verify(truncated, (const uint8_t *) "m", 1, sig), PV_ECRYPTO);
    free(truncated);
    assert_no_openssl_error();

    assert_int_equal(pv_crypto_verify(NULL, (const uint8_t *) "m", 1, sig), PV_EINVAL);
    assert_int_equal(pv_crypto_verify(pub, (const uint8_t *) "m", 1, sig), PV_OK);
    free(ref);
    free(pub);
}

/* ---- raw <-> DER -------------------------------------------------------------- */

/* Parse DER SEQUENCE { INTEGER r, INTEGER s } back into 64 raw bytes, by
 * hand, so the test does not lean on the code under test. */
static int der_back_to_raw(const uint8_t *der, size_t n, uint8_t raw[64])
{
    size_t pos = 2, k;

    if (n < 8 || der[0] != 0x30 || der[1] != n - 2)
        return -1;
    memset(raw, 0, 64);
    for (k = 0; k < 2; k++) {
        size_t ilen;
        const uint8_t *v;

        if (pos + 2 > n || der[pos] != 0x02)
            return -1;
        ilen = der[pos + 1];
        v = der + pos + 2;
        if (pos + 2 + ilen > n || ilen == 0 || ilen > 33)
            return -1;
        pos += 2 + ilen;
        /* Minimal encoding: a leading 0x00 only in front of a high bit. */
        if (ilen > 1 && v[0] == 0 && !(v[1] & 0x80))
            return -1;
        if (ilen == 33) {
            if (v[0] != 0)
                return -1;
            v++;
            ilen--;
        }
        memcpy(raw + 32 * k + 32 - ilen, v, ilen);
    }
    return pos == n ? 0 : -1;
}

static void test_raw_to_der(void **state)
{
    /* Signature of the first indicium test vector; the DER was produced
     * independently with `openssl asn1parse -genconf`. */
    static const char raw_hex[] =
        "8e0507167540e250af91b887bccc795c758f893a3efd23834c86b12e8a16c3e2"
        "6faf26aaf61a731379584802d6543a3a73c1b5f8b9b68a4f15c4fb130890788f";
    static const char der_hex[] =
        "30450221008e0507167540e250af91b887bccc795c758f893a3efd23834c86b12e8a16c3e2"
        "02206faf26aaf61a731379584802d6543a3a73c1b5f8b9b68a4f15c4fb130890788f";
    /* r = 1, s = 0x80 << 240: leading zero bytes dropped, one added back. */
    static const char der_small_hex[] = "3025020101022000800000000000000000000000000000"
                                        "00000000000000000000000000000000";
    uint8_t raw[64], back[64], der[80], want[80];
    char hex[161];
    size_t n = 0;
    int i;

    (void) state;
    assert_int_equal(pv_hex_decode(raw_hex, raw, 64), PV_OK);
    assert_int_equal(pv_sig_raw_to_der(raw, der, sizeof der, &n), PV_OK);
    assert_int_equal(n, 71);
    assert_string_equal(pv_hex_encode(der, n, hex), der_hex);
    assert_int_equal(der_back_to_raw(der, n, back), 0);
    assert_memory_equal(raw, back, 64);

    memset(raw, 0, 64);
    raw[31] = 0x01;
    raw[33] = 0x80;
    assert_int_equal(pv_sig_raw_to_der(raw, der, sizeof der, &n), PV_OK);
    assert_int_equal(n, 39);
    assert_int_equal(pv_hex_decode(der_small_hex, want, 39), PV_OK);
    assert_memory_equal(der, want, 39);
    assert_int_equal(der_back_to_raw(der, n, back), 0);
    assert_memory_equal(raw, back, 64);

    /* Both halves with the high bit set: the longest form, 72 bytes. */
    memset(raw, 0xa5, 64);
    assert_int_equal(pv_sig_raw_to_der(raw, der, sizeof der, &n), PV_OK);
    assert_int_equal(n, 72);
    assert_int_equal(der_back_to_raw(der, n, back), 0);
    assert_memory_equal(raw, back, 64);

    /* Too small a buffer. */
    n = 99;
    assert_int_equal(pv_sig_raw_to_der(raw, der, 71, &n), PV_ECRYPTO);
    assert_int_equal(n, 0);
    assert_no_openssl_error();

    /* A spread of values round-trips. */
    for (i = 0; i < 50; i++) {
        assert_int_equal(pv_random(raw, 64), PV_OK);
        if (i % 5 == 0)
            memset(raw, 0, (size_t) i % 40);
        assert_int_equal(pv_sig_raw_to_der(raw, der, sizeof der, &n), PV_OK);
        assert_int_equal(der_back_to_raw(der, n, back), 0);
        assert_memory_equal(raw, back, 64);
    }
}

/* ---- hashes, HMAC, random, compare --------------------------------------------- */

static void assert_digest_hex(const uint8_t d[32], const char *want)
{
    char hex[65];
    assert_string_equal(pv_hex_encode(d, 32, hex), want);
}

static void test_sha256(void **state)
{
    uint8_t d[32];

    (void) state;
    pv_sha256("abc", 3, d);
    assert_digest_hex(d, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    pv_sha256(NULL, 0, d);
    assert_digest_hex(d, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    pv_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, d);
    assert_digest_hex(d, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hmac_sha256(void **state)
{
    uint8_t key[20], d[32];

    (void) state;
    /* RFC 4231 test case 1. */
    memset(key, 0x0b, sizeof key);
    assert_int_equal(pv_hmac_sha256(key, 20, "Hi There", 8, d), PV_OK);
    assert_digest_hex(d, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* RFC 4231 test case 2. */
    assert_int_equal(pv_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), PV_OK);
    assert_digest_hex(d, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* Empty key and message. */
    assert_int_equal(pv_hmac_sha256(NULL, 0, NULL, 0, d), PV_OK);
    assert_digest_hex(d, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    assert_int_equal(pv_hmac_sha256(NULL, 1, "x", 1, d), PV_EINVAL);
    /* RFC 4231 test cases 6 and 7: a key longer than the block is hashed first. */
    {
        uint8_t big[131];
        static const char msg7[] =
            "This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm.";
        memset(big, 0xaa, sizeof big);
        assert_int_equal(pv_hmac_sha256(big, sizeof big,
                                        "Test Using Larger Than Block-Size Key - Hash Key First",
                                        54, d),
                         PV_OK);
        assert_digest_hex(d, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
        assert_int_equal(pv_hmac_sha256(big, sizeof big, msg7, strlen(msg7), d), PV_OK);
        assert_digest_hex(d, "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
        /* Exactly one block of key: used as is. */
        assert_int_equal(pv_hmac_sha256(big, 64, "x", 1, d), PV_OK);
        assert_digest_hex(d, "ce3c639dcb9d8baae5d44c3b8b5e233faab4d1860e07489af5c84f213998bd79");
    }
    assert_no_openssl_error();
}

static void test_random_and_compare(void **state)
{
    uint8_t a[32], b[32];
    uint8_t *big = malloc(100000);

    (void) state;
    assert_non_null(big);
    assert_int_equal(pv_random(a, 0), PV_OK);
    assert_int_equal(pv_random(a, sizeof a), PV_OK);
    assert_int_equal(pv_random(b, sizeof b), PV_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_int_equal(pv_random(big, 100000), PV_OK);
    free(big);
    assert_int_equal(pv_random(NULL, 1), PV_EINVAL);

    assert_true(pv_memeq_ct(a, a, sizeof a));
    assert_false(pv_memeq_ct(a, b, sizeof a));
    memcpy(b, a, sizeof a);
    b[31] ^= 1;
    assert_false(pv_memeq_ct(a, b, sizeof a));
    assert_true(pv_memeq_ct(a, b, 31));
    assert_true(pv_memeq_ct(NULL, NULL, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_bad_specs),
        cmocka_unit_test(test_open_creates_dir_0700),
        cmocka_unit_test_setup_teardown(test_generate_key_file, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_generate_key_bad_label, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_sign_verify_round_trip, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_sign_key_ref_confined, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_sign_many_keys, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_sign_with_provisioned_key, setup_module,
                                        teardown_module),
        cmocka_unit_test_setup_teardown(test_sign_from_threads, setup_module, teardown_module),
        cmocka_unit_test_setup_teardown(test_verify_rejects_other_keys, setup_module,
                                        teardown_module),
        cmocka_unit_test(test_raw_to_der),
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_hmac_sha256),
        cmocka_unit_test(test_random_and_compare),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
