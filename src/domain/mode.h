/*
 * mode.h - the one rule of test and live (docs/api.md, "Test and live keys").
 *
 * Every caller has a mode: an sk_test_ key is test; a live key and a web
 * session are live. A caller sees and acts only on pieces, cards, charges,
 * balances and media records of its own mode. To it a record of the other
 * mode is as unknown as one that does not exist - the same answer - so the
 * mode of a record is not revealed either. Operators hold live keys only;
 * they read every customer's pieces of both modes, but a presentation (the
 * postal authority's scan) counts only for a piece of the scanner's mode.
 *
 * Every path that names a piece asks these functions: pv_indicium_owned
 * (refund.h) for reading, printing and refunding one, the history list for
 * its mode filter and cursor, pv_verify_online (verify.h) for counting.
 * Cards, balances, auto-refill, transactions and idempotency keys are kept
 * per mode by their own keys (a mode column, "test:" account names).
 */
#ifndef STAMPD_MODE_H
#define STAMPD_MODE_H

#include "store/store.h"

/* pv_mode_sees - 1 when a caller of mode caller_test (0 live, 1 test) may
 * see or act on a record of mode record_test, else 0. */
int pv_mode_sees(int caller_test, int record_test);

/* pv_indicium_mode - 1 for a test piece (the TEST flag), 0 for a live one. */
int pv_indicium_mode(const struct pv_indicium_rec *rec);

/*
 * pv_mode_filter - the mode filter of a caller's list: asked (-1 any, 0
 * live, 1 test: what the caller asked for) within the caller's own mode.
 * *filter gets the mode to search (always the caller's). Returns 1 when
 * the list may hold anything, 0 when asked names the other mode (the answer
 * is an empty list).
 */
int pv_mode_filter(int caller_test, int asked, int *filter);

#endif
