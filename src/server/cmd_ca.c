/*
 * cmd_ca.c - the vendor CA and the life of PSD keys on the command line:
 *
 *   stampd ca init --db DSN [--crypto SPEC]      the CA key in SPEC's module (the
 *                                                database's module by default), its
 *                                                certificate on stdout, and a
 *                                                certificate for every key without one
 *   stampd ca issue --db DSN                     certificates for keys without one, a
 *                                                fresh CRL
 *   stampd ca rotate --db DSN [--crypto SPEC]    a new CA key (in SPEC's module, default
 *                                                the CA's), every key certified by it;
 *                                                the old CA's last CRL kept and published
 *   stampd psd rotate-key ID --db DSN           a new key and certificate for the PSD
 *                                                (ID or --psd ID)
 *   stampd key revoke --db DSN --key-id N [--reason R] [--since TIME]
 *   stampd psd revoke-key ID --db DSN [--reason R] [--since TIME] (its current key)
 *
 * A PKCS#11 token's PIN comes from --crypto-pin-file or $STAMPD_CRYPTO_PIN,
 * the vendor CA's token's (when the CA has a token and PIN of its own) from
 * --ca-pin-file or $STAMPD_CA_PIN (cmd_crypto.c). What the CA does is domain/certs.c's; the words
 * are here.
 */
#include "server/cmd_ca.h"

#include "crypto/crypto.h"
#include "domain/authority.h"
#include "domain/certs.h"
#include "domain/config.h"
#include "server/cmd_crypto.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What every verb needs: the store, and a module when spec_key says which
 * config row names it (NULL: none). */
struct ca_env {
    struct pv_store *st;
    struct pv_crypto *cm;
    char *spec;
    char pin[PV_PIN_MAX + 1];
    char capin[PV_PIN_MAX + 1]; /* the CA's token PIN when it has its own, else "" */
};

/* The PIN that opens the vendor CA's module: its own, else the module's. */
static const char *ca_pin(const struct ca_env *e)
{
    return e->capin[0] ? e->capin : e->pin[0] ? e->pin : NULL;
}

static void env_close(struct ca_env *e)
{
    pv_card_wipe(e->pin, sizeof e->pin);
    pv_card_wipe(e->capin, sizeof e->capin);
    pv_crypto_close(e->cm);
    free(e->spec);
    pv_store_close(e->st);
}

/* Open the store, and the module of --crypto or the config row cfg. */
static int env_open(const struct opts *o, const char *cfg, int open_module, struct ca_env *e)
{
    int rc;

    memset(e, 0, sizeof *e);
    if (!pv_cmd_db_exists(o->db))
        return PV_ENOTFOUND;
    if ((rc = pv_store_open_checked(o->db, &e->st)) != PV_OK)
        return pv_cmd_fail("open database (run stampd migrate after an upgrade)", rc), rc;
    if (o->crypto)
        e->spec = strdup(o->crypto);
    else if ((rc = pv_store_config_get(e->st, cfg, &e->spec)) != PV_OK)
        return pv_cmd_fail(strcmp(cfg, PV_CFG_CA_MODULE) == 0 ? "no vendor CA (stampd ca init)"
                                                              : "read crypto module",
                           rc),
               rc;
    if (!e->spec)
        return pv_cmd_fail("crypto module", PV_ENOMEM), PV_ENOMEM;
    if ((rc = pv_cmd_ca_pin(o, e->capin, sizeof e->capin)) != PV_OK)
        return pv_cmd_fail("vendor CA PIN", rc), rc;
    /* Only the CA's module to open, and its PIN given: no other PIN needed. */
    if (!open_module && e->capin[0] && !o->crypto_pin_file)
        return PV_OK;
    if ((rc = pv_cmd_crypto_pin(o, e->spec, e->pin, sizeof e->pin)) != PV_OK ||
        (open_module &&
         (rc = pv_crypto_open_pin(e->spec, e->pin[0] ? e->pin : NULL, &e->cm)) != PV_OK))
        return pv_cmd_fail("crypto module", rc), rc;
    return PV_OK;
}

