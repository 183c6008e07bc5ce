/*
 * cmd.h - what every `stampd` subcommand shares (cmd.c): the parsed
 * options, the error line, and the database checks.
 */
#ifndef STAMPD_CMD_H
#define STAMPD_CMD_H

#include <stddef.h>

/* The options of every subcommand (main.c parses them; all borrowed from argv). */
struct opts {
    const char *db, *license, *psds, *deposit, *refill, *keys_dir, *email, *balance, *listen;
    const char *processors, *threads, *id, *advertise, *lease_ms;
    const char *gateway, *lockout, *refund_days, *trusted_proxy, *signup_limit;
    const char *internal_secret_file;                 /* front, processor, secret generate */
    const char *per_address_limit, *request_deadline; /* serve, front, processor */
    const char *connection_limit;                     /* serve, front, processor */
    const char *internal_tls_dir, *internal_tls_name; /* front, processor (cmd_tls.c) */
    const char *crypto, *crypto_pin_file;             /* init, psd add, serve, processor */
    const char *ca_crypto, *ca_pin_file;              /* the vendor CA's token: init, psd, ca */
    const char *gateway_journal, *gateway_latency;    /* serve, front, processor */
    const char *payment_recovery;                     /* serve, processor */
    const char *payment_threads;                      /* serve, processor */
    const char *sign_threads;                         /* serve, processor */
    const char *log_format;                           /* serve, front, processor: text | json */
    const char *log_level;          /* serve, front, processor: error | warning | info | debug */
    const char *metrics_token_file; /* serve, front (h_metrics.c) */
    const char *tls_cert, *tls_key; /* serve, front: public HTTPS (pubtls.c) */
    const char *name, *amount, *reference;     /* authority create, deposit */
    const char *authority_dir;                 /* init, authority key */
    const char *psd, *key_id, *reason, *since; /* psd rotate-key, key revoke (cmd_ca.c) */
    const char *reports;                       /* serve, processor: "on" or "off" */
    const char *date, *out;                    /* authority report; backup */
    const char *in;                            /* restore: the archive */
    const char *hook_base, *hook_window;       /* serve, front: --webhook-retry-... */
    const char *hook_timeout;                  /* serve, front: --webhook-timeout-ms */
    const char *config;       /* serve, front, processor: the configuration file (cmd_config.c) */
    const struct opts *flags; /* serve, front, processor: the command line's own (for SIGHUP) */
    int demo;
    int force;              /* psd withdraw: the last usable PSD too (cmd_lifecycle.c) */
    int internal_plaintext; /* front, processor: no TLS on the internal channel (development) */
    int hook_private;       /* serve, front: webhooks to http and private addresses */
};

/*
 * pv_cmd_err - an error line of a subcommand: "stampd: " and the
 * printf-style message on stderr, or - once pv_cmd_server_log was called
 * (a server starting) - an error line of the server's log (stampd/log.h).
 */
void pv_cmd_err(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* pv_cmd_server_log - from now on pv_cmd_err writes to the server's log. */
void pv_cmd_server_log(void);

/* pv_cmd_fail - print "stampd: what: message (code)" for rc; returns 1, the exit status. */
int pv_cmd_fail(const char *what, int rc);

/* pv_cmd_sqlite_path - the file of a SQLite dsn (borrowed from it), or NULL for PostgreSQL. */
const char *pv_cmd_sqlite_path(const char *dsn);

/* pv_cmd_db_name - dsn fit for a log line (static or borrowed): a
 * PostgreSQL DSN may hold a password. */
const char *pv_cmd_db_name(const char *dsn);

/* pv_cmd_dsn_has_password - 1 when the PostgreSQL URI dsn (borrowed) holds a password
 * (user:password@ or a password= parameter): a secret, never taken from argv; else 0. */
int pv_cmd_dsn_has_password(const char *dsn);

/* pv_cmd_db_exists - 1 when dsn's database exists (only init creates one:
 * elsewhere a mistyped path is an error, not a new file); else 0, said on stderr. */
int pv_cmd_db_exists(const char *dsn);

/*
 * pv_cmd_read_private - the whole file at path (borrowed; option names it in
 * messages) into buf (cap bytes; not NUL-terminated), its length into *len:
 * a regular file (symbolic links are followed: mounted secrets are links)
 * that no group or other may access, shorter than cap. Says what is wrong
 * on stderr; buf is wiped on error. PV_OK; PV_ECONFIG (not a regular file, a
 * loose mode, too long); PV_EIO.
 */
int pv_cmd_read_private(const char *option, const char *path, char *buf, size_t cap, size_t *len);

#endif
