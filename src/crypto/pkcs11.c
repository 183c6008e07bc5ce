/*
 * pkcs11.c - the PKCS#11 key module ("pkcs11:module=LIB;token=LABEL"): PSD
 * keys that live in a token (an HSM, or SoftHSM2 for tests) and never leave.
 *
 * The module library is loaded with dlopen and initialised once per process
 * (CKF_OS_LOCKING_OK: the library may be called from several threads); a
 * process-wide table counts the modules open on each library, so two
 * processors of one `stampd serve` share it and the last close finalises it.
 * The token is found by its label in the slots that have one; the user PIN
 * logs in once, on the first session, which stays open for the module's
 * life (a login belongs to the application, not to one session). Signing
 * takes an idle session from a small pool, or opens one more, so each
 * signing thread has a session of its own and none waits on another's.
 *
 * Keys are generated inside the token (CKM_EC_KEY_PAIR_GEN on P-256) with
 * CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true and CKA_EXTRACTABLE false: no
 * private key byte ever exists outside it. Both halves get the caller's
 * label and a random 16-byte CKA_ID; the key_ref is "p11:id=" and that ID in
 * hex. The token does raw CKM_ECDSA over a SHA-256 digest made here, which
 * gives raw r||s; signatures are brought to low-S like the file module's.
 * When the token loses the login or the sessions (an HSM restart, a network
 * HSM's failover), a signature that fails so logs in again with the PIN the
 * module keeps, and is tried once more.
 *
 * The module's identity ("pkcs11:" manufacturer "/" model "/" serial of the
 * token) binds PSDs to it (docs/internals/crypto.md). This file includes no
 * OpenSSL header: the public key's PEM is built from the EC point directly.
 */
#include "crypto/crypto.h"

#include "crypto/crypto_int.h"
#include "crypto/primitives.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <p11-kit/pkcs11.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define P11_REF_PREFIX "p11:id="
#define P11_ID_LEN     16
#define P11_LABEL_MAX  64
#define P11_POOL_MAX   16 /* idle sessions kept; more are opened and closed as needed */
#define P11_SPEC_MAX   1024
#define P11_PIN_MAX    128

int pv_crypto_pkcs11_open(const char *args, const char *pin, struct pv_crypto **out);

/* ---- the process-wide table of loaded libraries ------------------------ */

struct p11_lib {
    char *path; /* owned */
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    int finalize; /* 1 when we initialised it (not someone else in the process) */
    int refs;
    struct p11_lib *next;
};

static pthread_mutex_t libs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct p11_lib *libs;

/* The library at path, loaded and initialised on first use. PV_EMODULE when
 * it cannot be loaded or is not a PKCS#11 module (said on stderr). */
static int lib_get(const char *path, struct p11_lib **out)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args;
    struct p11_lib *l;
    CK_RV rv;
    int rc = PV_OK;

    *out = NULL;
    pthread_mutex_lock(&libs_lock);
    for (l = libs; l; l = l->next)
        if (strcmp(l->path, path) == 0)
            break;
    if (l) {
        l->refs++;
        *out = l;
        goto out;
    }
    if (!(l = calloc(1, sizeof *l)) || !(l->path = strdup(path))) {
        rc = PV_ENOMEM;
        goto fail;
    }
    l->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!l->dl) {
        fprintf(stderr, "stampd: pkcs11: cannot load module %s: %s\n", path, dlerror());
        rc = PV_EMODULE;
        goto fail;
    }
    *(void **) (&get) = dlsym(l->dl, "C_GetFunctionList");
    if (!get || get(&l->f) != CKR_OK || !l->f) {
        fprintf(stderr, "stampd: pkcs11: %s is not a PKCS#11 module (no C_GetFunctionList)\n",
                path);
        rc = PV_EMODULE;
        goto fail;
    }
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    rv = l->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        fprintf(stderr, "stampd: pkcs11: %s: C_Initialize failed (0x%lx)\n", path,
                (unsigned long) rv);
        rc = PV_EMODULE;
        goto fail;
    }
    l->finalize = rv == CKR_OK;
    l->refs = 1;
    l->next = libs;
    libs = l;
    *out = l;
    goto out;
