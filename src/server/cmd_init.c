/*
 * cmd_init.c - provisioning a vendor's database: stampd init (license,
 * PSDs with their signing keys, the postal deposit, secrets, and with
 * --demo two demo accounts), stampd psd add (more PSDs whose keys another
 * crypto module makes: each processor leases only the PSDs bound to its own
 * module) and stampd migrate (an existing database to this binary's schema,
 * with what newer schemas need). --crypto SPEC chooses the module (the file
 * module in --keys-dir by default); a PKCS#11 token's PIN comes from
 * --crypto-pin-file or $STAMPD_CRYPTO_PIN (cmd_crypto.c); --ca-crypto SPEC
 * puts the vendor CA key in a module of its own, whose PIN comes from
 * --ca-pin-file or $STAMPD_CA_PIN (else the same PIN). The options and
 * the words are here; what a vendor is, domain/provision.c sets up.
 */
#include "server/cmd_init.h"

#include "crypto/crypto.h"
#include "domain/certs.h"
#include "domain/config.h"
#include "domain/provision.h"
#include "server/cmd.h"
#include "server/cmd_authority.h"
#include "server/cmd_crypto.h"
#include "stampd/card.h"
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

/* The demo accounts' password (stampd init --demo): a demo, not a secret. */
#define DEMO_PASSWORD "stampd-demo-password"

/* The crypto module spec: "openssl:<absolute keys dir>". */
static int keys_spec(const struct opts *o, char *spec, size_t n)
{
    char dir[PATH_MAX], abs[PATH_MAX];
    const char *path = pv_cmd_sqlite_path(o->db);

    if (o->keys_dir) {
        pv_str_copy(dir, sizeof dir, o->keys_dir);
    } else if (path) {
        char tmp[PATH_MAX];
        pv_str_copy(tmp, sizeof tmp, path);
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

/*
 * The demo accounts' password: STAMPD_PASSWORD when set (as for any account
 * the command line makes), else DEMO_PASSWORD.
 */
static const char *demo_password(void)
{
    const char *pw = getenv("STAMPD_PASSWORD");

    return pw && *pw ? pw : DEMO_PASSWORD;
}

/* A SQLite database's missing parent directories, mode 0700 (an operator's
 * `init` before the first start of the unit that would make StateDirectory). */
static int make_db_dirs(const char *path)
{
    char tmp[PATH_MAX], *p;

    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int) sizeof tmp)
        return PV_EINVAL;
    for (p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "stampd: cannot make the database's directory %s: %s\n", tmp,
                    strerror(errno));
            return PV_EIO;
        }
        *p = '/';
    }
    return PV_OK;
}

