/*
 * sqlite_wal.h - checkpoints off the writers' path (private to the SQLite driver).
 *
 * SQLite's default checkpoints a WAL database inline: the commit that takes
 * the log past 1,000 frames copies every frame back into the database file
 * and syncs it before it returns, on the thread that committed - in a server
 * the processor's writer, which every purchase waits for (issue 15: about a
 * sixth of the writer's time). The driver turns that off and gives every
 * database file one background checkpointer instead: commits report the
 * log's size (pv_walck_committed), the checkpointer copies frames back on its
 * own connection in PASSIVE mode, which never blocks a writer, and the log
 * starts again from the beginning once a checkpoint has caught up with it.
 * Durability does not change: a commit is on disk when its frames are synced
 * to the log, whoever copies them back later.
 *
 * Under a steady load the checkpointer is always a little behind (commits
 * add frames while it copies), and SQLite starts the log again only once a
 * checkpoint has copied all of it. So once the log has passed
 * PV_WALCK_RESTART_BYTES, the checkpointer copies it in a few runs and then
 * what is left with this process's writers held at their gate (enter/leave):
 * only the frames added during its last run, after which the next write
 * starts the log again. It
 * waits at the gate ahead of the writers (wgate.h), and holds them once a log:
 * a run that finds the log the held run left (no write has started it again
 * yet) has nothing to finish. If it cannot keep up anyway (the log past
 * PV_WALCK_INLINE_BYTES), or its thread cannot be started, the committing
 * connection checkpoints inline, as SQLite would.
 *
 * The hold is short because the runs before it leave it little to do (issue
 * 15, session 32; docs/performance.md). SQLite syncs the database only in a
 * run that copies the whole log, so the held run's sync used to write every
 * page the runs before it had copied (~2,800 random pages of a 32 MB log in
 * session 23; 15-19 ms of session 29's disk, the writers held), and one sync before the hold made
 * the writers' commits wait behind it on the disk instead (session 23). So:
 *  - the runs before the held one are paced: the database is synced after
 *    every PV_WALCK_PACE_BYTES of pages they copy (the driver's VFS,
 *    PV_SQLITE_FCNTL_PACE), so the disk writes it back in small pieces
 *    between the commits, not in one sync that they wait behind (not past
 *    PV_WALCK_PACE_UNTIL_BYTES of log: a checkpointer falling behind, on a
 *    disk whose syncs are slow, copies as fast as it can);
 *  - the run that finds the log long enough to finish is followed by
 *    PV_WALCK_RUNS_BEFORE_HOLD more, each copying what the writers added
 *    during the one before, so that the held run copies and syncs only the
 *    last few milliseconds' pages;
 *  - a log is not run on before it is long enough to finish: a page written
 *    back and then changed again is dirtied and written once more: with a
 *    run at half the log too, 6 % more bytes were written a purchase (20.7
 *    against 19.5 kB, session 32).
 *
 * A checkpoint whose sync fails ends the process (pv_walck_check_sync, the
 * checkpointer's runs and the commits' inline ones). SQLite counts a run's
 * pages as copied before any sync, so the kernel may have dropped some of
 * them; Linux reports a writeback error once to each open file, so a later
 * run's sync could succeed and let the log start again over them. The log
 * still holds every commit, and SQLite copies it again from its first frame
 * once every connection to the file has closed and one opens it again: so
 * every process that has the file open must stop before any starts again
 * (docs/operations.md, "Alerts").
 */
#ifndef PV_STORE_SQLITE_WAL_H
#define PV_STORE_SQLITE_WAL_H

/* The log size from which commits report to the checkpointer (its thread starts then), in
 * bytes of pages (frames x page size, so that a store of 2 KiB pages checkpoints as often
 * as one of 4 KiB pages): four times SQLite's autocheckpoint default (4,000 pages of 4 KiB,
 * 16 MB); and the growth after which a log that could not be started again (a reader on
 * it) is run on again. A run copies each page once however many commits changed it, and
 * the pages every batch changes (the customers' index ends, the accounts) are most of a
 * run: a run every 4 MB of log copied ~14 us of pages a purchase, every 16 MB ~5, and the
 * log's bytes written a purchase fell by a sixth (docs/performance.md, session 11). */
#define PV_WALCK_BYTES (4000LL * 4096)
/* The log size at which the checkpointer runs on a log, and then finishes it with the
 * writers held (until session 32 it ran at PV_WALCK_BYTES too). */
#define PV_WALCK_RESTART_BYTES (8000LL * 4096)
/* The runs before the held one sync the database every this many bytes of pages they copy:
 * 32 pages of 2 KiB (~0.2 ms at session 23's ~5 us a random page). 128 pages let the commits'
 * syncs wait behind the pieces (15 % of purchases over 5 ms at half the rate, against 3 %); 8
 * gave the same tail with four times the syncs and longer holds (one run each;
 * docs/performance.md, session 32). */
#define PV_WALCK_PACE_BYTES (64LL * 1024)
/* The log size from which the runs are not paced any more (60 MB, near the inline limit: a
 * checkpointer whose paced runs fall behind, on a disk whose syncs are slow, copies as fast
 * as it can before the commits' inline runs would find it checkpointing and give up). */
#define PV_WALCK_PACE_UNTIL_BYTES (15000LL * 4096)
/* Runs without the hold between the one that finds the log long enough and the held
 * run: with none the hold was 8.5 ms, with two ~4 ms (session 32). */
#define PV_WALCK_RUNS_BEFORE_HOLD 2
/* The log size at which the committing connection catches up inline (64 MB). */
#define PV_WALCK_INLINE_BYTES (16000LL * 4096)

struct pv_walck;
struct pv_store_ckpt;

/* A checkpointer for the database file at path (borrowed, copied), its thread
 * started on first need. enter(arg) holds this process's writers (0 when
 * held), leave(arg) lets them go; enter NULL: never. Returns owned (free with
 * pv_walck_free), NULL when out of memory. */
struct pv_walck *pv_walck_new(const char *path, int (*enter)(void *), void (*leave)(void *),
                              void *arg);

/* Stop the thread (it finishes a checkpoint it is running) and free ck
 * (taken; NULL is fine). Call once no connection reports to it any more. */
void pv_walck_free(struct pv_walck *ck);

/* A commit left the log at frames frames of page_size bytes each (the file's;
 * the checkpointer counts its own runs' logs in it too): wake the checkpointer
 * if it is worth it. Returns 1 when the caller should checkpoint inline instead
 * (the log is past PV_WALCK_INLINE_BYTES, or no thread could be started), else
 * 0. Thread-safe; ck borrowed. */
int pv_walck_committed(struct pv_walck *ck, int frames, int page_size);

/* Checkpoints run by the thread so far without the hold (for tests and the log; a run that
 * found another connection checkpointing included). ck borrowed. */
unsigned long pv_walck_runs(struct pv_walck *ck);

/* After a checkpoint on db (borrowed) that gave rc, of the database at path (borrowed, for
 * the message): if a sync failed (SQLITE_IOERR_FSYNC), says so on stderr and ends the
 * process (see above); otherwise returns. */
struct sqlite3;
void pv_walck_check_sync(struct sqlite3 *db, int rc, const char *path);

/* What ck (borrowed) did so far, into *out (borrowed, filled): its runs, the
 * commits it sent back to checkpoint inline, and its holds on the writers by
 * how long each held them (store.h, GET /metrics). Thread-safe. */
void pv_walck_stats(struct pv_walck *ck, struct pv_store_ckpt *out);

#endif
