/*
 * certs.h - the vendor certificate authority and the certificates of PSD
 * keys (issue 14): make the CA in a crypto module, issue a certificate for
 * every PSD key, rotate a PSD's key, revoke a key and publish the CRL.
 *
 * The CA's private key lives in a crypto module like the PSD keys (the file
 * module by default, a PKCS#11 token in production): certificates and CRLs
 * are signed through the module's sign function (x509.h's signer). The
 * store keeps the CA's module spec, key reference, certificate and current
 * CRL as config rows (config.h) and each key's certificate in keys.cert_pem.
 *
 * A PSD key's certificate: subject O "Postage vendor LICENSE", CN "PSD N"
 * (N the device id), serial = the key id (the indicium's key_id), valid
 * from the start of the UTC day two days before the key was made (the
 * oldest mail date a processor signs: PV_MAIL_DATE_BEHIND and a day for
 * clocks; for a key certified later, e.g. by `stampd ca init` on an older
 * database, still counted from the day it was made) to
 * PV_PSD_CERT_DAYS days after the day it was issued,
 * keyUsage digitalSignature only, CA:FALSE. The rule verifiers apply
 * (docs/security.md): the mail date's UTC day must lie within the validity
 * period, and a key revoked at time T refuses every piece whose mail date is
 * on or after T's UTC day.
 */
#ifndef STAMPD_CERTS_H
#define STAMPD_CERTS_H

#include "crypto/crypto.h"
#include "stampd/rates.h"
#include "store/store.h"

#include <stdint.h>

#define PV_CA_CERT_DAYS  (20 * 365 + 5) /* the CA certificate */
#define PV_PSD_CERT_DAYS (5 * 365 + 1)  /* a PSD key's certificate */
#define PV_CRL_DAYS      366            /* a CRL's nextUpdate after its thisUpdate */
#define PV_DAY           86400
/* A key signs pieces mail-dated up to PV_MAIL_DATE_BEHIND days before the day
 * it signs them, and a processor allows a day more for clocks that differ
 * (purchase.c): a certificate's validity begins this many days before the day
 * the key was made, or the first pieces it signs would not verify. */
#define PV_CERT_BACKDATE_DAYS (PV_MAIL_DATE_BEHIND + 1)

/* The vendor CA opened for signing. Fields owned by the struct. */
struct pv_ca {
    struct pv_crypto *cm; /* the module with the CA key: owned when owns_cm */
    int owns_cm;
    char *spec;     /* the module's spec */
    char *key_ref;  /* the CA key in it */
    char *cert_pem; /* the CA certificate */
    char *public_pem;
    char license[32];
};

/* pv_ca_clear - release what ca holds (not a borrowed module). */
void pv_ca_clear(struct pv_ca *ca);

/*
 * pv_ca_make - a new CA key in cm (borrowed, opened from spec, borrowed) and
 * its self-signed certificate for license at now into *ca (cm borrowed).
 * Writes nothing to a store. PV_OK, PV_EINVAL, the module's errors.
 */
int pv_ca_make(struct pv_crypto *cm, const char *spec, const char *license, int64_t now,
               struct pv_ca *ca);

/*
 * pv_ca_save - inside the caller's transaction: ca's config rows and an
 * empty CRL (number 1) at now. PV_EEXIST when st has a CA already.
 */
int pv_ca_save(struct pv_store *st, const struct pv_ca *ca, int64_t now);

/*
 * pv_ca_load - the CA of st into *ca, its module opened: have (borrowed,
 * may be NULL) when have_spec (borrowed) is the CA's spec, else opened with
 * pin (borrowed, may be NULL). PV_ENOTFOUND when st has no CA (stampd ca
 * init), the module's errors.
 */
int pv_ca_load(struct pv_store *st, const char *have_spec, struct pv_crypto *have, const char *pin,
               struct pv_ca *ca);

