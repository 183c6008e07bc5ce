/*
 * main.c - the `stampd` command: init, customer/operator create, serve.
 *
 *   stampd init --db DSN --license NUMBER [--psds N] [--deposit DOLLARS]
 *               [--refill DOLLARS] [--keys-dir DIR] [--gateway sandbox] [--demo]
 *   stampd customer create --db DSN --email EMAIL [--balance DOLLARS]
 *   stampd operator create --db DSN --email EMAIL
 *   stampd serve --db DSN [--listen HOST:PORT] [--processors N] [--threads N]
 *   stampd media rotate-secret --db DSN
 */
#include "server/http.h"
#include "server/pool.h"
#include "server/processor.h"
#include "server/ratelimit.h"
#include "server/router.h"

#include "domain/ledger.h"
#include "domain/password.h"
#include "domain/media.h"
#include "render/render.h"
#include "stampd/card.h"
#include "server/h_auth.h"
#include "server/internal.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PSDS       64
#define MAX_PROCESSORS 16
/* The demo accounts' password (stampd init --demo): a demo, not a secret. */
#define DEMO_PASSWORD "stampd-demo-password"

struct opts {
    const char *db, *license, *psds, *deposit, *refill, *keys_dir, *email, *balance, *listen;
    const char *processors, *threads, *id, *advertise, *lease_ms;
    const char *gateway, *lockout, *refund_days, *trusted_proxy;
    int demo;
};

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  stampd init --db DSN --license NUMBER [--psds N] [--deposit DOLLARS]\n"
          "              [--refill DOLLARS] [--keys-dir DIR] [--gateway sandbox] [--demo]\n"
          "  stampd customer create --db DSN --email EMAIL [--balance DOLLARS]\n"
          "  stampd operator create --db DSN --email EMAIL\n"
          "  stampd (customer | operator) set-password --db DSN --email EMAIL\n"
          "  stampd serve --db DSN [--listen HOST:PORT] [--processors N] [--threads N]\n"
          "               [--lockout SECONDS] [--refund-window-days N] [--trusted-proxy IP]\n"
          "  stampd front --db DSN [--listen HOST:PORT] [--threads N]\n"
          "  stampd processor --db DSN [--listen HOST:PORT] [--id NAME] [--advertise URL]\n"
          "                   [--lease-ms N]\n"
          "  stampd migrate --db DSN\n"
          "  stampd media rotate-secret --db DSN\n"
          "  stampd ledger check --db DSN\n"
          "\n"
          "DSN is sqlite:PATH (or a plain path). Defaults: --psds 4, --deposit 10000,\n"
          "--refill 1000, --listen 127.0.0.1:8080, --processors 2, --threads 4,\n"
          "--lockout 900, --refund-window-days 30. customer/operator create take the\n"
          "account's web password from STAMPD_PASSWORD when it is set.\n",
          f);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "stampd: %s: %s (%s)\n", what, pv_strerror(rc), pv_error_code(rc));
    return 1;
}

