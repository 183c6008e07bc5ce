/*
 * provision.h - setting a vendor up (`stampd init`) and bringing an older
 * database's vendor data up to date after a migration (`stampd migrate`).
 *
 * A vendor is: its postal license number, the refill policy, the crypto
 * module that holds its PSD keys, one signing key per PSD (N live PSDs and
 * a test PSD after them, each key id equal to its PSD id), the postal
 * deposit the authority paid in, the first media serial secret, the vendor CA
 * in the same crypto module with a certificate for every PSD key (certs.h), and optionally live
 * card payments through a gateway and demo accounts. Keys are generated in the module first (they
 * cannot be taken back into a transaction); everything the store keeps is then written in one
 * transaction, so a failed init leaves no half-made vendor.
 */
#ifndef STAMPD_PROVISION_H
#define STAMPD_PROVISION_H

#include "crypto/crypto.h"
#include "domain/certs.h"
#include "domain/config.h"
#include "store/store.h"

#include <stdint.h>

#define PV_PROVISION_MAX_PSDS 64
/* The demo accounts of `stampd init --demo`. */
#define PV_DEMO_CUSTOMER_EMAIL "demo@stampd.test"
#define PV_DEMO_OPERATOR_EMAIL "operator@stampd.test"
#define PV_DEMO_BALANCE        ((pv_mills) 100 * 1000)
#define PV_DEMO_POSTAL_NAME    "Demo postal authority"

/* What to set up; strings borrowed. */
struct pv_provision {
    const char *license;       /* 1-16 characters A-Z, 0-9, '-' */
    uint32_t psds;             /* live PSDs, 1..PV_PROVISION_MAX_PSDS */
    pv_mills deposit;          /* the postal deposit paid in, >= 0 */
    pv_mills refill;           /* the refill policy, > 0 */
    const char *crypto_spec;   /* the module for the PSD keys ("openssl:/abs/dir") */
    const char *crypto_pin;    /* a PKCS#11 token's PIN, or NULL */
    const char *ca_spec;       /* the module for the vendor CA key; NULL: crypto_spec's */
    const char *ca_pin;        /* its token's PIN when it has its own, or NULL */
    const char *gateway;       /* live card payments: NULL (none) or "sandbox" */
    const char *demo_password; /* not NULL: demo customer and operator with this password,
                                  and the sandbox for live card payments */
};

/* The demo accounts made; "" without demo_password. Wipe the keys when shown. */
struct pv_provision_out {
    char customer_id[PV_ID_MAX];
    char customer_key[64];
    char operator_id[PV_ID_MAX];
    char operator_key[64];
    char postal_id[PV_ID_MAX]; /* the demo postal authority (API key only) */
    char postal_key[64];
};

/* pv_license_valid - 1 when l (borrowed, may be NULL) is a license number. */
int pv_license_valid(const char *l);

/*
 * pv_provision_initialised - PV_OK when st has a vendor already, with its
 * license into *license (owned, free(); may be NULL), PV_ENOTFOUND when not,
 * or a store error.
 */
int pv_provision_initialised(struct pv_store *st, char **license);

/*
 * pv_provision_init - set the vendor p (borrowed) up in the migrated,
 * uninitialised store st at now (see the file comment); *out (may be NULL)
 * gets the demo accounts. Returns PV_OK; PV_EINVAL (license, PSD count,
 * deposit or refill out of range); PV_EEXIST (initialised already);
 * PV_ECONFIG (unknown gateway, or a key reference too long to store);
 * the crypto module's errors; store errors.
 */
int pv_provision_init(struct pv_store *st, const struct pv_provision *p, int64_t now,
                      struct pv_provision_out *out);

/*
 * pv_provision_add_psds - n more live PSDs (1..PV_PROVISION_MAX_PSDS) for an
 * initialised vendor, their keys made in cm (borrowed, open) and so bound to
 * it, and a test PSD when none is bound to cm yet (test purchases need one
 * on each module). Each key gets its certificate from ca (borrowed; NULL:
 * none yet, `stampd ca issue` gives it later). Ids follow every PSD and key id. The keys are made
 * first, then everything is written in one transaction. *first (may be NULL) gets the first new id,
 * *test_id (may be NULL) the test PSD's or 0. Returns PV_OK; PV_EINVAL (n); PV_ENOTFOUND (not
 * initialised); PV_ECONFIG (a key reference too long to store); the module's errors; store errors.
 */
int pv_provision_add_psds(struct pv_store *st, struct pv_crypto *cm, const struct pv_ca *ca,
                          uint32_t n, int64_t now, uint32_t *first, uint32_t *test_id);

/*
 * pv_provision_upgrade - after a migration, in one transaction: delete the
 * front-processor secret an older stampd kept in the config table (it lives
 * on each host now), the first media serial secret, and a test PSD with its
 * key for a database from before test keys (id: one past every PSD and
 * key id; nothing when the store has no crypto module yet: init makes it).
 * *test_psd (may be NULL) gets the id of a test PSD added now, else 0;
 * *secret_removed (may be NULL) 1 when an old secret was deleted, else 0.
 * Returns PV_OK, the crypto module's errors, or store errors.
 */
int pv_provision_upgrade(struct pv_store *st, int64_t now, uint32_t *test_psd, int *secret_removed);

#endif