int pv_cmd_init(const struct opts *o)
{
    struct pv_store *st = NULL;
    struct pv_provision p;
    struct pv_provision_out made;
    char spec[PATH_MAX + 16], num[32], *existing = NULL, pin[PV_PIN_MAX + 1] = "";
    char capin[PV_PIN_MAX + 1] = "";
    uint64_t npsds = 4;
    int from, to, rc;

    memset(&p, 0, sizeof p);
    memset(&made, 0, sizeof made);
    p.deposit = 10000 * 1000;
    p.refill = 1000 * 1000;
    if (!pv_license_valid(o->license)) {
        fprintf(stderr, "stampd: --license must be 1-16 characters A-Z, 0-9 or '-'\n");
        return 2;
    }
    if ((o->psds && pv_parse_u64(o->psds, 1, PV_PROVISION_MAX_PSDS, &npsds) != PV_OK) ||
        (o->deposit && pv_money_parse(o->deposit, &p.deposit) != PV_OK) ||
        (o->refill && (pv_money_parse(o->refill, &p.refill) != PV_OK || p.refill <= 0))) {
        fprintf(stderr, "stampd: --psds must be 1-%d; --deposit and --refill dollar amounts\n",
                PV_PROVISION_MAX_PSDS);
        return 2;
    }
    if (pv_cmd_sqlite_path(o->db) && make_db_dirs(pv_cmd_sqlite_path(o->db)) != PV_OK)
        return 1;
    if ((rc = pv_store_open(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_migrate(st, &from, &to)) != PV_OK) {
        pv_cmd_fail("migrate", rc);
        goto out;
    }
    if (pv_provision_initialised(st, &existing) == PV_OK) {
        fprintf(stderr, "stampd: %s is already initialised (license %s)\n", pv_cmd_db_name(o->db),
                existing);
        rc = PV_EEXIST;
        goto out;
    }
    if (o->crypto && o->keys_dir) {
        fprintf(stderr,
                "stampd: --crypto and --keys-dir are two ways to say one thing: give one\n");
        rc = PV_ECONFIG;
        goto out;
    }
    if (o->crypto && strlen(o->crypto) >= sizeof spec) {
        rc = PV_ECONFIG;
        pv_cmd_fail("crypto module", rc);
        goto out;
    }
    if (o->crypto)
        pv_str_copy(spec, sizeof spec, o->crypto);
    else if ((rc = keys_spec(o, spec, sizeof spec)) != PV_OK) {
        pv_cmd_fail("crypto module", rc);
        goto out;
    }
    if ((rc = pv_cmd_crypto_pin(o, spec, pin, sizeof pin)) != PV_OK) {
        pv_cmd_fail("crypto module PIN", rc);
        goto out;
    }
    if (o->gateway && strcmp(o->gateway, "sandbox") != 0) {
        fprintf(stderr, "stampd: --gateway must be sandbox (the only backend so far)\n");
        rc = PV_ECONFIG;
        goto out;
    }
    p.license = o->license;
    p.psds = (uint32_t) npsds;
    p.crypto_spec = spec;
    p.crypto_pin = pin[0] ? pin : NULL;
    /* The vendor CA in a module of its own (--ca-crypto), with its own PIN. */
    if ((rc = pv_cmd_ca_pin(o, capin, sizeof capin)) != PV_OK) {
        pv_cmd_fail("vendor CA PIN", rc);
        goto out;
    }
    p.ca_spec = o->ca_crypto;
    p.ca_pin = capin[0] ? capin : p.crypto_pin;
    p.gateway = o->gateway;
    p.demo_password = o->demo ? demo_password() : NULL;
    if ((rc = pv_provision_init(st, &p, pv_now(), &made)) != PV_OK) {
        pv_cmd_fail("init", rc);
        goto out;
    }
    {
        int signer_made;
        /* The postal authority's reset signer, apart from the PSD keys. */
        rc = pv_cmd_authority_signer(o, st, &signer_made);
        if (rc == PV_ECONFIG) {
            fprintf(stderr, "stampd: resets are refused until stampd authority key makes the "
                            "signer\n");
        } else if (rc != PV_OK) {
            pv_cmd_fail("authority reset signer", rc);
            goto out;
        }
        rc = PV_OK;
    }
    fprintf(stderr, "stampd: initialised %s: license %s, %u PSDs, deposit $%s, schema v%d\n",
            pv_cmd_db_name(o->db), o->license, (unsigned) npsds,
            pv_money_format(p.deposit, num, sizeof num), to);
    if (o->demo) {
        printf("STAMP_KEY=%s\n", made.customer_key);
        printf("STAMP_OPERATOR_KEY=%s\n", made.operator_key);
        printf("STAMP_POSTAL_KEY=%s\n", made.postal_key);
        printf("STAMP_DEMO_PASSWORD=%s\n", DEMO_PASSWORD);
    }
out:
    pv_card_wipe(pin, sizeof pin);
    pv_card_wipe(capin, sizeof capin);
    pv_card_wipe(&made, sizeof made);
    free(existing);
    pv_store_close(st);
    return rc == PV_OK ? 0 : 1;
}

/* stampd migrate: bring an existing database to this binary's schema. */
int pv_cmd_migrate(const struct opts *o)
{
    struct pv_store *st = NULL;
    uint32_t added = 0;
    int from = 0, to = 0, removed = 0, rc;

    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    if ((rc = pv_store_migrate(st, &from, &to)) == PV_OK)
        rc = pv_provision_upgrade(st, pv_now(), &added, &removed);
    pv_store_close(st);
    if (added)
        fprintf(stderr, "stampd: added test PSD %u for test keys\n", (unsigned) added);
    if (removed)
        fprintf(stderr,
                "stampd: deleted the internal secret from the database: fronts and processors "
                "now take it from --internal-secret-file or STAMPD_INTERNAL_SECRET; make a new "
                "one with stampd secret generate (the old one is in every backup)\n");
    if (rc != PV_OK)
        return pv_cmd_fail("migrate", rc);
    fprintf(stderr, "stampd: schema v%d -> v%d\n", from, to);
    return 0;
}

int pv_cmd_psd_add(const struct opts *o)
{
    struct pv_store *st = NULL;
    struct pv_crypto *cm = NULL;
    char pin[PV_PIN_MAX + 1] = "", capin[PV_PIN_MAX + 1] = "", *spec = NULL;
    uint64_t n = 1;
    uint32_t first = 0, test_id = 0;
    struct pv_ca ca;
    int rc, have_ca = 0;

    memset(&ca, 0, sizeof ca);
    if (o->psds && pv_parse_u64(o->psds, 1, PV_PROVISION_MAX_PSDS, &n) != PV_OK) {
        fprintf(stderr, "stampd: --psds must be 1-%d\n", PV_PROVISION_MAX_PSDS);
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database (run stampd migrate after an upgrade)", rc);
    if (o->crypto)
        spec = strdup(o->crypto);
    else if ((rc = pv_store_config_get(st, PV_CFG_CRYPTO, &spec)) != PV_OK) {
        pv_cmd_fail("read crypto module (run stampd init first?)", rc);
        goto out;
    }
    if (!spec) {
        rc = PV_ENOMEM;
        goto out;
    }
    if ((rc = pv_cmd_ca_pin(o, capin, sizeof capin)) != PV_OK ||
        (rc = pv_cmd_crypto_pin(o, spec, pin, sizeof pin)) != PV_OK ||
        (rc = pv_crypto_open_pin(spec, pin[0] ? pin : NULL, &cm)) != PV_OK) {
        pv_cmd_fail("crypto module", rc);
        goto out;
    }
    /* The vendor CA certifies the new keys (its token's own PIN, else the
     * module's); a database from before it has none yet (stampd ca init
     * makes it and certifies every key). */
    rc = pv_ca_load(st, spec, cm, capin[0] ? capin : pin[0] ? pin : NULL, &ca);
    pv_card_wipe(pin, sizeof pin);
    pv_card_wipe(capin, sizeof capin);
    if (rc == PV_ENOTFOUND) {
        fprintf(stderr, "stampd: no vendor CA yet: the new keys get no certificate "
                        "(stampd ca init makes the CA and certifies them)\n");
    } else if (rc != PV_OK) {
        pv_cmd_fail("vendor CA module", rc);
        goto out;
    } else {
        have_ca = 1;
    }
    if ((rc = pv_provision_add_psds(st, cm, have_ca ? &ca : NULL, (uint32_t) n, pv_now(), &first,
                                    &test_id)) != PV_OK) {
        pv_cmd_fail("psd add", rc);
        goto out;
    }
    fprintf(stderr, "stampd: PSDs %u-%u bound to crypto module %s\n", (unsigned) first,
            (unsigned) (first + n - 1), cm->id);
    if (test_id)
        fprintf(stderr, "stampd: test PSD %u bound to it too\n", (unsigned) test_id);
out:
    pv_card_wipe(pin, sizeof pin);
    pv_card_wipe(capin, sizeof capin);
    pv_ca_clear(&ca);
    pv_crypto_close(cm);
    free(spec);
    pv_store_close(st);
    return rc == PV_OK ? 0 : 1;
}
