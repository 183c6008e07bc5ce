/*
 * stamp.c - entry point of `stamp`, the stampd command line for customers
 * and (stamp admin) operators.
 *
 * Separates the global options (--server, --key, --json, --help, --version),
 * which may appear before or after the command word, from the command's own
 * arguments; resolves the environment (STAMP_SERVER, STAMP_KEY); prints help;
 * and dispatches to the command functions in commands.c, verify.c,
 * print.c and admin.c. The
 * option parser for command arguments (cli_parse_opts) lives here too so
 * that every command reports usage errors the same way.
 */
#include "cli.h"

#include <curl/curl.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: stamp [--server URL] [--key KEY] [--json] <command> [options]\n"
    "\n"
    "Buy, list, print and verify postage from a stampd postage vendor.\n"
    "\n"
    "commands:\n"
    "  buy       buy postage; prints the new indicium\n"
    "  show      show one indicium\n"
    "  list      list your indicia, newest first\n"
    "  balance   show your account and prepaid balance\n"
    "  keys      show the vendor's public keys, or save them for offline verification\n"
    "  verify    check an indicium's signature and whether it was presented before\n"
    "  print     download (and print) labels, envelopes or sheets of labels\n"
    "  printers  list, save or delete printer calibration offsets\n"
    "  layouts   list the label, envelope and sheet layouts\n"
    "  signup    create an account and an API key (password from STAMP_PASSWORD)\n"
    "  login     log in and make a new API key\n"
    "  api-keys  list, create or revoke your API keys\n"
    "  cards     list, add or remove saved cards\n"
    "  funds     add money to your prepaid balance from a saved card\n"
    "  auto-refill  top the balance up automatically before it runs low\n"
    "  transactions  your balance's history\n"
    "  refund    ask for a refund of an unused indicium, or see its status\n"
    "  admin     operators: processors' health and PSD leases, drain, disable or\n"
    "            enable one; PSD registers and the postal deposit; the ledger check;\n"
    "            media batches, affiliates and resupply orders (operator key)\n"
    "  authority the postal authority: devices, the deposit, resets, daily reports,\n"
    "            refund claims, holds and duplicates (postal key)\n"
    "  help      show help for a command (also: stamp <command> --help)\n"
    "\n"
    "global options (before or after the command):\n"
    "  --server URL   stampd base URL (env STAMP_SERVER; default " STAMP_DEFAULT_SERVER ")\n"
    "  --key KEY      API key sk_live_... / sk_test_... (env STAMP_KEY, which keeps the\n"
    "                 key out of the process list)\n"
    "  --json         print the server's JSON (pretty) instead of human output\n"
    "  -h, --help     show help\n"
    "  --version      print the version\n"
    "\n"
    "exit codes:\n"
    "  0  success\n"
    "  1  the server refused the request (4xx); \"error: <code>: <message>\" on stderr\n"
    "  2  usage error (bad option, missing argument, unusable file)\n"
    "  3  network error or server error (5xx), after retries; lp missing or failed\n"
    "  4  verify: the indicium is invalid (bad signature, malformed, unknown key)\n"
    "  5  verify: the signature is valid but the indicium was presented before\n"
    "\n"
    "Full manual: docs/cli.md\n";

