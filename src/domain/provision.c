/*
 * provision.c - a new vendor in one transaction, and the vendor data a
 * migration adds (provision.h).
 */
#include "domain/provision.h"

#include "crypto/crypto.h"
#include "crypto/primitives.h"
#include "domain/account.h"
#include "domain/authority.h"
#include "domain/certs.h"
#include "domain/lease.h"
#include "domain/ledger.h"
#include "domain/lifecycle.h"
#include "domain/media.h"
#include "domain/purchase.h"
#include "stampd/codec.h"
#include "stampd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_license_valid(const char *l)
{
    size_t i, n = l ? strlen(l) : 0;

    if (n == 0 || n > PV_LICENSE_LEN)
        return 0;
    for (i = 0; i < n; i++)
        if (!((l[i] >= 'A' && l[i] <= 'Z') || (l[i] >= '0' && l[i] <= '9') || l[i] == '-'))
            return 0;
    return 1;
}

int pv_provision_initialised(struct pv_store *st, char **license)
{
    char *v = NULL;
    int rc = pv_store_config_get(st, PV_CFG_LICENSE, &v);

    if (license)
        *license = rc == PV_OK ? v : NULL;
    else
        free(v);
    return rc;
}

/* A new signing key in cm for PSD id (its key id is the same) into *k. */
static int make_key(struct pv_crypto *cm, uint32_t id, int test, int64_t now, struct pv_key_rec *k)
{
    char label[32], *ref = NULL, *pem = NULL;
    int rc;

    snprintf(label, sizeof label, test ? "psd-%u-test" : "psd-%u", (unsigned) id);
    if ((rc = pv_crypto_generate_key(cm, label, &ref, &pem)) != PV_OK)
        return rc;
    memset(k, 0, sizeof *k);
    k->key_id = id;
    k->psd_id = id;
    snprintf(k->algorithm, sizeof k->algorithm, "ecdsa-p256-sha256");
    pv_str_copy(k->module, sizeof k->module, cm->ops->name);
    pv_str_copy(k->module_id, sizeof k->module_id, cm->id); /* the PSD's binding */
    if (strlen(ref) >= sizeof k->key_ref || strlen(pem) >= sizeof k->public_pem) {
        rc = PV_ECONFIG;
    } else {
        pv_str_copy(k->key_ref, sizeof k->key_ref, ref);
        pv_str_copy(k->public_pem, sizeof k->public_pem, pem);
        k->created = now;
    }
    free(ref);
    free(pem);
    return rc;
}

/* Inside a transaction: the key k and its PSD (active, test or live). */
static int insert_psd(struct pv_store *st, const struct pv_key_rec *k, int test)
{
    struct pv_psd_rec p;
    int rc;

    memset(&p, 0, sizeof p);
    p.id = k->psd_id;
    p.key_id = k->key_id;
    p.status = PV_PSD_ACTIVE;
    p.test = test;
    if ((rc = pv_store_key_insert(st, k)) != PV_OK || (rc = pv_store_psd_insert(st, &p)) != PV_OK)
        return rc;
    /* The first entry of its history (lifecycle.h): added, registers at zero. */
    return pv_psd_event_write(st, &p, "added", PV_ACTOR_OPERATOR, "cli", "", p.status, NULL,
                              k->created);
}

/* Inside a transaction: the deposit the postal authority paid in. */
static int post_deposit(struct pv_store *st, const char *license, pv_mills deposit, int64_t now)
{
    struct pv_ledger_line lines[2];

    if (deposit == 0)
        return PV_OK;
    memset(lines, 0, sizeof lines);
    pv_str_copy(lines[0].account, sizeof lines[0].account, PV_ACCT_AUTHORITY);
    lines[0].amount = -deposit;
    pv_str_copy(lines[1].account, sizeof lines[1].account, PV_ACCT_DEPOSIT);
    lines[1].amount = deposit;
    return pv_ledger_post(st, "postal_deposit", license, lines, 2, now);
}

/* Inside a transaction: the demo accounts, and card payments through the sandbox. */
static int demo(struct pv_store *st, const char *password, int64_t now,
                struct pv_provision_out *out)
{
    int rc;

    if ((rc = pv_account_create_customer(st, PV_DEMO_CUSTOMER_EMAIL, PV_DEMO_BALANCE, password, now,
                                         out->customer_id, out->customer_key)) != PV_OK ||
        (rc = pv_account_create_operator(st, PV_DEMO_OPERATOR_EMAIL, password, now,
                                         out->operator_id, out->operator_key)) != PV_OK ||
        (rc = pv_authority_create_in(st, PV_DEMO_POSTAL_NAME, now, out->postal_id,
                                     out->postal_key)) != PV_OK ||
        (rc = pv_account_password_in(st, PV_ROLE_POSTAL, out->postal_id, password)) != PV_OK)
        return rc;
    return pv_store_config_set(st, PV_CFG_GATEWAY, "sandbox");
}

