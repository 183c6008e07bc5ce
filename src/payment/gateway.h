/*
 * gateway.h - the payment-gateway interface: turn a card into a token, hold
 * money on it (authorize), take the hold (capture) or release it (void),
 * refund a captured charge.
 *
 * Backends embed struct pv_gateway first and provide a const struct
 * pv_gateway_ops (like the store and the crypto module). The only backend
 * today is "sandbox" (sandbox.c), which follows the common test-card
 * conventions (docs/payments.md); a real gateway is another ops table and
 * another name in pv_gateway_open, with no change to callers.
 *
 * Two kinds of outcome are kept apart. The int return is about the call:
 * PV_OK, or a PV_E* code for bad arguments, unknown ids, idempotency misuse,
 * overflow, memory, a charge in the wrong state. The gateway's decision on
 * an authorization (approved or one of the declines) comes back in enum
 * pv_pay_result with PV_OK: a decline is a normal answer, not a failure of
 * the call.
 *
 * Card numbers and CVCs are read by tokenize only. Tokens, charge ids and
 * everything else the interface returns never contain them, and no backend
 * logs them.
 */
#ifndef STAMPD_PAYMENT_GATEWAY_H
#define STAMPD_PAYMENT_GATEWAY_H

#include "stampd/card.h"
#include "stampd/money.h"

#include <stdint.h>

/* Longest idempotency key and longest token / charge id a backend accepts. */
#define PV_GATEWAY_MAX_KEY 255
#define PV_GATEWAY_MAX_REF 128

enum pv_pay_result {
    PV_PAY_APPROVED = 0,
    PV_PAY_DECLINED,           /* "card_declined": the issuer said no */
    PV_PAY_INSUFFICIENT_FUNDS, /* "insufficient_funds" */
    PV_PAY_INCORRECT_CVC,      /* "incorrect_cvc" */
    PV_PAY_PROCESSING_ERROR,   /* "processing_error": try again later */
};

struct pv_gateway;

/* The calls a gateway can make asynchronously (struct pv_gateway_call). */
enum pv_gateway_op { PV_GW_AUTHORIZE = 1, PV_GW_CAPTURE, PV_GW_VOID };

/*
 * One asynchronous card call (pv_gateway_submit). The caller owns the
 * struct and fills the inputs; the gateway borrows it - and the strings it
 * points to - from submit until it calls done, after which it never touches
 * it again. Outputs are set before done: rc and result as the synchronous
 * call returns them, charge_id an owned string (free(); authorize approved
 * only, else NULL) that the caller takes.
 */
struct pv_gateway_call {
    /* in */
    enum pv_gateway_op op;
    const char *source;       /* authorize: token or saved card reference */
    pv_mills amount;          /* authorize */
    const char *charge_id_in; /* capture, void */
    const char *key;          /* idempotency key */
    void (*done)(struct pv_gateway_call *call);
    void *arg; /* the caller's */
    /* out */
    int rc;
    enum pv_pay_result result;
    char *charge_id;
    /* the gateway's, while the call is in flight */
    struct pv_gateway_call *link;
    struct pv_gateway *via; /* the synchronous fallback's pool: the gateway to call */
    int64_t due_ms;         /* a delay queue's: when it is made, on the monotonic clock (ms) */
};

struct pv_gateway_ops {
    int version;      /* 2: two-phase card payments (authorize, capture, void) */
    const char *name; /* "sandbox" */

    /*
     * tokenize - validate card (borrowed) with pv_card_validate against
     * today_yyyymm and exchange it for a token. *token gets an owned string
     * "tok_..." (free()) that never contains the number or CVC; *info (may
     * be NULL) gets brand, last4 and expiry. Errors: PV_EINVAL with *field
     * (may be NULL) naming the bad card field, PV_ENOMEM. *token is NULL on
     * every error.
     */
    int (*tokenize)(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                    char **token, struct pv_card_info *info, const char **field);

