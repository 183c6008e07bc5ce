/*
 * openssl.c - the OpenSSL 3 file key module ("openssl:DIR"), for
 * development and small installations: private keys as files on disk.
 *
 * The module ("openssl:DIR") keeps one ECDSA P-256 private key per file in
 * DIR: PKCS#8 PEM, created with O_EXCL and mode 0600, fsync'd together with
 * its directory entry before the key is handed out. A key_ref is the file's
 * absolute path; sign() accepts only paths directly inside the module's
 * directory, loads each key on first use and caches the EVP_PKEY. The cache
 * is guarded by a mutex; the signing itself runs outside the lock on a
 * reference of its own, so one module instance serves several threads.
 *
 * The primitives that need no private key are in primitives.c; this file
 * is the key module only, the model for the PKCS#11 module beside it.
 * Every failure path clears OpenSSL's per-thread error queue so that a
 * stale error never shows up in a later, unrelated call (libpq, for one,
 * reads that queue).
 */
/* realpath() is XSI in glibc's eyes; the build's _POSIX_C_SOURCE alone hides it. */
#define _XOPEN_SOURCE 700

#include "crypto/crypto.h"

#include "crypto/crypto_int.h"
#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_MAX     16384 /* a P-256 PKCS#8 PEM is about 240 bytes */
#define LABEL_MAX        64
#define RANDOM_HEX_BYTES 4 /* 8 hex digits in the file name */

int pv_crypto_openssl_open(const char *dir, struct pv_crypto **out);

struct cached_key {
    char *ref;      /* owned; the key_ref it was loaded for */
    EVP_PKEY *pkey; /* owned reference */
    struct cached_key *next;
};

struct ossl_crypto {
    struct pv_crypto base; /* first, so a struct pv_crypto * is one of these */
    char *dir;             /* owned; absolute, symlinks resolved, no trailing '/' */
    size_t dir_len;
    pthread_mutex_t lock; /* guards keys */
    struct cached_key *keys;
};

/* ---- helpers --------------------------------------------------------- */

/* Write all n bytes to fd. PV_OK / PV_EIO. */
static int write_all(int fd, const void *data, size_t n)
{
    const uint8_t *p = data;

    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return PV_EIO;
        }
        p += w;
        n -= (size_t) w;
    }
    return PV_OK;
}

/* fsync a directory so that a file just created in it survives a crash. */
static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = PV_OK;

    if (fd < 0)
        return PV_EIO;
    if (fsync(fd) != 0)
        rc = PV_EIO;
    if (close(fd) != 0)
        rc = PV_EIO;
    return rc;
}

/* mkdir -p with mode 0700 for each missing component. Borrows path.
 * PV_OK when path ends up being a directory, else PV_EIO. */
static int make_dirs(const char *path)
{
    char tmp[PATH_MAX];
    size_t n = strnlen(path, sizeof tmp);
    struct stat st;
    size_t i;

    if (n == 0 || n >= sizeof tmp)
        return PV_ECONFIG;
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        tmp[i] = '\0';
        /* mkdir may say EACCES for a directory that already exists above
         * us; what matters is whether each component is a directory. */
        if (mkdir(tmp, 0700) != 0 && (stat(tmp, &st) != 0 || !S_ISDIR(st.st_mode)))
            return PV_EIO;
        if (i < n)
            tmp[i] = '/';
    }
    return PV_OK;
}

/*
 * The keys directory must be the owner's alone: one that other users may
 * enter or list (made by hand, or by an older stampd) is set to 0700. When
 * that fails (another user owns it) it is refused, and said on stderr:
 * PV_EIO.
 */
static int tighten_dir(const char *path)
{
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return PV_EIO;
    if ((st.st_mode & 077) == 0)
        return PV_OK;
    if (chmod(path, 0700) != 0) {
        fprintf(stderr,
                "stampd: keys directory %s has mode %04o (other users may read it) and "
                "cannot be set to 0700: %s\n",
                path, (unsigned) (st.st_mode & 07777), strerror(errno));
        return PV_EIO;
    }
    return PV_OK;
}

