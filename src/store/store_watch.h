/*
 * store_watch.h - being told that another connection changed something
 * (issue 15, session 12). The API-key cache of `stampd serve` and `stampd
 * front` (src/server/keycache.c) forgets what it holds when a key changes
 * anywhere (schema v28):
 *   * PostgreSQL: LISTEN on a connection of the watch's own (pg_watch.c); a
 *     trigger on api_keys notifies at the commit of any change;
 *   * SQLite: a change count in watch_versions that triggers on api_keys
 *     bump, read every PV_WATCH_POLL_MS on a handle of the watch's own
 *     (watch_poll.c), so a change by any process is seen.
 *
 * The watch is a small table of function pointers of its own (wait, close;
 * store_int.h), not a store handle. A part of store.h (included at its end).
 */
#ifndef STAMPD_STORE_WATCH_H
#define STAMPD_STORE_WATCH_H

struct pv_watch;

/* The channel of the api_keys triggers (schema v28). */
#define PV_WATCH_API_KEYS "stampd_api_keys"

/*
 * pv_watch_open - a watch on channel (borrowed: lower-case letters and '_')
 * of the database dsn (borrowed), *out owned (pv_watch_close): told of
 * changes committed after it returns. PV_ECONFIG for a bad channel name or
 * a database without that channel, PV_ESTORE when the database cannot be
 * reached, PV_ENOMEM.
 */
int pv_watch_open(const char *dsn, const char *channel, struct pv_watch **out);

/*
 * pv_watch_wait - wait up to timeout_ms for a change on w (borrowed),
 * proving the database reachable meanwhile (PostgreSQL: one round trip; SQLite:
 * its reads): 1 as soon as one or more came (all taken), 0 when none came.
 * PV_ESTORE when the connection is lost or the server did not answer within
 * PV_WATCH_ANSWER_MS: close w; what it missed is unknown.
 */
int pv_watch_wait(struct pv_watch *w, int timeout_ms);
#define PV_WATCH_ANSWER_MS 5000
#define PV_WATCH_POLL_MS   50 /* SQLite: a read of the count this often */

/* pv_watch_close - close w (taken); NULL is fine. */
void pv_watch_close(struct pv_watch *w);

#endif
