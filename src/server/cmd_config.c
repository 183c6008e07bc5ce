/*
 * cmd_config.c - the configuration file of stampd serve, front and processor:
 * `key = value` lines, '#' comments and blank lines, optional [serve],
 * [front] and [processor] sections. Every key is a long option's name
 * without the dashes, and the file holds every option of the three
 * servers; flags given on the command line win. Everything is checked
 * before anything runs, and every mistake (an unknown key, a bad value, a
 * duplicate, a key the mode does not take) is one "FILE:LINE: ..." line and
 * exit status 2, so a typo never silently runs a server with a default.
 * Secrets: internal-secret-file and crypto-pin-file name files (mode 0600,
 * read by cmd_secret.c and cmd_crypto.c); the values themselves
 * (internal-secret, crypto-pin) are taken only from a file that others
 * cannot read, and passed on in the environment variables those files
 * already read (and unset once read). A file others may write is refused
 * whole: it could name a PKCS#11 module to load.
 */
#include "server/cmd_config.h"

#include "server/cmd_crypto.h"
#include "server/cmd_secret.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX (64 * 1024) /* bytes: a configuration, not a data file */

enum { M_SERVE = 1, M_FRONT = 2, M_PROC = 4, M_ALL = 7 };
enum { T_STR, T_NUM, T_LISTEN, T_BOOL, T_SECRET };

