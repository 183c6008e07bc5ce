/*
 * pg_psql.h - the unit tests' way to run SQL of their own on a PostgreSQL
 * database of the CTest fixture's cluster (a trigger, a plan, a backend to
 * end), with the cluster's psql: the store's connection is the store's.
 */
#ifndef STAMPD_TESTS_PG_PSQL_H
#define STAMPD_TESTS_PG_PSQL_H

#include <stdio.h>
#include <string.h>

/*
 * Runs sql (one line, borrowed; '$' and quotes as they are: it goes in a
 * here-document) on the database of dsn (borrowed; no single quote). The
 * first size - 1 bytes of its output in out (NUL-terminated) when out is not
 * NULL. 0 when psql succeeded, -1 otherwise.
 */
static inline int pv_test_psql(const char *dsn, const char *sql, char *out, size_t size)
{
    char cmd[4096], drop[512];
    FILE *f;
    size_t n;
    int len;

    if (strchr(dsn, '\'') || strchr(sql, '\n'))
        return -1;
    len = snprintf(cmd, sizeof cmd,
                   "for d in /usr/lib/postgresql/*/bin; do if [ -x \"$d/psql\" ]; then "
                   "exec \"$d/psql\" -X -q -v ON_ERROR_STOP=1 -d '%s' <<'SQL'\n%s;\nSQL\n"
                   "fi; done; exit 1",
                   dsn, sql);
    if (len < 0 || (size_t) len >= sizeof cmd || !(f = popen(cmd, "r")))
        return -1;
    if (!out) {
        out = drop;
        size = sizeof drop;
    }
    n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    while (fread(drop, 1, sizeof drop, f) > 0) /* the rest, so that psql never blocks */
        ;
    return pclose(f) == 0 ? 0 : -1;
}

#endif