static const char help_buy[] =
    "usage: stamp buy --class CLASS --weight OZ --from ZIP --to ZIP\n"
    "                 [--date YYYY-MM-DD] [--medium SERIAL [--buy-medium]]\n"
    "                 [--idempotency-key KEY]\n"
    "                 [--from-address TEXT] [--to-address TEXT] [--metadata KEY=VALUE]...\n"
    "                 [--services LIST] [--non-machinable] [--no-address-check]\n"
    "                 [--print FILE [--layout LAYOUT] [--printer NAME]] [--card pm_...]\n"
    "\n"
    "Buy postage for one mail piece and print the signed indicium's details.\n"
    "\n"
    "  --class CLASS          first_class_letter, postcard, large_envelope,\n"
    "                         ground_advantage or priority_mail (parcels: by zone)\n"
    "  --weight OZ            weight in ounces, at most one decimal (1, 2.5)\n"
    "  --from ZIP             origin ZIP code (5 digits)\n"
    "  --to ZIP               destination ZIP code (5 digits, or ZIP+4 as 10001-1234)\n"
    "  --date YYYY-MM-DD      mail date (default: today, as the server sees it)\n"
    "  --medium SERIAL        serial number of the pre-printed label the stamp goes on\n"
    "  --buy-medium           when that medium is not paid for yet, buy it with this\n"
    "                         stamp (its price is added; see docs/media.md)\n"
    "  --idempotency-key KEY  up to 255 printable ASCII characters (default: random)\n"
    "  --from-address TEXT    return address, printed on envelope-10; \\n starts a new\n"
    "                         line (at most 6 lines of 60 characters)\n"
    "  --to-address TEXT      delivery address, printed on envelope-10\n"
    "  --services LIST        extra services, comma-separated: certified_mail,\n"
    "                         return_receipt (their fees are added; docs/rates.md)\n"
    "  --non-machinable       a letter that cannot go through the machines (surcharge)\n"
    "  --no-address-check     keep the addresses as typed (no check or correction)\n"
    "  --metadata KEY=VALUE   kept with the piece and searchable (stamp list\n"
    "                         --metadata); repeat for more keys (at most 20; a key\n"
    "                         of 1-40 of a-z 0-9 _ -, a value of at most 500 bytes)\n"
    "  --print FILE           then save the label in FILE; its extension (.pdf .png\n"
    "                         .svg .zpl) is the format\n"
    "  --layout LAYOUT        label layout for --print (default label-4x6; see layouts)\n"
    "  --printer NAME         apply saved printer NAME's offsets and send FILE to it\n"
    "  --card pm_...          pay with this saved card instead of the balance\n"
    "                         with lp\n"
    "\n"
    "On a network error, timeout or server error (5xx) the purchase is retried up\n"
    "to 3 times with the same idempotency key, so it is never bought twice. If it\n"
    "still fails, the key is printed: rerun with it to finish the same purchase.\n"
    "\n"
    "usage: stamp buy --csv FILE [--print FILE [--layout LAYOUT]] [--card pm_...]\n"
    "                 [--idempotency-key KEY]\n"
    "\n"
    "Buy every order of a CSV file (at most 1000) as one batch, with a progress bar.\n"
    "The header names the columns: reference (the order id, required), mail_class,\n"
    "weight_oz, from_zip, to_zip, mail_date, from_address, to_address (\\n starts a\n"
    "new line), medium_serial, payment_method_id. A failed row is printed with its\n"
    "row number and error and is not charged; --print saves every bought piece in\n"
    "one file (a sheet layout fills its labels). Exit 0 only when every row was\n"
    "bought, 1 when some failed. The key defaults to a hash of the file: running\n"
    "the same file again answers or resumes the same batch, never buying twice.\n";

static const char help_show[] =
    "usage: stamp show ID\n"
    "\n"
    "Show one indicium you bought (ID is ind_...), with its addresses and how often\n"
    "its label was printed.\n";

static const char help_list[] =
    "usage: stamp list [--limit N] [--cursor ID] [--all] [--metadata KEY=VALUE]\n"
    "\n"
    "List your indicia, newest first, as a table.\n"
    "\n"
    "  --limit N     indicia per page (1-10000; the server may cap it)\n"
    "  --cursor ID   start after this indicium (the next_cursor of an earlier page)\n"
    "  --all         follow the pages to the end (with --json: one merged list)\n"
    "  --metadata KEY=VALUE  only the pieces bought with this metadata pair\n";

static const char help_balance[] =
    "usage: stamp balance\n"
    "\n"
    "Show the account the API key belongs to and its prepaid balance.\n";

static const char help_keys[] =
    "usage: stamp keys [--out FILE]\n"
    "\n"
    "Show the vendor's license number and public keys (no API key needed).\n"
    "\n"
    "  --out FILE    save the keys as JSON for `stamp verify --keys FILE --offline`\n";