    /*
     * authorize - put a hold of amount mills (1..PV_MILLS_MAX) on source
     * (borrowed: a token from tokenize, or a saved payment method's gateway
     * reference); no money moves until capture. idempotency_key (borrowed,
     * 1..PV_GATEWAY_MAX_KEY bytes) names the authorization: the same key
     * with the same source and amount returns the first answer again (the
     * same hold, or the same decline) and never holds twice; the same key
     * with another source or amount is PV_EIDEMREUSED. On PV_OK *result is
     * the decision; *charge_id (may be NULL) gets an owned "ch_..." (free())
     * when approved and NULL otherwise. Errors: PV_EINVAL (bad source or
     * amount <= 0), PV_EOVERFLOW (amount > PV_MILLS_MAX), PV_ENOTFOUND
     * (unknown source), PV_EIDEMREQUIRED, PV_EIDEMREUSED, PV_EIO (the
     * gateway could not record it: nothing held), PV_ENOMEM.
     */
    int (*authorize)(struct pv_gateway *gw, const char *source, pv_mills amount,
                     const char *idempotency_key, enum pv_pay_result *result, char **charge_id);

    /*
     * capture - take the money of an approved hold (charge_id borrowed).
     * Capturing a captured charge again answers PV_OK. idempotency_key as
     * for authorize (one namespace for capture, void and refund: a key used
     * by another call or charge is PV_EIDEMREUSED). Errors: PV_ENOTFOUND (no
     * such approved authorization), PV_EPAYSTATE (it was voided),
     * PV_EIDEMREQUIRED, PV_EIDEMREUSED, PV_EIO, PV_ENOMEM.
     */
    int (*capture)(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key);

    /*
     * void_charge - release a hold, or give back in full what is left of a
     * captured charge (charge_id borrowed). Voiding a voided charge answers
     * PV_OK. Errors: PV_ENOTFOUND, PV_EIDEMREQUIRED, PV_EIDEMREUSED, PV_EIO,
     * PV_ENOMEM.
     */
    int (*void_charge)(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key);

    /*
     * refund - give back amount mills (> 0) of a captured charge (charge_id
     * borrowed). The refunds of one charge never add up to more than it.
     * idempotency_key: a retried refund is not paid twice. *refunded_total
     * (may be NULL) gets the charge's refunded total after this call.
     * Errors: PV_ENOTFOUND (no such approved charge), PV_EPAYSTATE (not
     * captured, or voided), PV_EINVAL (amount <= 0), PV_EOVERFLOW (more than
     * is left to refund), PV_EIDEMREQUIRED, PV_EIDEMREUSED, PV_EIO,
     * PV_ENOMEM.
     */
    int (*refund)(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                  const char *idempotency_key, pv_mills *refunded_total);

    /* close - release the gateway and everything it holds. Every call
     * submitted has had its done called before close (the caller waits). */
    void (*close)(struct pv_gateway *gw);

    /*
     * submit - start call (borrowed, with everything it points to, until
     * call->done) without waiting for the answer: authorize, capture or
     * void as above, the outcome in call->rc, result, charge_id. done is
     * called exactly once, on a thread of the backend's (or, when the
     * backend cannot start the call, on the caller's before submit
     * returns); it must not block. Optional (NULL): then
     * pv_gateway_submit makes the call synchronously on the caller's
     * thread. A network backend keeps its requests in flight on one event
     * loop (libcurl's multi interface: docs/internals/gateway-async.md).
     */
    void (*submit)(struct pv_gateway *gw, struct pv_gateway_call *call);
};

/* Every backend's own struct starts with this. Safe to share between threads. */
struct pv_gateway {
    const struct pv_gateway_ops *ops;
};

/*
 * Options of pv_gateway_open_with. journal: the sandbox's journal file
 * (borrowed path; NULL or "": in memory only); latency_ms: the sandbox
 * sleeps this long in every card call, as a network would (0..60000).
 * Backends ignore what does not apply to them.
 */
struct pv_gateway_opts {
    const char *journal;
    int latency_ms;
};