static int ca_init(const struct opts *o)
{
    struct ca_env e;
    uint32_t issued = 0;
    char *cert = NULL;
    int rc;

    if ((rc = env_open(o, PV_CFG_CRYPTO, 1, &e)) != PV_OK)
        goto out;
    if ((rc = pv_ca_init(e.st, e.cm, e.spec, pv_now(), &issued)) != PV_OK) {
        if (rc == PV_EEXIST)
            fprintf(stderr, "stampd: this database has a vendor CA already\n");
        pv_cmd_fail("ca init", rc);
        goto out;
    }
    if ((rc = pv_store_config_get(e.st, PV_CFG_CA_CERT, &cert)) != PV_OK)
        goto out;
    fprintf(stderr, "stampd: vendor CA made in crypto module %s; %u key certificates issued\n",
            e.cm->id, (unsigned) issued);
    fputs(cert, stdout);
out:
    free(cert);
    env_close(&e);
    return rc == PV_OK ? 0 : 1;
}

static int ca_issue(const struct opts *o)
{
    struct ca_env e;
    struct pv_ca ca;
    uint32_t issued = 0;
    int rc;

    memset(&ca, 0, sizeof ca);
    if ((rc = env_open(o, PV_CFG_CA_MODULE, 0, &e)) != PV_OK)
        goto out;
    if ((rc = pv_ca_load(e.st, NULL, NULL, ca_pin(&e), &ca)) != PV_OK) {
        pv_cmd_fail("vendor CA", rc);
        goto out;
    }
    if ((rc = pv_ca_issue_missing(e.st, &ca, pv_now(), &issued)) != PV_OK) {
        pv_cmd_fail("ca issue", rc);
        goto out;
    }
    fprintf(stderr, "stampd: %u key certificates issued; the CRL is signed anew\n",
            (unsigned) issued);
out:
    pv_ca_clear(&ca);
    env_close(&e);
    return rc == PV_OK ? 0 : 1;
}

/* stampd ca rotate: a new CA in --crypto's module (default: the current CA's);
 * its PIN from --crypto-pin-file, the current CA's from --ca-pin-file (default:
 * the same PIN). */
static int ca_rotate(const struct opts *o)
{
    struct ca_env e;
    struct pv_ca ca;
    uint32_t reissued = 0;
    char *cert = NULL;
    int rc;

    memset(&ca, 0, sizeof ca);
    if ((rc = env_open(o, PV_CFG_CA_MODULE, 1, &e)) != PV_OK)
        goto out;
    if ((rc = pv_ca_load(e.st, e.spec, e.cm, ca_pin(&e), &ca)) != PV_OK) {
        pv_cmd_fail(rc == PV_ENOTFOUND ? "vendor CA (stampd ca init first)" : "vendor CA", rc);
        goto out;
    }
    if ((rc = pv_ca_rotate(e.st, &ca, e.cm, e.spec, pv_now(), &reissued)) != PV_OK) {
        if (rc == PV_EBUSY)
            fprintf(stderr, "stampd: a key was added meanwhile; run stampd ca rotate again\n");
        pv_cmd_fail("ca rotate", rc);
        goto out;
    }
    if ((rc = pv_store_config_get(e.st, PV_CFG_CA_CERT, &cert)) != PV_OK)
        goto out;
    fprintf(stderr,
            "stampd: new vendor CA made in crypto module %s; %u key certificates issued by it; "
            "the old CA signed its last CRL and stays published in GET /v1/keys "
            "(previous_cas) for certificates it issued\n",
            e.cm->id, (unsigned) reissued);
    fputs(cert, stdout);
out:
    free(cert);
    pv_ca_clear(&ca);
    env_close(&e);
    return rc == PV_OK ? 0 : 1;
}

static int rotate_key(const struct opts *o)
{
    struct ca_env e;
    struct pv_ca ca;
    uint64_t psd = 0;
    uint32_t key_id = 0;
    int rc;

    memset(&ca, 0, sizeof ca);
    if (!o->psd || pv_parse_u64(o->psd, 1, UINT32_MAX, &psd) != PV_OK) {
        fprintf(stderr, "stampd: psd rotate-key needs a PSD id: stampd psd rotate-key ID\n");
        return 2;
    }
    if ((rc = env_open(o, PV_CFG_CRYPTO, 1, &e)) != PV_OK)
        goto out;
    if ((rc = pv_ca_load(e.st, e.spec, e.cm, ca_pin(&e), &ca)) != PV_OK) {
        pv_cmd_fail(rc == PV_ENOTFOUND ? "vendor CA (stampd ca init first)" : "vendor CA", rc);
        goto out;
    }
    if ((rc = pv_key_rotate(e.st, e.cm, &ca, (uint32_t) psd, pv_now(), &key_id)) != PV_OK) {
        if (rc == PV_EKEYMODULE)
            fprintf(stderr,
                    "stampd: PSD %llu is bound to another crypto module than %s "
                    "(give its --crypto SPEC)\n",
                    (unsigned long long) psd, e.cm->id);
        pv_cmd_fail("psd rotate-key", rc);
        goto out;
    }
    fprintf(stderr,
            "stampd: PSD %llu signs with key %u now; the old key is retired (still published "
            "for verifying older pieces)\n",
            (unsigned long long) psd, (unsigned) key_id);
    printf("key_id=%u\n", (unsigned) key_id);
out:
    pv_ca_clear(&ca);
    env_close(&e);
    return rc == PV_OK ? 0 : 1;
}