static int parse_opts(int argc, char **argv, int start, struct opts *o)
{
    static const struct {
        const char *name;
        size_t off;
    } table[] = {
        {"--db", offsetof(struct opts, db)},
        {"--license", offsetof(struct opts, license)},
        {"--psds", offsetof(struct opts, psds)},
        {"--deposit", offsetof(struct opts, deposit)},
        {"--refill", offsetof(struct opts, refill)},
        {"--keys-dir", offsetof(struct opts, keys_dir)},
        {"--email", offsetof(struct opts, email)},
        {"--balance", offsetof(struct opts, balance)},
        {"--listen", offsetof(struct opts, listen)},
        {"--processors", offsetof(struct opts, processors)},
        {"--threads", offsetof(struct opts, threads)},
        {"--id", offsetof(struct opts, id)},
        {"--advertise", offsetof(struct opts, advertise)},
        {"--lease-ms", offsetof(struct opts, lease_ms)},
        {"--gateway", offsetof(struct opts, gateway)},
        {"--lockout", offsetof(struct opts, lockout)},
        {"--refund-window-days", offsetof(struct opts, refund_days)},
        {"--trusted-proxy", offsetof(struct opts, trusted_proxy)},
    };
    int i;
    size_t k;

    memset(o, 0, sizeof *o);
    for (i = start; i < argc; i++) {
        const char *a = argv[i], *eq = strchr(a, '=');
        size_t nlen = eq ? (size_t) (eq - a) : strlen(a);
        if (strcmp(a, "--demo") == 0) {
            o->demo = 1;
            continue;
        }
        for (k = 0; k < sizeof table / sizeof table[0]; k++)
            if (strlen(table[k].name) == nlen && strncmp(a, table[k].name, nlen) == 0)
                break;
        if (k == sizeof table / sizeof table[0]) {
            fprintf(stderr, "stampd: unknown option %s\n", a);
            return -1;
        }
        if (!eq && i + 1 >= argc) {
            fprintf(stderr, "stampd: %s needs a value\n", a);
            return -1;
        }
        *(const char **) ((char *) o + table[k].off) = eq ? eq + 1 : argv[++i];
    }
    if (!o->db) {
        fprintf(stderr, "stampd: --db DSN is required\n");
        return -1;
    }
    return 0;
}

/* A new live API key; only its hash is stored (pv_auth_new_key). */
static int new_api_key(struct pv_store *st, int role, const char *owner, char key[64])
{
    struct pv_apikey_rec rec;

    return pv_auth_new_key(st, role, owner, 0, "created by stampd", key, &rec);
}

/* The password in STAMPD_PASSWORD, if set, for a new account (hashed). */
static int set_password_env(struct pv_store *st, int role, const char *id, const char *fallback)
{
    const char *pw = getenv("STAMPD_PASSWORD");
    char hash[PV_PWHASH_MAX];
    int rc;

    if (!pw || !*pw)
        pw = fallback;
    if (!pw)
        return PV_OK;
    if ((rc = pv_password_hash(pw, hash)) != PV_OK)
        return rc;
    return pv_store_password_set(st, role, id, hash);
}

static int grant_balance(struct pv_store *st, const char *customer_id, pv_mills amount)
{
    struct pv_ledger_line lines[2];

    if (amount == 0)
        return PV_OK;
    memset(lines, 0, sizeof lines);
    snprintf(lines[0].account, sizeof lines[0].account, "%s", PV_ACCT_FUNDING);
    lines[0].amount = -amount;
    pv_account_customer(customer_id, lines[1].account);
    lines[1].amount = amount;
    return pv_ledger_post(st, "balance_grant", customer_id, lines, 2, pv_now());
}

/* Inside a transaction: a customer with an opening balance and a key. */
static int create_customer(struct pv_store *st, const char *email, pv_mills balance,
                           const char *password, char id[PV_ID_MAX], char key[64])
{
    struct pv_customer_rec c;
    int rc;

    memset(&c, 0, sizeof c);
    if ((rc = pv_new_id("cus", c.id)) != PV_OK)
        return rc;
    snprintf(c.email, sizeof c.email, "%s", email);
    c.created = pv_now();
    if ((rc = pv_store_customer_insert(st, &c)) != PV_OK ||
        (rc = grant_balance(st, c.id, balance)) != PV_OK ||
        (rc = set_password_env(st, PV_ROLE_CUSTOMER, c.id, password)) != PV_OK ||
        (rc = new_api_key(st, PV_ROLE_CUSTOMER, c.id, key)) != PV_OK)
        return rc;
    memcpy(id, c.id, PV_ID_MAX);
    return PV_OK;
}

