/*
 * store_backends.h - constructors of the store backends, private to src/store.
 *
 * store.c parses the DSN and calls one of these; nothing outside src/store
 * includes this header. Each constructor returns an owned handle in *out
 * (released through its ops->close, i.e. pv_store_close()) and sets *out to
 * NULL on failure.
 */
#ifndef STAMPD_STORE_BACKENDS_H
#define STAMPD_STORE_BACKENDS_H

struct pv_store;

/*
 * pv_sqlite_open - open (creating it when missing) the SQLite database file
 * at the borrowed path. Does not migrate. Errors: PV_ESTORE, PV_ENOMEM.
 */
int pv_sqlite_open(const char *path, struct pv_store **out);

/*
 * pv_postgres_open - connect to the PostgreSQL database named by the
 * borrowed DSN ("postgres://..." or "postgresql://...", libpq's URI syntax;
 * never logged). One connection per handle. Does not migrate. Errors:
 * PV_ESTORE (cannot connect, server too old), PV_ENOMEM.
 */
int pv_postgres_open(const char *dsn, struct pv_store **out);

#endif
