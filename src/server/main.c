/*
 * main.c - the `stampd` command: reads the subcommand and its options and
 * runs it (provisioning in cmd_init.c, accounts in cmd_accounts.c, servers
 * in cmd_run.c; the ledger check and media secret rotation here).
 *
 *   stampd init --db DSN --license NUMBER [--psds N] [--deposit DOLLARS]
 *               [--refill DOLLARS] [--keys-dir DIR | --crypto SPEC] [--gateway sandbox]
 *               [--demo]
 *   stampd psd add --db DSN [--psds N] [--crypto SPEC]
 *   stampd customer create --db DSN --email EMAIL [--balance DOLLARS]
 *   stampd operator create --db DSN --email EMAIL
 *   stampd authority create --db DSN --name NAME
 *   stampd authority set-password --db DSN --name NAME
 *   stampd authority deposit --db DSN --amount DOLLARS --reference REF
 *   stampd authority key --db DSN [--authority-dir DIR]
 *   stampd authority report --db DSN --date YYYY-MM-DD --out DIR
 *   stampd serve --db DSN [--listen HOST:PORT] [--processors N] [--threads N]
 *   stampd media rotate-secret --db DSN
 *   stampd secret generate --internal-secret-file PATH
 *   stampd tls (init | issue) --dir DIR ... (cmd_tls.c)
 *   stampd ca (init | issue | rotate), psd rotate-key, key revoke (cmd_ca.c)
 *   stampd psd suspend | resume | withdraw (cmd_lifecycle.c)
 */
#include "server/cmd.h"
#include "server/cmd_accounts.h"
#include "server/cmd_authority.h"
#include "server/cmd_ca.h"
#include "server/cmd_init.h"
#include "server/cmd_lifecycle.h"
#include "server/cmd_run.h"
#include "server/cmd_secret.h"
#include "server/cmd_tls.h"
#include "server/reply.h"

