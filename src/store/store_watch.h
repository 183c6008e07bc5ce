/*
 * store_watch.h - being told that another connection changed something
 * (issue 15, session 12): PostgreSQL's LISTEN/NOTIFY on a connection of the
 * watch's own. The API-key cache of `stampd serve` and `stampd front`
 * (src/server/keycache.c) forgets what it holds when a key is revoked
 * anywhere: a trigger on api_keys notifies (schema v30). SQLite has no such
 * channel, and needs none there: its lookups are in-process reads.
 *
 * The watch is a small table of function pointers of its own (wait, close;
 * store_int.h), not a store handle: it runs no statement but its liveness
 * round trip. A part of store.h (included at its end).
 */
#ifndef STAMPD_STORE_WATCH_H
#define STAMPD_STORE_WATCH_H

struct pv_watch;

/* The channel the api_keys trigger notifies on (schema v30). */
#define PV_WATCH_API_KEYS "stampd_api_keys"

/*
 * pv_watch_open - a connection to dsn (borrowed) listening on channel
 * (borrowed: lower-case letters and '_'), *out owned (pv_watch_close). Told
 * of notifications committed after it returns. PV_ECONFIG for a backend
 * without notifications (SQLite) or a bad channel name, PV_ESTORE when the
 * database cannot be reached, PV_ENOMEM.
 */
int pv_watch_open(const char *dsn, const char *channel, struct pv_watch **out);

/*
 * pv_watch_wait - wait for a notification on w (borrowed) for up to
 * timeout_ms, proving the connection alive with one round trip meanwhile: 1
 * when one or more came (all taken), 0 when none came and the server
 * answered. PV_ESTORE when the connection is lost or the server did not
 * answer within PV_WATCH_ANSWER_MS: close w; what it missed is unknown.
 */
int pv_watch_wait(struct pv_watch *w, int timeout_ms);
#define PV_WATCH_ANSWER_MS 5000

/* pv_watch_close - close w (taken); NULL is fine. */
void pv_watch_close(struct pv_watch *w);

#endif