static int create_operator(struct pv_store *st, const char *email, const char *password,
                           char id[PV_ID_MAX], char key[64])
{
    int rc;

    if ((rc = pv_new_id("op", id)) != PV_OK ||
        (rc = pv_store_operator_insert(st, id, email, pv_now())) != PV_OK ||
        (rc = set_password_env(st, PV_ROLE_OPERATOR, id, password)) != PV_OK)
        return rc;
    return new_api_key(st, PV_ROLE_OPERATOR, id, key);
}

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

static const char *sqlite_path(const char *dsn)
{
    if (strncmp(dsn, "sqlite:", 7) == 0)
        return dsn + 7;
    return strstr(dsn, "://") ? NULL : dsn;
}

/* The crypto module spec: "openssl:<absolute keys dir>". */
static int keys_spec(const struct opts *o, char *spec, size_t n)
{
    char dir[PATH_MAX], abs[PATH_MAX];
    const char *path = sqlite_path(o->db);

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

static int db_exists(const char *dsn);
static const char *sqlite_path(const char *dsn);

/* A DSN fit for a log line: a PostgreSQL DSN may hold a password. */
static const char *db_name(const char *dsn)
{
    return sqlite_path(dsn) ? dsn : "the PostgreSQL database";
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

/* stampd ledger check: prove the books; exit 1 when something does not add up. */
static int cmd_ledger_check(const struct opts *o)
{
    static const char *const kinds[] = {"", "journal does not balance", "account != its lines",
                                        "PSD account != descending register",
                                        "total does not add up"};
    struct pv_ledger_report rep;
    struct pv_store *st = NULL;
    char a[32], b[32];
    size_t i;
    int rc;

    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return fail("open database", rc);
    rc = pv_ledger_check(st, &rep);
    pv_store_close(st);
    if (rc != PV_OK)
        return fail("ledger check", rc);
    for (i = 0; i < rep.n; i++)
        printf("%s: %s: recorded %s, computed %s\n", kinds[rep.issues[i].kind % 5],
               rep.issues[i].name, pv_money_format(rep.issues[i].recorded, a, sizeof a),
               pv_money_format(rep.issues[i].computed, b, sizeof b));
    printf("%lld journals, %lld accounts: %s\n", (long long) rep.journals, (long long) rep.accounts,
           rep.n ? "THE BOOKS DO NOT BALANCE" : "every journal balances");
    rc = rep.n ? 1 : 0;
    pv_ledger_report_clear(&rep);
    return rc;
}

static int ensure_test_psd(struct pv_store *st);
/* stampd media rotate-secret: a new media serial secret becomes current;
 * media made under the older ones keep verifying. */
static int cmd_rotate_secret(const struct opts *o)
{
    struct pv_store *st = NULL;
    uint32_t key_id = 0;
    int rc;

    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return fail("open database", rc);
    if ((rc = pv_store_begin(st)) == PV_OK) {
        rc = pv_media_secret_create(st, pv_now(), &key_id);
        rc = rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
    }
    pv_store_close(st);
    if (rc == PV_EOVERFLOW) {
        fprintf(stderr, "stampd: all 16 media key ids are taken\n");
        return 1;
    }
    if (rc != PV_OK)
        return fail("rotate media secret", rc);
    fprintf(stderr,
            "stampd: media serial key %u is current; running servers pick it up "
            "within 10 seconds\n",
            (unsigned) key_id);
    printf("key_id=%u\n", (unsigned) key_id);
    return 0;
}

/* stampd migrate: bring an existing database to this binary's schema. */
static int cmd_migrate(const struct opts *o)
{
    struct pv_store *st = NULL;
    int from = 0, to = 0, rc;

    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open(o->db, &st)) != PV_OK)
        return fail("open database", rc);
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
        return fail("migrate", rc);
    fprintf(stderr, "stampd: schema v%d -> v%d\n", from, to);
    return 0;
}

