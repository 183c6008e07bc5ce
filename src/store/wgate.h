/*
 * wgate.h - the writers' gate of one SQLite database file in this process
 * (private to the SQLite driver): one write transaction at a time, so that
 * the process's writers queue here instead of spinning on SQLite's busy
 * handler, and the background checkpointer (sqlite_wal.h) can hold them while
 * it finishes a log.
 *
 * A waiter that asks to go first (the checkpointer) enters before every
 * waiter that did not, and before a writer that leaves and asks again at
 * once. Without that, the writer that just left takes the gate again before
 * the checkpointer has woken, batch after batch, and the frames the
 * checkpointer then copies with the writers held grow with every batch it
 * waited (docs/performance.md, session 23: waits of up to 83 ms seen).
 */
#ifndef PV_STORE_WGATE_H
#define PV_STORE_WGATE_H

#include <pthread.h>

struct pv_wgate {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int held;    /* someone is in; under mu */
    int first;   /* waiters that go first; under mu */
    int waiting; /* all waiters (for tests); under mu */
};

/* Initialise g (borrowed: the caller's storage). Returns 0, or -1 when out of
 * resources. */
int pv_wgate_init(struct pv_wgate *g);

/* Destroy g (borrowed); nobody may be in or waiting. */
void pv_wgate_destroy(struct pv_wgate *g);

/* Wait at most timeout_ms until g is free (and, unless first, no first waiter
 * waits), then hold it. Returns 0 when held, else the wait's error (ETIMEDOUT).
 * g borrowed. */
int pv_wgate_enter(struct pv_wgate *g, int first, int timeout_ms);

/* Let g go (held by the caller). g borrowed. */
void pv_wgate_leave(struct pv_wgate *g);

/* Waiters now (for tests). g borrowed. */
int pv_wgate_waiting(struct pv_wgate *g);

#endif