/*
 * pv_ca_issue - the certificate of key k (its key_id, psd_id, public_pem)
 * signed by ca at now into k->cert_pem. PV_ECONFIG when it does not fit,
 * PV_EINVAL, the module's errors.
 */
int pv_ca_issue(const struct pv_ca *ca, struct pv_key_rec *k, int64_t now);

/*
 * pv_ca_init - pv_ca_make and pv_ca_save in one transaction, then a
 * certificate for every key that has none. *issued (may be NULL) gets how
 * many. PV_EEXIST when st has a CA; PV_ENOTFOUND when not initialised.
 */
int pv_ca_init(struct pv_store *st, struct pv_crypto *cm, const char *spec, int64_t now,
               uint32_t *issued);

/*
 * pv_ca_issue_missing - in one transaction: a certificate for every key of
 * st without one, and a fresh CRL. *issued (may be NULL) gets how many.
 */
int pv_ca_issue_missing(struct pv_store *st, const struct pv_ca *ca, int64_t now, uint32_t *issued);

/*
 * pv_ca_rotate - a new vendor CA: its key made in cm (borrowed; opened from
 * spec, borrowed: the current CA's module or another token), its
 * self-signed certificate, and a certificate from it for every key of st -
 * current, retired and revoked alike (the same serial, the key's days) - so
 * that the pieces of every generation verify against the new CA. In one
 * transaction: old (borrowed, the current CA, opened) signs its last CRL;
 * its certificate and that CRL are kept in PV_CFG_CA_PREVIOUS (published in
 * GET /v1/keys for certificates issued before); the new CA's rows, the
 * certificates, and the new CA's first CRL (every revocation so far) are
 * stored. The old CA key is never used again. *reissued (may be NULL) gets
 * how many certificates. PV_EBUSY when a key was added meanwhile (run it
 * again), PV_EINVAL, the module's and store errors.
 */
int pv_ca_rotate(struct pv_store *st, const struct pv_ca *old, struct pv_crypto *cm,
                 const char *spec, int64_t now, uint32_t *reissued);

/*
 * pv_key_rotate - a new key for PSD psd_id made in cm (borrowed; the module
 * the PSD is bound to) with its certificate from ca (borrowed, may be NULL:
 * then PV_ENOTFOUND - a rotated key without certificate is not made); in
 * one transaction the key is stored, becomes the PSD's, and the old one is
 * retired (still published, still verifies old pieces). A PSD suspended
 * because its key was revoked is active again. *key_id (may be NULL) gets
 * the new key id. PV_ENOTFOUND (no such PSD), PV_EKEYMODULE (the PSD is
 * bound to another module), the module's and store errors.
 */
int pv_key_rotate(struct pv_store *st, struct pv_crypto *cm, const struct pv_ca *ca,
                  uint32_t psd_id, int64_t now, uint32_t *key_id);

/*
 * pv_key_revoke - in one transaction: key key_id is revoked since since
 * (unix s, <= now; 0: now) for reason ("unspecified", "key_compromise",
 * "superseded", "cessation_of_operation"), the CRL is re-signed by ca
 * (borrowed), and a PSD that still signs with the key is suspended (it
 * never signs again; pv_key_rotate gives it a new key). PV_EINVAL (reason
 * or time), PV_ENOTFOUND (no such key), PV_EEXIST (revoked already).
 */
int pv_key_revoke(struct pv_store *st, const struct pv_ca *ca, uint32_t key_id, const char *reason,
                  int64_t since, int64_t now);

/*
 * pv_mail_date_check - the verification rule: PV_OK when a piece of mail
 * date mail_date (YYYYMMDD) may have been signed with a key whose
 * certificate is valid from not_before to not_after and which was revoked
 * at revoked_at (0: not revoked); PV_ECERTDATE or PV_EREVOKED. not_before
 * and not_after 0: not checked (a key without certificate).
 */
int pv_mail_date_check(uint32_t mail_date, int64_t not_before, int64_t not_after,
                       int64_t revoked_at);

#endif
