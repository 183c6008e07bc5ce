/*
 * cmd_init.c - provisioning a vendor's database: stampd init (license,
 * PSDs with their signing keys, the postal deposit, secrets, and with
 * --demo two demo accounts) and stampd migrate (an existing database to
 * this binary's schema, with what newer schemas need).
 */
#include "server/cmd_init.h"

#include "crypto/crypto.h"
#include "domain/ledger.h"
#include "domain/media.h"
#include "server/cmd.h"
#include "server/cmd_accounts.h"
#include "server/internal.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_PSDS 64
/* The demo accounts' password (stampd init --demo): a demo, not a secret. */
#define DEMO_PASSWORD "stampd-demo-password"

static int license_ok(const char *l)
{
    size_t i, n = l ? strlen(l) : 0;

    if (n == 0 || n > PV_LICENSE_LEN)
        return 0;
    for (i = 0; i < n; i++)
        if (!((l[i] >= 'A' && l[i] <= 'Z') || (l[i] >= '0' && l[i] <= '9') || l[i] == '-'))
            return 0;
    return 1;
}

/* The crypto module spec: "openssl:<absolute keys dir>". */
static int keys_spec(const struct opts *o, char *spec, size_t n)
{
    char dir[PATH_MAX], abs[PATH_MAX];
    const char *path = pv_cmd_sqlite_path(o->db);

    if (o->keys_dir) {
        snprintf(dir, sizeof dir, "%s", o->keys_dir);
    } else if (path) {
        char tmp[PATH_MAX];
        snprintf(tmp, sizeof tmp, "%s", path);
        snprintf(dir, sizeof dir, "%s/keys", dirname(tmp));
    } else {
        fprintf(stderr, "stampd: --keys-dir is required for this database\n");
        return PV_ECONFIG;
    }
    if ((mkdir(dir, 0700) != 0 && errno != EEXIST) || !realpath(dir, abs)) {
        fprintf(stderr, "stampd: keys directory %s: %s\n", dir, strerror(errno));
        return PV_EIO;
    }
    snprintf(spec, n, "openssl:%s", abs);
    return PV_OK;
}

/* Inside a transaction: the internal-protocol secret, unless there is one. */
static int ensure_secret(struct pv_store *st)
{
    uint8_t rnd[32];
    char hex[2 * sizeof rnd + 1], *v = NULL;
    int rc = pv_store_config_get(st, PV_CFG_INTERNAL_SECRET, &v);

    free(v);
    if (rc != PV_ENOTFOUND)
        return rc;
    if ((rc = pv_random(rnd, sizeof rnd)) != PV_OK)
        return rc;
    pv_hex_encode(rnd, sizeof rnd, hex);
    return pv_store_config_set(st, PV_CFG_INTERNAL_SECRET, hex);
}

/* A new signing key for PSD id (its key id is the same) into *k. */
static int make_key(struct pv_crypto *cm, uint32_t id, int test, struct pv_key_rec *k)
{
    char label[32], *ref = NULL, *pem = NULL;
    int rc;

    snprintf(label, sizeof label, test ? "psd-%u-test" : "psd-%u", (unsigned) id);
    if ((rc = pv_crypto_generate_key(cm, label, &ref, &pem)) != PV_OK)
        return pv_cmd_fail("generate key", rc), rc;
    memset(k, 0, sizeof *k);
    k->key_id = id;
    k->psd_id = id;
    snprintf(k->algorithm, sizeof k->algorithm, "ecdsa-p256-sha256");
    snprintf(k->module, sizeof k->module, "%s", cm->ops->name);
    if (strlen(ref) >= sizeof k->key_ref || strlen(pem) >= sizeof k->public_pem) {
        fprintf(stderr, "stampd: key reference too long: %s\n", ref);
        rc = PV_ECONFIG;
    } else {
        snprintf(k->key_ref, sizeof k->key_ref, "%s", ref);
        snprintf(k->public_pem, sizeof k->public_pem, "%s", pem);
        k->created = pv_now();
    }
    free(ref);
    free(pem);
    return rc;
}

/* After migrating to v4: a database from before test keys gets its test PSD. */
static int ensure_test_psd(struct pv_store *st)
{
    struct pv_psd_rec *psds = NULL, p;
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
    if ((rc = pv_store_config_get(st, "crypto_module", &spec)) != PV_OK) {
        rc = rc == PV_ENOTFOUND ? PV_OK : rc; /* not initialised: init makes it */
        goto out;
    }
    if ((rc = pv_crypto_open(spec, &cm)) != PV_OK || (rc = make_key(cm, next, 1, &k)) != PV_OK)
        goto out;
    memset(&p, 0, sizeof p);
    p.id = next;
    p.key_id = next;
    p.status = PV_PSD_ACTIVE;
    p.test = 1;
    if ((rc = pv_store_key_insert(st, &k)) == PV_OK && (rc = pv_store_psd_insert(st, &p)) == PV_OK)
        fprintf(stderr, "stampd: added test PSD %u for test keys\n", (unsigned) next);
out:
    pv_crypto_close(cm);
    free(spec);
    free(psds);
    free(keys);
    return rc;
}

