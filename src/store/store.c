/*
 * store.c - choose a store backend from a DSN and open it.
 *
 * A DSN is "sqlite:PATH", "sqlite:///ABSOLUTE/PATH", or a bare path with no
 * "://" in it (all SQLite), or "postgres://..." / "postgresql://..." for the
 * PostgreSQL backend, which is not written yet. The DSN itself is never
 * logged: PostgreSQL DSNs carry passwords.
 */
#include "store/store.h"

#include "stampd/error.h"
#include "store/store_backends.h"

#include <stdio.h>
#include <string.h>

static int has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A backend built against another interface version is refused, not trusted. */
static int checked_version(int rc, struct pv_store **out)
{
    if (rc == PV_OK && (*out)->ops->version != PV_STORE_OPS_VERSION) {
        fprintf(stderr, "store: backend %s has interface version %d, this binary needs %d\n",
                (*out)->ops->name, (*out)->ops->version, PV_STORE_OPS_VERSION);
        pv_store_close(*out);
        *out = NULL;
        rc = PV_ECONFIG;
    }
    return rc;
}

int pv_store_open(const char *dsn, struct pv_store **out)
{
    const char *path;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    if (!dsn || !*dsn) {
        fprintf(stderr, "store: empty DSN\n");
        return PV_ECONFIG;
    }

    if (has_prefix(dsn, "sqlite:")) {
        path = dsn + strlen("sqlite:");
        /* URL form: only an empty host is meaningful ("sqlite:///var/x.db"). */
        if (has_prefix(path, "//")) {
            if (path[2] != '/') {
                fprintf(stderr, "store: sqlite DSN with a host; use sqlite:PATH\n");
                return PV_ECONFIG;
            }
            path += 2;
        }
    } else if (has_prefix(dsn, "postgres://") || has_prefix(dsn, "postgresql://")) {
        return checked_version(pv_postgres_open(dsn, out), out);
    } else if (strstr(dsn, "://")) {
        fprintf(stderr, "store: unknown DSN scheme (expected sqlite: or postgres://)\n");
        return PV_ECONFIG;
    } else {
        path = dsn;
    }

    if (!*path) {
        fprintf(stderr, "store: sqlite DSN without a path\n");
        return PV_ECONFIG;
    }
    return checked_version(pv_sqlite_open(path, out), out);
}

void pv_store_close(struct pv_store *st)
{
    if (st)
        st->ops->close(st);
}

int pv_store_open_checked(const char *dsn, struct pv_store **out)
{
    struct pv_store *st = NULL;
    int rc, version = 0;

    if (!out)
        return PV_EINVAL;
    *out = NULL;
    rc = pv_store_open(dsn, &st);
    if (rc != PV_OK)
        goto out;
    rc = pv_store_schema_version(st, &version);
    if (rc != PV_OK)
        goto out;
    if (version != PV_SCHEMA_VERSION) {
        fprintf(stderr, "store: database schema is version %d, this binary needs %d%s\n", version,
                PV_SCHEMA_VERSION, version < PV_SCHEMA_VERSION ? " (run the migration)" : "");
        rc = PV_ESCHEMA;
        goto out;
    }
    *out = st;
    st = NULL;
out:
    pv_store_close(st);
    return rc;
}
