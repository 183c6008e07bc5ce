/*
 * cmd_secret.c - the front <-> processor secret (internal.c signs with it)
 * is each host's, not the database's: a row in the config table was
 * readable by every database role, every replica and every backup, and
 * whoever holds the secret can post purchases to a processor. `stampd
 * secret generate` writes a new one to a file of mode 0600; `stampd front`
 * and `stampd processor` read it from --internal-secret-file PATH (refused
 * when group or others may access the file) or from $STAMPD_INTERNAL_SECRET,
 * never from argv (any local user can read a command line). `stampd serve`
 * runs fronts and processors in one process and needs none.
 */
#include "server/cmd_secret.h"

#include "crypto/primitives.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GENERATED_BYTES 32 /* 64 hex characters */

/* Check the secret text s of length len (a trailing newline dropped) and copy it to out. */
static int take(const char *s, size_t len, const char *from, char *out, size_t n)
{
    size_t i;

    while (len > 0 && (s[len - 1] == '\n' || s[len - 1] == '\r'))
        len--;
    if (len < PV_SECRET_MIN || len > PV_SECRET_MAX || len >= n) {
        pv_cmd_err("the internal secret in %s must be %d to %d characters "
                   "(stampd secret generate makes one)\n",
                   from, PV_SECRET_MIN, PV_SECRET_MAX);
        return PV_ECONFIG;
    }
    for (i = 0; i < len; i++) {
        if (s[i] <= ' ' || s[i] > '~') {
            pv_cmd_err("the internal secret in %s holds a blank or non-ASCII "
                       "character\n",
                       from);
            return PV_ECONFIG;
        }
    }
    memcpy(out, s, len);
    out[len] = '\0';
    return PV_OK;
}

static int read_file(const char *path, char *out, size_t n)
{
    char buf[PV_SECRET_MAX + 3];
    size_t len = 0;
    int rc = pv_cmd_read_private("--internal-secret-file", path, buf, sizeof buf, &len);

    if (rc == PV_OK)
        rc = take(buf, len, path, out, n);
    pv_card_wipe(buf, sizeof buf);
    return rc;
}

int pv_cmd_secret_load(const struct opts *o, const char *mode, char *out, size_t n)
{
    const char *env = getenv(PV_SECRET_ENV);
    int rc;

    if (env && !*env)
        env = NULL;
    if (o->internal_secret_file && env) {
        pv_cmd_err("the internal secret comes from --internal-secret-file or %s, "
                   "not both\n",
                   PV_SECRET_ENV);
        return PV_ECONFIG;
    }
    if (o->internal_secret_file)
        return read_file(o->internal_secret_file, out, n);
    if (!env) {
        pv_cmd_err("%s needs the front-processor secret: --internal-secret-file PATH "
                   "(made by stampd secret generate, mode 0600) or the environment variable %s. "
                   "It is no longer kept in the database.\n",
                   mode, PV_SECRET_ENV);
        return PV_ECONFIG;
    }
    rc = take(env, strlen(env), PV_SECRET_ENV, out, n);
    unsetenv(PV_SECRET_ENV);
    return rc;
}

int pv_cmd_secret_generate(const struct opts *o)
{
    uint8_t rnd[GENERATED_BYTES];
    char hex[2 * GENERATED_BYTES + 2];
    size_t len = 2 * GENERATED_BYTES + 1;
    int fd, rc, ok;

    if (!o->internal_secret_file || !o->internal_secret_file[0]) {
        pv_cmd_err("secret generate --internal-secret-file PATH\n");
        return 2;
    }
    if ((rc = pv_random(rnd, sizeof rnd)) != PV_OK)
        return pv_cmd_fail("random", rc);
    pv_hex_encode(rnd, sizeof rnd, hex);
    pv_card_wipe(rnd, sizeof rnd);
    hex[len - 1] = '\n';
    hex[len] = '\0';
    /* O_EXCL: a new secret never replaces the one the servers run with by accident. */
    fd = open(o->internal_secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
              S_IRUSR | S_IWUSR);
    if (fd < 0) {
        pv_cmd_err("%s: %s%s\n", o->internal_secret_file, strerror(errno),
                   errno == EEXIST ? " (it exists: remove it first to replace the secret)" : "");
        pv_card_wipe(hex, sizeof hex);
        return 1;
    }
    ok = fchmod(fd, S_IRUSR | S_IWUSR) == 0 && write(fd, hex, len) == (ssize_t) len &&
         fsync(fd) == 0;
    pv_card_wipe(hex, sizeof hex);
    if (close(fd) != 0)
        ok = 0;
    if (!ok) {
        pv_cmd_err("%s: %s\n", o->internal_secret_file, strerror(errno));
        unlink(o->internal_secret_file);
        return 1;
    }
    pv_cmd_err("wrote a new internal secret to %s (mode 0600); give every front and "
               "processor the same one (--internal-secret-file or %s)\n",
               o->internal_secret_file, PV_SECRET_ENV);
    return 0;
}
