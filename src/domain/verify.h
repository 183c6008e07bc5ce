/*
 * verify.h - the verdict on an indicium's bytes.
 *
 * Online (pv_verify_online) is the vendor's own check behind POST /v1/verify:
 * decode, the key the indicium names among the vendor's keys in the store,
 * the signature, the license, the stored record of exactly this piece, how
 * often it was presented (counted for the postal authority under the writer
 * lock), and whether it is a test piece or was refunded.
 *
 * Offline (pv_verify_offline) needs nothing but published public keys (GET
 * /v1/keys, or one PEM key): decode, find the key, check the signature and,
 * when the key list carries the vendor CA (issue 14), the key's certificate:
 * its chain to the CA, its serial (= key_id), its validity period against
 * the mail date, and the CRL (certs.h has the rule). Nothing can be known
 * offline about issue or duplicates.
 *
 * Neither path knows anything of HTTP; the JSON answer is pv_verdict_json
 * (indicium_view.h).
 */
#ifndef STAMPD_VERIFY_H
#define STAMPD_VERIFY_H

#include "stampd/indicium.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define PV_VERIFY_ALGORITHM "ecdsa-p256-sha256"

/* One published public key. Strings are borrowed from the caller. */
struct pv_pubkey {
    uint32_t key_id;
    int64_t psd_id;         /* the PSD it signs for; -1 when not published */
    const char *algorithm;  /* NULL when not published (then PV_VERIFY_ALGORITHM) */
    const char *public_pem; /* NULL: listed without its key */
    const char *cert_pem;   /* its certificate from the vendor CA, or NULL */
};

/* The keys a verifier holds: a vendor's key list, or one key of unknown id. */
struct pv_keyset {
    const char *license; /* the list's license; NULL: keys[0] is one key for any key id */
    const struct pv_pubkey *keys;
    size_t n;
    /* The vendor CA certificate and its CRL (GET /v1/keys since issue 14), or
     * NULL: a key list or PEM key from before, checked by signature only. */
    const char *ca_pem;
    const char *crl_pem;
};

/* Why pv_keyset_find found no usable key. */
enum pv_key_miss {
    PV_KEY_FOUND = 0,
    PV_KEY_LICENSE = 1,   /* the keys are another license's */
    PV_KEY_NONE = 2,      /* no key with that key id (or listed without its key) */
    PV_KEY_ALGORITHM = 3, /* the key is for another algorithm */
};

/* The postal authority presenting a piece: who, and when and where it says
 * the piece was presented (strings borrowed). */
struct pv_presenter {
    const char *postal_id; /* the postal account */
    int64_t presented_at;  /* unix s; 0 = now */
    const char *location;  /* a facility id, or NULL / "" when not said */
};

/* A verdict. Strings are static. */
struct pv_verdict {
    struct pv_indicium ind; /* the decoded fields, when decoded */
    int decoded;
    int sig_ok;               /* the signature verifies under the vendor's key */
    int known;                /* online: this vendor issued exactly this piece */
    int test;                 /* a test piece (only said of a good signature) */
    int refunded;             /* online: a known piece whose postage was refunded */
    int valid;                /* online: valid postage; offline: the signature verifies */
    int64_t presented_before; /* online: presentations before this one */
    int64_t presentations;    /* online: presentations now (this one included when counted) */
    int counted;              /* online: this call counted a presentation */
    int first_known;          /* counted: first holds the piece's first presentation */
    struct pv_presentation_rec first;
    const char *reason; /* NULL, or why not valid: an API error code, "license_mismatch",
                           "not_issued", "test_piece", "refunded" */
    const char *status; /* "valid", "duplicate", "test", "refunded", "invalid" */
    /* Offline only. */
    const struct pv_pubkey *key; /* the key used (borrowed from the keyset), or NULL */
    int miss;                    /* enum pv_key_miss */
    /* Online and offline: why the key's certificate refuses the piece
     * (certificate_invalid, certificate_not_valid_on_mail_date,
     * key_revoked), in words; "" when it does not. */
    char cert_why[160];
};

/*
 * pv_keyset_find - the key of ks (borrowed) for ind: the first key whose
 * key id is ind's (a keyset without license: its only key). *out gets it
 * (borrowed) or NULL. Returns an enum pv_key_miss. The license is checked
 * first, then the key id, then the algorithm.
 */
int pv_keyset_find(const struct pv_keyset *ks, const struct pv_indicium *ind,
                   const struct pv_pubkey **out);

/*
 * pv_verify_offline - decode len borrowed bytes and check their signature
 * with the key of ks (borrowed) the indicium names. Fills *v (ind and
 * decoded, key and miss, sig_ok, test, valid = sig_ok and the certificate
 * checks). Returns PV_OK (the signature verifies and, with ks->ca_pem, the
 * certificate allows the piece), a decode error (PV_ETRUNCATED,
 * PV_ETRAILING, PV_EVERSION, PV_EALGORITHM, PV_EMALFORMED), PV_EUNKNOWNKEY
 * (v->miss says why), PV_ESIGNATURE, PV_ECRYPTO (the published key is not a
 * P-256 key), or with ks->ca_pem PV_ECERT (no certificate, or one that does
 * not chain to the CA, is for another key or serial, or a CRL not signed by
 * the CA), PV_ECERTDATE or PV_EREVOKED (v->cert_why says why).
 */
int pv_verify_offline(const uint8_t *data, size_t len, const struct pv_keyset *ks,
                      struct pv_verdict *v);

/*
 * pv_verify_online - the vendor's verdict on len borrowed bytes: the key in
 * st the indicium names, the signature, license (borrowed: the vendor's),
 * the stored record of this very piece and, when by (borrowed) is set (the
 * postal authority scans it) and the piece is of the scanner's mode test (0
 * live, 1 test; mode.h), one more presentation at now, recorded with by's
 * when and where, in a transaction of its own under the writer lock (a
 * piece is scanned or refunded, never both at once); v->first is then the
 * piece's first presentation. Anyone else (by NULL), and a scan of the
 * other mode's piece, only reads the count. Returns PV_OK with *v filled, a
 * decode error (pv_verify_input_error), or a store error.
 */
int pv_verify_online(struct pv_store *st, const char *license, const uint8_t *data, size_t len,
                     const struct pv_presenter *by, int test, int64_t now, struct pv_verdict *v);

/* pv_verify_input_error - 1 when rc says the indicium bytes are malformed. */
int pv_verify_input_error(int rc);

#endif
