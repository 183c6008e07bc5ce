/*
 * store_ckpt.h - the part of the store interface (store.h, which includes it;
 * include store.h, never this) for what a database file's checkpointer did in
 * this process: SQLite's (store/sqlite_wal.h), read by GET /metrics.
 * Kept apart so store.h stays readable.
 */
#ifndef STAMPD_STORE_CKPT_H
#define STAMPD_STORE_CKPT_H

#include <stdint.h>

/* The upper bounds of pv_store_ckpt's hold buckets, in microseconds (the last: any longer). */
#define PV_CKPT_LE_US   1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000
#define PV_CKPT_BUCKETS 9 /* the bounds above and one for longer holds */

/* What the checkpointer of a database file did in this process while a handle on the file
 * was open here (SQLite: sqlite_wal.h; the counts start again after the last one closes).
 * A hold is a run with the process's writers held, to finish a long log: from the moment
 * the checkpointer had them to the moment it let them go (the batch it waited for at the
 * writers' gate not included). */
struct pv_store_ckpt {
    uint64_t runs;        /* checkpoints its thread ran without the hold (holds below) */
    uint64_t inline_runs; /* commits that checkpointed inline (the log too long, or no thread) */
    uint64_t holds;
    uint64_t hold_bucket[PV_CKPT_BUCKETS]; /* holds per bucket, not cumulative */
    int64_t hold_us;                       /* all holds, summed */
};

/* pv_store_checkpoints - what the checkpointer of st's database file (st borrowed) did
 * in this process, into *out (borrowed, filled): PV_OK. PV_ECONFIG (*out zeroed) where
 * there is none: a backend whose server checkpoints (PostgreSQL), a SQLite database in
 * memory; PV_EINVAL. */
int pv_store_checkpoints(struct pv_store *st, struct pv_store_ckpt *out);

#endif
