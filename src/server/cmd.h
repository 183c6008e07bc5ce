/*
 * cmd.h - what every `stampd` subcommand shares (cmd.c): the parsed
 * options, the error line, and the database checks.
 */
#ifndef STAMPD_CMD_H
#define STAMPD_CMD_H

/* The options of every subcommand (main.c parses them; all borrowed from argv). */
struct opts {
    const char *db, *license, *psds, *deposit, *refill, *keys_dir, *email, *balance, *listen;
    const char *processors, *threads, *id, *advertise, *lease_ms;
    const char *gateway, *lockout, *refund_days, *trusted_proxy, *signup_limit;
    const char *internal_secret_file;                 /* front, processor, secret generate */
    const char *per_address_limit, *request_deadline; /* serve, front, processor */
    const char *name, *amount, *reference;            /* authority create, deposit */
    int demo;
};

/* pv_cmd_fail - print "stampd: what: message (code)" for rc; returns 1, the exit status. */
int pv_cmd_fail(const char *what, int rc);

/* pv_cmd_sqlite_path - the file of a SQLite dsn (borrowed from it), or NULL for PostgreSQL. */
const char *pv_cmd_sqlite_path(const char *dsn);

/* pv_cmd_db_name - dsn fit for a log line (static or borrowed): a
 * PostgreSQL DSN may hold a password. */
const char *pv_cmd_db_name(const char *dsn);

/* pv_cmd_db_exists - 1 when dsn's database exists (only init creates one:
 * elsewhere a mistyped path is an error, not a new file); else 0, said on stderr. */
int pv_cmd_db_exists(const char *dsn);

#endif