fail:
    if (l && l->dl)
        dlclose(l->dl);
    if (l)
        free(l->path);
    free(l);
out:
    pthread_mutex_unlock(&libs_lock);
    return rc;
}

static void lib_put(struct p11_lib *lib)
{
    struct p11_lib **pp;

    if (!lib)
        return;
    pthread_mutex_lock(&libs_lock);
    if (--lib->refs == 0) {
        for (pp = &libs; *pp && *pp != lib; pp = &(*pp)->next)
            ;
        if (*pp)
            *pp = lib->next;
        if (lib->finalize)
            lib->f->C_Finalize(NULL);
        dlclose(lib->dl);
        free(lib->path);
        free(lib);
    }
    pthread_mutex_unlock(&libs_lock);
}

/* ---- the module -------------------------------------------------------- */

struct cached_handle {
    char *ref; /* owned key_ref */
    CK_OBJECT_HANDLE h;
    struct cached_handle *next;
};

struct p11_crypto {
    struct pv_crypto base; /* first, so a struct pv_crypto * is one of these */
    struct p11_lib *lib;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE login;    /* the session that logged in; open until close */
    pthread_mutex_t lock;       /* guards login, idle, nidle and keys */
    pthread_mutex_t login_lock; /* one relogin() at a time */
    /* The user PIN, kept to log in again when the token loses the login
     * (relogin); whoever reads this process's memory can sign anyway. */
    char pin[P11_PIN_MAX + 1];
    char token[40];
    CK_SESSION_HANDLE idle[P11_POOL_MAX];
    size_t nidle;
    struct cached_handle *keys;
};

/* A fixed-width, space-padded token field as a C string without the padding. */
static void field_str(const CK_UTF8CHAR *f, size_t n, char *out)
{
    while (n > 0 && (f[n - 1] == ' ' || f[n - 1] == '\0'))
        n--;
    memcpy(out, f, n);
    out[n] = '\0';
}