#include "domain/ledger.h"
#include "domain/reset_auth.h"
#include "domain/media.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fputs("usage:\n"
          "  stampd init --db DSN --license NUMBER [--psds N] [--deposit DOLLARS]\n"
          "              [--refill DOLLARS] [--keys-dir DIR | --crypto SPEC] [--gateway sandbox]\n"
          "              [--demo] [--crypto-pin-file PATH]\n"
          "              [--ca-crypto SPEC [--ca-pin-file PATH]]\n"
          "  stampd psd add --db DSN [--psds N] [--crypto SPEC] [--crypto-pin-file PATH]\n"
          "                 [--ca-pin-file PATH]\n"
          "  stampd customer create --db DSN --email EMAIL [--balance DOLLARS]\n"
          "  stampd operator create --db DSN --email EMAIL\n"
          "  stampd (customer | operator) set-password --db DSN --email EMAIL\n"
          "  stampd authority create --db DSN --name NAME\n"
          "  stampd authority set-password --db DSN --name NAME\n"
          "  stampd authority deposit --db DSN --amount DOLLARS --reference REF\n"
          "  stampd authority key --db DSN [--authority-dir DIR]\n"
          "  stampd authority report --db DSN --date YYYY-MM-DD --out DIR [--psd ID]\n"
          "                          [--crypto SPEC] [--crypto-pin-file PATH]\n",
          f);
    /* Two strings: C11 compilers need only take 4095 characters in one. */
    fputs("  stampd serve --db DSN [--listen HOST:PORT] [--processors N] [--threads N]\n"
          "               [--lockout SECONDS] [--refund-window-days N] [--trusted-proxy IP]\n"
          "               [--signup-limit N] [--per-address-limit N] [--request-deadline S]\n"
          "               [--crypto SPEC] [--crypto-pin-file PATH]\n"
          "               [--gateway-journal FILE] [--gateway-latency MS]\n"
          "               [--payment-recovery-after S] [--reports on|off]\n"
          "               [--log-format text|json] [--metrics-token-file PATH]\n"
          "  stampd front --db DSN [--internal-secret-file PATH] [--listen HOST:PORT]\n"
          "               (--internal-tls-dir DIR [--internal-tls-name NAME] |\n"
          "                --internal-plaintext) [--threads N] [--per-address-limit N]\n"
          "               [--request-deadline S] [--gateway-journal FILE] [--gateway-latency MS]\n"
          "               [--log-format text|json] [--metrics-token-file PATH]\n"
          "  stampd processor --db DSN [--internal-secret-file PATH] [--listen HOST:PORT]\n"
          "                   (--internal-tls-dir DIR [--internal-tls-name NAME] |\n"
          "                    --internal-plaintext) [--id NAME] [--advertise URL]\n"
          "                   [--lease-ms N] [--per-address-limit N] [--request-deadline S]\n"
          "                   [--crypto SPEC] [--crypto-pin-file PATH]\n"
          "                   [--gateway-journal FILE] [--gateway-latency MS]\n"
          "                   [--payment-recovery-after S] [--reports on|off]\n"
          "                   [--log-format text|json]\n"
          "  stampd secret generate --internal-secret-file PATH\n"
          "  stampd tls init --dir DIR [--front NAME] --processor NAME=HOST[,HOST...]...\n"
          "                  [--days N]\n"
          "  stampd tls issue --dir DIR (--front NAME | --processor NAME=HOST[,HOST...])\n"
          "                   [--days N]\n"
          "  stampd ca (init | issue) --db DSN [--crypto SPEC] [--crypto-pin-file PATH]\n"
          "  stampd ca rotate --db DSN [--crypto SPEC] [--crypto-pin-file PATH]\n"
          "                   [--ca-pin-file PATH]\n"
          "  stampd psd rotate-key (ID | --psd ID) --db DSN [--crypto SPEC]\n"
          "                    [--crypto-pin-file PATH] [--ca-pin-file PATH]\n"
          "  stampd key revoke --db DSN --key-id N [--reason REASON] [--since TIME]\n"
          "  stampd psd revoke-key (ID | --psd ID) --db DSN [--reason REASON] [--since TIME]\n"
          "                    [--crypto-pin-file PATH]\n"
          "  stampd psd suspend|resume --db DSN --psd ID [--reason TEXT]\n"
          "  stampd psd withdraw --db DSN --psd ID [--reason TEXT] [--force]\n"
          "  stampd migrate --db DSN\n"
          "  stampd media rotate-secret --db DSN\n"
          "  stampd ledger check --db DSN\n"
          "\n"
          "DSN is sqlite:PATH (or a plain path). Defaults: --psds 4, --deposit 10000,\n"
          "--refill 1000, --listen 127.0.0.1:8080, --processors 2, --threads 4,\n"
          "--lockout 900, --refund-window-days 30, --signup-limit 5 (per minute and\n"
          "source address), --per-address-limit 64 connections (none with\n"
          "--trusted-proxy), --request-deadline 10 (seconds), --gateway-journal DB.gateway.jsonl\n"
          "(SQLite; PostgreSQL: in memory), --payment-recovery-after 600 (seconds).\n"
          "customer/operator create take the "
          "account's web password\n"
          "from STAMPD_PASSWORD when it is set. front and processor take the secret they\n"
          "share from --internal-secret-file (mode 0600) or STAMPD_INTERNAL_SECRET, and\n"
          "speak mutual TLS with the certificates of stampd tls init in --internal-tls-dir\n"
          "(ca.pem, NAME.pem, NAME.key; NAME: front, or the processor's --id).\n"
          "SPEC is openssl:DIR (the default, development-grade: keys are files) or\n"
          "'pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;token=LABEL'; a token's PIN\n"
          "comes from --crypto-pin-file (mode 0600) or STAMPD_CRYPTO_PIN, never argv; the\n"
          "vendor CA's token PIN, when it differs, from --ca-pin-file or STAMPD_CA_PIN.\n",
          f);
}

/* The options argv[start..argc) into o; need_db: --db is required; positional
 * (NULL: none allowed) gets the one argument that is not an option. */
