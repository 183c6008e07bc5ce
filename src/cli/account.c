/*
 * account.c - the `stamp` commands about the account and its money:
 * signup, login, api-keys, cards, funds, auto-refill, transactions, refund.
 *
 * Secrets never go on the command line, where `ps` and shell history would
 * keep them: passwords come from STAMP_PASSWORD or standard input, card
 * numbers and CVCs from standard input (read without echo on a terminal),
 * and are wiped after use. `funds` moves money, so like `buy` it always
 * sends an Idempotency-Key and retries only with that key.
 */
#include "cli.h"

#include "stampd/card.h"
#include "stampd/codec.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define SECRET_MAX 256

/*
 * read_secret - one line from standard input into buf (cap bytes), without
 * echo when it is a terminal (prompt on stderr then). 0 or -1.
 */
static int read_secret(const char *prompt, int echo, char *buf, size_t cap)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO), restore = 0;
    size_t n;

    if (tty) {
        fprintf(stderr, "%s", prompt);
        if (!echo && tcgetattr(STDIN_FILENO, &old) == 0) {
            quiet = old;
            quiet.c_lflag &= ~(tcflag_t) ECHO;
            restore = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
        }
    }
    if (!fgets(buf, (int) cap, stdin))
        buf[0] = '\0';
    if (restore) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n == cap - 1) {
        pv_card_wipe(buf, cap);
        return -1; /* longer than we take */
    }
    buf[n] = '\0';
    return n ? 0 : -1;
}

/* ---- signup / login ---- */

