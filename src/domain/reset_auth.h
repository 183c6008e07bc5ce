/*
 * reset_auth.h - resets (PSD refills) authorised by the postal authority's
 * signature (issue 13, docs/authority.md "Resets").
 *
 * Each reset is authorised against the deposit by a record the authority's
 * side signs: ECDSA P-256 / SHA-256 over a canonical text (pv_reset_body)
 * of the license, the device, its registers before, the amount, the time and
 * a nonce (the reset's rfl_ id). The authority's signer is its own key,
 * not a PSD key: `stampd init` and `stampd authority key` make it in a file
 * module of its own directory and publish its public key
 * (GET /v1/authority/key). stampd reaches the signer through a table of
 * function pointers (struct pv_reset_signer_ops): the backend here is that
 * file module on the same host (development-grade; a real deployment calls
 * the authority's online resetting system instead). Every reset stores the
 * signature; pv_reset_verify and pv_reset_check_all prove them with the
 * public key alone.
 */
#ifndef STAMPD_DOMAIN_RESET_AUTH_H
#define STAMPD_DOMAIN_RESET_AUTH_H

#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* Config keys (the config table). */
#define PV_CFG_AUTH_SPEC  "authority_signer"     /* the signer's module, "openssl:/abs/dir" */
#define PV_CFG_AUTH_KEY   "authority_key_ref"    /* the key's reference in that module */
#define PV_CFG_AUTH_PUB   "authority_public_pem" /* its public key, PEM */
#define PV_CFG_AUTH_SINCE "authority_key_since"  /* unix seconds: resets from then on are signed */

#define PV_RESET_BODY_MAX 512

struct pv_reset_signer;

struct pv_reset_signer_ops {
    const char *name; /* "file" */
    /* authorise - sign body (borrowed, len bytes) as the authority: raw r||s into sig. */
    int (*authorise)(struct pv_reset_signer *s, const char *body, size_t len, uint8_t sig[64]);
    void (*close)(struct pv_reset_signer *s);
};

struct pv_reset_signer {
    const struct pv_reset_signer_ops *ops;
};

/*
 * pv_reset_body - the canonical text the authority signs for reset rf
 * (borrowed: psd_id, amount, the registers before, at, authorization as the
 * nonce) of the vendor with license (borrowed) into out (n bytes):
 *   "stampd-reset/1\nlicense=L\npsd=N\ndesc_before=D\nasc_before=A\n"
 *   "ctl_before=C\namount=M\nat=T\nnonce=rfl_...\n" (integers in mills and
 * unix seconds). Returns the length, or 0 when it does not fit.
 */
size_t pv_reset_body(const char *license, const struct pv_refill_rec *rf, char *out, size_t n);

/*
 * pv_authority_key_create - make the authority's reset signer: a new P-256
 * key in the file module spec (borrowed, "openssl:DIR"), its spec, key
 * reference, public key and the time now written to the config table in
 * one transaction. *public_pem (may be NULL) gets an owned copy (free()).
 * PV_EEXIST when st has a signer already; crypto and store errors.
 */
int pv_authority_key_create(struct pv_store *st, const char *spec, int64_t now, char **public_pem);

/*
 * pv_authority_public_key - the authority's public key PEM into *pem
 * (owned, free()). PV_ENOTFOUND when st has no signer; store errors.
 */
int pv_authority_public_key(struct pv_store *st, char **pem);

/*
 * pv_reset_signer_open - the signer configured in st, *out owned (close
 * with pv_reset_signer_close). PV_ENOTFOUND when none is configured; the
 * module's errors.
 */
int pv_reset_signer_open(struct pv_store *st, struct pv_reset_signer **out);
void pv_reset_signer_close(struct pv_reset_signer *s);

/*
 * pv_reset_authorise - obtain the authority's signature of rf (its
 * authority_sig gets the hex of r||s) from s (borrowed; NULL: none
 * configured). PV_ERESETAUTH when there is no signer or it refuses.
 */
int pv_reset_authorise(struct pv_reset_signer *s, const char *license, struct pv_refill_rec *rf);

/*
 * pv_reset_verify - PV_OK when rf's authority_sig is the authority's
 * signature (public_pem, borrowed) of rf's canonical text; PV_ESIGNATURE
 * otherwise (altered, forged or missing).
 */
int pv_reset_verify(const char *public_pem, const char *license, const struct pv_refill_rec *rf);

/* One reset that does not verify, for pv_reset_check_all. */
struct pv_reset_issue {
    uint32_t psd_id;
    char authorization[PV_ID_MAX];
    const char *why; /* static text */
};

struct pv_reset_report {
    size_t checked;         /* resets whose signature was checked */
    size_t unsigned_before; /* resets older than the signer (before schema v9): no signature */
    struct pv_reset_issue *issues; /* owned */
    size_t n;
};

/*
 * pv_reset_check_all - verify every reset of every PSD with the authority's
 * public key: a reset from before the signer existed without a signature is
 * counted as unsigned_before; any other without a good signature is an
 * issue. Returns PV_OK (check rep->n), PV_ENOTFOUND (no signer), or a store
 * error. Free rep with pv_reset_report_clear.
 */
int pv_reset_check_all(struct pv_store *st, struct pv_reset_report *rep);
void pv_reset_report_clear(struct pv_reset_report *rep);

#endif