static int parse_opts_args(int argc, char **argv, int start, struct opts *o, int need_db,
                           const char **positional)
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
        {"--internal-secret-file", offsetof(struct opts, internal_secret_file)},
        {"--signup-limit", offsetof(struct opts, signup_limit)},
        {"--per-address-limit", offsetof(struct opts, per_address_limit)},
        {"--request-deadline", offsetof(struct opts, request_deadline)},
        {"--internal-tls-dir", offsetof(struct opts, internal_tls_dir)},
        {"--internal-tls-name", offsetof(struct opts, internal_tls_name)},
        {"--crypto", offsetof(struct opts, crypto)},
        {"--crypto-pin-file", offsetof(struct opts, crypto_pin_file)},
        {"--ca-pin-file", offsetof(struct opts, ca_pin_file)},
        {"--ca-crypto", offsetof(struct opts, ca_crypto)},
        {"--gateway-journal", offsetof(struct opts, gateway_journal)},
        {"--gateway-latency", offsetof(struct opts, gateway_latency)},
        {"--payment-recovery-after", offsetof(struct opts, payment_recovery)},
        {"--log-format", offsetof(struct opts, log_format)},
        {"--metrics-token-file", offsetof(struct opts, metrics_token_file)},
        {"--name", offsetof(struct opts, name)},
        {"--authority-dir", offsetof(struct opts, authority_dir)},
        {"--amount", offsetof(struct opts, amount)},
        {"--reference", offsetof(struct opts, reference)},
        {"--psd", offsetof(struct opts, psd)},
        {"--key-id", offsetof(struct opts, key_id)},
        {"--reason", offsetof(struct opts, reason)},
        {"--since", offsetof(struct opts, since)},
        {"--reports", offsetof(struct opts, reports)},
        {"--date", offsetof(struct opts, date)},
        {"--out", offsetof(struct opts, out)},
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
        if (strcmp(a, "--force") == 0) {
            o->force = 1;
            continue;
        }
        if (strcmp(a, "--internal-plaintext") == 0) {
            o->internal_plaintext = 1;
            continue;
        }
        if (positional && !*positional && a[0] && a[0] != '-') {
            *positional = a;
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
    if (need_db && !o->db) {
        fprintf(stderr, "stampd: --db DSN is required\n");
        return -1;
    }
    return 0;
}

static int parse_opts_db(int argc, char **argv, int start, struct opts *o, int need_db)
{
    return parse_opts_args(argc, argv, start, o, need_db, NULL);
}

static int parse_opts(int argc, char **argv, int start, struct opts *o)
{
    return parse_opts_db(argc, argv, start, o, 1);
}

/*
 * Every reset's authorisation against the authority's public key
 * (reset_auth.h): one line per reset that does not verify, *bad their count.
 */
static int check_resets(struct pv_store *st, size_t *bad)
{
    struct pv_reset_report rr;
    size_t i;
    int rc = pv_reset_check_all(st, &rr);

    if (rc == PV_ENOTFOUND) {
        printf("resets: the postal authority has no reset signer (stampd authority key)\n");
        return PV_OK;
    }
    if (rc != PV_OK)
        return rc;
    for (i = 0; i < rr.n; i++)
        printf("reset %s of PSD %u: NOT AUTHORISED: %s\n", rr.issues[i].authorization,
               (unsigned) rr.issues[i].psd_id, rr.issues[i].why);
    printf("%zu resets: %s", rr.checked,
           rr.n ? "SOME RESETS ARE NOT AUTHORISED" : "every one signed by the postal authority");
    if (rr.unsigned_before)
        printf(" (%zu unsigned from before the authority's signer)", rr.unsigned_before);
    printf("\n");
    *bad = rr.n;
    pv_reset_report_clear(&rr);
    return PV_OK;
}

/* stampd ledger check: prove the books and every reset's authorisation; exit 1 when
 * something does not add up. */
static int cmd_ledger_check(const struct opts *o)
{
    static const char *const kinds[] = {"", "journal does not balance", "account != its lines",
                                        "PSD account != descending register",
                                        "total does not add up"};
    struct pv_ledger_report rep;
    struct pv_store *st = NULL;
    char a[32], b[32];
    size_t i, bad = 0;
    int rc;

    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    rc = pv_ledger_check(st, &rep);
    if (rc == PV_OK)
        rc = check_resets(st, &bad);
    pv_store_close(st);
    if (rc != PV_OK)
        return pv_cmd_fail("ledger check", rc);
    for (i = 0; i < rep.n; i++)
        printf("%s: %s: recorded %s, computed %s\n", kinds[rep.issues[i].kind % 5],
               rep.issues[i].name, pv_money_format(rep.issues[i].recorded, a, sizeof a),
               pv_money_format(rep.issues[i].computed, b, sizeof b));
    printf("%lld journals, %lld accounts: %s\n", (long long) rep.journals, (long long) rep.accounts,
           rep.n ? "THE BOOKS DO NOT BALANCE" : "every journal balances");
    rc = rep.n || bad ? 1 : 0;
    pv_ledger_report_clear(&rep);
    return rc;
}

/* stampd media rotate-secret: a new media serial secret becomes current;
 * media made under the older ones keep verifying. */
static int cmd_rotate_secret(const struct opts *o)
{
    struct pv_store *st = NULL;
    uint32_t key_id = 0;
    int rc;

    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database", rc);
    rc = pv_media_secret_rotate(st, pv_now(), &key_id);
    pv_store_close(st);
    if (rc == PV_EOVERFLOW) {
        fprintf(stderr, "stampd: all 16 media key ids are taken\n");
        return 1;
    }
    if (rc != PV_OK)
        return pv_cmd_fail("rotate media secret", rc);
    fprintf(stderr,
            "stampd: media serial key %u is current; running servers pick it up "
            "within 10 seconds\n",
            (unsigned) key_id);
    printf("key_id=%u\n", (unsigned) key_id);
    return 0;
}

