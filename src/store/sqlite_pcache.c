/*
 * sqlite_pcache.c - the page cache of sqlite_pcache.h: SQLite's own cache
 * (the "inner" one) behind each cache, and the page numbers made past the
 * last truncation's limit kept in a small open-addressed set beside it.
 */
#include "store/sqlite_pcache.h"

#include <sqlite3.h>

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Room for the page numbers a write transaction makes past the database's end:
 * a batch of a few hundred purchases makes a few dozen (its appended rows'
 * pages, its splits' new pages). More than SET_FILL of them and the next
 * truncation is passed on, as without this cache. */
#define SET_BITS 9
#define SET_SIZE (1u << SET_BITS)
#define SET_FILL (SET_SIZE * 3 / 4)

struct pcache {
    sqlite3_pcache *inner; /* SQLite's own cache of the same pages (owned) */
    unsigned floor;        /* no page at or past it is in the cache but those in set */
    unsigned n;            /* page numbers in set */
    int over;              /* more than SET_FILL made: the next truncation is passed on */
    int track;             /* a purgeable cache (a database file's, or a temporary one's on disk);
                            * an in-memory one passes every call */
    unsigned set[];        /* SET_SIZE slots when track, 0 = empty (page numbers start at 1) */
};

/* SQLite's own cache's methods: written once by pv_sqlite_pcache_install, before
 * sqlite3_initialize, and only read after. */
static sqlite3_pcache_methods2 inner;
static atomic_ullong n_passed, n_skipped;

static int pc_init(void *arg)
{
    (void) arg;
    return inner.xInit ? inner.xInit(inner.pArg) : SQLITE_OK;
}

static void pc_shutdown(void *arg)
{
    (void) arg;
    if (inner.xShutdown)
        inner.xShutdown(inner.pArg);
}

static sqlite3_pcache *pc_create(int sz_page, int sz_extra, int purgeable)
{
    size_t slots = purgeable ? SET_SIZE : 0;
    struct pcache *c = sqlite3_malloc64(sizeof *c + slots * sizeof c->set[0]);

    if (!c)
        return NULL;
    c->inner = inner.xCreate(sz_page, sz_extra, purgeable);
    if (!c->inner) {
        sqlite3_free(c);
        return NULL;
    }
    c->floor = 1; /* empty: every page made is past it */
    c->n = 0;
    c->over = 0;
    c->track = purgeable != 0;
    memset(c->set, 0, slots * sizeof c->set[0]);
    return (sqlite3_pcache *) c;
}

static void pc_cachesize(sqlite3_pcache *p, int n)
{
    inner.xCachesize(((struct pcache *) p)->inner, n);
}

static int pc_pagecount(sqlite3_pcache *p)
{
    return inner.xPagecount(((struct pcache *) p)->inner);
}

/* Remember key (at or past c->floor), once. */
static void remember(struct pcache *c, unsigned key)
{
    unsigned i = (key * 2654435761u) >> (32 - SET_BITS);

    while (c->set[i] != 0) {
        if (c->set[i] == key)
            return;
        i = (i + 1) & (SET_SIZE - 1);
    }
    if (c->n >= SET_FILL) {
        c->over = 1;
        return;
    }
    c->set[i] = key;
    c->n++;
}

static sqlite3_pcache_page *pc_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    struct pcache *c = (struct pcache *) p;
    sqlite3_pcache_page *pg = inner.xFetch(c->inner, key, create);

    /* Only a fetch that may create a page can put one past the floor. */
    if (pg && create && key >= c->floor && c->track && !c->over)
        remember(c, key);
    return pg;
}

static void pc_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard)
{
    inner.xUnpin(((struct pcache *) p)->inner, pg, discard);
}

static void pc_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned old_key, unsigned new_key)
{
    struct pcache *c = (struct pcache *) p;

    inner.xRekey(c->inner, pg, old_key, new_key);
    if (new_key >= c->floor && c->track && !c->over)
        remember(c, new_key);
}

/* Whether a page at or past limit may be in the cache. A page found by the inner
 * cache's fetch without create is pinned by it; the truncation that follows frees it. */
static int any_past(struct pcache *c, unsigned limit)
{
    if (c->over || limit < c->floor)
        return 1;
    for (unsigned i = 0; i < SET_SIZE; i++)
        if (c->set[i] >= limit && inner.xFetch(c->inner, c->set[i], 0))
            return 1;
    return 0;
}

static void pc_truncate(sqlite3_pcache *p, unsigned limit)
{
    struct pcache *c = (struct pcache *) p;

    if (!c->track) {
        inner.xTruncate(c->inner, limit);
        return;
    }
    if (any_past(c, limit)) {
        inner.xTruncate(c->inner, limit);
        atomic_fetch_add_explicit(&n_passed, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&n_skipped, 1, memory_order_relaxed);
    }
    if (c->n)
        memset(c->set, 0, SET_SIZE * sizeof c->set[0]);
    c->n = 0;
    c->over = 0;
    c->floor = limit;
}

static void pc_destroy(sqlite3_pcache *p)
{
    struct pcache *c = (struct pcache *) p;

    inner.xDestroy(c->inner);
    sqlite3_free(c);
}

static void pc_shrink(sqlite3_pcache *p)
{
    if (inner.xShrink)
        inner.xShrink(((struct pcache *) p)->inner);
}

int pv_sqlite_pcache_install(void)
{
    static const sqlite3_pcache_methods2 ours = {
        .iVersion = 1, /* SQLite's own is version 1 (xShrink included) */
        .pArg = NULL,
        .xInit = pc_init,
        .xShutdown = pc_shutdown,
        .xCreate = pc_create,
        .xCachesize = pc_cachesize,
        .xPagecount = pc_pagecount,
        .xFetch = pc_fetch,
        .xUnpin = pc_unpin,
        .xRekey = pc_rekey,
        .xTruncate = pc_truncate,
        .xDestroy = pc_destroy,
        .xShrink = pc_shrink,
    };
    sqlite3_pcache_methods2 cur;
    int rc;

    if (inner.xCreate)
        return SQLITE_MISUSE; /* once a process */
    if ((rc = sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &cur)) != SQLITE_OK)
        return rc;
    if (!cur.xCreate || !cur.xTruncate || !cur.xFetch)
        return SQLITE_ERROR;
    inner = cur;
    if ((rc = sqlite3_config(SQLITE_CONFIG_PCACHE2, &ours)) != SQLITE_OK)
        memset(&inner, 0, sizeof inner);
    return rc;
}

void pv_sqlite_pcache_counts(unsigned long long *passed, unsigned long long *skipped)
{
    *passed = atomic_load_explicit(&n_passed, memory_order_relaxed);
    *skipped = atomic_load_explicit(&n_skipped, memory_order_relaxed);
}