/* The value of key in "k1=v1;k2=v2" (args borrowed) into out; 0 when absent. */
static int spec_value(const char *args, const char *key, char *out, size_t n)
{
    size_t klen = strlen(key);
    const char *p = args;

    while (p && *p) {
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t) (end - p) : strlen(p);
        if (len > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
            if (len - klen - 1 >= n)
                return 0;
            memcpy(out, p + klen + 1, len - klen - 1);
            out[len - klen - 1] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

/* 1 when every item of args is module=... or token=... */
static int spec_known(const char *args)
{
    const char *p = args;

    while (p && *p) {
        if (strncmp(p, "module=", 7) != 0 && strncmp(p, "token=", 6) != 0)
            return 0;
        p = strchr(p, ';');
        if (p)
            p++;
    }
    return 1;
}

/* The slot whose token is labelled label; fills ident with the token's identity. */
static int find_token(CK_FUNCTION_LIST_PTR f, const char *label, CK_SLOT_ID *slot, char *ident,
                      size_t n)
{
    CK_SLOT_ID *slots = NULL;
    CK_ULONG count = 0, i;
    int rc = PV_ETOKEN;

    if (f->C_GetSlotList(CK_TRUE, NULL, &count) != CKR_OK)
        return PV_ECRYPTO;
    if (count == 0)
        return PV_ETOKEN;
    if (!(slots = calloc(count, sizeof *slots)))
        return PV_ENOMEM;
    if (f->C_GetSlotList(CK_TRUE, slots, &count) != CKR_OK) {
        free(slots);
        return PV_ECRYPTO;
    }
    for (i = 0; i < count; i++) {
        CK_TOKEN_INFO ti;
        char lab[33], man[33], model[17], serial[17];

        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        field_str(ti.label, sizeof ti.label, lab);
        if (strcmp(lab, label) != 0 || !(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        field_str(ti.manufacturerID, sizeof ti.manufacturerID, man);
        field_str(ti.model, sizeof ti.model, model);
        field_str(ti.serialNumber, sizeof ti.serialNumber, serial);
        snprintf(ident, n, "pkcs11:%s/%s/%s", man, model, serial);
        *slot = slots[i];
        rc = PV_OK;
        break;
    }
    free(slots);
    return rc;
}

/* An idle session, or a new one. */
static int session_get(struct p11_crypto *pc, CK_SESSION_HANDLE *s)
{
    pthread_mutex_lock(&pc->lock);
    if (pc->nidle > 0) {
        *s = pc->idle[--pc->nidle];
        pthread_mutex_unlock(&pc->lock);
        return PV_OK;
    }
    pthread_mutex_unlock(&pc->lock);
    if (pc->f->C_OpenSession(pc->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, s) !=
        CKR_OK)
        return PV_ECRYPTO;
    return PV_OK;
}

/* Back to the pool; closed when the pool is full or the session broke. */
static void session_put(struct p11_crypto *pc, CK_SESSION_HANDLE s, int broken)
{
    pthread_mutex_lock(&pc->lock);
    if (!broken && pc->nidle < P11_POOL_MAX) {
        pc->idle[pc->nidle++] = s;
        s = CK_INVALID_HANDLE;
    }
    pthread_mutex_unlock(&pc->lock);
    if (s != CK_INVALID_HANDLE)
        pc->f->C_CloseSession(s);
}

/* SubjectPublicKeyInfo of a P-256 key, up to the 65 bytes of its point. */
static const uint8_t spki_p256[] = {0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00};
static const uint8_t p256_oid[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

/* PEM "PUBLIC KEY" (owned) of a CKA_EC_POINT: 04 41 04||X||Y (DER OCTET
 * STRING, as PKCS#11 says) or the bare 65-byte point some modules give. */
static int pem_of_point(const uint8_t *pt, size_t n, char **out)
{
    uint8_t der[sizeof spki_p256 + 65];
    char *b64, *pem;
    size_t i, blen, o = 0;

    *out = NULL;
    if (n == 67 && pt[0] == 0x04 && pt[1] == 0x41) {
        pt += 2;
        n -= 2;
    }
    if (n != 65 || pt[0] != 0x04)
        return PV_ECRYPTO;
    memcpy(der, spki_p256, sizeof spki_p256);
    memcpy(der + sizeof spki_p256, pt, 65);
    if (!(b64 = pv_base64_encode(der, sizeof der)))
        return PV_ENOMEM;
    blen = strlen(b64);
    pem = malloc(blen + blen / 64 + 64);
    if (!pem) {
        free(b64);
        return PV_ENOMEM;
    }
    o += (size_t) sprintf(pem, "-----BEGIN PUBLIC KEY-----\n");
    for (i = 0; i < blen; i += 64) {
        size_t k = blen - i < 64 ? blen - i : 64;
        memcpy(pem + o, b64 + i, k);
        o += k;
        pem[o++] = '\n';
    }
    sprintf(pem + o, "-----END PUBLIC KEY-----\n");
    free(b64);
    *out = pem;
    return PV_OK;
}

/* The CKA_ID in key_ref ("p11:id=" 32 hex digits) into id. */
static int ref_id(const char *key_ref, uint8_t id[P11_ID_LEN])
{
    size_t plen = sizeof P11_REF_PREFIX - 1;

    if (strncmp(key_ref, P11_REF_PREFIX, plen) != 0 || strlen(key_ref) != plen + 2 * P11_ID_LEN)
        return PV_ENOTFOUND;
    return pv_hex_decode(key_ref + plen, id, P11_ID_LEN) == PV_OK ? PV_OK : PV_ENOTFOUND;
}

/* The private key object of key_ref, found once and cached. PV_ENOTFOUND
 * when the token holds no such key. */
static int find_key(struct p11_crypto *pc, CK_SESSION_HANDLE s, const char *key_ref,
                    CK_OBJECT_HANDLE *h)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    uint8_t id[P11_ID_LEN];
    CK_ATTRIBUTE tmpl[] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_ID, id, sizeof id}};
    CK_OBJECT_HANDLE found[2];
    CK_ULONG nfound = 0;
    struct cached_handle *c;
    int rc;

    if ((rc = ref_id(key_ref, id)) != PV_OK)
        return rc;
    pthread_mutex_lock(&pc->lock);
    for (c = pc->keys; c; c = c->next)
        if (strcmp(c->ref, key_ref) == 0)
            break;
    if (c)
        *h = c->h;
    pthread_mutex_unlock(&pc->lock);
    if (c)
        return PV_OK;
    if (pc->f->C_FindObjectsInit(s, tmpl, 2) != CKR_OK)
        return PV_ECRYPTO;
    if (pc->f->C_FindObjects(s, found, 2, &nfound) != CKR_OK)
        nfound = 0;
    pc->f->C_FindObjectsFinal(s);
    if (nfound != 1)
        return nfound == 0 ? PV_ENOTFOUND : PV_ECRYPTO; /* two keys with one ID: refuse */
    if (!(c = calloc(1, sizeof *c)) || !(c->ref = strdup(key_ref))) {
        free(c);
        return PV_ENOMEM;
    }
    c->h = found[0];
    pthread_mutex_lock(&pc->lock);
    c->next = pc->keys;
    pc->keys = c;
    pthread_mutex_unlock(&pc->lock);
    *h = found[0];
    return PV_OK;
}

/* Forget the cached handle of key_ref (the token no longer knows it). */
static void forget_key(struct p11_crypto *pc, const char *key_ref)
{
    struct cached_handle **pp, *c;

    pthread_mutex_lock(&pc->lock);
    for (pp = &pc->keys; (c = *pp) != NULL; pp = &c->next) {
        if (strcmp(c->ref, key_ref) == 0) {
            *pp = c->next;
            free(c->ref);
            free(c);
            break;
        }
    }
    pthread_mutex_unlock(&pc->lock);
}

/* ops->generate_key (crypto.h): the pair is made in the token. The label
 * is 1..64 bytes. A failed call destroys whatever half it made. */
static int p11_generate_key(struct pv_crypto *cm, const char *label, char **key_ref,
                            char **public_pem)
{
    struct p11_crypto *pc = (struct p11_crypto *) cm;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t id[P11_ID_LEN], point[128];
    CK_ULONG llen = (CK_ULONG) strnlen(label, P11_LABEL_MAX + 1);
    CK_ATTRIBUTE pub[] = {
        {CKA_EC_PARAMS, (void *) p256_oid, sizeof p256_oid},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_LABEL, (void *) label, llen},
        {CKA_ID, id, sizeof id},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_TOKEN, &yes, sizeof yes},     {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes}, {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},      {CKA_DERIVE, &no, sizeof no},
        {CKA_LABEL, (void *) label, llen}, {CKA_ID, id, sizeof id},
    };
    CK_ATTRIBUTE getpt = {CKA_EC_POINT, point, sizeof point};
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE;
    CK_SESSION_HANDLE s;
    char hex[2 * P11_ID_LEN + 1], *ref = NULL, *pem = NULL;
    int rc, broken = 0;

    if (llen == 0 || llen > P11_LABEL_MAX)
        return PV_EINVAL;
    if ((rc = pv_random(id, sizeof id)) != PV_OK)
        return rc;
    if ((rc = session_get(pc, &s)) != PV_OK)
        return rc;
    if (pc->f->C_GenerateKeyPair(s, &mech, pub, sizeof pub / sizeof pub[0], priv,
                                 sizeof priv / sizeof priv[0], &hpub, &hpriv) != CKR_OK) {
        rc = PV_ECRYPTO;
        broken = 1;
        goto out;
    }
    if (pc->f->C_GetAttributeValue(s, hpub, &getpt, 1) != CKR_OK) {
        rc = PV_ECRYPTO;
        goto out;
    }
    if ((rc = pem_of_point(point, (size_t) getpt.ulValueLen, &pem)) != PV_OK)
        goto out;
    pv_hex_encode(id, sizeof id, hex);
    if (!(ref = malloc(sizeof P11_REF_PREFIX + sizeof hex))) {
        rc = PV_ENOMEM;
        goto out;
    }
    snprintf(ref, sizeof P11_REF_PREFIX + sizeof hex, "%s%s", P11_REF_PREFIX, hex);
    *key_ref = ref;
    *public_pem = pem;
    ref = pem = NULL;
out:
    if (rc != PV_OK) {
        if (hpriv != CK_INVALID_HANDLE)
            pc->f->C_DestroyObject(s, hpriv);
        if (hpub != CK_INVALID_HANDLE)
            pc->f->C_DestroyObject(s, hpub);
    }
    free(ref);
    free(pem);
    session_put(pc, s, broken);
    return rc;
}