static const struct key {
    const char *name;
    size_t off; /* of the const char * in struct opts (T_BOOL: the int) */
    int modes, type;
    uint64_t min, max; /* T_NUM */
    const char *env;   /* T_SECRET: the variable it is passed in */
} keys[] = {
    {"db", offsetof(struct opts, db), M_ALL, T_STR, 0, 0, NULL},
    {"listen", offsetof(struct opts, listen), M_ALL, T_LISTEN, 0, 0, NULL},
    {"processors", offsetof(struct opts, processors), M_SERVE, T_NUM, 1, 16, NULL},
    {"threads", offsetof(struct opts, threads), M_ALL, T_NUM, 1, 256, NULL},
    {"id", offsetof(struct opts, id), M_PROC, T_STR, 0, 0, NULL},
    {"advertise", offsetof(struct opts, advertise), M_PROC, T_STR, 0, 0, NULL},
    {"lease-ms", offsetof(struct opts, lease_ms), M_SERVE | M_PROC, T_NUM, 200, 600000, NULL},
    {"lockout", offsetof(struct opts, lockout), M_ALL, T_NUM, 1, 86400, NULL},
    {"refund-window-days", offsetof(struct opts, refund_days), M_ALL, T_NUM, 0, 365, NULL},
    {"trusted-proxy", offsetof(struct opts, trusted_proxy), M_ALL, T_STR, 0, 0, NULL},
    {"signup-limit", offsetof(struct opts, signup_limit), M_ALL, T_NUM, 1, 100000, NULL},
    {"per-address-limit", offsetof(struct opts, per_address_limit), M_ALL, T_NUM, 0, 1000, NULL},
    {"connection-limit", offsetof(struct opts, connection_limit), M_ALL, T_NUM, 16, 60000, NULL},
    {"request-deadline", offsetof(struct opts, request_deadline), M_ALL, T_NUM, 1, 300, NULL},
    {"internal-secret-file", offsetof(struct opts, internal_secret_file), M_FRONT | M_PROC, T_STR,
     0, 0, NULL},
    {"internal-secret", 0, M_FRONT | M_PROC, T_SECRET, 0, 0, PV_SECRET_ENV},
    {"internal-tls-dir", offsetof(struct opts, internal_tls_dir), M_FRONT | M_PROC, T_STR, 0, 0,
     NULL},
    {"internal-tls-name", offsetof(struct opts, internal_tls_name), M_FRONT | M_PROC, T_STR, 0, 0,
     NULL},
    {"internal-plaintext", offsetof(struct opts, internal_plaintext), M_FRONT | M_PROC, T_BOOL, 0,
     0, NULL},
    {"crypto", offsetof(struct opts, crypto), M_SERVE | M_PROC, T_STR, 0, 0, NULL},
    {"crypto-pin-file", offsetof(struct opts, crypto_pin_file), M_SERVE | M_PROC, T_STR, 0, 0,
     NULL},
    {"crypto-pin", 0, M_SERVE | M_PROC, T_SECRET, 0, 0, PV_PIN_ENV},
    {"gateway-journal", offsetof(struct opts, gateway_journal), M_ALL, T_STR, 0, 0, NULL},
    {"gateway-latency", offsetof(struct opts, gateway_latency), M_ALL, T_NUM, 0, 60000, NULL},
    {"payment-recovery-after", offsetof(struct opts, payment_recovery), M_SERVE | M_PROC, T_NUM, 1,
     86400, NULL},
    {"payment-threads", offsetof(struct opts, payment_threads), M_SERVE | M_PROC, T_NUM, 1, 512,
     NULL},
    {"sign-threads", offsetof(struct opts, sign_threads), M_SERVE | M_PROC, T_NUM, 0, 64, NULL},
    {"reports", offsetof(struct opts, reports), M_SERVE | M_PROC, T_STR, 0, 0, NULL},
    {"log-format", offsetof(struct opts, log_format), M_ALL, T_STR, 0, 0, NULL},
    {"log-level", offsetof(struct opts, log_level), M_ALL, T_STR, 0, 0, NULL},
    {"metrics-token-file", offsetof(struct opts, metrics_token_file), M_ALL, T_STR, 0, 0, NULL},
    {"webhook-retry-base-ms", offsetof(struct opts, hook_base), M_SERVE | M_FRONT, T_NUM, 100,
     3600000, NULL},
    {"webhook-retry-window", offsetof(struct opts, hook_window), M_SERVE | M_FRONT, T_NUM, 1,
     2592000, NULL},
    {"webhook-timeout-ms", offsetof(struct opts, hook_timeout), M_SERVE | M_FRONT, T_NUM, 100,
     60000, NULL},
    {"webhook-allow-private", offsetof(struct opts, hook_private), M_SERVE | M_FRONT, T_BOOL, 0, 0,
     NULL},
    {"tls-cert", offsetof(struct opts, tls_cert), M_SERVE | M_FRONT, T_STR, 0, 0, NULL},
    {"tls-key", offsetof(struct opts, tls_key), M_SERVE | M_FRONT, T_STR, 0, 0, NULL},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* The place of key name in keys[] (name is always there). */
static size_t key_index(const char *name)
{
    size_t i;

    for (i = 0; i < NKEYS - 1 && strcmp(keys[i].name, name) != 0; i++)
        ;
    return i;
}

/* What one key of the file set: the line it was on (0: not set) and its value. */
struct setting {
    unsigned line;
    const char *value;
};

__attribute__((format(printf, 3, 4))) static int fail(const char *path, unsigned line,
                                                      const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "stampd: %s:%u: ", path, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return 2;
}

static char *trim(char *s, char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    *end = '\0';
    return s;
}

static int mode_bit(const char *mode)
{
    return strcmp(mode, "serve") == 0 ? M_SERVE : strcmp(mode, "front") == 0 ? M_FRONT : M_PROC;
}

/* Check value against k's type; NULL when it is fine, else what is wrong. */
static const char *bad_value(const struct key *k, const char *v)
{
    static char why[96];
    const char *colon;
    uint64_t n;

    if (!*v)
        return "needs a value";
    if (strlen(v) >= 1000)
        return "is too long";
    switch (k->type) {
    case T_NUM:
        if (pv_parse_u64(v, k->min, k->max, &n) != PV_OK) {
            snprintf(why, sizeof why, "must be a whole number from %llu to %llu",
                     (unsigned long long) k->min, (unsigned long long) k->max);
            return why;
        }
        return NULL;
    case T_LISTEN:
        colon = strrchr(v, ':');
        if (!colon || colon == v || pv_parse_u64(colon + 1, 0, 65535, &n) != PV_OK)
            return "must be HOST:PORT";
        return NULL;
    case T_BOOL:
        if (strcmp(v, "yes") && strcmp(v, "no") && strcmp(v, "true") && strcmp(v, "false"))
            return "must be yes or no";
        return NULL;
    default:
        return NULL;
    }
}

/* Read path (a regular file not writable by others) into *text; *mode its permissions. */
static int read_config(const char *path, char **text, mode_t *mode)
{
    struct stat sb;
    char *buf = NULL;
    size_t len = 0;
    ssize_t got;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        fprintf(stderr, "stampd: --config %s: %s\n", path, strerror(errno));
        return 2;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size >= CONFIG_MAX) {
        fprintf(stderr, "stampd: --config %s: not a regular file under %d bytes\n", path,
                CONFIG_MAX);
        close(fd);
        return 2;
    }
    if (sb.st_mode & (S_IWGRP | S_IWOTH)) {
        fprintf(stderr,
                "stampd: --config %s: group or others may write it (mode %03o): refused "
                "(chmod go-w)\n",
                path, (unsigned) (sb.st_mode & 0777));
        close(fd);
        return 2;
    }
    if (!(buf = malloc((size_t) sb.st_size + 1))) {
        close(fd);
        fprintf(stderr, "stampd: out of memory\n");
        return 2;
    }
    while (len < (size_t) sb.st_size &&
           ((got = read(fd, buf + len, (size_t) sb.st_size - len)) > 0 || errno == EINTR))
        if (got > 0)
            len += (size_t) got;
    close(fd);
    buf[len] = '\0';
    if (strlen(buf) != len) {
        free(buf);
        fprintf(stderr, "stampd: --config %s: holds a NUL byte\n", path);
        return 2;
    }
    *text = buf;
    *mode = sb.st_mode;
    return 0;
}