int pv_cmd_init(const struct opts *o)
{
    struct pv_store *st = NULL;
    struct pv_crypto *cm = NULL;
    char spec[PATH_MAX + 16], num[32], *existing = NULL;
    char cid[PV_ID_MAX], ckey[64], oid[PV_ID_MAX], okey[64];
    pv_mills deposit = 10000 * 1000, refill = 1000 * 1000;
    uint64_t npsds = 4;
    struct pv_key_rec keys[MAX_PSDS + 1];
    int from, to, rc, in_txn = 0;
    uint64_t i;

    if (!license_ok(o->license)) {
        fprintf(stderr, "stampd: --license must be 1-16 characters A-Z, 0-9 or '-'\n");
        return 2;
    }
    if ((o->psds && pv_parse_u64(o->psds, 1, MAX_PSDS, &npsds) != PV_OK) ||
        (o->deposit && pv_money_parse(o->deposit, &deposit) != PV_OK) ||
        (o->refill && (pv_money_parse(o->refill, &refill) != PV_OK || refill <= 0))) {
        fprintf(stderr, "stampd: --psds must be 1-%d; --deposit and --refill dollar amounts\n",
                MAX_PSDS);
        return 2;
    }
    if ((rc = pv_store_open(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_migrate(st, &from, &to)) != PV_OK) {
        pv_cmd_fail("migrate", rc);
        goto out;
    }
    if (pv_store_config_get(st, PV_CFG_LICENSE, &existing) == PV_OK) {
        fprintf(stderr, "stampd: %s is already initialised (license %s)\n", pv_cmd_db_name(o->db),
                existing);
        rc = PV_EEXIST;
        goto out;
    }
    if ((rc = keys_spec(o, spec, sizeof spec)) != PV_OK ||
        (rc = pv_crypto_open(spec, &cm)) != PV_OK) {
        pv_cmd_fail("crypto module", rc);
        goto out;
    }
    if (o->gateway && strcmp(o->gateway, "sandbox") != 0) {
        fprintf(stderr, "stampd: --gateway must be sandbox (the only backend so far)\n");
        rc = PV_ECONFIG;
        goto out;
    }
    memset(keys, 0, sizeof keys);
    /* npsds live PSDs and one test PSD after them, each with its own key. */
    for (i = 0; i <= npsds; i++)
        if ((rc = make_key(cm, (uint32_t) (i + 1), i == npsds, &keys[i])) != PV_OK)
            goto out;

    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    in_txn = 1;
    snprintf(num, sizeof num, "%lld", (long long) refill);
    if ((rc = pv_store_config_set(st, PV_CFG_LICENSE, o->license)) != PV_OK ||
        (rc = pv_store_config_set(st, PV_CFG_REFILL, num)) != PV_OK ||
        (rc = pv_store_config_set(st, "crypto_module", spec)) != PV_OK ||
        (rc = ensure_secret(st)) != PV_OK ||
        (rc = pv_media_secret_ensure(st, pv_now(), NULL)) != PV_OK)
        goto out;
    for (i = 0; i <= npsds; i++) {
        struct pv_psd_rec p;
        memset(&p, 0, sizeof p);
        p.id = keys[i].psd_id;
        p.key_id = keys[i].key_id;
        p.status = PV_PSD_ACTIVE;
        p.test = i == npsds;
        if ((rc = pv_store_key_insert(st, &keys[i])) != PV_OK ||
            (rc = pv_store_psd_insert(st, &p)) != PV_OK)
            goto out;
    }
    if (deposit > 0) {
        struct pv_ledger_line lines[2];
        memset(lines, 0, sizeof lines);
        snprintf(lines[0].account, sizeof lines[0].account, "%s", PV_ACCT_AUTHORITY);
        lines[0].amount = -deposit;
        snprintf(lines[1].account, sizeof lines[1].account, "%s", PV_ACCT_DEPOSIT);
        lines[1].amount = deposit;
        if ((rc = pv_ledger_post(st, "postal_deposit", o->license, lines, 2, pv_now())) != PV_OK)
            goto out;
    }
    if (o->demo && ((rc = pv_cmd_create_customer(st, "demo@stampd.test", 100 * 1000, DEMO_PASSWORD,
                                                 cid, ckey)) != PV_OK ||
                    (rc = pv_cmd_create_operator(st, "operator@stampd.test", DEMO_PASSWORD, oid,
                                                 okey)) != PV_OK ||
                    (rc = pv_store_config_set(st, PV_CFG_GATEWAY, "sandbox")) != PV_OK))
        goto out;
    if (o->gateway && (rc = pv_store_config_set(st, PV_CFG_GATEWAY, o->gateway)) != PV_OK)
        goto out;
    if ((rc = pv_store_commit(st)) != PV_OK)
        goto out;
    in_txn = 0;

    fprintf(stderr, "stampd: initialised %s: license %s, %u PSDs, deposit $%s, schema v%d\n",
            pv_cmd_db_name(o->db), o->license, (unsigned) npsds,
            pv_money_format(deposit, num, sizeof num), to);
    if (o->demo) {
        printf("STAMP_KEY=%s\n", ckey);
        printf("STAMP_OPERATOR_KEY=%s\n", okey);
        printf("STAMP_DEMO_PASSWORD=%s\n", DEMO_PASSWORD);
    }
out:
    if (in_txn) {
        pv_store_rollback(st);
        pv_cmd_fail("init", rc);
    }
    free(existing);
    pv_crypto_close(cm);
    pv_store_close(st);
    return rc == PV_OK ? 0 : 1;
}

/* stampd migrate: bring an existing database to this binary's schema. */
int pv_cmd_migrate(const struct opts *o)
{
    struct pv_store *st = NULL;
    int from = 0, to = 0, rc;

    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_migrate(st, &from, &to)) == PV_OK && (rc = pv_store_begin(st)) == PV_OK) {
        rc = ensure_secret(st);
        if (rc == PV_OK)
            rc = ensure_test_psd(st);
        if (rc == PV_OK)
            rc = pv_media_secret_ensure(st, pv_now(), NULL);
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail("migrate", rc);
    fprintf(stderr, "stampd: schema v%d -> v%d\n", from, to);
    return 0;
}