static const char help_verify[] =
    "usage: stamp verify (--data BASE64 | --id ID | --file FILE | --image FILE)\n"
    "                    [--keys FILE] [--offline] [--export-dir DIR]\n"
    "                    [--location PLACE] [--presented-at TIME]\n"
    "\n"
    "Check an indicium: decode its fields, verify its signature and (online) ask\n"
    "the server whether it was issued by this vendor and presented before.\n"
    "\n"
    "  --data BASE64     the indicium as base64 (the \"data\" of an indicium object)\n"
    "  --id ID           fetch your indicium ID from the server first\n"
    "  --file FILE       raw indicium bytes (\"-\" reads standard input)\n"
    "  --image FILE      a scan or photo of the label (PNG, JPEG) or its PDF:\n"
    "                    the indicium is read from its DataMatrix\n"
    "  --keys FILE       public keys: a file saved by `stamp keys --out`, or one PEM\n"
    "                    public key\n"
    "  --offline         verify locally with --keys; never contact the server\n"
    "                    (duplicates cannot be detected offline)\n"
    "  --export-dir DIR  write body.bin, sig.der and pub.pem so anyone can check:\n"
    "                    openssl dgst -sha256 -verify pub.pem -signature sig.der body.bin\n"
    "  --location PLACE  (postal authority keys) where the piece was presented,\n"
    "                    e.g. a facility id; recorded with the presentation\n"
    "  --presented-at T  (postal authority keys) when, UTC 2026-11-22T09:30:00Z\n"
    "\n"
    "Exit 0 valid, 4 invalid, 5 valid signature but presented before.\n";

static const char help_print[] =
    "usage: stamp print ID... [--layout LAYOUT] [--start ROW,COL] [--offset X,Y]\n"
    "                   [--format FORMAT] [--dpi N] [--printer NAME] [--out FILE]\n"
    "\n"
    "Render the labels of indicia you bought (reprints are free). One ID on a\n"
    "one-label layout is one label; several IDs, or a sheet layout, fill a sheet\n"
    "in order, page after page.\n"
    "\n"
    "  --layout LAYOUT   label-4x6 (default), stamp-1x2, envelope-10, avery-5160, ...\n"
    "                    (stamp layouts lists them)\n"
    "  --start ROW,COL   first free label on a partly used sheet (default 1,1)\n"
    "  --offset X,Y      calibration in mm, at most 2 decimals, within 10 mm each way;\n"
    "                    + moves right and down (default: the printer's saved offsets)\n"
    "  --format FORMAT   pdf, png, svg or zpl (default: from --out's extension, or pdf)\n"
    "  --dpi N           PNG 300 or 600, ZPL 203 or 300 (defaults 300 and 203)\n"
    "  --printer NAME    use saved printer NAME's offsets and send the document to\n"
    "                    it with CUPS lp (zpl is sent raw)\n"
    "  --out FILE        save here; - writes to standard output (not a terminal).\n"
    "                    Default: ID-LAYOUT.FORMAT in the current directory, or\n"
    "                    nothing kept when --printer printed it\n"
    "\n"
    "Exit 3 when lp is not installed or fails; the document is saved all the same.\n";

static const char help_printers[] =
    "usage: stamp printers [list]\n"
    "       stamp printers set NAME --offset X,Y\n"
    "       stamp printers delete NAME\n"
    "\n"
    "Per-printer calibration kept in your account. `stamp print --printer NAME`\n"
    "shifts every page by NAME's offsets, in millimetres: + moves the print right\n"
    "(X) and down (Y). NAME is also the CUPS queue the document is sent to.\n"
    "\n"
    "  --offset X,Y   at most two decimals, within 10 mm each way: 0.5,-0.25\n";