/* Parse text into sec[0] (shared) and sec[M_SERVE/M_FRONT/M_PROC] (sections); 0 or 2. */
static int parse(const char *path, char *text, mode_t fmode, struct setting (*sec)[NKEYS])
{
    struct setting *cur = sec[0];
    int section = M_ALL;
    unsigned line = 0;
    char *p = text;

    while (*p) {
        char *nl = strchr(p, '\n'), *end = nl ? nl : p + strlen(p), *s, *eq, *k, *v;
        const struct key *key = NULL;
        const char *why;
        size_t i;

        line++;
        s = trim(p, end);
        p = nl ? nl + 1 : end;
        if (!*s || *s == '#')
            continue;
        if (*s == '[') {
            if (strcmp(s, "[serve]") == 0)
                section = M_SERVE;
            else if (strcmp(s, "[front]") == 0)
                section = M_FRONT;
            else if (strcmp(s, "[processor]") == 0)
                section = M_PROC;
            else
                return fail(path, line,
                            "unknown section %s (sections: [serve], [front], [processor])", s);
            cur = sec[section];
            continue;
        }
        if (!(eq = strchr(s, '=')))
            return fail(path, line, "expected key = value, not '%s'", s);
        *eq = '\0';
        k = trim(s, eq);
        v = trim(eq + 1, eq + 1 + strlen(eq + 1));
        for (i = 0; i < NKEYS && !key; i++)
            if (strcmp(keys[i].name, k) == 0)
                key = &keys[i];
        if (!key)
            return fail(path, line,
                        "unknown key '%s' (keys: the long options of serve, front and "
                        "processor without --)",
                        k);
        i = (size_t) (key - keys);
        if (cur[i].line)
            return fail(path, line, "duplicate key %s (first on line %u)", k, cur[i].line);
        if ((why = bad_value(key, v)))
            return fail(path, line, "%s %s", k, why);
        if (!(key->modes & section))
            return fail(path, line, "%s is not an option of %s", k,
                        section == M_SERVE   ? "serve"
                        : section == M_FRONT ? "front"
                        : section == M_PROC  ? "processor"
                                             : "every server: put it under [serve], [front] or "
                                               "[processor]");
        if (strcmp(key->name, "db") == 0 && pv_cmd_dsn_has_password(v) && (fmode & S_IROTH))
            return fail(path, line,
                        "db holds a password and others can read this file (mode %03o): "
                        "chmod o-r, or use ~/.pgpass or PGPASSWORD",
                        (unsigned) (fmode & 0777));
        if (key->type == T_SECRET && (fmode & S_IROTH))
            return fail(path, line,
                        "%s: a secret value in a file others can read (mode %03o): chmod o-r, "
                        "or name a file of mode 0600 with %s-file",
                        k, (unsigned) (fmode & 0777), k);
        cur[i].line = line;
        cur[i].value = v;
    }
    return 0;
}

int pv_cmd_config_load(struct opts *o, const char *mode, char **text)
{
    struct setting sec[M_PROC + 1][NKEYS], *shared = sec[0], *own;
    const char *path = o->config;
    int mine = mode_bit(mode), rc;
    int flag_secret_file = o->internal_secret_file != NULL,
        flag_pin_file = o->crypto_pin_file != NULL;
    mode_t fmode = 0;
    size_t i;

    *text = NULL;
    if (!path) {
        if (access(PV_CONFIG_DEFAULT, F_OK) != 0)
            return 0;
        path = PV_CONFIG_DEFAULT;
    }
    if ((rc = read_config(path, text, &fmode)) != 0)
        return rc;
    memset(sec, 0, sizeof sec);
    own = sec[mine];
    if ((rc = parse(path, *text, fmode, sec)) != 0) {
        free(*text);
        *text = NULL;
        return rc;
    }
    for (i = 0; i < NKEYS && rc == 0; i++) {
        const struct setting *s = own[i].line ? &own[i] : &shared[i];
        const struct key *k = &keys[i];
        if (!s->line)
            continue;
        if (!(k->modes & mine)) {
            rc = fail(path, s->line, "%s is not an option of %s (put it under [%s])", k->name, mode,
                      (k->modes & M_PROC) ? "processor" : "serve");
        } else if (k->type == T_BOOL) {
            int *flag = (int *) ((char *) o + k->off);
            if (!*flag)
                *flag = s->value[0] == 'y' || s->value[0] == 't';
        } else if (k->type == T_SECRET) {
            /* A file named by a flag, or the environment, wins over the file's value;
             * the same file naming both is a mistake. */
            int pin = strcmp(k->name, "crypto-pin") == 0;
            size_t fi = key_index(pin ? "crypto-pin-file" : "internal-secret-file");
            const char *env = getenv(k->env);
            if (own[fi].line || shared[fi].line)
                rc = fail(path, s->line, "%s and %s-file: one or the other", k->name, k->name);
            else if (!(pin ? flag_pin_file : flag_secret_file) && (!env || !*env) &&
                     setenv(k->env, s->value, 1) != 0)
                rc = fail(path, s->line, "%s: %s", k->name, strerror(errno));
        } else {
            const char **slot = (const char **) ((char *) o + k->off);
            if (!*slot)
                *slot = s->value;
        }
    }
    if (rc != 0) {
        free(*text);
        *text = NULL;
    }
    return rc;
}