int main(int argc, char **argv)
{
    struct opts o;

    /* The database holds customers' emails and key hashes; keys are 0600 anyway. */
    umask(077);
    pv_json_alloc_init();

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "init") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return pv_cmd_init(&o);
    }
    if (strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "front") == 0 ||
        strcmp(argv[1], "processor") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return pv_cmd_run(&o, argv[1][0] == 's'   ? PV_RUN_SERVE
                              : argv[1][0] == 'f' ? PV_RUN_FRONT
                                                  : PV_RUN_PROCESSOR);
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
    if (strcmp(argv[1], "secret") == 0 && argc > 2 && strcmp(argv[2], "generate") == 0) {
        if (parse_opts_db(argc, argv, 3, &o, 0) < 0)
            return 2;
        return pv_cmd_secret_generate(&o);
    }
    if (strcmp(argv[1], "tls") == 0)
        return pv_cmd_tls(argc, argv);
    if (strcmp(argv[1], "psd") == 0 && argc > 2 && strcmp(argv[2], "add") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return pv_cmd_psd_add(&o);
    }
    if (strcmp(argv[1], "psd") == 0 && argc > 2 &&
        (strcmp(argv[2], "suspend") == 0 || strcmp(argv[2], "resume") == 0 ||
         strcmp(argv[2], "withdraw") == 0)) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return pv_cmd_psd_lifecycle(&o, argv[2]);
    }
    if ((strcmp(argv[1], "ca") == 0 && argc > 2 &&
         (strcmp(argv[2], "init") == 0 || strcmp(argv[2], "issue") == 0 ||
          strcmp(argv[2], "rotate") == 0)) ||
        (strcmp(argv[1], "psd") == 0 && argc > 2 &&
         (strcmp(argv[2], "rotate-key") == 0 || strcmp(argv[2], "revoke-key") == 0)) ||
        (strcmp(argv[1], "key") == 0 && argc > 2 && strcmp(argv[2], "revoke") == 0)) {
        /* The issue's spelling: stampd psd rotate-key ID, as well as --psd ID. */
        const char *id = NULL;
        if (parse_opts_args(argc, argv, 3, &o, 1, argv[1][0] == 'p' ? &id : NULL) < 0)
            return 2;
        if (id) {
            if (o.psd) {
                fprintf(stderr, "stampd: psd %s names PSD %s and --psd %s: give one\n", argv[2], id,
                        o.psd);
                return 2;
            }
            o.psd = id;
        }
        return pv_cmd_ca(&o, argv[1], argv[2]);
    }
    if (strcmp(argv[1], "migrate") == 0) {
        if (parse_opts(argc, argv, 2, &o) < 0)
            return 2;
        return pv_cmd_migrate(&o);
    }
    if ((strcmp(argv[1], "customer") == 0 || strcmp(argv[1], "operator") == 0) && argc > 2 &&
        strcmp(argv[2], "create") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return pv_cmd_create(&o, argv[1][0] == 'c');
    }
    if ((strcmp(argv[1], "customer") == 0 || strcmp(argv[1], "operator") == 0) && argc > 2 &&
        strcmp(argv[2], "set-password") == 0) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        return pv_cmd_set_password(&o, argv[1][0] == 'c' ? PV_ROLE_CUSTOMER : PV_ROLE_OPERATOR);
    }
    if (strcmp(argv[1], "authority") == 0 && argc > 2 &&
        (strcmp(argv[2], "create") == 0 || strcmp(argv[2], "deposit") == 0 ||
         strcmp(argv[2], "key") == 0 || strcmp(argv[2], "report") == 0 ||
         strcmp(argv[2], "set-password") == 0)) {
        if (parse_opts(argc, argv, 3, &o) < 0)
            return 2;
        if (argv[2][0] == 's')
            return pv_cmd_set_password(&o, PV_ROLE_POSTAL);
        if (argv[2][0] == 'k')
            return pv_cmd_authority_key(&o);
        if (argv[2][0] == 'r')
            return pv_cmd_authority_report(&o);
        return argv[2][0] == 'c' ? pv_cmd_authority_create(&o) : pv_cmd_authority_deposit(&o);
    }
    fprintf(stderr, "stampd: unknown command %s\n", argv[1]);
    usage(stderr);
    return 2;
}