static const char help_admin[] =
    "usage: stamp admin servers [list]\n"
    "       stamp admin servers (drain | disable | enable) ID\n"
    "       stamp admin psds\n"
    "       stamp admin ledger [check]\n"
    "       stamp admin media create-batch --product P --sheets N --affiliate A\n"
    "                         [--paid | --free] [--price DOLLARS] [--csv | --pdf FILE]\n"
    "       stamp admin media show SERIAL\n"
    "       stamp admin affiliate create --name NAME [--customer ID] [--threshold LABELS]\n"
    "                         [--target-days DAYS] [--resupply-sheets N]\n"
    "       stamp admin affiliate list\n"
    "       stamp admin resupply list\n"
    "       stamp admin resupply ship ORDER_ID [--sheets N]\n"
    "\n"
    "Operator commands; STAMP_KEY or --key must hold an operator key (any other\n"
    "key is refused: forbidden, exit 1).\n"
    "\n"
    "  servers              the processors: address, status, HEALTH (ok, or STALE\n"
    "                       and the age of the last heartbeat), the PSDs they lease,\n"
    "                       and the indicia they signed in the last hour and in all\n"
    "                       (count and share of the whole)\n"
    "  servers drain ID     no new purchases for processor ID; its PSD leases pass\n"
    "                       to the other processors\n"
    "  servers disable ID   the same, marked as out of service\n"
    "  servers enable ID    back into service\n"
    "  psds                 the postal deposit, and every PSD's registers in dollars,\n"
    "                       whether they balance and which processor holds its lease\n"
    "  ledger [check]       the server proves the books: every journal balances and\n"
    "                       the registers and deposit add up (exit 4 when not)\n"
    "\n"
    "ID is 1 to 39 letters, digits, '.', '_' or '-' (unknown: not_found, exit 1).\n";

static const char help_authority[] =
    "usage: stamp authority devices | device ID | history ID\n"
    "       stamp authority suspend ID --reason TEXT | resume ID [--reason TEXT]\n"
    "       stamp authority resets [list] | resets lock --reason TEXT | resets unlock\n"
    "       stamp authority deposits | deposit DOLLARS --reference REF [--idempotency-key K]\n"
    "       stamp authority reports | report YYYY-MM-DD [--csv] [--psd N] [--out FILE]\n"
    "       stamp authority claims [--status pending|accepted|rejected]\n"
    "       stamp authority claim ID accept|reject [--reason TEXT]\n"
    "       stamp authority holds [--status standing]\n"
    "       stamp authority hold (--customer ID | --serial N [--psd N]) --reason TEXT\n"
    "       stamp authority lift ID [--reason TEXT]\n"
    "       stamp authority duplicates\n"
    "\n"
    "The postal authority's commands; STAMP_KEY or --key must hold a postal key\n"
    "(sk_postal_...; any other key is refused: forbidden, exit 1). Lists take\n"
    "--limit N and --cursor C (the next page, printed when there is one).\n"
    "\n"
    "  devices, device ID   the vendor's PSDs: status, registers, key, last contact\n"
    "  history ID           every status change and reset of a device, with its\n"
    "                       registers at that moment\n"
    "  suspend, resume      stop a device selling (only the authority lifts its own\n"
    "                       suspension)\n"
    "  resets               every reset with the authority's signature; lock stops\n"
    "                       every reset of the vendor until unlocked\n"
    "  deposits, deposit    the postal deposit's history; credit it (safe to retry\n"
    "                       with the same --idempotency-key)\n"
    "  reports, report      the signed daily per-device reports (JSON Lines, or CSV;\n"
    "                       --psd N: one device's, exactly the bytes it signed)\n"
    "  claims, claim        refunds of unused postage the vendor claims back\n"
    "  holds, hold, lift    stop a customer's purchases, and lift the hold\n"
    "  duplicates           pieces presented more than once\n";

static const char help_layouts[] =
    "usage: stamp layouts\n"
    "\n"
    "List the layouts the server can print: page size, label grid and what they\n"
    "are for.\n";

