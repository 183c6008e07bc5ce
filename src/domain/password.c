/*
 * password.c - argon2id password hashing (see password.h). Parameters follow
 * the OWASP minimum for argon2id: 19 MiB of memory, 2 passes, 1 lane.
 */
#include "domain/password.h"

#include "crypto/primitives.h"
#include "stampd/error.h"

#include <argon2.h>
#include <pthread.h>
#include <string.h>

#define T_COST   2
#define M_COST   19456 /* KiB */
#define LANES    1
#define SALT_LEN 16
#define HASH_LEN 32

/* Characters, not bytes: count UTF-8 lead bytes. */
static size_t utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char) *s & 0xc0) != 0x80)
            n++;
    return n;
}

int pv_password_policy(const char *password)
{
    size_t n;

    if (!password || strlen(password) > PV_PASSWORD_MAX * 4)
        return PV_EPASSWORD;
    n = utf8_len(password);
    return n >= PV_PASSWORD_MIN && n <= PV_PASSWORD_MAX ? PV_OK : PV_EPASSWORD;
}

int pv_password_hash(const char *password, char out[PV_PWHASH_MAX])
{
    uint8_t salt[SALT_LEN];
    int rc;

    out[0] = '\0';
    if ((rc = pv_password_policy(password)) != PV_OK)
        return rc;
    if (pv_random(salt, sizeof salt) != PV_OK)
        return PV_ECRYPTO;
    if (argon2_encodedlen(T_COST, M_COST, LANES, SALT_LEN, HASH_LEN, Argon2_id) > PV_PWHASH_MAX)
        return PV_EINTERNAL;
    rc = argon2id_hash_encoded(T_COST, M_COST, LANES, password, strlen(password), salt, sizeof salt,
                               HASH_LEN, out, PV_PWHASH_MAX);
    return rc == ARGON2_OK ? PV_OK : PV_EINTERNAL;
}

static char dummy[PV_PWHASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

/* A real hash of a password nobody has, verified when there is no account. */
static void dummy_init(void)
{
    static const char pw[] = "stampd: no such account";
    static const uint8_t salt[SALT_LEN] = "stampd-dummy-16";

    if (argon2id_hash_encoded(T_COST, M_COST, LANES, pw, sizeof pw - 1, salt, sizeof salt, HASH_LEN,
                              dummy, sizeof dummy) != ARGON2_OK)
        dummy[0] = '\0';
}

int pv_password_verify(const char *password, const char *encoded)
{
    if (!password)
        return PV_ELOGIN;
    if (!encoded || strncmp(encoded, "$argon2id$", 10) != 0) {
        pthread_once(&dummy_once, dummy_init);
        if (dummy[0])
            (void) argon2id_verify(dummy, password, strlen(password));
        return PV_ELOGIN;
    }
    return argon2id_verify(encoded, password, strlen(password)) == ARGON2_OK ? PV_OK : PV_ELOGIN;
}