/* Log in on pc->login with pin. */
static int login(struct p11_crypto *pc, const char *pin, const char *token)
{
    CK_RV rv = pc->f->C_Login(pc->login, CKU_USER, (CK_UTF8CHAR_PTR) pin, (CK_ULONG) strlen(pin));

    if (rv == CKR_OK || rv == CKR_USER_ALREADY_LOGGED_IN)
        return PV_OK;
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LEN_RANGE || rv == CKR_PIN_INVALID) {
        fprintf(stderr, "stampd: pkcs11: token %s: wrong PIN\n", token);
        return PV_EPIN;
    }
    if (rv == CKR_PIN_LOCKED) {
        fprintf(stderr, "stampd: pkcs11: token %s: the PIN is locked (too many wrong PINs)\n",
                token);
        return PV_EPIN;
    }
    fprintf(stderr, "stampd: pkcs11: token %s: login failed (0x%lx)\n", token, (unsigned long) rv);
    return PV_ECRYPTO;
}

/* 1 when session s is no longer usable or no longer logged in. */
static int session_lost(struct p11_crypto *pc, CK_SESSION_HANDLE s)
{
    CK_SESSION_INFO si;

    if (pc->f->C_GetSessionInfo(s, &si) != CKR_OK)
        return 1;
    return si.state != CKS_RW_USER_FUNCTIONS && si.state != CKS_RO_USER_FUNCTIONS;
}

