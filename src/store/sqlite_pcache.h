/*
 * sqlite_pcache.h - a page cache over SQLite's own that skips the scan of the
 * whole cache SQLite asks for at every commit when it has nothing to drop
 * (private to the SQLite driver).
 *
 * At the end of every write transaction SQLite tells its page cache to drop
 * the pages past the database's end (xTruncate with the page count + 1). Its
 * own cache (pcache1) does that by looking at each page in its hash table
 * unless no page past that end was ever fetched, which it tells by the
 * largest page number it has held since its last truncation. A B-tree split
 * gives a new page the number of the database's lock page (1 GiB / page size
 * + 1) for a moment while it puts its new pages in order (btree.c's
 * balance_nonroot), so on a database under 1 GiB almost every commit that
 * splits a page made pcache1 scan all of the writer's cache: ~8,000 pages of
 * a 16 MiB cache, about 5 % of the writer's time at the benchmark's load
 * (issue 15, session 31; docs/performance.md).
 *
 * This cache passes every call on to SQLite's own and remembers, for each cache,
 * the page numbers past its last truncation's limit that were made since then
 * (created by xFetch or given by xRekey). xTruncate asks SQLite's cache
 * whether any of those at or past the new limit is there; only if one is, or
 * if the limit is lower than the last one, or if there were too many to
 * remember, does it pass the truncation on. A page past a limit can only be
 * there if it was made after that limit was set, so what SQLite's cache holds
 * is the same either way. An in-memory database's cache (and a temporary
 * database's, which stampd keeps in memory: temp_store = MEMORY) passes every
 * call on.
 */
#ifndef PV_STORE_SQLITE_PCACHE_H
#define PV_STORE_SQLITE_PCACHE_H

/* Installs this cache over SQLite's current one (sqlite3_config
 * SQLITE_CONFIG_PCACHE2): once a process, before sqlite3_initialize. Returns
 * an SQLite result code; on failure SQLite keeps its own cache. */
int pv_sqlite_pcache_install(void);

/* Truncations of database files' caches passed on and skipped, for the tests
 * (relaxed counts, every such cache of the process; an in-memory or temporary
 * database's cache passes every truncation on, uncounted). */
void pv_sqlite_pcache_counts(unsigned long long *passed, unsigned long long *skipped);

#endif