static int key_revoke(const struct opts *o)
{
    struct ca_env e;
    struct pv_ca ca;
    uint64_t key_id = 0, psd = 0;
    int64_t since = 0, now = pv_now();
    const char *reason = o->reason ? o->reason : "unspecified";
    struct pv_psd_rec rec;
    int rc;

    memset(&ca, 0, sizeof ca);
    /* stampd key revoke --key-id N, or stampd psd revoke-key --psd ID (its current key). */
    if (o->psd ? (o->key_id || pv_parse_u64(o->psd, 1, UINT32_MAX, &psd) != PV_OK)
               : (!o->key_id || pv_parse_u64(o->key_id, 0, UINT32_MAX, &key_id) != PV_OK)) {
        fprintf(stderr,
                "stampd: key revoke needs --key-id N (the indicium's key_id); "
                "psd revoke-key needs a PSD id: stampd psd revoke-key ID (its current key)\n");
        return 2;
    }
    if (strcmp(reason, "compromised") == 0)
        reason = "key_compromise";
    if (o->since && (pv_time_parse_utc(o->since, &since) != PV_OK || since > now || since <= 0)) {
        fprintf(stderr, "stampd: --since must be a past UTC time \"2026-11-22T09:30:00Z\"\n");
        return 2;
    }
    if (strcmp(reason, "unspecified") != 0 && strcmp(reason, "key_compromise") != 0 &&
        strcmp(reason, "superseded") != 0 && strcmp(reason, "cessation_of_operation") != 0) {
        fprintf(stderr, "stampd: --reason must be unspecified, key_compromise, superseded or "
                        "cessation_of_operation\n");
        return 2;
    }
    if ((rc = env_open(o, PV_CFG_CA_MODULE, 0, &e)) != PV_OK)
        goto out;
    if (psd) {
        if ((rc = pv_store_psd_get(e.st, (uint32_t) psd, &rec)) != PV_OK) {
            pv_cmd_fail(rc == PV_ENOTFOUND ? "no such PSD" : "PSD", rc);
            goto out;
        }
        key_id = rec.key_id;
    }
    if ((rc = pv_ca_load(e.st, NULL, NULL, ca_pin(&e), &ca)) != PV_OK) {
        pv_cmd_fail(rc == PV_ENOTFOUND ? "vendor CA (stampd ca init first)" : "vendor CA", rc);
        goto out;
    }
    if ((rc = pv_key_revoke(e.st, &ca, (uint32_t) key_id, reason, since, now)) != PV_OK) {
        if (rc == PV_EEXIST)
            fprintf(stderr, "stampd: key %llu is revoked already\n", (unsigned long long) key_id);
        pv_cmd_fail("key revoke", rc);
        goto out;
    }
    fprintf(stderr,
            "stampd: key %llu revoked (%s); pieces with a mail date on or after %s are refused; "
            "a PSD that signed with it is suspended until stampd psd rotate-key\n",
            (unsigned long long) key_id, reason, o->since ? o->since : "today");
out:
    pv_ca_clear(&ca);
    env_close(&e);
    return rc == PV_OK ? 0 : 1;
}

int pv_cmd_ca(const struct opts *o, const char *group, const char *verb)
{
    if (strcmp(group, "ca") == 0)
        return strcmp(verb, "init") == 0     ? ca_init(o)
               : strcmp(verb, "rotate") == 0 ? ca_rotate(o)
                                             : ca_issue(o);
    if (strcmp(group, "psd") == 0)
        return strcmp(verb, "rotate-key") == 0 ? rotate_key(o) : key_revoke(o);
    return key_revoke(o);
}
