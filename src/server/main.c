/*
 * main.c - the `stampd` command: finds the subcommand in the table of
 * subcommands (each with its synopsis and its --help text), reads its options
 * and runs it (provisioning in cmd_init.c, accounts in cmd_accounts.c, servers
 * in cmd_run.c; the ledger check and media secret rotation here).
 * `stampd --help` lists every subcommand, `stampd NAME --help` explains one,
 * `stampd --version` prints the build's version (include/stampd/version.h).
 *
 *   stampd init --db DSN --license NUMBER [--psds N] [--deposit DOLLARS]
 *               [--refill DOLLARS] [--keys-dir DIR | --crypto SPEC] [--gateway sandbox]
 *               [--demo]
 *   stampd psd add --db DSN [--psds N] [--crypto SPEC]
 *   stampd customer create --db DSN --email EMAIL [--balance DOLLARS]
 *   stampd operator create --db DSN --email EMAIL
 *   stampd authority create | set-password | deposit | key | report (cmd_authority.c,
 *   cmd_report.c)
 *   stampd serve --db DSN [--listen HOST:PORT] [--processors N] [--threads N]
 *   stampd media rotate-secret --db DSN
 *   stampd secret generate --internal-secret-file PATH
 *   stampd tls (init | issue) --dir DIR ... (cmd_tls.c)
 *   stampd ca (init | issue | rotate), psd rotate-key, key revoke (cmd_ca.c)
 *   stampd psd suspend | resume | withdraw (cmd_lifecycle.c)
 *   stampd rates load FILE | list --db DSN (cmd_rates.c)
 *   stampd backup --db DSN --out FILE, stampd restore --in FILE --db DSN (cmd_backup.c)
 */
#include "server/cmd.h"
#include "server/cmd_accounts.h"
#include "server/cmd_authority.h"
#include "server/cmd_backup.h"
#include "server/cmd_ca.h"
#include "server/cmd_config.h"
#include "server/cmd_init.h"
#include "server/cmd_lifecycle.h"
#include "server/cmd_rates.h"
#include "server/cmd_run.h"
#include "server/cmd_secret.h"
#include "server/cmd_tls.h"
#include "server/reply.h"

#include "domain/ledger.h"
#include "domain/reset_auth.h"
#include "domain/media.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "stampd/version.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The options argv[start..argc) into o; need_db: --db is required; positional
 * (NULL: none allowed) gets the one argument that is not an option. */