/* A new signing key for PSD id (its key id is the same) into *k. */
static int make_key(struct pv_crypto *cm, uint32_t id, int test, struct pv_key_rec *k)
{
    char label[32], *ref = NULL, *pem = NULL;
    int rc;

    snprintf(label, sizeof label, test ? "psd-%u-test" : "psd-%u", (unsigned) id);
    if ((rc = pv_crypto_generate_key(cm, label, &ref, &pem)) != PV_OK)
        return fail("generate key", rc), rc;
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

static int cmd_init(const struct opts *o)
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
        return fail("open database", rc);
    if ((rc = pv_store_migrate(st, &from, &to)) != PV_OK) {
        fail("migrate", rc);
        goto out;
    }
    if (pv_store_config_get(st, PV_CFG_LICENSE, &existing) == PV_OK) {
        fprintf(stderr, "stampd: %s is already initialised (license %s)\n", db_name(o->db),
                existing);
        rc = PV_EEXIST;
        goto out;
    }
    if ((rc = keys_spec(o, spec, sizeof spec)) != PV_OK ||
        (rc = pv_crypto_open(spec, &cm)) != PV_OK) {
        fail("crypto module", rc);
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
    if (o->demo &&
        ((rc = create_customer(st, "demo@stampd.test", 100 * 1000, DEMO_PASSWORD, cid, ckey)) !=
             PV_OK ||
         (rc = create_operator(st, "operator@stampd.test", DEMO_PASSWORD, oid, okey)) != PV_OK ||
         (rc = pv_store_config_set(st, PV_CFG_GATEWAY, "sandbox")) != PV_OK))
        goto out;
    if (o->gateway && (rc = pv_store_config_set(st, PV_CFG_GATEWAY, o->gateway)) != PV_OK)
        goto out;
    if ((rc = pv_store_commit(st)) != PV_OK)
        goto out;
    in_txn = 0;

    fprintf(stderr, "stampd: initialised %s: license %s, %u PSDs, deposit $%s, schema v%d\n",
            db_name(o->db), o->license, (unsigned) npsds, pv_money_format(deposit, num, sizeof num),
            to);
    if (o->demo) {
        printf("STAMP_KEY=%s\n", ckey);
        printf("STAMP_OPERATOR_KEY=%s\n", okey);
        printf("STAMP_DEMO_PASSWORD=%s\n", DEMO_PASSWORD);
    }
out:
    if (in_txn) {
        pv_store_rollback(st);
        fail("init", rc);
    }
    free(existing);
    pv_crypto_close(cm);
    pv_store_close(st);
    return rc == PV_OK ? 0 : 1;
}

/* Only init creates a database: elsewhere a mistyped path is an error, not a new file. */
static int db_exists(const char *dsn)
{
    const char *path = sqlite_path(dsn);

    if (path && access(path, F_OK) != 0) {
        fprintf(stderr, "stampd: no database at %s (run stampd init first)\n", path);
        return 0;
    }
    return 1;
}

static int cmd_create(const struct opts *o, int customer)
{
    struct pv_store *st = NULL;
    char id[PV_ID_MAX], key[64];
    pv_mills balance = 0;
    int rc;

    if (!pv_auth_email_ok(o->email)) {
        fprintf(stderr, "stampd: --email must be an email address\n");
        return 2;
    }
    if (o->balance && (!customer || pv_money_parse(o->balance, &balance) != PV_OK)) {
        fprintf(stderr, "stampd: --balance must be a dollar amount (customers only)\n");
        return 2;
    }
    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return fail("open database", rc);
    if ((rc = pv_store_begin(st)) == PV_OK) {
        rc = customer ? create_customer(st, o->email, balance, NULL, id, key)
                      : create_operator(st, o->email, NULL, id, key);
        if (rc == PV_OK)
            rc = pv_store_commit(st);
        else
            pv_store_rollback(st);
    }
    pv_store_close(st);
    if (rc != PV_OK)
        return fail(rc == PV_EEXIST ? "email already registered" : "create", rc);
    fprintf(stderr, "stampd: created %s %s (%s)\n", customer ? "customer" : "operator", id,
            o->email);
    printf("%s=%s\n", customer ? "STAMP_KEY" : "STAMP_OPERATOR_KEY", key);
    return 0;
}

static int parse_listen(const char *s, char host[64], uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    uint64_t p;

    if (!colon || (size_t) (colon - s) >= 64 || colon == s)
        return PV_EINVAL;
    memcpy(host, s, (size_t) (colon - s));
    host[colon - s] = '\0';
    if (pv_parse_u64(colon + 1, 0, 65535, &p) != PV_OK)
        return PV_EINVAL;
    *port = (uint16_t) p;
    return PV_OK;
}

enum run_mode { RUN_SERVE, RUN_FRONT, RUN_PROCESSOR };

/* stampd customer|operator set-password: a web password for an account made
 * without one (before schema v4, or without STAMPD_PASSWORD), or a reset. */
static int cmd_set_password(const struct opts *o, int customer)
{
    struct pv_credential cred;
    struct pv_store *st = NULL;
    const char *pw = getenv("STAMPD_PASSWORD");
    char line[512], hash[PV_PWHASH_MAX];
    int role = customer ? PV_ROLE_CUSTOMER : PV_ROLE_OPERATOR, rc;

    if (!o->email) {
        fprintf(stderr, "stampd: --email is required\n");
        return 2;
    }
    if (!pw || !*pw) {
        if (!fgets(line, sizeof line, stdin)) {
            fprintf(stderr, "stampd: the password comes from STAMPD_PASSWORD or standard input\n");
            return 2;
        }
        line[strcspn(line, "\r\n")] = '\0';
        pw = line;
    }
    rc = pv_password_hash(pw, hash);
    pv_card_wipe(line, sizeof line);
    if (rc == PV_EPASSWORD) {
        fprintf(stderr, "stampd: the password must be %d to %d characters\n", PV_PASSWORD_MIN,
                PV_PASSWORD_MAX);
        return 2;
    }
    if (rc != PV_OK)
        return fail("hash password", rc);
    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return fail("open database", rc);
    if ((rc = pv_store_credential_get(st, role, o->email, &cred)) == PV_OK)
        rc = pv_store_password_set(st, role, cred.owner_id, hash);
    pv_store_close(st);
    if (rc != PV_OK)
        return fail(rc == PV_ENOTFOUND ? "no such account" : "set password", rc);
    fprintf(stderr, "stampd: password set for %s %s (%s)\n", customer ? "customer" : "operator",
            cred.owner_id, o->email);
    return 0;
}

static int start_procs(const struct opts *o, struct pv_app *app, uint64_t n, const char *address,
                       uint64_t lease_ms)
{
    struct pv_processor_opts popts;
    int rc;

    memset(&popts, 0, sizeof popts);
    popts.dsn = o->db;
    popts.n = (size_t) n;
    popts.id = o->id;
    popts.address = address;
    popts.lease_ms = (int64_t) lease_ms;
    popts.gws = &app->gws;
    if ((rc = pv_processors_start(&popts, &app->procs)) != PV_OK)
        return fail("start processors", rc);
    app->nprocs = (size_t) n;
    return PV_OK;
}

/* The vendor's internal-protocol secret, made by init or migrate. */
static int load_secret(const char *db, char *out, size_t n)
{
    struct pv_store *st = NULL;
    char *v = NULL;
    int rc;

    if ((rc = pv_store_open_checked(db, &st)) != PV_OK)
        return rc;
    rc = pv_store_config_get(st, PV_CFG_INTERNAL_SECRET, &v);
    pv_store_close(st);
    if (rc == PV_ENOTFOUND)
        fprintf(stderr, "stampd: no internal secret in the database (run stampd migrate)\n");
    if (rc == PV_OK)
        snprintf(out, n, "%s", v);
    free(v);
    return rc;
}

/*
 * stampd serve: the API and N processors in one process.
 * stampd front: the API; purchases go to processor processes (router.c).
 * stampd processor: one processor answering signed internal requests.
 */
static int cmd_run(const struct opts *o, enum run_mode mode)
{
    struct pv_app app;
    struct pv_processor_opts popts;
    struct pv_store *st = NULL;
    struct pv_http *http = NULL;
    char host[64], address[128], *license = NULL;
    uint64_t nproc = mode == RUN_PROCESSOR ? 1 : 2, threads = 4, lease_ms = 0;
    uint64_t lockout = 900, refund_days = 30;
    char *gateway = NULL;
    uint16_t port = 8080, bound = 0;
    sigset_t set;
    int sig, rc;

    if (parse_listen(o->listen ? o->listen : "127.0.0.1:8080", host, &port) != PV_OK ||
        (o->processors &&
         (mode != RUN_SERVE || pv_parse_u64(o->processors, 1, MAX_PROCESSORS, &nproc) != PV_OK)) ||
        (o->threads && pv_parse_u64(o->threads, 1, 256, &threads) != PV_OK) ||
        (o->lease_ms && pv_parse_u64(o->lease_ms, 200, 600000, &lease_ms) != PV_OK) ||
        (o->lockout && pv_parse_u64(o->lockout, 1, 86400, &lockout) != PV_OK) ||
        (o->refund_days && pv_parse_u64(o->refund_days, 0, 365, &refund_days) != PV_OK) ||
        (o->id && (mode != RUN_PROCESSOR || !o->id[0] || strlen(o->id) >= 32)) ||
        (o->advertise && (mode != RUN_PROCESSOR || strncmp(o->advertise, "http://", 7) != 0 ||
                          strlen(o->advertise) >= 200))) {
        fprintf(stderr,
                "stampd: --listen HOST:PORT, --processors 1-%d (serve), --threads "
                "1-256, --lease-ms 200-600000, --lockout 1-86400 (seconds), "
                "--refund-window-days 0-365, --id NAME and --advertise http://HOST:PORT "
                "(processor)\n",
                MAX_PROCESSORS);
        return 2;
    }
    /* Signals are taken by sigwait() below; every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&app, 0, sizeof app);
    memset(&popts, 0, sizeof popts);
    if (!db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return fail("open database (run stampd init, or stampd migrate after an upgrade)", rc);
    rc = pv_store_config_get(st, PV_CFG_LICENSE, &license);
    if (rc == PV_OK && pv_store_config_get(st, PV_CFG_GATEWAY, &gateway) != PV_OK)
        gateway = NULL; /* no live card payments */
    if (rc == PV_OK && (rc = pv_media_keyring_init(&app.media, st, PV_MEDIA_RELOAD_MS)) != PV_OK) {
        pv_store_close(st);
        free(license);
        free(gateway);
        return fail("media serial secrets", rc);
    }
    pv_store_close(st);
    if (rc != PV_OK)
        return fail("read license (run stampd init first?)", rc);
    snprintf(app.license, sizeof app.license, "%s", license);
    free(license);
    if (mode != RUN_SERVE && (rc = load_secret(o->db, app.secret, sizeof app.secret)) != PV_OK)
        return fail("internal secret", rc);
    app.internal = mode == RUN_PROCESSOR;
    app.refund_window_s = (int64_t) refund_days * 86400;
    if (o->trusted_proxy) {
        if (!o->trusted_proxy[0] || strlen(o->trusted_proxy) >= sizeof app.trusted_proxy) {
            fprintf(stderr, "stampd: --trusted-proxy takes the proxy's IP address\n");
            return 2;
        }
        snprintf(app.trusted_proxy, sizeof app.trusted_proxy, "%s", o->trusted_proxy);
    }
    /* Test keys always pay through the sandbox; live keys through the
     * configured gateway, or not by card at all. */
    rc = pv_gateway_open("sandbox", &app.gws.test);
    if (rc == PV_OK && gateway)
        rc = pv_gateway_open(gateway, &app.gws.live);
    free(gateway);
    if (rc == PV_OK)
        rc = pv_ratelimit_new((int64_t) lockout, &app.limits);
    if (rc != PV_OK) {
        fail("payment gateway", rc);
        goto out;
    }

    if ((rc = pv_pool_new(o->db, (size_t) threads + 2, &app.pool)) != PV_OK) {
        fail("store pool", rc);
        goto out;
    }
    if (mode == RUN_FRONT && (rc = pv_router_start(o->db, app.secret, 16, &app.router)) != PV_OK) {
        fail("router", rc);
        goto out;
    }
    if (mode == RUN_SERVE && (rc = start_procs(o, &app, nproc, "inproc", lease_ms)) != PV_OK)
        goto out;
    if ((rc = pv_http_start(&app, host, port, (unsigned) threads, &http, &bound)) != PV_OK) {
        char what[96];
        snprintf(what, sizeof what, "listen on %s:%u (in use?)", host, (unsigned) port);
        fail(what, rc);
        goto out;
    }
    /* A processor registers the address it really listens on. */
    snprintf(address, sizeof address, "http://%s:%u", host, (unsigned) bound);
    if (mode == RUN_PROCESSOR &&
        (rc = start_procs(o, &app, 1, o->advertise ? o->advertise : address, lease_ms)) != PV_OK)
        goto out;
    if (mode == RUN_SERVE)
        fprintf(stderr, "stampd: license %s, %u processors\n", app.license, (unsigned) nproc);
    else if (mode == RUN_FRONT)
        fprintf(stderr, "stampd: front, license %s, processors from the servers table\n",
                app.license);
    else
        fprintf(stderr, "stampd: processor %s, license %s\n", pv_processor_id(app.procs, 0),
                app.license);
    fprintf(stderr, "listening on %s\n", address);
    fflush(stderr);

    while (sigwait(&set, &sig) != 0)
        ;
    fprintf(stderr, "stampd: signal %d, shutting down\n", sig);
out:
    /* Stop taking connections, let the processors (or the router) finish and
     * answer every queued purchase, then close the rest. */
    pv_http_quiesce(http);
    pv_processors_drain(app.procs, app.nprocs);
    pv_router_stop(app.router);
    app.router = NULL;
    pv_http_stop(http);
    pv_processors_stop(app.procs, app.nprocs);
    pv_render_shutdown();
    pv_pool_free(app.pool);
    pv_gateway_close(app.gws.live);
    pv_gateway_close(app.gws.test);
    pv_ratelimit_free(app.limits);
    pv_media_keyring_clear(&app.media);
    return rc == PV_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
    struct opts o;

    /* The database holds customers' emails and key hashes; keys are 0600 anyway. */
    umask(077);

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "init") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return cmd_init(&o);
    }
    if (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "front") == 0 ||
        strcmp(argv[1], "processor") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return cmd_run(&o, argv[1][0] == 's'   ? RUN_SERVE
                           : argv[1][0] == 'f' ? RUN_FRONT
                                               : RUN_PROCESSOR);
    }
    if (strcmp(argv[1], "ledger") == 0 && argc > 2 && strcmp(argv[2], "check") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return cmd_ledger_check(&o);
    }
    if (strcmp(argv[1], "media") == 0 && argc > 2 && strcmp(argv[2], "rotate-secret") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return cmd_rotate_secret(&o);
    }
    if (strcmp(argv[1], "migrate") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return cmd_migrate(&o);
    }
    if ((strcmp(argv[1], "customer") == 0 || strcmp(argv[1], "operator") == 0) && argc > 2 &&
        strcmp(argv[2], "create") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return cmd_create(&o, argv[1][0] == 'c');
    }
    if ((strcmp(argv[1], "customer") == 0 || strcmp(argv[1], "operator") == 0) && argc > 2 &&
        strcmp(argv[2], "set-password") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return cmd_set_password(&o, argv[1][0] == 'c');
    }
    fprintf(stderr, "stampd: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