static const char help_signup[] =
    "usage: stamp signup --email EMAIL [--test] [--name NAME]\n"
    "\n"
    "Create an account and an API key for it. The password (10 to 128 characters)\n"
    "comes from STAMP_PASSWORD or standard input (not echoed on a terminal). The\n"
    "key is printed once as export STAMP_KEY=... so that\n"
    "    eval \"$(stamp signup --email ...)\"\n"
    "sets it for the commands that follow.\n"
    "\n"
    "  --test   a test key (sk_test_): sandbox cards, test balance, test pieces\n"
    "  --name   what to call the key in stamp api-keys (default \"stamp CLI\")\n";

static const char help_login[] =
    "usage: stamp login --email EMAIL [--test] [--operator] [--name NAME]\n"
    "\n"
    "Log in and make a new API key, printed once as export STAMP_KEY=... . The password\n"
    "comes from STAMP_PASSWORD or standard input. Repeated wrong passwords are\n"
    "slowed down and then refused for a while (rate_limited, exit 1).\n"
    "\n"
    "  --operator   log in an operator account (live keys only)\n";

static const char help_api_keys[] =
    "usage: stamp api-keys [list]\n"
    "       stamp api-keys create [--name NAME] [--test]\n"
    "       stamp api-keys revoke ID\n"
    "\n"
    "Your API keys: prefix, mode (live or test), created, revoked. A new key is\n"
    "shown once. Test keys may list but not create or revoke keys.\n";

static const char help_cards[] =
    "usage: stamp cards [list]\n"
    "       stamp cards add --exp MM/YY --zip ZIP\n"
    "       stamp cards remove ID\n"
    "\n"
    "Saved cards (only brand, last four digits and expiry are kept). add reads the\n"
    "card number, then the CVC, from standard input - never from the command line.\n"
    "With a test key the sandbox test cards apply (docs/payments.md).\n";

static const char help_funds[] =
    "usage: stamp funds AMOUNT [--card pm_...] [--idempotency-key KEY]\n"
    "\n"
    "Add AMOUNT dollars (1.00 to 10000.00, whole cents) to your prepaid balance\n"
    "from a saved card (default: the first). Safe to retry with the same key.\n";

static const char help_auto_refill[] =
    "usage: stamp auto-refill [show]\n"
    "       stamp auto-refill set --trigger DOLLARS --amount DOLLARS [--card pm_...]\n"
    "       stamp auto-refill off\n"
    "\n"
    "When a purchase would leave less than --trigger on the balance, first add\n"
    "--amount (at least 5.00) from the saved card.\n";

static const char help_transactions[] =
    "usage: stamp transactions [--limit N]\n"
    "\n"
    "Your balance's history, newest first: top-ups, card charges, auto-refills,\n"
    "postage bought and refunds, each with its amount (+ in, - out).\n";

static const char help_refund[] =
    "usage: stamp refund ID [--status]\n"
    "\n"
    "Ask for a refund of an unused indicium (within 30 days unless the vendor set\n"
    "another window). It is approved - back to the card that paid, else the\n"
    "balance - or denied with a reason: already_scanned, window_expired,\n"
    "test_piece (exit 1). Asked again, the same decision. --status shows it.\n";

struct command {
    const char *name;
    int (*run)(const struct cli *c, int argc, char **argv);
    const char *help;
};

static const struct command commands[] = {
    {"buy", cmd_buy, help_buy},
    {"show", cmd_show, help_show},
    {"list", cmd_list, help_list},
    {"balance", cmd_balance, help_balance},
    {"keys", cmd_keys, help_keys},
    {"verify", cmd_verify, help_verify},
    {"print", cmd_print, help_print},
    {"printers", cmd_printers, help_printers},
    {"layouts", cmd_layouts, help_layouts},
    {"admin", cmd_admin, help_admin},
    {"authority", cmd_authority, help_authority},
    {"signup", cmd_signup, help_signup},
    {"login", cmd_login, help_login},
    {"api-keys", cmd_api_keys, help_api_keys},
    {"cards", cmd_cards, help_cards},
    {"funds", cmd_funds, help_funds},
    {"auto-refill", cmd_auto_refill, help_auto_refill},
    {"transactions", cmd_transactions, help_transactions},
    {"refund", cmd_refund, help_refund},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "stamp%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'stamp %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
    return RC_USAGE;
}

