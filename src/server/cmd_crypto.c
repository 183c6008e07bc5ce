/*
 * cmd_crypto.c - the token PIN of a PKCS#11 crypto module (cmd_crypto.h).
 * A PIN on the command line would be readable by every local user (ps), so
 * it comes from a file of mode 0600 or from the environment, which is then
 * cleared. The PIN is wiped by its callers once the module has logged in.
 */
#include "server/cmd_crypto.h"

#include "crypto/crypto.h"
#include "stampd/card.h"
#include "stampd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The PIN s (len bytes, a trailing newline dropped) into pin. */
static int take(const char *s, size_t len, const char *from, char *pin, size_t n)
{
    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len == 0 || len > PV_PIN_MAX || len >= n || memchr(s, '\n', len) || memchr(s, '\0', len)) {
        fprintf(stderr, "stampd: the token PIN in %s must be one line of 1 to %d characters\n",
                from, PV_PIN_MAX);
        return PV_ECONFIG;
    }
    memcpy(pin, s, len);
    pin[len] = '\0';
    return PV_OK;
}

static int read_pin_file(const char *path, char *pin, size_t n)
{
    char buf[PV_PIN_MAX + 3];
    struct stat sb;
    size_t len = 0;
    ssize_t got;
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        fprintf(stderr, "stampd: --crypto-pin-file %s: %s\n", path, strerror(errno));
        return PV_EIO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fprintf(stderr, "stampd: --crypto-pin-file %s is not a regular file\n", path);
        close(fd);
        return PV_ECONFIG;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        fprintf(stderr,
                "stampd: --crypto-pin-file %s has mode %04o: group or others may read it "
                "(chmod 600 %s)\n",
                path, (unsigned) (sb.st_mode & 07777), path);
        close(fd);
        return PV_ECONFIG;
    }
    while (len < sizeof buf && (got = read(fd, buf + len, sizeof buf - len)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            fprintf(stderr, "stampd: --crypto-pin-file %s: %s\n", path, strerror(errno));
            close(fd);
            pv_card_wipe(buf, sizeof buf);
            return PV_EIO;
        }
        len += (size_t) got;
    }
    close(fd);
    rc = len == sizeof buf
             ? (fprintf(stderr, "stampd: --crypto-pin-file %s is too long\n", path), PV_ECONFIG)
             : take(buf, len, path, pin, n);
    pv_card_wipe(buf, sizeof buf);
    return rc;
}

int pv_cmd_crypto_pin(const struct opts *o, const char *spec, char *pin, size_t n)
{
    const char *env = getenv(PV_PIN_ENV);
    int rc;

    pin[0] = '\0';
    if (env && !*env)
        env = NULL;
    if (o->crypto_pin_file && env) {
        fprintf(stderr, "stampd: the token PIN comes from --crypto-pin-file or %s, not both\n",
                PV_PIN_ENV);
        return PV_ECONFIG;
    }
    if (o->crypto_pin_file)
        return read_pin_file(o->crypto_pin_file, pin, n);
    /* Without a spec (the store's is used) a PIN is taken when there is one. */
    if ((spec && !pv_crypto_is_pkcs11(spec)) || (!spec && !env))
        return PV_OK;
    if (!env) {
        fprintf(stderr,
                "stampd: the PKCS#11 token needs its user PIN: --crypto-pin-file PATH (mode "
                "0600) or the environment variable %s\n",
                PV_PIN_ENV);
        return PV_ECONFIG;
    }
    rc = take(env, strlen(env), PV_PIN_ENV, pin, n);
    unsetenv(PV_PIN_ENV);
    return rc;
}