/*
 * pv_gateway_open - open a gateway by borrowed name: "sandbox", in memory.
 * pv_gateway_open_with - the same with options (o borrowed, may be NULL).
 * *out is owned; release with pv_gateway_close(). Errors: PV_ECONFIG
 * (unknown name, or a latency out of range), PV_EIO (the journal cannot be
 * opened, locked or read, or holds a malformed record), PV_ENOMEM,
 * PV_ECRYPTO (no randomness for ids). *out is NULL on every error.
 */
int pv_gateway_open(const char *name, struct pv_gateway **out);
int pv_gateway_open_with(const char *name, const struct pv_gateway_opts *o,
                         struct pv_gateway **out);

/* pv_gateway_close - takes gw; NULL is fine. */
void pv_gateway_close(struct pv_gateway *gw);

/*
 * Wrappers over gw->ops that clear the out-parameters first and refuse NULL
 * required arguments with PV_EINVAL; otherwise exactly the ops above.
 */
int pv_gateway_tokenize(struct pv_gateway *gw, const struct pv_card_input *card, int today_yyyymm,
                        char **token, struct pv_card_info *info, const char **field);
int pv_gateway_authorize(struct pv_gateway *gw, const char *source, pv_mills amount,
                         const char *idempotency_key, enum pv_pay_result *result, char **charge_id);
int pv_gateway_capture(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key);
int pv_gateway_void(struct pv_gateway *gw, const char *charge_id, const char *idempotency_key);
int pv_gateway_refund(struct pv_gateway *gw, const char *charge_id, pv_mills amount,
                      const char *idempotency_key, pv_mills *refunded_total);

/*
 * pv_gateway_submit - start call (borrowed until call->done; inputs set)
 * on gw (borrowed): through gw->ops->submit, or, when the backend has
 * none, synchronously on a thread of the fallback pool
 * (pv_gateway_sync_threads; without one, on this thread). done is always
 * called exactly once, with rc PV_EINVAL for a NULL gateway or a bad op.
 * Never blocks on the network when the backend implements submit or the
 * pool has a thread.
 */
void pv_gateway_submit(struct pv_gateway *gw, struct pv_gateway_call *call);

/*
 * pv_gateway_sync_threads - at most n (capped at PV_GATEWAY_SYNC_THREADS_MAX)
 * threads, process-wide, make the calls pv_gateway_submit is given for a
 * backend without submit, so that a synchronous driver keeps up to n calls
 * in flight. 0 (the default): each such call on the submitting thread.
 * The threads start as calls wait and stay for the process's life.
 */
#define PV_GATEWAY_SYNC_THREADS_MAX 512
void pv_gateway_sync_threads(size_t n);

/* pv_gateway_call_sync - make call (borrowed; inputs set) on gw now, on
 * this thread, filling its outputs; done is NOT called. For backends. */
void pv_gateway_call_sync(struct pv_gateway *gw, struct pv_gateway_call *call);

/*
 * pv_gateway_charge - authorize and, when approved, capture at once: the
 * one-step charge of gateway v1, for callers that hold nothing between the
 * two. The hold is under idempotency_key, the capture under the same key
 * with ":capture" appended (so the key may be at most
 * PV_GATEWAY_MAX_KEY - 8 bytes). Same arguments and errors as authorize,
 * plus capture's.
 */
int pv_gateway_charge(struct pv_gateway *gw, const char *source, pv_mills amount,
                      const char *idempotency_key, enum pv_pay_result *result, char **charge_id);

/*
 * pv_pay_result_parse - the result named code (borrowed; as
 * pv_pay_result_code names them) into *out: PV_OK or PV_EINVAL.
 */
int pv_pay_result_parse(const char *code, enum pv_pay_result *out);

/*
 * pv_pay_result_code - stable machine-readable name of a result: "approved",
 * "card_declined", "insufficient_funds", "incorrect_cvc",
 * "processing_error"; "unknown" for anything else. Static string.
 */
const char *pv_pay_result_code(enum pv_pay_result r);

#endif