int cli_need_key(const struct cli *c, const char *cmd)
{
    if (c->key)
        return RC_OK;
    return cli_usage_error(cmd, "no API key: set STAMP_KEY or pass --key");
}

/*
 * match - does arg name option name, either exactly ("--class") or with an
 * attached value ("--class=postcard")? *attached gets the value or NULL.
 */
static int match(const char *arg, const char *name, const char **attached)
{
    size_t n = strlen(name);

    if (strncmp(arg, name, n) != 0)
        return 0;
    if (arg[n] == '\0') {
        *attached = NULL;
        return 1;
    }
    if (arg[n] == '=') {
        *attached = arg + n + 1;
        return 1;
    }
    return 0;
}

int cli_parse_opts(const char *cmd, int argc, char **argv, const struct cli_opt *opts,
                   const char **pos, int max_pos, int *npos)
{
    int i, only_pos = 0;

    *npos = 0;
    for (i = 0; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;
        const struct cli_opt *o = NULL;

        if (!only_pos && strcmp(arg, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (only_pos || arg[0] != '-' || arg[1] == '\0') {
            if (*npos >= max_pos)
                return cli_usage_error(cmd, "unexpected argument '%s'", cli_safe(arg));
            pos[(*npos)++] = arg;
            continue;
        }
        for (o = opts; o->name; o++)
            if (match(arg, o->name, &val))
                break;
        if (!o->name)
            return cli_usage_error(cmd, "unknown option '%s'", cli_safe(arg));
        if (o->flag) {
            if (val)
                return cli_usage_error(cmd, "%s takes no value", o->name);
            *o->flag = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "%s needs a value", o->name);
            val = argv[++i];
        }
        *o->value = val;
    }
    return RC_OK;
}

/*
 * normalise_server - check the base URL's scheme and drop trailing slashes
 * into buf. Returns RC_OK or RC_USAGE.
 */
static int normalise_server(const char *url, char *buf, size_t n)
{
    size_t len = strlen(url), i;

    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cli_usage_error(NULL, "--server must be an http:// or https:// URL, not '%s'",
                               cli_safe(url));
    for (i = 0; i < len; i++)
        if ((unsigned char) url[i] <= 0x20 || url[i] == 0x7f)
            return cli_usage_error(NULL, "--server URL contains a space or control character");
    while (len > 0 && url[len - 1] == '/')
        len--;
    if (len >= n)
        return cli_usage_error(NULL, "--server URL is too long");
    memcpy(buf, url, len);
    buf[len] = '\0';
    return RC_OK;
}

/* check_key - the key goes into an HTTP header: no control characters, bounded. */
static int check_key(const char *key)
{
    size_t i, len = strlen(key);

    if (len == 0 || len > 512)
        return cli_usage_error(NULL, "the API key must be 1 to 512 characters");
    for (i = 0; i < len; i++)
        if ((unsigned char) key[i] <= 0x20 || (unsigned char) key[i] >= 0x7f)
            return cli_usage_error(NULL, "the API key contains a space or control character");
    return RC_OK;
}

/* is_loopback - host (n bytes, borrowed) is localhost, 127.x.y.z or [::1]. */
static int is_loopback(const char *host, size_t n)
{
    size_t i;

    if ((n == 9 && strncmp(host, "localhost", 9) == 0) ||
        (n == 5 && strncmp(host, "[::1]", 5) == 0))
        return 1;
    if (n < 4 || strncmp(host, "127.", 4) != 0)
        return 0;
    for (i = 4; i < n; i++)
        if (host[i] != '.' && (host[i] < '0' || host[i] > '9'))
            return 0;
    return 1;
}

/* warn_plaintext - a bearer key sent over http:// to another host can be sniffed. */
static void warn_plaintext(const char *server)
{
    const char *host = server + 7, *end, *at, *colon;

    if (strncmp(server, "http://", 7) != 0)
        return;
    end = host + strcspn(host, "/?#");
    for (at = host; at < end; at++)
        if (*at == '@')
            host = at + 1;
    colon = end;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t) (end - host));
        colon = close ? close + 1 : end;
    } else {
        const char *p = memchr(host, ':', (size_t) (end - host));
        colon = p ? p : end;
    }
    if (is_loopback(host, (size_t) (colon - host)))
        return;
    fprintf(stderr, "warning: sending the API key unencrypted to %s; use https://\n",
            cli_safe(server));
}

