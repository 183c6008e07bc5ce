/*
 * keycache.h - the API keys a front found, kept in memory while a watch
 * vouches that none changed (issue 15, session 12; docs/security.md "API
 * keys"). On PostgreSQL every request's key lookup was a round trip and
 * about a fifth of the cluster's CPU a purchase; on SQLite a read of its own,
 * a twelfth of the HTTP workers' CPU.
 *
 * A key is answered from memory only while (a) a thread of the cache has a
 * watch (store_watch.h) listening on PV_WATCH_API_KEYS, which a trigger on
 * api_keys notifies at the commit of any change (schema v28; on SQLite a
 * change count read every 50 ms), (b) that watch proved the database
 * reachable within PV_KEYCACHE_TRUST_MS, and (c) the entry
 * is younger than PV_KEYCACHE_AGE_MS and was read after the last change
 * this cache heard of (the trust counts from the start of the watch's wait
 * that proved the database reachable). A notification, a lost watch or pv_keycache_forget
 * drops every entry at once (a generation count), so a key revoked anywhere
 * is refused by every front once its notification arrives - milliseconds
 * (SQLite: within 50 ms, whichever process changed it); on the front that
 * revoked it, before the revocation is answered. Only keys found are kept: a
 * guess is looked up (and rate-limited) each time.
 */
#ifndef STAMPD_KEYCACHE_H
#define STAMPD_KEYCACHE_H

#include <stdint.h>

struct pv_keycache;
struct pv_principal;
struct pv_store;

#define PV_KEYCACHE_SLOTS    1024  /* keys kept, in sets of 4 */
#define PV_KEYCACHE_TRUST_MS 1000  /* the watch's last proof of life counts this long */
#define PV_KEYCACHE_AGE_MS   60000 /* an entry counts this long, whatever the watch says */
#define PV_KEYCACHE_WAIT_MS  250   /* each wait of the watch: its shutdown within this */

/*
 * pv_keycache_start - a cache for the database dsn (borrowed for the call),
 * with its watching thread, into *out (owned: pv_keycache_stop). A watch
 * that cannot connect yet is retried by the thread every second (until then
 * nothing is kept). PV_ENOMEM, PV_EINTERNAL (the thread).
 */
int pv_keycache_start(const char *dsn, struct pv_keycache **out);

/* pv_keycache_stop - stop the thread and free kc (taken; NULL is fine): within
 * PV_KEYCACHE_WAIT_MS, or PV_WATCH_ANSWER_MS if its database stopped answering, or 5 s
 * (libpq's connect_timeout, unless the DSN sets one) if it was connecting. */
void pv_keycache_stop(struct pv_keycache *kc);

/*
 * pv_keycache_lookup - pv_apikey_lookup (account.h) through kc (borrowed;
 * NULL: straight to st). st borrowed, key borrowed, *who written. The same
 * answers: PV_OK, PV_EUNAUTH (malformed), PV_ENOTFOUND (no active key),
 * store errors.
 */
int pv_keycache_lookup(struct pv_keycache *kc, struct pv_store *st, const char *key,
                       struct pv_principal *who);

/* pv_keycache_forget - drop every entry of kc (borrowed; NULL is fine): this
 * process changed a key, and its own answer must not wait for the watch. */
void pv_keycache_forget(struct pv_keycache *kc);

/* pv_keycache_on - 1 while kc (borrowed; NULL: 0) answers keys from memory. */
int pv_keycache_on(struct pv_keycache *kc);

/* pv_keycache_between - for the tests: fn(arg) runs in each lookup of kc (borrowed) between
 * its read of the store and its keeping of the key (a change that lands there). */
void pv_keycache_between(struct pv_keycache *kc, void (*fn)(void *), void *arg);

/* pv_keycache_vouch - for the tests: behave as if the watch proved itself
 * alive at now_ms (CLOCK_MONOTONIC ms) on a cache made with
 * pv_keycache_new_unwatched. */
void pv_keycache_vouch(struct pv_keycache *kc, int64_t now_ms);

/* pv_keycache_new_unwatched - for the tests: a cache with no thread, trusted
 * only as pv_keycache_vouch says. *out owned (pv_keycache_stop). */
int pv_keycache_new_unwatched(struct pv_keycache **out);

#endif