/* The one transaction of an init: keys[0..n) are the live PSDs' then the test PSD's. */
static int write_vendor(struct pv_store *st, const struct pv_provision *p, const struct pv_ca *ca,
                        const struct pv_key_rec *keys, size_t n, int64_t now,
                        struct pv_provision_out *out)
{
    char num[32];
    size_t i;
    int rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    snprintf(num, sizeof num, "%lld", (long long) p->refill);
    if ((rc = pv_store_config_set(st, PV_CFG_LICENSE, p->license)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_REFILL, num)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_CRYPTO, p->crypto_spec)) != PV_OK ||
        (rc = pv_media_secret_ensure(st, now, NULL)) != PV_OK ||
        (rc = pv_ca_save(st, ca, now)) != PV_OK)
        goto out;
    for (i = 0; i < n; i++)
        if ((rc = insert_psd(st, &keys[i], i == n - 1)) != PV_OK)
            goto out;
    if ((rc = post_deposit(st, p->license, p->deposit, now)) != PV_OK)
        goto out;
    if (p->demo_password && (rc = demo(st, p->demo_password, now, out)) != PV_OK)
        goto out;
    if (p->gateway && (rc = pv_store_config_set(st, PV_CFG_GATEWAY, p->gateway)) != PV_OK)
        goto out;
    rc = pv_store_commit(st);
out:
    if (rc != PV_OK)
        pv_store_rollback(st);
    return rc;
}

int pv_provision_init(struct pv_store *st, const struct pv_provision *p, int64_t now,
                      struct pv_provision_out *out)
{
    struct pv_provision_out scratch;
    struct pv_crypto *cm = NULL, *cacm = NULL;
    struct pv_key_rec *keys = NULL;
    struct pv_ca ca;
    uint32_t i;
    int rc;

    memset(&ca, 0, sizeof ca);
    if (!out)
        out = &scratch;
    memset(out, 0, sizeof *out);
    if (!pv_license_valid(p->license) || p->psds < 1 || p->psds > PV_PROVISION_MAX_PSDS ||
        p->deposit < 0 || p->deposit > PV_MILLS_MAX || p->refill <= 0 || p->refill > PV_MILLS_MAX ||
        !p->crypto_spec)
        return PV_EINVAL;
    if ((rc = pv_provision_initialised(st, NULL)) != PV_ENOTFOUND)
        return rc == PV_OK ? PV_EEXIST : rc;
    if (p->gateway && strcmp(p->gateway, "sandbox") != 0)
        return PV_ECONFIG;
    if ((rc = pv_crypto_open_pin(p->crypto_spec, p->crypto_pin, &cm)) != PV_OK)
        return rc;
    if (!(keys = calloc((size_t) p->psds + 1, sizeof *keys))) {
        rc = PV_ENOMEM;
        goto out;
    }
    /* The live PSDs and one test PSD after them, each with its own key. */
    for (i = 0; i <= p->psds; i++)
        if ((rc = make_key(cm, i + 1, i == p->psds, now, &keys[i])) != PV_OK)
            goto out;
    /* The vendor CA in the same module or a module of its own (a token no
     * processor uses), and a certificate for every key. */
    if (p->ca_spec && strcmp(p->ca_spec, p->crypto_spec) != 0) {
        if ((rc = pv_crypto_open_pin(p->ca_spec, p->ca_pin, &cacm)) != PV_OK)
            goto out;
        rc = pv_ca_make(cacm, p->ca_spec, p->license, now, &ca);
    } else {
        rc = pv_ca_make(cm, p->crypto_spec, p->license, now, &ca);
    }
    if (rc != PV_OK)
        goto out;
    for (i = 0; i <= p->psds; i++)
        if ((rc = pv_ca_issue(&ca, &keys[i], now)) != PV_OK)
            goto out;
    rc = write_vendor(st, p, &ca, keys, (size_t) p->psds + 1, now, out);
out:
    pv_ca_clear(&ca);
    pv_crypto_close(cacm);
    if (rc != PV_OK)
        pv_card_wipe(out, sizeof *out);
    if (out == &scratch)
        pv_card_wipe(&scratch, sizeof scratch);
    free(keys);
    pv_crypto_close(cm);
    return rc;
}