/* A label becomes part of a file name: 1..LABEL_MAX of [A-Za-z0-9_-]. */
static int label_ok(const char *label)
{
    size_t i, n = strnlen(label, LABEL_MAX + 1);

    if (n == 0 || n > LABEL_MAX)
        return 0;
    for (i = 0; i < n; i++) {
        char c = label[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

/* 1 when key_ref names a file directly inside the module's directory:
 * DIR "/" name, name of [A-Za-z0-9._-] not starting with '.', ending ".pem". */
static int ref_in_dir(const struct ossl_crypto *oc, const char *key_ref)
{
    size_t n = strnlen(key_ref, PATH_MAX), i, nlen;
    const char *name;

    if (n >= PATH_MAX || n <= oc->dir_len + 1)
        return 0;
    if (memcmp(key_ref, oc->dir, oc->dir_len) != 0 || key_ref[oc->dir_len] != '/')
        return 0;
    name = key_ref + oc->dir_len + 1;
    nlen = n - oc->dir_len - 1;
    if (name[0] == '.' || nlen < 5 || memcmp(name + nlen - 4, ".pem", 4) != 0)
        return 0;
    for (i = 0; i < nlen; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

/* Read the private key file at path (borrowed) into *out (owned).
 * PV_OK, PV_ENOTFOUND (no such file), PV_EIO, PV_ECRYPTO (not a P-256 key),
 * PV_ENOMEM. The file's bytes are wiped from memory before returning. */
static int load_private(const char *path, EVP_PKEY **out)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    struct stat st;
    int fd, rc;

    *out = NULL;
    /* O_NONBLOCK: a FIFO planted under the name must not hang the signer. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0)
        return errno == ENOENT ? PV_ENOTFOUND : PV_EIO;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = PV_EIO;
        goto out;
    }
    buf = malloc(KEY_FILE_MAX + 1);
    if (!buf) {
        rc = PV_ENOMEM;
        goto out;
    }
    while (n <= KEY_FILE_MAX) {
        ssize_t r = read(fd, buf + n, KEY_FILE_MAX + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = PV_EIO;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t) r;
    }
    if (n == 0 || n > KEY_FILE_MAX) {
        rc = PV_ECRYPTO;
        goto out;
    }
    rc = pv_ossl_pem_key(buf, n, 1, out);
out:
    if (buf) {
        OPENSSL_cleanse(buf, KEY_FILE_MAX + 1);
        free(buf);
    }
    close(fd);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* The cached key for key_ref, loading it on first use. *out gets a reference
 * of its own (EVP_PKEY_free() it), so close() or other threads cannot pull
 * the key from under a signature in progress. */
static int get_key(struct ossl_crypto *oc, const char *key_ref, EVP_PKEY **out)
{
    struct cached_key *k;
    EVP_PKEY *pkey = NULL;
    int rc = PV_OK;

    *out = NULL;
    if (!ref_in_dir(oc, key_ref))
        return PV_ENOTFOUND;
    if (pthread_mutex_lock(&oc->lock) != 0)
        return PV_EINTERNAL;
    for (k = oc->keys; k; k = k->next)
        if (strcmp(k->ref, key_ref) == 0)
            break;
    if (!k) {
        /* First use: loading under the lock is simplest and happens once
         * per key; a racing thread then finds the entry. */
        rc = load_private(key_ref, &pkey);
        if (rc != PV_OK)
            goto out;
        k = calloc(1, sizeof *k);
        if (!k || !(k->ref = strdup(key_ref))) {
            free(k);
            rc = PV_ENOMEM;
            goto out;
        }
        k->pkey = pkey;
        pkey = NULL;
        k->next = oc->keys;
        oc->keys = k;
    }
    if (EVP_PKEY_up_ref(k->pkey) != 1) {
        rc = PV_ECRYPTO;
        goto out;
    }
    *out = k->pkey;
out:
    pthread_mutex_unlock(&oc->lock);
    EVP_PKEY_free(pkey);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* PEM "PUBLIC KEY" of pkey as an owned NUL-terminated string in *out. */
static int public_pem_of(EVP_PKEY *pkey, char **out)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *pem;
    long n;
    int rc = PV_ECRYPTO;

    *out = NULL;
    if (!bio) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (PEM_write_bio_PUBKEY(bio, pkey) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data)
        goto out;
    pem = malloc((size_t) n + 1);
    if (!pem) {
        rc = PV_ENOMEM;
        goto out;
    }
    memcpy(pem, data, (size_t) n);
    pem[n] = '\0';
    *out = pem;
    rc = PV_OK;
out:
    BIO_free(bio);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* Write pkey as unencrypted PKCS#8 PEM to fd. The PEM text is staged in a
 * secure-memory BIO, which wipes its buffer when freed. */
static int write_private(int fd, EVP_PKEY *pkey)
{
    BIO *bio = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long n;
    int rc = PV_ECRYPTO;

    if (!bio) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
        goto out;
    n = BIO_get_mem_data(bio, &data);
    if (n <= 0 || !data)
        goto out;
    rc = write_all(fd, data, (size_t) n);
out:
    BIO_free(bio);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* ---- the module ------------------------------------------------------ */

/* ops->generate_key (crypto.h). Also PV_EINVAL for a label that is not
 * 1..64 of [A-Za-z0-9_-], since it becomes part of the file name. A failed
 * call leaves no file behind. */
static int ossl_generate_key(struct pv_crypto *cm, const char *label, char **key_ref,
                             char **public_pem)
{
    struct ossl_crypto *oc = (struct ossl_crypto *) cm;
    EVP_PKEY *pkey = NULL;
    char *path = NULL, *pub = NULL;
    size_t plen;
    bool created = false;
    int rc, fd = -1, attempt;

    *key_ref = NULL;
    *public_pem = NULL;
    if (!label_ok(label))
        return PV_EINVAL;
    pkey = EVP_EC_gen("P-256");
    if (!pkey) {
        rc = PV_ECRYPTO;
        goto out;
    }
    rc = public_pem_of(pkey, &pub);
    if (rc != PV_OK)
        goto out;
    plen = oc->dir_len + 1 + strlen(label) + 1 + 2 * RANDOM_HEX_BYTES + sizeof ".pem";
    path = malloc(plen);
    if (!path) {
        rc = PV_ENOMEM;
        goto out;
    }
    /* 32 random bits make a clash unlikely; O_EXCL makes it harmless. */
    for (attempt = 0; attempt < 8 && fd < 0; attempt++) {
        uint8_t rnd[RANDOM_HEX_BYTES];
        char hex[2 * RANDOM_HEX_BYTES + 1];

        rc = pv_random(rnd, sizeof rnd);
        if (rc != PV_OK)
            goto out;
        pv_hex_encode(rnd, sizeof rnd, hex);
        if (snprintf(path, plen, "%s/%s-%s.pem", oc->dir, label, hex) >= (int) plen) {
            rc = PV_EINTERNAL;
            goto out;
        }
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0) {
        rc = PV_EIO;
        goto out;
    }
    created = true;
    rc = write_private(fd, pkey);
    if (rc != PV_OK)
        goto out;
    if (fsync(fd) != 0) {
        rc = PV_EIO;
        goto out;
    }
    rc = close(fd) == 0 ? PV_OK : PV_EIO;
    fd = -1;
    if (rc != PV_OK)
        goto out;
    rc = sync_dir(oc->dir);
    if (rc != PV_OK)
        goto out;
    *key_ref = path;
    path = NULL;
    *public_pem = pub;
    pub = NULL;
out:
    if (fd >= 0)
        close(fd);
    if (rc != PV_OK && created)
        unlink(path);
    free(path);
    free(pub);
    EVP_PKEY_free(pkey);
    if (rc != PV_OK)
        ERR_clear_error();
    return rc;
}

/* ops->sign (crypto.h). Safe from several threads on one module. Also
 * PV_EIO when the key file cannot be read (or is a symlink); sig is zeroed
 * on every error. */
/*
 * Each thread keeps the signing contexts of the last keys it signed with
 * (EVP_PKEY_sign_init once per key and thread) and signs the message's
 * SHA-256: a context set up per signature (EVP_DigestSignInit: a context,
 * the signature algorithm's and the digest's fetch) cost ~3.5 us on top of
 * ~20 us of ECDSA. A slot holds a reference to its key, so a cached key's
 * address is never another key's; a thread's slots are freed when it exits.
 */
#define SIGN_SLOTS 8

struct sign_slots {
    EVP_PKEY *pkey[SIGN_SLOTS];
    EVP_PKEY_CTX *ctx[SIGN_SLOTS];
    unsigned next;
};

static pthread_key_t sign_tls;
static pthread_once_t sign_once = PTHREAD_ONCE_INIT;
static int sign_tls_ok;

static void sign_slots_free(void *p)
{
    struct sign_slots *c = p;

    for (unsigned i = 0; c && i < SIGN_SLOTS; i++) {
        EVP_PKEY_CTX_free(c->ctx[i]);
        EVP_PKEY_free(c->pkey[i]);
    }
    free(c);
}

static void sign_tls_make(void)
{
    sign_tls_ok = pthread_key_create(&sign_tls, sign_slots_free) == 0;
}

/* This thread's signing context for pkey (borrowed: the thread's), or NULL. */
static EVP_PKEY_CTX *sign_ctx(EVP_PKEY *pkey)
{
    struct sign_slots *c;
    EVP_PKEY_CTX *ctx;
    unsigned i;

    if (pthread_once(&sign_once, sign_tls_make) != 0 || !sign_tls_ok)
        return NULL;
    if (!(c = pthread_getspecific(sign_tls))) {
        if (!(c = calloc(1, sizeof *c)))
            return NULL;
        if (pthread_setspecific(sign_tls, c) != 0) {
            free(c);
            return NULL;
        }
    }
    for (i = 0; i < SIGN_SLOTS; i++)
        if (c->pkey[i] == pkey)
            return c->ctx[i];
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!ctx || EVP_PKEY_sign_init(ctx) != 1 ||
        EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1 || EVP_PKEY_up_ref(pkey) != 1) {
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    i = c->next++ % SIGN_SLOTS;
    EVP_PKEY_CTX_free(c->ctx[i]);
    EVP_PKEY_free(c->pkey[i]);
    c->pkey[i] = pkey;
    c->ctx[i] = ctx;
    return ctx;
}

/* Drop this thread's context for pkey (after a signature it failed: the next one starts
 * afresh). */
static void sign_forget(EVP_PKEY *pkey)
{
    struct sign_slots *c = sign_tls_ok ? pthread_getspecific(sign_tls) : NULL;

    for (unsigned i = 0; c && i < SIGN_SLOTS; i++)
        if (c->pkey[i] == pkey) {
            EVP_PKEY_CTX_free(c->ctx[i]);
            EVP_PKEY_free(c->pkey[i]);
            c->ctx[i] = NULL;
            c->pkey[i] = NULL;
        }
}

static int ossl_sign(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                     uint8_t sig[64])
{
    struct ossl_crypto *oc = (struct ossl_crypto *) cm;
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx;
    uint8_t der[PV_SIG_DER_MAX + 8], digest[32];
    size_t der_len = sizeof der;
    int rc;

    memset(sig, 0, PV_SIG_RAW_LEN);
    rc = get_key(oc, key_ref, &pkey);
    if (rc != PV_OK)
        goto out;
    if (!(ctx = sign_ctx(pkey))) {
        rc = PV_ECRYPTO;
        goto out;
    }
    pv_sha256(msg ? msg : (const uint8_t *) "", len, digest);
    if (EVP_PKEY_sign(ctx, der, &der_len, digest, sizeof digest) != 1) {
        sign_forget(pkey);
        rc = PV_ECRYPTO;
        goto out;
    }
    rc = pv_sig_der_to_raw(der, der_len, sig);
    if (rc == PV_OK)
        pv_sig_low_s(sig);
out:
    EVP_PKEY_free(pkey);
    if (rc != PV_OK) {
        memset(sig, 0, PV_SIG_RAW_LEN);
        ERR_clear_error();
    }
    return rc;
}

/* ops->close: frees the cache and the module; no sign() may be running. Threads that
 * signed keep their contexts (and so a reference to the key) until they exit or sign
 * with 8 other keys (sign_ctx). */
static void ossl_close(struct pv_crypto *cm)
{
    struct ossl_crypto *oc = (struct ossl_crypto *) cm;
    struct cached_key *k, *next;

    if (!oc)
        return;
    for (k = oc->keys; k; k = next) {
        next = k->next;
        EVP_PKEY_free(k->pkey);
        free(k->ref);
        free(k);
    }
    pthread_mutex_destroy(&oc->lock);
    free(oc->dir);
    free(oc);
}

static const struct pv_crypto_ops ossl_ops = {
    .version = 1,
    .name = "openssl",
    .generate_key = ossl_generate_key,
    .sign = ossl_sign,
    .close = ossl_close,
};

/*
 * pv_crypto_openssl_open - the "openssl:DIR" module (called by
 * pv_crypto_open). Borrows dir; creates it and any missing parent with
 * mode 0700 (existing parents keep their mode; an existing DIR that group
 * or others may use is set to 0700). *out is owned, released by
 * pv_crypto_close(). Errors: PV_ECONFIG (empty, over-long or "/" DIR),
 * PV_EIO (cannot create or resolve DIR, or a loose DIR that cannot be set
 * to 0700), PV_ENOMEM.
 */
int pv_crypto_openssl_open(const char *dir, struct pv_crypto **out)
{
    struct ossl_crypto *oc;
    char *real;
    int rc;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!dir)
        return PV_ECONFIG;
    rc = make_dirs(dir);
    if (rc != PV_OK)
        return rc;
    /* Key refs are absolute, so they stay valid whatever the working
     * directory of the process that later signs with them. */
    real = realpath(dir, NULL);
    if (!real)
        return errno == ENOMEM ? PV_ENOMEM : PV_EIO;
    if (strcmp(real, "/") == 0) {
        /* Keys straight in the root directory: surely a slip in the config. */
        free(real);
        return PV_ECONFIG;
    }
    if (strlen(real) + sizeof "openssl:" > PV_CRYPTO_ID_MAX) {
        /* The identity PSDs are bound to (crypto.h) must hold the whole path. */
        free(real);
        return PV_ECONFIG;
    }
    if ((rc = tighten_dir(real)) != PV_OK) {
        free(real);
        return rc;
    }
    oc = calloc(1, sizeof *oc);
    if (!oc) {
        free(real);
        return PV_ENOMEM;
    }
    if (pthread_mutex_init(&oc->lock, NULL) != 0) {
        free(real);
        free(oc);
        return PV_ENOMEM;
    }
    oc->base.ops = &ossl_ops;
    oc->dir = real;
    oc->dir_len = strlen(real);
    snprintf(oc->base.id, sizeof oc->base.id, "openssl:%s", real);
    *out = &oc->base;
    return PV_OK;
}