/*
 * The token lost our login or our sessions (an HSM restarted, a network
 * HSM failed over): drop every idle session and cached handle, open a new
 * login session and log in again with the PIN kept for this. Serialised;
 * a second thread that comes here finds the login done (ALREADY_LOGGED_IN).
 */
static int relogin(struct p11_crypto *pc)
{
    CK_SESSION_HANDLE old, idle[P11_POOL_MAX];
    struct cached_handle *c, *next;
    size_t i, nidle;
    int rc;

    pthread_mutex_lock(&pc->login_lock);
    pthread_mutex_lock(&pc->lock);
    nidle = pc->nidle;
    memcpy(idle, pc->idle, nidle * sizeof idle[0]);
    pc->nidle = 0;
    c = pc->keys;
    pc->keys = NULL;
    old = pc->login;
    pc->login = CK_INVALID_HANDLE;
    pthread_mutex_unlock(&pc->lock);
    for (; c; c = next) {
        next = c->next;
        free(c->ref);
        free(c);
    }
    for (i = 0; i < nidle; i++)
        pc->f->C_CloseSession(idle[i]);
    if (old != CK_INVALID_HANDLE)
        pc->f->C_CloseSession(old);
    if (pc->f->C_OpenSession(pc->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &old) !=
        CKR_OK) {
        rc = PV_ECRYPTO;
    } else {
        pc->login = old;
        rc = login(pc, pc->pin, pc->token);
    }
    pthread_mutex_unlock(&pc->login_lock);
    if (rc == PV_OK)
        fprintf(stderr, "stampd: pkcs11: token %s: logged in again\n", pc->token);
    return rc;
}