static int parse_opts_db(int argc, char **argv, int start, struct opts *o, int need_db,
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
        {"--connection-limit", offsetof(struct opts, connection_limit)},
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
        {"--payment-threads", offsetof(struct opts, payment_threads)},
        {"--sign-threads", offsetof(struct opts, sign_threads)},
        {"--log-format", offsetof(struct opts, log_format)},
        {"--log-level", offsetof(struct opts, log_level)},
        {"--metrics-token-file", offsetof(struct opts, metrics_token_file)},
        {"--tls-cert", offsetof(struct opts, tls_cert)},
        {"--tls-key", offsetof(struct opts, tls_key)},
        {"--reports", offsetof(struct opts, reports)},
        {"--webhook-retry-base-ms", offsetof(struct opts, hook_base)},
        {"--webhook-retry-window", offsetof(struct opts, hook_window)},
        {"--webhook-timeout-ms", offsetof(struct opts, hook_timeout)},
        {"--date", offsetof(struct opts, date)},
        {"--out", offsetof(struct opts, out)},
        {"--in", offsetof(struct opts, in)},
        {"--name", offsetof(struct opts, name)},
        {"--authority-dir", offsetof(struct opts, authority_dir)},
        {"--amount", offsetof(struct opts, amount)},
        {"--reference", offsetof(struct opts, reference)},
        {"--psd", offsetof(struct opts, psd)},
        {"--key-id", offsetof(struct opts, key_id)},
        {"--reason", offsetof(struct opts, reason)},
        {"--since", offsetof(struct opts, since)},
        {"--config", offsetof(struct opts, config)},
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
        if (strcmp(a, "--webhook-allow-private") == 0) {
            o->hook_private = 1;
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

/* Runners of the table below: o holds the parsed options (NULL for OPTS_RAW). */
static int run_init(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_init(o);
}
static int run_psd_add(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_psd_add(o);
}
static int run_create(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_create(o, argv[1][0] == 'c');
}
static int run_set_password(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_set_password(o, argv[1][0] == 'c'   ? PV_ROLE_CUSTOMER
                                  : argv[1][0] == 'o' ? PV_ROLE_OPERATOR
                                                      : PV_ROLE_POSTAL);
}
static int run_authority(int argc, char **argv, const struct opts *o)
{
    if (argv[2][0] == 'k')
        return pv_cmd_authority_key(o);
    if (argv[2][0] == 'r')
        return pv_cmd_authority_report(o);
    return argv[2][0] == 'c' ? pv_cmd_authority_create(o) : pv_cmd_authority_deposit(o);
}
/* serve, front, processor: the configuration file fills what the flags did not. */
static int run_server(int argc, char **argv, const struct opts *flags)
{
    struct opts o = *flags;
    char *text = NULL;
    int rc;

    o.flags = flags;
    if ((rc = pv_cmd_config_load(&o, argv[1], &text)) != 0)
        return rc;
    if (!o.db) {
        fprintf(stderr, "stampd: --db DSN is required (or db = DSN in the configuration file)\n");
        rc = 2;
    } else {
        rc = pv_cmd_run(&o, argv[1][0] == 's'   ? PV_RUN_SERVE
                            : argv[1][0] == 'f' ? PV_RUN_FRONT
                                                : PV_RUN_PROCESSOR);
    }
    if (text)
        pv_card_wipe(text, strlen(text));
    free(text);
    return rc;
}
static int run_secret(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_secret_generate(o);
}
static int run_tls(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_tls(argc, argv);
}
static int run_ca(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_ca(o, argv[1], argv[2]);
}
static int run_lifecycle(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_psd_lifecycle(o, argv[2]);
}
static int run_rates(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_rates(o, argv[2]);
}
static int run_migrate(int argc, char **argv, const struct opts *o)
{
    return pv_cmd_migrate(o);
}
static int run_media(int argc, char **argv, const struct opts *o)
{
    return cmd_rotate_secret(o);
}
static int run_ledger(int argc, char **argv, const struct opts *o)
{
    return cmd_ledger_check(o);
}
static int run_backup(int argc, char **argv, const struct opts *o)
{
    return argv[1][0] == 'b' ? pv_cmd_backup(o) : pv_cmd_restore(o);
}

enum { OPTS_DB, OPTS_NODB, OPTS_RAW }; /* --db required, optional, the command parses argv */

#define CRYPTO_HELP                                                                                \
    "  --crypto SPEC           openssl:DIR (the default, development-grade: keys are\n"            \
    "                          files) or 'pkcs11:module=/usr/lib/softhsm/libsofthsm2.so;\n"        \
    "                          token=LABEL'\n"                                                     \
    "  --crypto-pin-file PATH  the token's PIN (mode 0600; or STAMPD_CRYPTO_PIN, never\n"          \
    "                          argv)\n"
#define CA_HELP                                                                                    \
    "  --ca-crypto SPEC        the vendor CA in a token of its own (init)\n"                       \
    "  --ca-pin-file PATH      that token's PIN (mode 0600; or STAMPD_CA_PIN)\n"
#define LOG_HELP                                                                                   \
    "  --log-format text|json  the log's lines (default text; journald's under systemd)\n"         \
    "  --log-level LEVEL       error, warning, info (default: with one access line per\n"          \
    "                          request) or debug\n"
#define METRICS_HELP                                                                               \
    "  --metrics-token-file PATH  the token GET /metrics takes (mode 0600), so Prometheus\n"       \
    "                          holds no operator key\n"
#define PUBTLS_HELP                                                                                \
    "  --tls-cert FILE         serve HTTPS (TLS 1.2+) with this certificate chain (PEM;\n"         \
    "                          SIGHUP reloads it and the key)\n"                                   \
    "  --tls-key FILE          its private key (PEM, mode 0600)\n"
#define WEBHOOK_HELP                                                                               \
    "  --webhook-retry-base-ms MS  first webhook retry after about MS (default 30000;\n"           \
    "                          doubling, at most 6 h apart, with jitter)\n"                        \
    "  --webhook-retry-window S  give a webhook delivery up S seconds after its first\n"           \
    "                          attempt (default 259200: 3 days)\n"                                 \
    "  --webhook-timeout-ms MS  a webhook endpoint answers within MS (default 10000)\n"            \
    "  --webhook-allow-private  webhooks may call http:// and private addresses\n"
#define DB_HELP "  --db DSN                sqlite:PATH (or a plain path) or a PostgreSQL URI\n"
#define INTERNAL_HELP                                                                              \
    "  --internal-secret-file PATH  the HMAC secret front and processors share (mode\n"            \
    "                          0600; or STAMPD_INTERNAL_SECRET; stampd secret generate)\n"         \
    "  --internal-tls-dir DIR  mutual TLS with the certificates of stampd tls init\n"              \
    "                          (ca.pem, NAME.pem, NAME.key)\n"                                     \
    "  --internal-tls-name NAME  this end's certificate (front, or the processor's --id)\n"        \
    "  --internal-plaintext    no TLS on the internal channel (development only)\n"
#define LIMITS_HELP                                                                                \
    "  --per-address-limit N   connections per source address (default 64; none with\n"            \
    "                          --trusted-proxy)\n"                                                 \
    "  --connection-limit N    open connections the server takes in all (default 1000)\n"          \
    "  --request-deadline S    seconds a client has to send its request (default 10)\n"            \
    "  --gateway-journal FILE  the card gateway sandbox's journal (default\n"                      \
    "                          DB.gateway.jsonl for SQLite; PostgreSQL: in memory)\n"              \
    "  --gateway-latency MS    the sandbox gateway's simulated latency\n"
#define SERVER_HELP                                                                                \
    "  --config FILE           options from FILE (default /etc/stampd/stampd.conf when\n"          \
    "                          it exists); flags override it (docs/operations.md)\n"               \
    "  --listen HOST:PORT      where to listen (default 127.0.0.1:8080)\n"

/*
 * Every subcommand: name (one or two words), how its options are read, what
 * runs it, its synopsis (after "stampd NAME") and its help (`stampd NAME
 * --help`). A new subcommand is one entry here (test_install.py walks them all).
 */
static const struct subcommand {
    const char *name;
    int parse;
    int (*run)(int argc, char **argv, const struct opts *o);
    const char *synopsis, *help;
} subcommands[] = {
    {"init", OPTS_DB, run_init,
     "--db DSN --license NUMBER [--psds N] [--deposit DOLLARS] [--refill DOLLARS]\n"
     "       [--keys-dir DIR | --crypto SPEC] [--crypto-pin-file PATH] [--gateway sandbox]\n"
     "       [--demo] [--authority-dir DIR] [--ca-crypto SPEC [--ca-pin-file PATH]]",
     "Creates the database and provisions the vendor: the postal deposit, N PSDs\n"
     "(default 4) with their keys, the vendor CA, the sandbox card gateway.\n" DB_HELP
     "  --license NUMBER        the vendor's postal licence number\n"
     "  --psds N                PSDs to make (default 4)\n"
     "  --deposit DOLLARS       the postal deposit (default 10000)\n"
     "  --refill DOLLARS        each PSD's refill (default 1000)\n"
     "  --keys-dir DIR          where openssl: keys go (the same as --crypto openssl:DIR)\n"
     "  --gateway sandbox       live card payments through the sandbox (no real money;\n"
     "                          for demos and staging)\n"
     "  --authority-dir DIR     where the postal authority's reset signer goes (default:\n"
     "                          authority/ beside a SQLite database)\n"
     "  --demo                  demo accounts and keys, printed\n" CRYPTO_HELP CA_HELP},
    {"psd add", OPTS_DB, run_psd_add,
     "--db DSN [--psds N] [--crypto SPEC] [--crypto-pin-file PATH] [--ca-pin-file PATH]",
     "Adds N (default 1) PSDs with new keys.\n" DB_HELP CRYPTO_HELP CA_HELP},
    {"customer create", OPTS_DB, run_create, "--db DSN --email EMAIL [--balance DOLLARS]",
     "Creates a customer and prints its API key; the web password comes from\n"
     "STAMPD_PASSWORD when it is set.\n" DB_HELP},
    {"operator create", OPTS_DB, run_create, "--db DSN --email EMAIL",
     "Creates an operator and prints its API key; the web password comes from\n"
     "STAMPD_PASSWORD when it is set.\n" DB_HELP},
    {"customer set-password", OPTS_DB, run_set_password, "--db DSN --email EMAIL",
     "Sets a customer's web password from STAMPD_PASSWORD (or asks for it).\n" DB_HELP},
    {"operator set-password", OPTS_DB, run_set_password, "--db DSN --email EMAIL",
     "Sets an operator's web password from STAMPD_PASSWORD (or asks for it).\n" DB_HELP},
    {"authority create", OPTS_DB, run_authority, "--db DSN --name NAME",
     "Creates the postal authority's account and prints its key (sk_postal_...); its\n"
     "web password (a login by NAME) comes from STAMPD_PASSWORD when it is set.\n" DB_HELP},
    {"authority set-password", OPTS_DB, run_set_password, "--db DSN --name NAME",
     "Sets a postal account's web password from STAMPD_PASSWORD (or asks for it).\n" DB_HELP},
    {"authority deposit", OPTS_DB, run_authority, "--db DSN --amount DOLLARS --reference REF",
     "Records a deposit credit from the postal authority.\n" DB_HELP},
    {"authority key", OPTS_DB, run_authority, "--db DSN [--authority-dir DIR]",
     "Makes the postal authority's reset signer (its key in --authority-dir).\n" DB_HELP},
    {"authority report", OPTS_DB, run_authority,
     "--db DSN --date YYYY-MM-DD --out DIR [--psd ID] [--crypto SPEC]\n"
     "       [--crypto-pin-file PATH]",
     "Writes the day's signed per-device reports (JSON Lines, CSV, signatures,\n"
     "certificates) into DIR, making a missing one with the crypto module.\n" DB_HELP
     "  --date YYYY-MM-DD       the UTC day\n"
     "  --out DIR               where the files go\n"
     "  --psd ID                one device only\n" CRYPTO_HELP},
    {"serve", OPTS_NODB, run_server,
     "--db DSN [--config FILE] [--listen HOST:PORT] [--processors N] [--threads N]\n"
     "       [--lease-ms N] [--lockout SECONDS] [--refund-window-days N] [--trusted-proxy IP]\n"
     "       [--signup-limit N] [--per-address-limit N] [--request-deadline S]\n"
     "       [--connection-limit N]\n"
     "       [--crypto SPEC] [--crypto-pin-file PATH] [--gateway-journal FILE]\n"
     "       [--gateway-latency MS] [--payment-recovery-after S] [--payment-threads N]\n"
     "       [--sign-threads N] [--reports on|off] [--log-format text|json]\n"
     "       [--log-level LEVEL] [--metrics-token-file PATH]\n"
     "       [--tls-cert FILE --tls-key FILE] [--webhook-retry-base-ms MS]\n"
     "       [--webhook-retry-window S] [--webhook-timeout-ms MS] [--webhook-allow-private]",
     "Runs the whole vendor in one process: the API, the web UI and N processors.\n" DB_HELP
         SERVER_HELP "  --processors N          processors (writer threads; default 2)\n"
     "  --threads N             HTTP worker threads (default 4)\n"
     "  --lease-ms N            PSD lease length in milliseconds (default 5000)\n"
     "  --lockout SECONDS       login lockout after failed attempts (default 900)\n"
     "  --refund-window-days N  refunds within N days (default 30)\n"
     "  --trusted-proxy IP      take the client address from this proxy's X-Forwarded-For\n"
     "  --signup-limit N        signups per minute and source address (default 5)\n"
     "  --payment-recovery-after S  settle stuck card payments after S seconds (600)\n"
     "  --payment-threads N     threads calling a synchronous card gateway (default 64)\n"
     "  --sign-threads N        threads that help each writer sign (default: cores - 1)\n"
     "  --reports on|off        the processors' daily device reports (default on)\n" LIMITS_HELP
         CRYPTO_HELP LOG_HELP METRICS_HELP PUBTLS_HELP WEBHOOK_HELP},
    {"front", OPTS_NODB, run_server,
     "--db DSN [--config FILE] [--internal-secret-file PATH] [--listen HOST:PORT]\n"
     "       (--internal-tls-dir DIR [--internal-tls-name NAME] | --internal-plaintext)\n"
     "       [--threads N] [--lockout SECONDS] [--refund-window-days N] [--trusted-proxy IP]\n"
     "       [--signup-limit N] [--per-address-limit N] [--request-deadline S]\n"
     "       [--connection-limit N]\n"
     "       [--gateway-journal FILE] [--gateway-latency MS] [--log-format text|json]\n"
     "       [--log-level LEVEL] [--metrics-token-file PATH] [--tls-cert FILE --tls-key FILE]\n"
     "       [--webhook-retry-base-ms MS] [--webhook-retry-window S] [--webhook-timeout-ms MS]\n"
     "       [--webhook-allow-private]",
     "Runs a front: the API and the web UI; purchases go to the processors.\n" DB_HELP SERVER_HELP
     "  --threads N             HTTP worker threads (default 4)\n"
     "  --lockout SECONDS       login lockout after failed attempts (default 900)\n"
     "  --refund-window-days N  refunds within N days (default 30)\n"
     "  --trusted-proxy IP      take the client address from this proxy's X-Forwarded-For\n"
     "  --signup-limit N        signups per minute and source address (default 5)\n" INTERNAL_HELP
         LIMITS_HELP LOG_HELP METRICS_HELP PUBTLS_HELP WEBHOOK_HELP},
    {"processor", OPTS_NODB, run_server,
     "--db DSN [--config FILE] [--internal-secret-file PATH] [--listen HOST:PORT]\n"
     "       (--internal-tls-dir DIR [--internal-tls-name NAME] | --internal-plaintext)\n"
     "       [--id NAME] [--advertise URL] [--lease-ms N] [--per-address-limit N]\n"
     "       [--connection-limit N]\n"
     "       [--request-deadline S] [--crypto SPEC] [--crypto-pin-file PATH]\n"
     "       [--gateway-journal FILE] [--gateway-latency MS] [--payment-recovery-after S]\n"
     "       [--payment-threads N] [--sign-threads N]\n"
     "       [--reports on|off] [--log-format text|json] [--log-level LEVEL]\n"
     "       [--metrics-token-file PATH]",
     "Runs a processor: leases PSDs and signs the purchases fronts send it.\n" DB_HELP SERVER_HELP
     "  --id NAME               this processor's name (its certificate's too)\n"
     "  --advertise URL         where fronts reach it\n"
     "  --lease-ms N            PSD lease length in milliseconds\n"
     "  --payment-recovery-after S  settle stuck card payments after S seconds "
     "(600)\n"
     "  --payment-threads N     threads calling a synchronous card gateway (default 64)\n"
     "  --sign-threads N        threads that help the writer sign (default: cores - 1)\n"
     "  --reports on|off        its daily device reports (default on)\n" INTERNAL_HELP LIMITS_HELP
         CRYPTO_HELP LOG_HELP METRICS_HELP},
    {"secret generate", OPTS_NODB, run_secret, "--internal-secret-file PATH",
     "Writes a new random internal secret (mode 0600) for fronts and processors.\n"},
    {"tls init", OPTS_RAW, run_tls,
     "--dir DIR [--front NAME] --processor NAME=HOST[,HOST...]... [--days N]",
     "Makes the internal CA and the front's and processors' certificates in DIR.\n"},
    {"tls issue", OPTS_RAW, run_tls,
     "--dir DIR (--front NAME | --processor NAME=HOST[,HOST...]) [--days N]",
     "Issues one more front or processor certificate from DIR's internal CA.\n"},
    {"ca init", OPTS_DB, run_ca,
     "--db DSN [--crypto SPEC] [--crypto-pin-file PATH] [--ca-pin-file PATH]",
     "Makes the vendor CA that certifies every PSD key.\n" DB_HELP CRYPTO_HELP CA_HELP},
    {"ca issue", OPTS_DB, run_ca,
     "--db DSN [--crypto SPEC] [--crypto-pin-file PATH] [--ca-pin-file PATH]",
     "Issues the certificates of PSD keys that have none.\n" DB_HELP CRYPTO_HELP CA_HELP},
    {"ca rotate", OPTS_DB, run_ca,
     "--db DSN [--crypto SPEC] [--crypto-pin-file PATH] [--ca-pin-file PATH]",
     "Makes a new vendor CA (in --crypto's token, or the current CA's module) and\n"
     "re-certifies every key under it; the old CA stays published with its last CRL.\n" DB_HELP
         CRYPTO_HELP CA_HELP},
    {"psd rotate-key", OPTS_DB, run_ca,
     "(ID | --psd ID) --db DSN [--crypto SPEC] [--crypto-pin-file PATH] [--ca-pin-file PATH]",
     "Gives a PSD a new key; indicia signed with the old one keep verifying.\n" DB_HELP CRYPTO_HELP
         CA_HELP},
    {"psd revoke-key", OPTS_DB, run_ca,
     "(ID | --psd ID) --db DSN [--reason REASON] [--since TIME] [--crypto-pin-file PATH]\n"
     "       [--ca-pin-file PATH]",
     "Revokes a PSD's current key (from --since, RFC 3339) and gives it a new one.\n" DB_HELP
         CA_HELP},
    {"key revoke", OPTS_DB, run_ca,
     "--db DSN --key-id N [--reason REASON] [--since TIME] [--crypto-pin-file PATH]\n"
     "       [--ca-pin-file PATH]",
     "Revokes key N (from --since, RFC 3339); it goes on the CRL.\n" DB_HELP CRYPTO_HELP CA_HELP},
    {"psd suspend", OPTS_DB, run_lifecycle, "--db DSN --psd ID [--reason TEXT]",
     "Suspends a PSD: it signs nothing until resumed.\n" DB_HELP},
    {"psd resume", OPTS_DB, run_lifecycle, "--db DSN --psd ID [--reason TEXT]",
     "Resumes a PSD the operator suspended.\n" DB_HELP},
    {"psd withdraw", OPTS_DB, run_lifecycle, "--db DSN --psd ID [--reason TEXT] [--force]",
     "Withdraws a PSD for good; the last usable one needs --force.\n" DB_HELP},
    {"rates load", OPTS_DB, run_rates, "FILE --db DSN [--force]",
     "Checks the rate table document FILE (docs/rates.md) and stores it: running\n"
     "fronts and processors price with it from its effective date on, within a\n"
     "second or two, without a restart. Its version and effective date must be new.\n" DB_HELP
     "  --force                 also a table that takes effect today or earlier\n"},
    {"rates list", OPTS_DB, run_rates, "--db DSN",
     "Lists the rate tables: version, effective date, until, status, source.\n" DB_HELP},
    {"migrate", OPTS_DB, run_migrate, "--db DSN",
     "Brings the database's schema to this version's.\n" DB_HELP},
    {"media rotate-secret", OPTS_DB, run_media, "--db DSN",
     "A new media serial secret becomes current; older media keep verifying.\n" DB_HELP},
    {"ledger check", OPTS_DB, run_ledger, "--db DSN",
     "Proves the books and every reset's authorisation; exit 1 when something does\n"
     "not add up.\n" DB_HELP},
    {"backup", OPTS_DB, run_backup, "--db DSN --out FILE [--keys-dir DIR] [--config FILE]",
     "Writes one archive (mode 0600) with a consistent online copy of the database\n"
     "(SQLite's backup API, while stampd serves), the openssl: key files it names\n"
     "(PKCS#11 keys stay in their token), the postal authority's reset signer and a\n"
     "manifest of every member's sha256. PostgreSQL: pg_dump --format=custom (the\n"
     "password from PGPASSWORD or ~/.pgpass).\n" DB_HELP
     "  --out FILE              the archive (written to a temporary file, renamed)\n"
     "  --keys-dir DIR          one more key directory to take\n"
     "  --config FILE           take this configuration file too, and the files it names\n"
     "                          (internal secret, internal TLS directory, PIN and metrics\n"
     "                          token files, the HTTPS certificate and key)\n"},
    {"restore", OPTS_DB, run_backup, "--in FILE --db DSN",
     "Restores an archive of stampd backup into a new database: checks every\n"
     "member's sha256 first, never overwrites a database or a different key file,\n"
     "puts the key files back where they were, then runs the schema check.\n"
     "PostgreSQL: into an empty database, with pg_restore in one transaction.\n" DB_HELP
     "  --in FILE               the archive\n"},
};

#define NSUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

/* 1 when argv[1] (and argv[2] for a two-word name) spell name. */
static int matches(const char *name, int argc, char **argv)
{
    const char *sp = strchr(name, ' ');

    if (!sp)
        return strcmp(argv[1], name) == 0;
    return strlen(argv[1]) == (size_t) (sp - name) && strncmp(argv[1], name, sp - name) == 0 &&
           argc > 2 && strcmp(argv[2], sp + 1) == 0;
}

/* 1 when argv[1] is the first word of a two-word subcommand (psd, tls, ...). */
static int is_group(const char *word)
{
    size_t i, n = strlen(word);

    for (i = 0; i < NSUBCOMMANDS; i++)
        if (strncmp(subcommands[i].name, word, n) == 0 && subcommands[i].name[n] == ' ')
            return 1;
    return 0;
}

static void usage(FILE *f, const char *group)
{
    size_t i, n = group ? strlen(group) : 0;

    fputs("usage:\n", f);
    for (i = 0; i < NSUBCOMMANDS; i++) {
        const char *s;
        if (group && (strncmp(subcommands[i].name, group, n) != 0 || subcommands[i].name[n] != ' '))
            continue;
        fprintf(f, "  stampd %s ", subcommands[i].name);
        for (s = subcommands[i].synopsis; *s; s++) { /* continuation lines indent two more */
            if (*s == '\n')
                fputs("\n  ", f);
            else
                fputc(*s, f);
        }
        fputc('\n', f);
    }
    if (group)
        return;
    fputs("  stampd --version\n"
          "  stampd COMMAND --help   that command's options\n"
          "\n"
          "DSN is sqlite:PATH (or a plain path) or a PostgreSQL URI. serve, front and\n"
          "processor read /etc/stampd/stampd.conf (or --config FILE; flags override it)\n"
          "and take their secrets (the internal secret, a token's PIN) from files of mode\n"
          "0600, the environment or that file, never from argv. See docs/operations.md.\n",
          f);
}

static int help(const struct subcommand *c)
{
    printf("usage: stampd %s %s\n\n%s", c->name, c->synopsis, c->help);
    return 0;
}

int main(int argc, char **argv)
{
    const struct subcommand *c = NULL;
    struct opts o;
    size_t i;
    int a, start;

    /* The database holds customers' emails and key hashes; keys are 0600 anyway. */
    umask(077);
    pv_json_alloc_init();

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("stampd %s\n", pv_version);
        return 0;
    }
    for (i = 0; i < NSUBCOMMANDS && !c; i++)
        if (matches(subcommands[i].name, argc, argv))
            c = &subcommands[i];
    if (!c) {
        if (is_group(argv[1])) { /* "stampd psd --help": the group's commands */
            int asked = argc > 2 && (strcmp(argv[2], "--help") == 0 || strcmp(argv[2], "-h") == 0);
            if (!asked && argc > 2)
                fprintf(stderr, "stampd: unknown command %s %s\n", argv[1], argv[2]);
            else if (!asked)
                fprintf(stderr, "stampd: %s needs a command\n", argv[1]);
            usage(asked ? stdout : stderr, argv[1]);
            return asked ? 0 : 2;
        }
        fprintf(stderr, "stampd: unknown command %s\n", argv[1]);
        usage(stderr, NULL);
        return 2;
    }
    start = strchr(c->name, ' ') ? 3 : 2;
    for (a = start; a < argc; a++)
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0)
            return help(c);
    if (c->parse == OPTS_RAW)
        return c->run(argc, argv, NULL);
    {
        /* The issue's spelling: stampd psd rotate-key ID, as well as --psd ID. */
        int takes_id = c->run == run_ca && argv[1][0] == 'p';
        int takes_file = c->run == run_rates && strcmp(argv[2], "load") == 0; /* rates load FILE */
        const char *id = NULL;

        if (parse_opts_db(argc, argv, start, &o, c->parse == OPTS_DB,
                          takes_id || takes_file ? &id : NULL) < 0)
            return 2;
        if (takes_file) {
            o.in = id;
            id = NULL;
        }
        if (id && o.psd) {
            fprintf(stderr, "stampd: psd %s names PSD %s and --psd %s: give one\n", argv[2], id,
                    o.psd);
            return 2;
        }
        if (id)
            o.psd = id;
    }
    if (o.db && pv_cmd_dsn_has_password(o.db)) {
        fprintf(stderr, "stampd: --db holds a password, and any local user can read a command "
                        "line: use ~/.pgpass or PGPASSWORD, or db = DSN in a configuration file "
                        "others cannot read\n");
        return 2;
    }
    if (o.config && c->run != run_server && strcmp(argv[1], "backup") != 0) {
        fprintf(stderr, "stampd: --config is an option of serve, front, processor and backup\n");
        return 2;
    }
    return c->run(argc, argv, &o);
}
