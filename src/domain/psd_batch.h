/*
 * psd_batch.h - a purchase batch's PSD rows, read once and written once.
 *
 * Inside a batch's transaction nobody else moves a PSD's registers: the
 * writer holds SQLite's write lock, or on PostgreSQL the row lock its first
 * read took (FOR UPDATE), and a lease is renewed only between batches on the
 * same thread (lease.h). So the batch reads each PSD row once, debits the
 * registers of its pieces in memory, and writes each changed row once before
 * its commit: one statement a PSD a batch instead of a read and an update a
 * purchase. A job's savepoint no longer holds its PSD update, so the job's
 * rollback restores the rows as they were before it (pv_psd_batch_save and
 * pv_psd_batch_restore); a failed batch drops them all with its transaction.
 */
#ifndef STAMPD_PSD_BATCH_H
#define STAMPD_PSD_BATCH_H

#include "stampd/psd.h"
#include "store/store.h"

#include <stddef.h>

struct pv_psd_batch_row {
    struct pv_psd_rec rec;
    int dirty; /* registers moved since the row was read or last written */
};

/* A batch's rows; cap entries each in rows and saved (at most every PSD the
 * processor may use, and its test PSD). */
struct pv_psd_batch {
    struct pv_psd_batch_row *rows, *saved;
    size_t n, n_saved, cap;
};

/*
 * pv_psd_batch_init - room for cap rows in b (caller-owned, zeroed or
 * cleared). PV_OK or PV_ENOMEM. pv_psd_batch_clear frees it. A batch
 * starts with b->n = 0; with no room (cap 0) every call goes to the store.
 */
int pv_psd_batch_init(struct pv_psd_batch *b, size_t cap);
void pv_psd_batch_clear(struct pv_psd_batch *b);

/*
 * pv_psd_batch_get - PSD id's row into *out: b's copy, or the store's
 * (pv_store_psd_get, read for update) kept in b when there is room. b may
 * be NULL (straight to the store). Store errors as pv_store_psd_get.
 */
int pv_psd_batch_get(struct pv_store *st, struct pv_psd_batch *b, uint32_t id,
                     struct pv_psd_rec *out);

/*
 * pv_psd_batch_put - p's registers are the PSD's now: into b's copy, written
 * by pv_psd_batch_flush, when b holds the row; written to the store at once
 * otherwise (pv_store_psd_update). p is borrowed.
 */
int pv_psd_batch_put(struct pv_store *st, struct pv_psd_batch *b, const struct pv_psd_rec *p);

/* pv_psd_regs_from / _to - a row's registers into r, and back (both borrowed). */
void pv_psd_regs_from(const struct pv_psd_rec *p, struct pv_psd_regs *r);
void pv_psd_regs_to(const struct pv_psd_regs *r, struct pv_psd_rec *p);

/* pv_psd_batch_save / _restore - before a job, and after its rollback. */
void pv_psd_batch_save(struct pv_psd_batch *b);
void pv_psd_batch_restore(struct pv_psd_batch *b);

/*
 * pv_psd_batch_flush - write every moved row (pv_store_psd_update_held: the
 * rows were read locked in this transaction), before the batch's commit. PV_OK
 * or the store's error (the batch then fails).
 */
int pv_psd_batch_flush(struct pv_store *st, struct pv_psd_batch *b);

#endif