static int session_cmd(const struct cli *c, const char *cmd, int argc, char **argv)
{
    const char *email = NULL, *name = NULL;
    int op = 0, test = 0, npos, rc, signup = strcmp(cmd, "signup") == 0;
    const struct cli_opt opts[] = {
        {"--email", &email, NULL}, {"--name", &name, NULL}, {"--test", NULL, &test},
        {"--operator", NULL, &op}, {NULL, NULL, NULL},
    };
    char pw[SECRET_MAX];
    const char *env = getenv("STAMP_PASSWORD");
    json_t *body, *out = NULL;
    const json_t *key;
    char *text;

    if ((rc = cli_parse_opts(cmd, argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    if (!email)
        return cli_usage_error(cmd, "missing --email");
    if (op && (signup || test))
        return cli_usage_error(cmd, "--operator logs in an operator (live keys only)");
    if (env && *env)
        pv_str_copy(pw, sizeof pw, env);
    else if (read_secret("password: ", 0, pw, sizeof pw) != 0)
        return cli_usage_error(cmd, "no password: set STAMP_PASSWORD or type it on stdin");
    body = json_pack("{s:s, s:s, s:{s:s, s:s}}", "email", email, "password", pw, "api_key", "name",
                     name ? name : "stamp CLI", "mode", test ? "test" : "live");
    if (body && op)
        json_object_set_new(body, "role", json_string("operator"));
    pv_card_wipe(pw, sizeof pw);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return cli_usage_error(cmd, "--email and --name must be valid UTF-8");
    rc = cli_call(c, "POST", signup ? "/v1/signup" : "/v1/login", text, NULL, CLI_NOAUTH, &out,
                  NULL);
    pv_card_wipe(text, strlen(text));
    free(text);
    if (rc != RC_OK)
        return rc;
    key = json_object_get(out, "api_key");
    if (!cli_jstr(key, "key")) {
        fprintf(stderr, "error: the server's answer has no API key\n");
        rc = RC_FAIL;
    } else {
        /* stdout is for `eval "$(stamp login ...)"`; the story goes to stderr. */
        fprintf(stderr, "%s %s (%s); new %s key %s, shown once:\n",
                signup ? "signed up" : "logged in as", cli_safe(cli_jstr(out, "email")),
                cli_safe(cli_jstr(out, "id")), cli_safe(cli_jstr(key, "mode")),
                cli_safe(cli_jstr(key, "id")));
        printf("export STAMP_KEY=%s\n", cli_safe(cli_jstr(key, "key")));
    }
    json_decref(out);
    return rc;
}

int cmd_signup(const struct cli *c, int argc, char **argv)
{
    return session_cmd(c, "signup", argc, argv);
}

int cmd_login(const struct cli *c, int argc, char **argv)
{
    return session_cmd(c, "login", argc, argv);
}

/* ---- api-keys ---- */

int cmd_api_keys(const struct cli *c, int argc, char **argv)
{
    const char *name = NULL, *pos[2];
    int test = 0, npos, rc;
    const struct cli_opt opts[] = {
        {"--name", &name, NULL}, {"--test", NULL, &test}, {NULL, NULL, NULL}};
    const json_t *list, *k;
    json_t *doc = NULL, *body;
    char path[256], esc[128], *text;
    const char *sub;
    size_t i;

    if ((rc = cli_parse_opts("api-keys", argc, argv, opts, pos, 2, &npos)) != RC_OK)
        return rc;
    sub = npos ? pos[0] : "list";
    if ((rc = cli_need_key(c, "api-keys")) != RC_OK)
        return rc;
    if (strcmp(sub, "list") == 0 && npos <= 1) {
        if ((rc = cli_get_list(c, "/v1/account/api-keys", "data", &doc, &list)) != RC_OK || !list)
            goto out;
        printf("%-26s  %-14s  %-4s  %-20s  %-20s  %s\n", "ID", "PREFIX", "MODE", "CREATED",
               "REVOKED", "NAME");
        json_array_foreach(list, i, k)
        {
            printf("%-26s  %-14s  %-4s  %-20s  %-20s  %s\n", cli_safe(cli_jstr(k, "id")),
                   cli_safe(cli_jstr(k, "prefix")), cli_safe(cli_jstr(k, "mode")),
                   cli_safe(cli_jstr(k, "created")),
                   cli_jstr(k, "revoked_at") ? cli_safe(cli_jstr(k, "revoked_at")) : "-",
                   cli_safe(cli_jstr(k, "name")));
        }
    } else if (strcmp(sub, "create") == 0 && npos == 1) {
        body = json_pack("{s:s, s:s}", "name", name ? name : "", "mode", test ? "test" : "live");
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
            return cli_usage_error("api-keys", "--name must be valid UTF-8");
        rc = cli_call(c, "POST", "/v1/account/api-keys", text, NULL, 0, &doc, NULL);
        free(text);
        if (rc != RC_OK)
            goto out;
        if (c->json) {
            rc = cli_print_json(doc);
        } else {
            fprintf(stderr, "new %s key %s, shown once:\n", cli_safe(cli_jstr(doc, "mode")),
                    cli_safe(cli_jstr(doc, "id")));
            printf("STAMP_KEY=%s\n", cli_safe(cli_jstr(doc, "key")));
        }
    } else if (strcmp(sub, "revoke") == 0 && npos == 2) {
        if (cli_url_escape(pos[1], esc, sizeof esc) != 0)
            return cli_usage_error("api-keys", "key id is too long");
        snprintf(path, sizeof path, "/v1/account/api-keys/%s", esc);
        if ((rc = cli_call(c, "DELETE", path, NULL, NULL, CLI_RETRY, &doc, NULL)) == RC_OK)
            rc = c->json ? cli_print_json(doc) : (printf("revoked %s\n", cli_safe(pos[1])), 0);
    } else {
        return cli_usage_error("api-keys", "expected list, create [--name N] [--test] or "
                                           "revoke ID");
    }
out:
    json_decref(doc);
    return rc;
}

/* ---- cards ---- */

/* "MM/YY" or "MM/YYYY" into month and year. */
static int parse_exp(const char *s, int *month, int *year)
{
    uint64_t m, y;
    char mm[3], yy[5];
    const char *slash = s ? strchr(s, '/') : NULL;
    size_t a, b;

    if (!slash)
        return -1;
    a = (size_t) (slash - s);
    b = strlen(slash + 1);
    if (a < 1 || a > 2 || (b != 2 && b != 4))
        return -1;
    memcpy(mm, s, a);
    mm[a] = '\0';
    memcpy(yy, slash + 1, b + 1);
    if (pv_parse_u64(mm, 1, 12, &m) != 0 || pv_parse_u64(yy, 0, 9999, &y) != 0)
        return -1;
    *month = (int) m;
    *year = (int) (b == 2 ? 2000 + y : y);
    return 0;
}

static void print_card(const json_t *k)
{
    json_int_t m = 0, y = 0;

    cli_jint(k, "exp_month", &m);
    cli_jint(k, "exp_year", &y);
    printf("%-26s  %-10s  **** %-4s  %02d/%04d  %s\n", cli_safe(cli_jstr(k, "id")),
           cli_safe(cli_jstr(k, "brand")), cli_safe(cli_jstr(k, "last4")), (int) m, (int) y,
           cli_safe(cli_jstr(k, "mode")));
}

int cmd_cards(const struct cli *c, int argc, char **argv)
{
    const char *exp = NULL, *zip = NULL, *pos[2], *sub;
    const struct cli_opt opts[] = {
        {"--exp", &exp, NULL}, {"--zip", &zip, NULL}, {NULL, NULL, NULL}};
    char number[SECRET_MAX], cvc[SECRET_MAX], path[256], esc[128], *text = NULL;
    const json_t *list, *k;
    json_t *doc = NULL, *body;
    int npos, rc, month, year;
    size_t i;

    if ((rc = cli_parse_opts("cards", argc, argv, opts, pos, 2, &npos)) != RC_OK)
        return rc;
    sub = npos ? pos[0] : "list";
    if ((rc = cli_need_key(c, "cards")) != RC_OK)
        return rc;
    if (strcmp(sub, "list") == 0 && npos <= 1) {
        if ((rc = cli_get_list(c, "/v1/payment-methods", "data", &doc, &list)) != RC_OK || !list)
            goto out;
        if (json_array_size(list) == 0)
            printf("no saved cards (add one: stamp cards add --exp MM/YY --zip ZIP)\n");
        json_array_foreach(list, i, k) print_card(k);
    } else if (strcmp(sub, "add") == 0 && npos == 1) {
        if (!exp || !zip || parse_exp(exp, &month, &year) != 0)
            return cli_usage_error("cards", "add needs --exp MM/YY and --zip ZIP; the number "
                                            "and CVC are read from standard input");
        if (read_secret("card number: ", 1, number, sizeof number) != 0 ||
            read_secret("CVC: ", 0, cvc, sizeof cvc) != 0) {
            pv_card_wipe(number, sizeof number);
            return cli_usage_error("cards", "no card number and CVC on standard input");
        }
        body = json_pack("{s:{s:s, s:i, s:i, s:s, s:s}}", "card", "number", number, "exp_month",
                         month, "exp_year", year, "cvc", cvc, "zip", zip);
        pv_card_wipe(number, sizeof number);
        pv_card_wipe(cvc, sizeof cvc);
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
            return cli_usage_error("cards", "card fields must be valid UTF-8");
        rc = cli_call(c, "POST", "/v1/payment-methods", text, NULL, 0, &doc, NULL);
        pv_card_wipe(text, strlen(text));
        if (rc == RC_OK) {
            if (c->json)
                rc = cli_print_json(doc);
            else
                print_card(doc);
        }
    } else if (strcmp(sub, "remove") == 0 && npos == 2) {
        if (cli_url_escape(pos[1], esc, sizeof esc) != 0)
            return cli_usage_error("cards", "card id is too long");
        snprintf(path, sizeof path, "/v1/payment-methods/%s", esc);
        if ((rc = cli_call(c, "DELETE", path, NULL, NULL, CLI_RETRY, &doc, NULL)) == RC_OK)
            rc = c->json ? cli_print_json(doc) : (printf("removed %s\n", cli_safe(pos[1])), 0);
    } else {
        return cli_usage_error("cards", "expected list, add --exp MM/YY --zip ZIP, or remove ID");
    }
out:
    free(text);
    json_decref(doc);
    return rc;
}

/* The first saved card's id into buf, or RC_REFUSED with a hint. */
static int default_card(const struct cli *c, char *buf, size_t n)
{
    json_t *doc = NULL;
    const json_t *list;
    int rc;

    if ((rc = cli_call(c, "GET", "/v1/payment-methods", NULL, NULL, CLI_RETRY, &doc, NULL)) !=
        RC_OK)
        return rc;
    list = json_object_get(doc, "data");
    if (!json_is_array(list) || !cli_jstr(json_array_get(list, 0), "id")) {
        fprintf(stderr, "error: no saved card; add one with stamp cards add, or pass --card\n");
        rc = RC_REFUSED;
    } else {
        pv_str_copy(buf, n, cli_jstr(json_array_get(list, 0), "id"));
    }
    json_decref(doc);
    return rc;
}

/* ---- funds ---- */

int cmd_funds(const struct cli *c, int argc, char **argv)
{
    const char *card = NULL, *idem = NULL, *pos[1];
    const struct cli_opt opts[] = {
        {"--card", &card, NULL}, {"--idempotency-key", &idem, NULL}, {NULL, NULL, NULL}};
    char pm[64], keybuf[33], money[48], *text;
    json_t *doc = NULL, *body;
    json_int_t bal;
    struct cli_reply meta;
    int npos, rc;

    if ((rc = cli_parse_opts("funds", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error("funds", "how much? stamp funds 25.00 [--card pm_...]");
    if ((rc = cli_need_key(c, "funds")) != RC_OK)
        return rc;
    if (!card) {
        if ((rc = default_card(c, pm, sizeof pm)) != RC_OK)
            return rc;
        card = pm;
    }
    if (idem && cli_check_idem_key(idem) != 0)
        return cli_usage_error("funds", CLI_IDEM_KEY_USAGE, CLI_IDEM_KEY_MAX);
    if (!idem && !(idem = cli_new_idem_key(keybuf)))
        return RC_FAIL;
    body = json_pack("{s:s, s:{s:s, s:s}}", "amount", pos[0], "payment", "method", "card",
                     "payment_method_id", card);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return cli_usage_error("funds", "arguments must be valid UTF-8");
    rc = cli_call(c, "POST", "/v1/account/funds", text, idem, CLI_RETRY, &doc, &meta);
    free(text);
    if (rc == RC_FAIL)
        fprintf(stderr,
                "note: the card may or may not have been charged. Run the same command with\n"
                "      --idempotency-key %s\n"
                "      to finish it; it will not be charged twice.\n",
                cli_safe(idem));
    if (rc != RC_OK)
        goto out;
    if (c->json) {
        rc = cli_print_json(doc);
    } else {
        printf("added     $%s to your balance (%s)\n", cli_safe(cli_jstr(doc, "amount")),
               cli_safe(cli_jstr(doc, "id")));
        if (cli_jint(doc, "balance_mills", &bal))
            printf("balance   %s\n", cli_money(bal, money, sizeof money));
    }
out:
    json_decref(doc);
    return rc;
}

/* ---- auto-refill ---- */

int cmd_auto_refill(const struct cli *c, int argc, char **argv)
{
    const char *trigger = NULL, *amount = NULL, *card = NULL, *pos[1], *sub;
    const struct cli_opt opts[] = {{"--trigger", &trigger, NULL},
                                   {"--amount", &amount, NULL},
                                   {"--card", &card, NULL},
                                   {NULL, NULL, NULL}};
    char pm[64], *text = NULL;
    json_t *doc = NULL, *body = NULL;
    int npos, rc, on;

    if ((rc = cli_parse_opts("auto-refill", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    sub = npos ? pos[0] : "show";
    if ((rc = cli_need_key(c, "auto-refill")) != RC_OK)
        return rc;
    on = strcmp(sub, "set") == 0;
    if (on || strcmp(sub, "off") == 0) {
        if (on && (!trigger || !amount))
            return cli_usage_error("auto-refill", "set needs --trigger DOLLARS and --amount "
                                                  "DOLLARS");
        if (on && !card) {
            if ((rc = default_card(c, pm, sizeof pm)) != RC_OK)
                return rc;
            card = pm;
        }
        body = on ? json_pack("{s:b, s:s, s:s, s:s}", "enabled", 1, "trigger", trigger, "amount",
                              amount, "payment_method_id", card)
                  : json_pack("{s:b}", "enabled", 0);
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
            return cli_usage_error("auto-refill", "arguments must be valid UTF-8");
        rc = cli_call(c, "PUT", "/v1/account/auto-refill", text, NULL, CLI_RETRY, &doc, NULL);
        free(text);
    } else if (strcmp(sub, "show") == 0) {
        rc = cli_call(c, "GET", "/v1/account/auto-refill", NULL, NULL, CLI_RETRY, &doc, NULL);
    } else {
        return cli_usage_error("auto-refill", "expected show, set --trigger D --amount D "
                                              "[--card pm_...], or off");
    }
    if (rc != RC_OK)
        goto out;
    if (c->json) {
        rc = cli_print_json(doc);
    } else if (json_is_true(json_object_get(doc, "enabled"))) {
        printf("auto-refill on: when a purchase would leave less than $%s, add $%s from %s\n",
               cli_safe(cli_jstr(doc, "trigger")), cli_safe(cli_jstr(doc, "amount")),
               cli_safe(cli_jstr(doc, "payment_method_id")));
    } else {
        printf("auto-refill off\n");
    }
out:
    json_decref(doc);
    return rc;
}

/* ---- transactions ---- */

int cmd_transactions(const struct cli *c, int argc, char **argv)
{
    const char *limit = NULL;
    const struct cli_opt opts[] = {{"--limit", &limit, NULL}, {NULL, NULL, NULL}};
    char path[128], money[48];
    const json_t *list, *t;
    json_t *doc = NULL;
    json_int_t mills;
    uint64_t n = 20;
    int npos, rc;
    size_t i;

    if ((rc = cli_parse_opts("transactions", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    if (limit && pv_parse_u64(limit, 1, 100, &n) != 0)
        return cli_usage_error("transactions", "--limit must be 1 to 100");
    if ((rc = cli_need_key(c, "transactions")) != RC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/account/transactions?limit=%u", (unsigned) n);
    if ((rc = cli_get_list(c, path, "data", &doc, &list)) != RC_OK || !list)
        goto out;
    printf("%-20s  %-13s  %12s  %s\n", "DATE", "KIND", "AMOUNT", "FOR");
    json_array_foreach(list, i, t)
    {
        printf("%-20s  %-13s  %12s  %s\n", cli_safe(cli_jstr(t, "created")),
               cli_safe(cli_jstr(t, "kind")),
               cli_jint(t, "amount_mills", &mills) ? cli_money(mills, money, sizeof money) : "-",
               cli_safe(cli_jstr(t, "ref")));
    }
    if (json_is_true(json_object_get(doc, "has_more")))
        printf("(more: --json shows next_cursor)\n");
out:
    json_decref(doc);
    return rc;
}

/* ---- refund ---- */

int cmd_refund(const struct cli *c, int argc, char **argv)
{
    int status_only = 0, npos, rc;
    const struct cli_opt opts[] = {{"--status", NULL, &status_only}, {NULL, NULL, NULL}};
    const char *pos[1], *reason;
    char path[512], esc[400];
    json_t *doc = NULL;

    if ((rc = cli_parse_opts("refund", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error("refund", "which indicium? stamp refund ind_...");
    if (cli_url_escape(pos[0], esc, sizeof esc) != 0)
        return cli_usage_error("refund", "indicium id is too long");
    if ((rc = cli_need_key(c, "refund")) != RC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/indicia/%s/refund", esc);
    rc = cli_call(c, status_only ? "GET" : "POST", path, NULL, NULL, status_only ? CLI_RETRY : 0,
                  &doc, NULL);
    if (rc != RC_OK)
        goto out;
    if (c->json) {
        rc = cli_print_json(doc);
        goto out;
    }
    reason = cli_jstr(doc, "reason");
    printf("refund    %s\nstatus    %s%s%s\namount    $%s\n", cli_safe(cli_jstr(doc, "id")),
           cli_safe(cli_jstr(doc, "status")), reason ? ": " : "", reason ? cli_safe(reason) : "",
           cli_safe(cli_jstr(doc, "amount")));
    if (cli_jstr(doc, "destination"))
        printf("to        %s\n", cli_safe(cli_jstr(doc, "destination")));
    /* A denied refund is the server saying no: exit 1 like any refusal. */
    if (strcmp(cli_jstr(doc, "status") ? cli_jstr(doc, "status") : "", "denied") == 0)
        rc = RC_REFUSED;
out:
    json_decref(doc);
    return rc;
}
