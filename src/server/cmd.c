/*
 * cmd.c - what every `stampd` subcommand shares: its options, the error
 * line it prints, and the checks on the database it is pointed at.
 */
#include "server/cmd.h"

#include "stampd/error.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int pv_cmd_fail(const char *what, int rc)
{
    fprintf(stderr, "stampd: %s: %s (%s)\n", what, pv_strerror(rc), pv_error_code(rc));
    return 1;
}

const char *pv_cmd_sqlite_path(const char *dsn)
{
    if (strncmp(dsn, "sqlite:", 7) == 0)
        return dsn + 7;
    return strstr(dsn, "://") ? NULL : dsn;
}

/* A DSN fit for a log line: a PostgreSQL DSN may hold a password. */
const char *pv_cmd_db_name(const char *dsn)
{
    return pv_cmd_sqlite_path(dsn) ? dsn : "the PostgreSQL database";
}

/* Only init creates a database: elsewhere a mistyped path is an error, not a new file. */
int pv_cmd_db_exists(const char *dsn)
{
    const char *path = pv_cmd_sqlite_path(dsn);

    if (path && access(path, F_OK) != 0) {
        fprintf(stderr, "stampd: no database at %s (run stampd init first)\n", path);
        return 0;
    }
    return 1;
}