int pv_provision_add_psds(struct pv_store *st, struct pv_crypto *cm, const struct pv_ca *ca,
                          uint32_t n, int64_t now, uint32_t *first, uint32_t *test_id)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL, *made = NULL;
    size_t np = 0, nk = 0, i, j, nmade;
    uint32_t next = 1;
    int rc, need_test = 1;

    if (first)
        *first = 0;
    if (test_id)
        *test_id = 0;
    if (!st || !cm || n < 1 || n > PV_PROVISION_MAX_PSDS)
        return PV_EINVAL;
    if ((rc = pv_provision_initialised(st, NULL)) != PV_OK)
        return rc;
    if ((rc = pv_store_psd_list(st, &psds, &np)) != PV_OK ||
        (rc = pv_store_key_list(st, &keys, &nk)) != PV_OK)
        goto out;
    for (i = 0; i < np; i++) {
        if (psds[i].id >= next)
            next = psds[i].id + 1;
        for (j = 0; psds[i].test && psds[i].status == PV_PSD_ACTIVE && j < nk; j++)
            if (keys[j].key_id == psds[i].key_id && pv_key_bound(&keys[j], cm))
                need_test = 0;
    }
    for (i = 0; i < nk; i++)
        if (keys[i].key_id >= next)
            next = keys[i].key_id + 1;
    if (next > UINT32_MAX - n - 1) {
        rc = PV_EINVAL;
        goto out;
    }
    nmade = (size_t) n + (size_t) need_test;
    if (!(made = calloc(nmade, sizeof *made))) {
        rc = PV_ENOMEM;
        goto out;
    }
    for (i = 0; i < nmade; i++)
        if ((rc = make_key(cm, next + (uint32_t) i, i == n, now, &made[i])) != PV_OK ||
            (ca && (rc = pv_ca_issue(ca, &made[i], now)) != PV_OK))
            goto out;
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    for (i = 0; i < nmade && rc == PV_OK; i++)
        rc = insert_psd(st, &made[i], i == n);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    if (rc == PV_OK && first)
        *first = next;
    if (rc == PV_OK && test_id && need_test)
        *test_id = next + n;
out:
    free(made);
    free(psds);
    free(keys);
    return rc;
}

/* Inside a transaction: a test PSD for a database from before test keys. */
static int ensure_test_psd(struct pv_store *st, int64_t now, uint32_t *added)
{
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL, k;
    struct pv_crypto *cm = NULL;
    size_t n = 0, nk = 0, i;
    uint32_t next = 1;
    char *spec = NULL;
    int rc;

    if ((rc = pv_store_psd_list(st, &psds, &n)) != PV_OK ||
        (rc = pv_store_key_list(st, &keys, &nk)) != PV_OK)
        goto out;
    for (i = 0; i < n; i++) {
        if (psds[i].test)
            goto out; /* there is one */
        if (psds[i].id >= next)
            next = psds[i].id + 1;
    }
    for (i = 0; i < nk; i++)
        if (keys[i].key_id >= next)
            next = keys[i].key_id + 1;
    if ((rc = pv_store_config_get(st, PV_CFG_CRYPTO, &spec)) != PV_OK) {
        rc = rc == PV_ENOTFOUND ? PV_OK : rc; /* not initialised: init makes it */
        goto out;
    }
    if ((rc = pv_crypto_open(spec, &cm)) != PV_OK || (rc = make_key(cm, next, 1, now, &k)) != PV_OK)
        goto out;
    if ((rc = insert_psd(st, &k, 1)) == PV_OK)
        *added = next;
out:
    pv_crypto_close(cm);
    free(spec);
    free(psds);
    free(keys);
    return rc;
}

int pv_provision_upgrade(struct pv_store *st, int64_t now, uint32_t *test_psd, int *secret_removed)
{
    uint32_t added = 0;
    int removed = 0, rc;

    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    /* The front-processor secret is no longer the database's to keep. */
    rc = pv_store_config_delete(st, PV_CFG_OLD_INTERNAL_SECRET);
    if (rc == PV_OK)
        removed = 1;
    if (rc == PV_ENOTFOUND)
        rc = PV_OK;
    if (rc == PV_OK)
        rc = ensure_test_psd(st, now, &added);
    if (rc == PV_OK)
        rc = pv_media_secret_ensure(st, now, NULL);
    rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    if (test_psd)
        *test_psd = rc == PV_OK ? added : 0;
    if (secret_removed)
        *secret_removed = rc == PV_OK ? removed : 0;
    return rc;
}