/* One attempt of ops->sign; *lost = 1 when it failed because the session
 * or the login is gone (relogin() may help). */
static int sign_once(struct p11_crypto *pc, const char *key_ref, const uint8_t *msg, size_t len,
                     uint8_t sig[64], int *lost)
{
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_OBJECT_HANDLE h;
    CK_SESSION_HANDLE s;
    CK_ULONG slen = PV_SIG_RAW_LEN;
    uint8_t digest[32];
    CK_RV rv;
    int rc, broken = 0;

    *lost = 0;
    memset(sig, 0, PV_SIG_RAW_LEN);
    if ((rc = session_get(pc, &s)) != PV_OK)
        return rc;
    if ((rc = find_key(pc, s, key_ref, &h)) != PV_OK) {
        /* Not found may mean logged out: private objects are invisible then. */
        broken = *lost = session_lost(pc, s);
        goto out;
    }
    pv_sha256(msg ? msg : (const uint8_t *) "", len, digest);
    rv = pc->f->C_SignInit(s, &mech, h);
    if (rv == CKR_OK)
        rv = pc->f->C_Sign(s, digest, sizeof digest, sig, &slen);
    if (rv != CKR_OK || slen != PV_SIG_RAW_LEN) {
        /* A failed C_Sign ends the operation; a failed C_SignInit may not have
         * started one. Either way a fresh session is the safe next step. */
        rc = rv == CKR_KEY_HANDLE_INVALID || rv == CKR_OBJECT_HANDLE_INVALID ? PV_ENOTFOUND
                                                                             : PV_ECRYPTO;
        if (rc == PV_ENOTFOUND)
            forget_key(pc, key_ref); /* looked up afresh next time */
        *lost = session_lost(pc, s);
        broken = 1;
        memset(sig, 0, PV_SIG_RAW_LEN);
        goto out;
    }
    pv_sig_low_s(sig);
out:
    session_put(pc, s, broken);
    return rc;
}

/* ops->sign (crypto.h): SHA-256 here, raw ECDSA in the token. When the token
 * lost the login or the sessions, logs in again and tries once more. */
static int p11_sign(struct pv_crypto *cm, const char *key_ref, const uint8_t *msg, size_t len,
                    uint8_t sig[64])
{
    struct p11_crypto *pc = (struct p11_crypto *) cm;
    uint8_t id[P11_ID_LEN];
    int rc, lost = 0;

    memset(sig, 0, PV_SIG_RAW_LEN);
    if (ref_id(key_ref, id) != PV_OK) /* cheap check before taking a session */
        return PV_ENOTFOUND;
    rc = sign_once(pc, key_ref, msg, len, sig, &lost);
    if (rc != PV_OK && lost && relogin(pc) == PV_OK)
        rc = sign_once(pc, key_ref, msg, len, sig, &lost);
    return rc;
}

/* ops->close: closes every session; no sign() may be running. */
static void p11_close(struct pv_crypto *cm)
{
    struct p11_crypto *pc = (struct p11_crypto *) cm;
    struct cached_handle *c, *next;
    size_t i;

    if (!pc)
        return;
    for (i = 0; i < pc->nidle; i++)
        pc->f->C_CloseSession(pc->idle[i]);
    /* No C_Logout: a login belongs to the process, and another module open
     * on the same token would lose it too. Closing the last session of the
     * token ends the login. */
    if (pc->login != CK_INVALID_HANDLE)
        pc->f->C_CloseSession(pc->login);
    for (c = pc->keys; c; c = next) {
        next = c->next;
        free(c->ref);
        free(c);
    }
    lib_put(pc->lib);
    pthread_mutex_destroy(&pc->lock);
    pthread_mutex_destroy(&pc->login_lock);
    pv_card_wipe(pc->pin, sizeof pc->pin);
    free(pc);
}