static int finish(int rc)
{
    /* A purchase whose receipt never reached the terminal is worth knowing about. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "error: cannot write to standard output\n");
        if (rc == RC_OK)
            rc = RC_FAIL;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static char end_of_options[] = "--";
    const char *server = getenv("STAMP_SERVER"), *key = getenv("STAMP_KEY");
    const char *cmdname = NULL;
    const struct command *cmd = NULL;
    char server_buf[1024];
    char **rest = NULL;
    int nrest = 0, help = 0, version = 0, json = 0, only_pos = 0, rc, i;
    struct cli c;

    rest = calloc((size_t) argc + 1, sizeof *rest);
    if (!rest) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    /* Pull the global options out wherever they are; the rest belongs to the command. */
    for (i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = NULL;

        if (only_pos) {
            if (cmdname) {
                rest[nrest++] = argv[i];
            } else {
                /* "stamp -- buy ...": the command, and after it nothing is an option. */
                cmdname = arg;
                rest[nrest++] = end_of_options;
            }
        } else if (strcmp(arg, "--") == 0) {
            only_pos = 1;
            if (cmdname)
                rest[nrest++] = argv[i];
        } else if (strcmp(arg, "--json") == 0) {
            json = 1;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            help = 1;
        } else if (strcmp(arg, "--version") == 0) {
            version = 1;
        } else if (match(arg, "--server", &val) || match(arg, "--key", &val)) {
            int is_server = arg[2] == 's';
            if (!val) {
                if (i + 1 >= argc) {
                    rc =
                        cli_usage_error(NULL, "%s needs a value", is_server ? "--server" : "--key");
                    goto out;
                }
                val = argv[++i];
            }
            if (is_server)
                server = val;
            else
                key = val;
        } else if (!cmdname) {
            if (arg[0] == '-') {
                rc = cli_usage_error(NULL, "unknown option '%s'", cli_safe(arg));
                goto out;
            }
            cmdname = arg;
        } else {
            rest[nrest++] = argv[i];
        }
    }

    if (version) {
        printf("stamp %s (libcurl %s)\n", pv_version, curl_version_info(CURLVERSION_NOW)->version);
        rc = finish(RC_OK);
        goto out;
    }
    if (cmdname && strcmp(cmdname, "help") == 0) {
        help = 1;
        cmdname = nrest > 0 ? rest[0] : NULL;
    }
    if (cmdname) {
        cmd = find_command(cmdname);
        if (!cmd) {
            rc = cli_usage_error(NULL, "unknown command '%s'", cli_safe(cmdname));
            goto out;
        }
    }
    if (help) {
        fputs(cmd ? cmd->help : usage_text, stdout);
        rc = finish(RC_OK);
        goto out;
    }
    if (!cmd) {
        fputs(usage_text, stderr);
        rc = RC_USAGE;
        goto out;
    }

    if (!server || !*server)
        server = STAMP_DEFAULT_SERVER;
    if ((rc = normalise_server(server, server_buf, sizeof server_buf)) != RC_OK)
        goto out;
    if (key && !*key)
        key = NULL;
    if (key && (rc = check_key(key)) != RC_OK)
        goto out;

    c.server = server_buf;
    c.key = key;
    c.json = json;
    if (key)
        warn_plaintext(c.server);

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "error: cannot initialise libcurl\n");
        rc = RC_FAIL;
        goto out;
    }
    rc = finish(cmd->run(&c, nrest, rest));
    curl_global_cleanup();
out:
    free(rest);
    return rc;
}
