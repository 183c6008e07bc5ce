/*
 * cmd_crypto.c - the token PIN of a PKCS#11 crypto module, and of the vendor
 * CA's token when it has its own (cmd_crypto.h).
 * A PIN on the command line would be readable by every local user (ps), so
 * it comes from a file of mode 0600 or from the environment, which is then
 * cleared. The PIN is wiped by its callers once the module has logged in.
 */
#include "server/cmd_crypto.h"

#include "crypto/crypto.h"
#include "stampd/card.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The PIN s (len bytes, a trailing newline dropped) into pin. */
static int take(const char *s, size_t len, const char *from, char *pin, size_t n)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0 || len > PV_PIN_MAX || len >= n || memchr(s, '\n', len) || memchr(s, '\0', len)) {
        pv_cmd_err("the token PIN in %s must be one line of 1 to %d characters\n", from,
                   PV_PIN_MAX);
        return PV_ECONFIG;
    }
    memcpy(pin, s, len);
    pin[len] = '\0';
    return PV_OK;
}

static int read_pin_file(const char *option, const char *path, char *pin, size_t n)
{
    char buf[PV_PIN_MAX + 3];
    size_t len = 0;
    int rc = pv_cmd_read_private(option, path, buf, sizeof buf, &len);

    if (rc == PV_OK)
        rc = take(buf, len, path, pin, n);
    pv_card_wipe(buf, sizeof buf);
    return rc;
}

/* The PIN from file (option names it; NULL: none) or the environment
 * variable var (then unset) into pin; "" when neither is given. */
static int pin_source(const char *option, const char *file, const char *var, char *pin, size_t n)
{
    const char *env = getenv(var);
    int rc;

    pin[0] = '\0';
    if (env && !*env)
        env = NULL;
    if (file && env) {
        pv_cmd_err("the token PIN comes from %s or %s, not both\n", option, var);
        return PV_ECONFIG;
    }
    if (file)
        return read_pin_file(option, file, pin, n);
    if (!env)
        return PV_OK;
    rc = take(env, strlen(env), var, pin, n);
    unsetenv(var);
    return rc;
}

int pv_cmd_crypto_pin(const struct opts *o, const char *spec, char *pin, size_t n)
{
    const char *env = getenv(PV_PIN_ENV);
    int rc;

    pin[0] = '\0';
    /* Without a spec (the store's is used) a PIN is taken when there is one. */
    if (!o->crypto_pin_file && ((spec && !pv_crypto_is_pkcs11(spec)) || (!spec && !(env && *env))))
        return PV_OK;
    rc = pin_source("--crypto-pin-file", o->crypto_pin_file, PV_PIN_ENV, pin, n);
    if (rc == PV_OK && !pin[0]) {
        pv_cmd_err("the PKCS#11 token needs its user PIN: --crypto-pin-file PATH (mode "
                   "0600) or the environment variable %s\n",
                   PV_PIN_ENV);
        return PV_ECONFIG;
    }
    return rc;
}

int pv_cmd_ca_pin(const struct opts *o, char *pin, size_t n)
{
    return pin_source("--ca-pin-file", o->ca_pin_file, PV_CA_PIN_ENV, pin, n);
}