static const struct pv_crypto_ops p11_ops = {
    .version = 1,
    .name = "pkcs11",
    .generate_key = p11_generate_key,
    .sign = p11_sign,
    .close = p11_close,
};

/*
 * pv_crypto_pkcs11_open - the "pkcs11:module=LIB;token=LABEL" module
 * (called by pv_crypto_open_pin with what follows "pkcs11:"). Borrows args
 * and pin (the token's user PIN, 1-128 bytes; copied, to log in again when
 * the token loses the login, and wiped at close). *out is owned, released by
 * pv_crypto_close(). Errors: PV_ECONFIG (malformed spec, no PIN), PV_EMODULE
 * (library missing or not PKCS#11), PV_ETOKEN (no initialised token with
 * that label), PV_EPIN (wrong or locked PIN), PV_ECRYPTO, PV_ENOMEM. Each
 * is said on stderr with the module and token it concerns.
 */
int pv_crypto_pkcs11_open(const char *args, const char *pin, struct pv_crypto **out)
{
    char path[P11_SPEC_MAX], token[40];
    struct p11_crypto *pc = NULL;
    int rc;

    *out = NULL;
    if (!args || strlen(args) >= P11_SPEC_MAX || !spec_known(args) ||
        !spec_value(args, "module", path, sizeof path) || !path[0] ||
        !spec_value(args, "token", token, sizeof token) || !token[0] || strlen(token) > 32) {
        fprintf(stderr, "stampd: pkcs11: the spec is pkcs11:module=/path/lib.so;token=LABEL "
                        "(a label of 1-32 characters)\n");
        return PV_ECONFIG;
    }
    if (!pin || !pin[0] || strlen(pin) > P11_PIN_MAX) {
        fprintf(stderr,
                "stampd: pkcs11: token %s needs its user PIN: --crypto-pin-file PATH or "
                "the environment variable STAMPD_CRYPTO_PIN\n",
                token);
        return PV_ECONFIG;
    }
    if (!(pc = calloc(1, sizeof *pc)))
        return PV_ENOMEM;
    if (pthread_mutex_init(&pc->lock, NULL) != 0) {
        free(pc);
        return PV_ENOMEM;
    }
    if (pthread_mutex_init(&pc->login_lock, NULL) != 0) {
        pthread_mutex_destroy(&pc->lock);
        free(pc);
        return PV_ENOMEM;
    }
    memcpy(pc->pin, pin, strlen(pin) + 1);
    memcpy(pc->token, token, strlen(token) + 1);
    pc->base.ops = &p11_ops;
    pc->login = CK_INVALID_HANDLE;
    if ((rc = lib_get(path, &pc->lib)) != PV_OK)
        goto fail;
    pc->f = pc->lib->f;
    rc = find_token(pc->f, token, &pc->slot, pc->base.id, sizeof pc->base.id);
    if (rc == PV_ETOKEN)
        fprintf(stderr, "stampd: pkcs11: module %s has no initialised token labelled %s\n", path,
                token);
    if (rc != PV_OK)
        goto fail;
    if (pc->f->C_OpenSession(pc->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL,
                             &pc->login) != CKR_OK) {
        pc->login = CK_INVALID_HANDLE;
        rc = PV_ECRYPTO;
        goto fail;
    }
    if ((rc = login(pc, pin, token)) != PV_OK)
        goto fail;
    *out = &pc->base;
    return PV_OK;
fail:
    if (pc->login != CK_INVALID_HANDLE)
        pc->f->C_CloseSession(pc->login);
    lib_put(pc->lib);
    pthread_mutex_destroy(&pc->lock);
    pthread_mutex_destroy(&pc->login_lock);
    pv_card_wipe(pc->pin, sizeof pc->pin);
    free(pc);
    return rc;
}
