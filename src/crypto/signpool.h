/*
 * signpool.h - sign many messages at once on several threads.
 *
 * A processor's writer signs every indicium of a batch while it holds the
 * database's write lock; one ECDSA signature costs about as much as all of a
 * purchase's SQL statements, and on that one thread it limits purchases/s
 * (issue 15). A pool lends the writer threads of its own: the writer hands
 * over a batch's signatures, signs with them, and goes on when all are made.
 * Signing stays in the crypto module, which is safe to call from several
 * threads (crypto.h); the pool only spreads the calls.
 */
#ifndef STAMPD_SIGNPOOL_H
#define STAMPD_SIGNPOOL_H

#include <stddef.h>
#include <stdint.h>

struct pv_crypto;
struct pv_sign_pool;

/* One signature to make: key_ref and msg borrowed for the call; sig and rc
 * written (rc as pv_crypto_sign's). */
struct pv_sign_req {
    const char *key_ref;
    const uint8_t *msg;
    size_t len;
    uint8_t *sig; /* 64 bytes */
    int rc;
};

/*
 * pv_sign_pool_new - a pool of threads extra threads (0 is allowed: the
 * caller signs alone). *out is owned, freed with pv_sign_pool_free.
 * Errors: PV_EINVAL, PV_ENOMEM, PV_EINTERNAL (a thread could not start).
 */
int pv_sign_pool_new(unsigned threads, struct pv_sign_pool **out);

/* Stop the threads and free pool (taken; NULL is fine). No run may be going on. */
void pv_sign_pool_free(struct pv_sign_pool *pool);

/* The pool's threads (0 for NULL). pool borrowed. */
unsigned pv_sign_pool_threads(const struct pv_sign_pool *pool);

/*
 * pv_sign_pool_run - sign reqs[0..n) with cm, on the pool's threads and the
 * caller's, and return once every one is made (each with its own rc). pool
 * NULL signs on the caller's thread. One run at a time per pool; cm and reqs
 * borrowed for the call.
 */
void pv_sign_pool_run(struct pv_sign_pool *pool, struct pv_crypto *cm, struct pv_sign_req *reqs,
                      size_t n);

/*
 * pv_sign_pool_start, pv_sign_pool_finish - pv_sign_pool_run in two halves, so
 * that the caller can do other work while the pool's threads sign (issue 15:
 * a batch's statements that need no signature). start hands reqs[0..n) to the
 * pool's threads and returns at once; finish, with the same arguments, signs
 * what they have not taken on the caller's thread and returns once every one is
 * made. Every start is followed by exactly one finish before the pool's next
 * run; in between the caller must not touch reqs, their msg or their sig. A
 * pool that is NULL or has no threads signs everything in finish. cm and reqs
 * are borrowed until finish returns.
 */
void pv_sign_pool_start(struct pv_sign_pool *pool, struct pv_crypto *cm, struct pv_sign_req *reqs,
                        size_t n);
void pv_sign_pool_finish(struct pv_sign_pool *pool, struct pv_crypto *cm, struct pv_sign_req *reqs,
                         size_t n);
/* pv_sign_pool_cancel - end a start without its signatures: the requests no thread has
 * taken are never signed (their rc is not set), and it returns once the threads are done
 * with the ones they took; reqs may then go. In place of finish, after start. */
void pv_sign_pool_cancel(struct pv_sign_pool *pool, size_t n);

#endif