/* The keys whose values name files (or, dir = 1, a directory of files) a server
 * needs besides the database: what a backup takes with the configuration. */
static const struct {
    const char *name;
    int dir;
} file_keys[] = {
    {"internal-secret-file", 0}, {"internal-tls-dir", 1}, {"crypto-pin-file", 0},
    {"metrics-token-file", 0},   {"tls-cert", 0},         {"tls-key", 0},
};

int pv_cmd_config_files(const char *path, pv_cmd_config_file_fn fn, void *ctx)
{
    struct setting sec[M_PROC + 1][NKEYS];
    char *text = NULL;
    mode_t fmode = 0;
    size_t f, m;
    int rc;

    if ((rc = read_config(path, &text, &fmode)) != 0)
        return rc;
    memset(sec, 0, sizeof sec);
    if ((rc = parse(path, text, fmode, sec)) != 0) {
        free(text);
        return rc;
    }
    if ((rc = fn(ctx, path, 0)) != 0) {
        free(text);
        return rc;
    }
    /* Every section's value (the shared one, [serve], [front], [processor]). */
    for (f = 0; f < sizeof file_keys / sizeof file_keys[0] && rc == 0; f++) {
        size_t k = key_index(file_keys[f].name);
        for (m = 0; m <= M_PROC && rc == 0; m++)
            if (sec[m][k].line)
                rc = fn(ctx, sec[m][k].value, file_keys[f].dir);
    }
    free(text);
    return rc;
}

/* The value of key k in o, for comparing (T_BOOL: "yes" or NULL; T_SECRET: NULL). */
static const char *value_of(const struct opts *o, const struct key *k)
{
    if (k->type == T_SECRET)
        return NULL;
    if (k->type == T_BOOL)
        return *(const int *) ((const char *) o + k->off) ? "yes" : NULL;
    return *(const char *const *) ((const char *) o + k->off);
}

int pv_cmd_config_reload(const struct opts *running, const char *mode, uint64_t *refund_days)
{
    struct opts fresh;
    char *text = NULL;
    size_t i, changed = 0;
    int rc;

    if (!running->flags)
        return 0;
    fresh = *running->flags;
    fresh.flags = running->flags;
    rc = pv_cmd_config_load(&fresh, mode, &text);
    /* A secret value read again is not needed: it was taken at start. */
    unsetenv(PV_SECRET_ENV);
    unsetenv(PV_PIN_ENV);
    if (rc != 0) {
        pv_log(PV_LOG_ERROR, "SIGHUP: the configuration file is not valid (above); still "
                             "running as before");
        return 2;
    }
    for (i = 0; i < NKEYS; i++) {
        const char *was = value_of(running, &keys[i]), *now = value_of(&fresh, &keys[i]);
        if ((!was && !now) || (was && now && strcmp(was, now) == 0))
            continue;
        changed++;
        if (strcmp(keys[i].name, "refund-window-days") == 0) {
            uint64_t days = 30;
            if (now)
                (void) pv_parse_u64(now, 0, 365, &days); /* checked by the load */
            *refund_days = days;
            pv_log(PV_LOG_INFO, "SIGHUP: refund-window-days is now %llu",
                   (unsigned long long) days);
        } else {
            pv_log(PV_LOG_WARNING, "SIGHUP: %s changed: takes effect at the next restart",
                   keys[i].name);
        }
    }
    pv_log(PV_LOG_INFO, "SIGHUP: configuration file read again, %zu change%s", changed,
           changed == 1 ? "" : "s");
    if (text)
        pv_card_wipe(text, strlen(text));
    free(text);
    return 0;
}
