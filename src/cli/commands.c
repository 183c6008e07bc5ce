/*
 * commands.c - the `stamp` commands that read or buy: buy, show, list,
 * balance and keys.
 *
 * Each command parses its own options, makes its requests through
 * cli_call() and prints either the server's JSON (--json) or a stable
 * human rendering. Human output never trusts a member's type: a missing or
 * mistyped field prints as "-" rather than crashing or lying. `buy` is the
 * one command that moves money, so it always sends an Idempotency-Key and
 * retries only with that same key; everything `buy --print` needs is
 * checked before the purchase, and the label is fetched after it through
 * print.c, so a failed download never costs a second purchase.
 */
#include "cli.h"

#include "stampd/codec.h"

#include <stdlib.h>
#include <string.h>

#define LIST_LIMIT_MAX 10000
/* --json --all holds every item in memory; stop (with has_more) beyond this. */
#define LIST_MERGE_MAX 100000
#define CURSOR_MAX     256

/* weight_str - "1.0" for an indicium's weight_oz, or "-". */
static const char *weight_str(const json_t *ind, char *buf, size_t n)
{
    const json_t *w = json_object_get(ind, "weight_oz");

    if (json_is_real(w) || json_is_integer(w)) {
        snprintf(buf, n, "%.1f", json_number_value(w));
        return buf;
    }
    return "-";
}

/*
 * print_address - an address member (lines joined by "\n") as a labelled
 * block, each line made safe on its own; nothing when null or missing.
 */
static void print_address(const json_t *ind, const char *key, const char *label)
{
    const char *text = cli_jstr(ind, key);
    char line[256];

    while (text && *text) {
        size_t n = strcspn(text, "\n");
        snprintf(line, sizeof line, "%.*s", (int) (n < sizeof line ? n : sizeof line - 1), text);
        printf("%-12s%s\n", label, cli_safe(line));
        label = "";
        text += n;
        if (*text == '\n')
            text++;
    }
}

/* print_metadata - one "metadata  key=value" line per pair of the piece's metadata. */
static void print_metadata(const json_t *ind)
{
    const char *label = "metadata", *key;
    json_t *v;

    json_object_foreach((json_t *) json_object_get(ind, "metadata"), key, v)
    {
        printf("%-12s%s=", label, cli_safe(key));
        printf("%s\n", cli_safe(json_string_value(v)));
        label = "";
    }
}

/* postage_str - "$0.74" from postage_mills, else the "postage" string, else "-". */
static const char *postage_str(const json_t *ind, char *buf, size_t n)
{
    json_int_t mills;
    const char *s;

    if (cli_jint(ind, "postage_mills", &mills))
        return cli_money(mills, buf, n);
    if ((s = cli_jstr(ind, "postage")) != NULL) {
        snprintf(buf, n, "$%s", cli_safe(s));
        return buf;
    }
    return "-";
}

void cli_print_indicium(const json_t *ind, int with_balance)
{
    char money[48], wbuf[32];
    const char *medium = cli_jstr(ind, "medium_serial");
    const json_t *pos;
    json_int_t n;
    int test = 0;

    printf("%-12s%s\n", "id", cli_safe(cli_jstr(ind, "id")));
    printf("%-12s%s\n", "postage", postage_str(ind, money, sizeof money));
    printf("%-12s%s, %s oz\n", "class", cli_safe(cli_jstr(ind, "mail_class")),
           weight_str(ind, wbuf, sizeof wbuf));
    printf("%-12s%s\n", "mail date", cli_safe(cli_jstr(ind, "mail_date")));
    printf("%-12s%s -> %s\n", "from -> to", cli_safe(cli_jstr(ind, "from_zip")),
           cli_safe(cli_jstr(ind, "to_zip")));
    printf("%-12s%s/%s\n", "PSD/serial", cli_scalar(json_object_get(ind, "psd_id")),
           cli_scalar(json_object_get(ind, "serial")));
    printf("%-12s%s, key %s\n", "license", cli_safe(cli_jstr(ind, "license")),
           cli_scalar(json_object_get(ind, "key_id")));
    printf("%-12s%s\n", "server", cli_safe(cli_jstr(ind, "server_id")));
    if (medium)
        printf("%-12s%s\n", "medium", cli_safe(medium));
    if ((pos = json_object_get(ind, "medium")) && cli_jint(pos, "label", &n))
        printf("%-12s%" JSON_INTEGER_FORMAT " (row %s, column %s) of %s %s\n", "label", n,
               cli_scalar(json_object_get(pos, "row")), cli_scalar(json_object_get(pos, "column")),
               cli_safe(cli_jstr(pos, "layout")),
               cli_jstr(pos, "sheet_serial") ? cli_safe(cli_jstr(pos, "sheet_serial")) : "sheet");
    print_address(ind, "from_address", "from addr");
    print_address(ind, "to_address", "to addr");
    print_metadata(ind);
    cli_print_options(ind);
    if (!with_balance) {
        printf("%-12s%s\n", "created", cli_safe(cli_jstr(ind, "created")));
        if (cli_jint(ind, "presentations", &n))
            printf("%-12s%" JSON_INTEGER_FORMAT " time%s\n", "presented", n, n == 1 ? "" : "s");
        if (cli_jint(ind, "prints", &n))
            printf("%-12s%" JSON_INTEGER_FORMAT "\n", "prints", n);
    }
    if (cli_jbool(ind, "test", &test) && test)
        printf("%-12s%s\n", "TEST", "test piece: not valid as postage");
    if (with_balance && cli_jint(ind, "balance_mills", &n))
        printf("%-12s%s left\n", "balance", cli_money(n, money, sizeof money));
}

/* set_str - obj[key] = s; returns 0 or -1 on allocation failure. */
static int set_str(json_t *obj, const char *key, const char *s)
{
    return json_object_set_new(obj, key, json_string(s));
}

/*
 * buy_body - the JSON text of a purchase, owned (free()), or NULL when a
 * string is not UTF-8 or memory runs out. The weight goes out as an
 * integer when whole, else as a real printed with exactly one decimal.
 */

static char *buy_body(const char *cls, uint32_t tenths, const char *from, const char *to,
                      const char *date, const char *medium, int buy_medium, const char *from_addr,
                      const char *to_addr, const char *card, json_t *metadata,
                      const struct cli_buy_opts *bo)
{
    json_t *obj = json_object();
    json_t *w = tenths % 10 == 0 ? json_integer((json_int_t) (tenths / 10))
                                 : json_real((double) tenths / 10.0);
    char *text = NULL;
    uint32_t v;
    int digits = 1;

    if (!obj || !w)
        goto out;
    /* json_object_set (not _new) so that w stays ours whichever step fails. */
    if (set_str(obj, "mail_class", cls) || json_object_set(obj, "weight_oz", w) ||
        set_str(obj, "from_zip", from) || set_str(obj, "to_zip", to) ||
        (date && set_str(obj, "mail_date", date)) ||
        (medium && set_str(obj, "medium_serial", medium)) ||
        (buy_medium && json_object_set_new(obj, "commit_to_purchase_medium", json_true())) ||
        (from_addr && set_str(obj, "from_address", from_addr)) ||
        (to_addr && set_str(obj, "to_address", to_addr)) ||
        (metadata && json_object_set(obj, "metadata", metadata)) || cli_buy_opts_set(obj, bo) ||
        (card && json_object_set_new(
                     obj, "payment",
                     json_pack("{s:s, s:s}", "method", "card", "payment_method_id", card)) != 0))
        goto out;
    /* %.{digits+1}g prints 2.5 as "2.5", not "2.5000000000000000". */
    for (v = tenths / 10; v >= 10; v /= 10)
        digits++;
    text = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(digits + 1));
out:
    json_decref(w);
    json_decref(obj);
    return text;
}

/*
 * address_opt - the text of --from-address / --to-address (borrowed, may
 * be NULL) unescaped into *out (owned, free(); NULL when not given) and
 * checked. Returns RC_OK, RC_USAGE (printed) or RC_FAIL (out of memory).
 */
static int address_opt(const char *opt, const char *arg, char **out)
{
    const char *why;

    *out = NULL;
    if (!arg)
        return RC_OK;
    if (!(*out = cli_unescape_text(arg))) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    if (cli_check_address(*out, &why) != 0) {
        free(*out);
        *out = NULL;
        return cli_usage_error("buy",
                               "%s %s (at most %d lines of %d characters; \\n starts a line)", opt,
                               why, CLI_ADDRESS_LINES, CLI_ADDRESS_LINE_MAX);
    }
    return RC_OK;
}

/*
 * check_print_opts - everything `buy --print` will need, checked before any
 * money moves: the format from FILE's extension, a writable place for
 * FILE, and plausible layout and printer names. *fmt gets the format.
 */
static int check_print_opts(const char *print, const char *layout, const char *printer,
                            const char **fmt)
{
    *fmt = NULL;
    if (!print) {
        if (layout || printer)
            return cli_usage_error("buy", "--layout and --printer go with --print FILE");
        return RC_OK;
    }
    if (!(*fmt = cli_format_from_path(print)))
        return cli_usage_error("buy",
                               "--print '%s': the file name must end in .pdf, .png, .svg or "
                               ".zpl, which chooses the label's format",
                               cli_safe(print));
    if (layout && !cli_valid_name(layout, CLI_NAME_MAX))
        return cli_usage_error("buy", "--layout '%s': not a layout name; see 'stamp layouts'",
                               cli_safe(layout));
    if (printer && !cli_valid_name(printer, CLI_NAME_MAX))
        return cli_usage_error("buy",
                               "--printer '%s': a printer name is 1 to %d letters, digits, "
                               "'.', '_' or '-'",
                               cli_safe(printer), CLI_NAME_MAX);
    return cli_check_writable(print);
}

/*
 * print_preflight - with the server, what `buy --print` can check before
 * paying: the layout exists, the printer is saved, lp is installed.
 */
static int print_preflight(const struct cli *c, const char *layout, const char *printer)
{
    int found, sheet, rc;

    if (printer && !cli_lp_available()) {
        fprintf(stderr, "error: lp not found: install cups-client, or leave out --printer and "
                        "print FILE yourself\nnote: nothing was bought\n");
        return RC_FAIL;
    }
    if (layout) {
        if ((rc = cli_layout_lookup(c, layout, &found, &sheet)) != RC_OK)
            return rc;
        if (!found)
            return cli_usage_error("buy", "--layout '%s': no such layout; see 'stamp layouts'",
                                   cli_safe(layout));
    }
    if (printer) {
        if ((rc = cli_printer_lookup(c, printer, &found)) != RC_OK)
            return rc;
        if (!found) {
            fprintf(stderr,
                    "stamp buy: --printer %s: no printer of that name is saved in your "
                    "account\n" CLI_PRINTER_HINT "note: nothing was bought\n",
                    cli_safe(printer), cli_safe(printer), cli_safe(printer));
            return RC_USAGE;
        }
    }
    return RC_OK;
}

/* buy_label - download the new indicium's label into FILE (and to the printer). */
static int buy_label(const struct cli *c, const char *id, const char *print, const char *fmt,
                     const char *layout, const char *printer)
{
    const char *ids[1];
    struct cli_job job;
    struct cli_job_result res;
    FILE *msgs = c->json ? stderr : stdout;
    char size[32];
    int rc;

    ids[0] = id;
    memset(&job, 0, sizeof job);
    job.ids = ids;
    job.nids = 1;
    job.layout = layout ? layout : CLI_DEFAULT_LAYOUT;
    job.format = fmt;
    job.out = print;
    job.printer = printer;
    rc = cli_job_run(c, &job, &res);
    if (rc == RC_OK || res.file[0]) {
        if (res.bytes < 1000)
            snprintf(size, sizeof size, "%zu bytes", res.bytes);
        else
            snprintf(size, sizeof size, "%.1f kB", (double) res.bytes / 1e3);
        fprintf(msgs, "%-12ssaved to %s (%s)\n", "label", cli_safe(res.file), size);
    }
    if (res.printed)
        fprintf(msgs, "%-12ssent to %s\n", "printer", cli_safe(printer));
    if (rc != RC_OK && !res.file[0])
        fprintf(stderr,
                "note: the postage was bought; reprints are free: stamp print %s --out %s%s%s\n",
                cli_safe(id), cli_safe(print), layout ? " --layout " : "",
                layout ? cli_safe(layout) : "");
    return rc;
}

int cmd_buy(const struct cli *c, int argc, char **argv)
{
    const char *cls = NULL, *weight = NULL, *from = NULL, *to = NULL, *date = NULL;
    const char *medium = NULL, *idem = NULL, *print = NULL, *layout = NULL, *printer = NULL;
    const char *from_addr_opt = NULL, *to_addr_opt = NULL, *fmt = NULL, *card = NULL;
    const char *csv = NULL;
    int buy_medium = 0;
    struct cli_buy_opts bo = {NULL, 0, 0};
    const struct cli_opt opts[] = {
        {"--class", &cls, NULL},
        {"--weight", &weight, NULL},
        {"--from", &from, NULL},
        {"--to", &to, NULL},
        {"--date", &date, NULL},
        {"--medium", &medium, NULL},
        {"--idempotency-key", &idem, NULL},
        {"--from-address", &from_addr_opt, NULL},
        {"--to-address", &to_addr_opt, NULL},
        {"--print", &print, NULL},
        {"--layout", &layout, NULL},
        {"--printer", &printer, NULL},
        {"--card", &card, NULL},
        {"--buy-medium", NULL, &buy_medium},
        {"--csv", &csv, NULL},
        {"--services", &bo.services, NULL},
        {"--non-machinable", NULL, &bo.non_machinable},
        {"--no-address-check", NULL, &bo.no_address_check},
        {NULL, NULL, NULL},
    };
    char missing[128] = "", keybuf[33];
    char *body = NULL, *from_addr = NULL, *to_addr = NULL;
    json_t *ind = NULL;
    struct cli_reply meta;
    json_t *metadata = NULL;
    uint32_t tenths;
    int npos, rc;

    if ((rc = cli_metadata_opts("buy", &argc, argv, &metadata)) != RC_OK)
        return rc;
    if ((rc = cli_parse_opts("buy", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        goto out;
    if (csv) {
        /* Bulk (bulk.c): the pieces come from the file. */
        if (cls || weight || from || to || date || medium || buy_medium || from_addr_opt ||
            to_addr_opt || printer || metadata || bo.services || bo.non_machinable ||
            bo.no_address_check)
            rc = cli_usage_error("buy", "--csv takes every piece from the file: only "
                                        "--idempotency-key, --card, --print and --layout go "
                                        "with it");
        else if (idem && cli_check_idem_key(idem) != 0)
            rc = cli_usage_error("buy", CLI_IDEM_KEY_USAGE, CLI_IDEM_KEY_MAX);
        else if ((rc = check_print_opts(print, layout, NULL, &fmt)) == RC_OK &&
                 (rc = cli_need_key(c, "buy")) == RC_OK &&
                 (!print || (rc = print_preflight(c, layout, NULL)) == RC_OK))
            rc = cli_buy_csv(c, csv, idem, print, fmt, layout, card);
        goto out;
    }
    snprintf(missing, sizeof missing, "%s%s%s%s", cls ? "" : " --class", weight ? "" : " --weight",
             from ? "" : " --from", to ? "" : " --to");
    if (missing[0])
        rc = cli_usage_error("buy", "missing%s", missing);
    else if (cli_parse_weight(weight, &tenths) != 0)
        rc = cli_usage_error("buy",
                             "--weight '%s': expected ounces above 0 with at most one "
                             "decimal, such as 1 or 2.5",
                             cli_safe(weight));
    else if (idem && cli_check_idem_key(idem) != 0)
        rc = cli_usage_error("buy", CLI_IDEM_KEY_USAGE, CLI_IDEM_KEY_MAX);
    else
        rc = check_print_opts(print, layout, printer, &fmt);
    if (rc != RC_OK)
        goto out;
    if ((rc = address_opt("--from-address", from_addr_opt, &from_addr)) != RC_OK ||
        (rc = address_opt("--to-address", to_addr_opt, &to_addr)) != RC_OK)
        goto out;
    if ((rc = cli_need_key(c, "buy")) != RC_OK)
        goto out;
    if (print && (rc = print_preflight(c, layout, printer)) != RC_OK)
        goto out;
    if (!idem && !(idem = cli_new_idem_key(keybuf))) {
        rc = RC_FAIL;
        goto out;
    }
    if (!(body = buy_body(cls, tenths, from, to, date, medium, buy_medium, from_addr, to_addr, card,
                          metadata, &bo))) {
        /* The only input json_string() refuses is text that is not UTF-8. */
        rc = cli_usage_error("buy", "option values must be valid UTF-8");
        goto out;
    }

    rc = cli_call(c, "POST", "/v1/indicia", body, idem, CLI_RETRY, &ind, &meta);
    if (rc == RC_FAIL) {
        fprintf(stderr,
                "note: the purchase may or may not have been made. Run the same command with\n"
                "      --idempotency-key %s\n"
                "      to finish it or show it; it will not be charged twice.\n",
                cli_safe(idem));
        goto out;
    }
    if (rc != RC_OK)
        goto out;
    if (!cli_jstr(ind, "id")) {
        fprintf(stderr, "error: the server's answer has no indicium id (idempotency key %s)\n",
                cli_safe(idem));
        rc = RC_FAIL;
        goto out;
    }
    if (meta.replayed)
        fprintf(stderr,
                "note: the server had already completed this purchase (idempotency key "
                "%s); this is that indicium, charged once\n",
                cli_safe(idem));
    if (c->json)
        rc = cli_print_json(ind);
    else
        cli_print_indicium(ind, 1);
    if (rc == RC_OK && print)
        rc = buy_label(c, cli_jstr(ind, "id"), print, fmt, layout, printer);
out:
    json_decref(ind);
    json_decref(metadata);
    free(body);
    free(from_addr);
    free(to_addr);
    return rc;
}

int cmd_show(const struct cli *c, int argc, char **argv)
{
    const struct cli_opt opts[] = {{NULL, NULL, NULL}};
    const char *pos[1];
    char path[512], esc[400];
    json_t *ind = NULL;
    int npos, rc;

    if ((rc = cli_parse_opts("show", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    if (npos != 1)
        return cli_usage_error("show", "which indicium? stamp show ind_...");
    if (cli_url_escape(pos[0], esc, sizeof esc) != 0)
        return cli_usage_error("show", "indicium id is too long");
    if ((rc = cli_need_key(c, "show")) != RC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/indicia/%s", esc);
    if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &ind, NULL)) != RC_OK)
        return rc;
    if (c->json)
        rc = cli_print_json(ind);
    else
        cli_print_indicium(ind, 0);
    json_decref(ind);
    return rc;
}

static void list_header(int idw)
{
    printf("%-*s  %-20s  %-18s  %5s  %9s  %-5s  %-10s  %s\n", idw, "ID", "CREATED", "CLASS", "OZ",
           "POSTAGE", "FROM", "TO", "PSD/SERIAL");
}

static void list_row(const json_t *ind, int idw)
{
    char money[48], wbuf[32], serial[64];
    int test = 0;

    snprintf(serial, sizeof serial, "%s/%s", cli_scalar(json_object_get(ind, "psd_id")),
             cli_scalar(json_object_get(ind, "serial")));
    printf("%-*s  %-20s  %-18s  %5s  %9s  %-5s  %-10s  %s%s\n", idw, cli_safe(cli_jstr(ind, "id")),
           cli_safe(cli_jstr(ind, "created")), cli_safe(cli_jstr(ind, "mail_class")),
           weight_str(ind, wbuf, sizeof wbuf), postage_str(ind, money, sizeof money),
           cli_safe(cli_jstr(ind, "from_zip")), cli_safe(cli_jstr(ind, "to_zip")), serial,
           cli_jbool(ind, "test", &test) && test ? "  TEST" : "");
}

/* list_page_path - "/v1/indicia?limit=N&cursor=C" into path; -1 when too long. */
static int list_page_path(char *path, size_t n, const char *limit, const char *cursor,
                          json_t *metadata)
{
    char esc[CURSOR_MAX * 3 + 1], k[64 * 3 + 1], v[512 * 3 + 1];
    const char *key;
    json_t *val;
    size_t used;

    used = (size_t) snprintf(path, n, "/v1/indicia");
    if (limit)
        used += (size_t) snprintf(path + used, n - used, "?limit=%s", limit);
    if (used >= n)
        return -1;
    if (cursor) {
        if (cli_url_escape(cursor, esc, sizeof esc) != 0)
            return -1;
        used += (size_t) snprintf(path + used, n - used, "%scursor=%s", limit ? "&" : "?", esc);
    }
    /* --metadata KEY=VALUE: metadata[KEY]=VALUE (the server takes one). */
    json_object_foreach(metadata, key, val)
    {
        if (used >= n || cli_url_escape(key, k, sizeof k) != 0 ||
            cli_url_escape(json_string_value(val), v, sizeof v) != 0)
            return -1;
        used += (size_t) snprintf(path + used, n - used, "%smetadata%%5B%s%%5D=%s",
                                  strchr(path, '?') ? "&" : "?", k, v);
    }
    return used < n ? 0 : -1;
}

int cmd_list(const struct cli *c, int argc, char **argv)
{
    const char *limit = NULL, *cursor_opt = NULL;
    int all = 0;
    const struct cli_opt opts[] = {
        {"--limit", &limit, NULL},
        {"--cursor", &cursor_opt, NULL},
        {"--all", NULL, &all},
        {NULL, NULL, NULL},
    };
    char cursor[CURSOR_MAX + 1], path[4096];
    const char *cur = NULL;
    json_t *page = NULL, *merged = NULL, *merged_data = NULL, *metadata = NULL;
    uint64_t lim;
    size_t total = 0;
    int npos, rc, idw = 0;

    if ((rc = cli_metadata_opts("list", &argc, argv, &metadata)) != RC_OK)
        return rc;
    if ((rc = cli_parse_opts("list", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        goto out;
    if (limit && pv_parse_u64(limit, 1, LIST_LIMIT_MAX, &lim) != 0) {
        rc = cli_usage_error("list", "--limit '%s': expected a whole number from 1 to %d",
                             cli_safe(limit), LIST_LIMIT_MAX);
        goto out;
    }
    if (cursor_opt) {
        if (strlen(cursor_opt) > CURSOR_MAX || !*cursor_opt) {
            rc = cli_usage_error("list", "--cursor must be 1 to %d characters", CURSOR_MAX);
            goto out;
        }
        memcpy(cursor, cursor_opt, strlen(cursor_opt) + 1);
        cur = cursor;
    }
    if ((rc = cli_need_key(c, "list")) != RC_OK)
        goto out;
    if (c->json && all) {
        merged = json_pack("{s:s, s:[], s:b, s:n}", "object", "list", "data", "has_more", 0,
                           "next_cursor");
        merged_data = json_object_get(merged, "data");
        if (!merged_data) {
            fprintf(stderr, "error: out of memory\n");
            rc = RC_FAIL;
            goto out;
        }
    }

    for (;;) {
        const json_t *data, *item;
        const char *next;
        size_t i;
        int has_more = 0;

        if (list_page_path(path, sizeof path, limit, cur, metadata) != 0) {
            rc = cli_usage_error("list", "cursor or --metadata is too long");
            goto out;
        }
        json_decref(page);
        page = NULL;
        if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &page, NULL)) != RC_OK)
            goto out;
        data = json_object_get(page, "data");
        next = cli_jstr(page, "next_cursor");
        if (!json_is_array(data) || !cli_jbool(page, "has_more", &has_more)) {
            fprintf(stderr, "error: the server's list has no data array or has_more flag\n");
            rc = RC_FAIL;
            goto out;
        }
        if (c->json && !all) {
            rc = cli_print_json(page);
            goto out;
        }
        if (merged) {
            json_array_foreach(data, i, item)
            {
                if (json_array_append(merged_data, (json_t *) item) != 0) {
                    fprintf(stderr, "error: out of memory\n");
                    rc = RC_FAIL;
                    goto out;
                }
            }
        } else {
            if (idw == 0) {
                /* Size the id column once, from the first page, so pages line up. */
                idw = 20;
                json_array_foreach(data, i, item)
                {
                    const char *id = cli_jstr(item, "id");
                    if (id && strlen(id) > (size_t) idw && strlen(id) < 64)
                        idw = (int) strlen(id);
                }
                if (json_array_size(data) > 0)
                    list_header(idw);
            }
            json_array_foreach(data, i, item)
            {
                list_row(item, idw);
            }
        }
        total += json_array_size(data);

        if (!has_more)
            break;
        if (!next) {
            fprintf(stderr, "warning: the server says there is more but gave no next_cursor\n");
            break;
        }
        if (strlen(next) > CURSOR_MAX || (cur && strcmp(next, cur) == 0)) {
            fprintf(stderr, "error: the server returned an unusable next_cursor\n");
            rc = RC_FAIL;
            goto out;
        }
        if (!all || (merged && total >= LIST_MERGE_MAX)) {
            if (merged) {
                fprintf(stderr, "warning: stopped after %zu indicia; continue with --cursor %s\n",
                        total, cli_safe(next));
                if (json_object_set_new(merged, "has_more", json_true()) != 0 ||
                    json_object_set_new(merged, "next_cursor", json_string(next)) != 0) {
                    rc = RC_FAIL;
                    goto out;
                }
            } else {
                printf("more: stamp list --cursor %s%s%s\n", cli_safe(next),
                       limit ? " --limit " : "", limit ? cli_safe(limit) : "");
            }
            break;
        }
        memcpy(cursor, next, strlen(next) + 1);
        cur = cursor;
    }
    if (merged)
        rc = cli_print_json(merged);
    else if (total == 0)
        printf("No indicia.\n");
out:
    json_decref(page);
    json_decref(merged);
    json_decref(metadata);
    return rc;
}

int cmd_balance(const struct cli *c, int argc, char **argv)
{
    const struct cli_opt opts[] = {{NULL, NULL, NULL}};
    const char *role, *balance;
    json_t *acct = NULL;
    json_int_t mills;
    char money[48];
    int npos, rc;

    if ((rc = cli_parse_opts("balance", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    if ((rc = cli_need_key(c, "balance")) != RC_OK)
        return rc;
    if ((rc = cli_call(c, "GET", "/v1/account", NULL, NULL, CLI_RETRY, &acct, NULL)) != RC_OK)
        return rc;
    if (c->json) {
        rc = cli_print_json(acct);
        goto out;
    }
    role = cli_jstr(acct, "role");
    printf("%-10s%s\n", "account", cli_safe(cli_jstr(acct, "id")));
    if (role)
        printf("%-10s%s\n", "role", cli_safe(role));
    if (cli_jstr(acct, "email"))
        printf("%-10s%s\n", "email", cli_safe(cli_jstr(acct, "email")));
    if (cli_jint(acct, "balance_mills", &mills))
        printf("%-10s%s\n", "balance", cli_money(mills, money, sizeof money));
    else if ((balance = cli_jstr(acct, "balance")) != NULL)
        printf("%-10s$%s\n", "balance", cli_safe(balance));
    else
        printf("%-10s%s\n", "balance", "none (this key has no prepaid account)");
out:
    json_decref(acct);
    return rc;
}

/* keys_valid - the shape `stamp verify --keys` relies on. */
static int keys_valid(const json_t *doc)
{
    const json_t *keys = json_object_get(doc, "keys"), *k;
    json_int_t id;
    size_t i;

    if (!cli_jstr(doc, "license") || !json_is_array(keys))
        return 0;
    json_array_foreach(keys, i, k)
    {
        if (!cli_jint(k, "key_id", &id) || !cli_jstr(k, "public_key_pem"))
            return 0;
    }
    return 1;
}

int cmd_keys(const struct cli *c, int argc, char **argv)
{
    const char *out = NULL;
    const struct cli_opt opts[] = {{"--out", &out, NULL}, {NULL, NULL, NULL}};
    const json_t *keys, *k;
    json_t *doc = NULL;
    char *text = NULL;
    size_t i;
    int npos, rc;

    if ((rc = cli_parse_opts("keys", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    rc = cli_call(c, "GET", "/v1/keys", NULL, NULL, CLI_RETRY | CLI_NOAUTH, &doc, NULL);
    if (rc != RC_OK)
        return rc;
    if (!keys_valid(doc)) {
        fprintf(stderr,
                "error: the server's key list lacks a license or a key_id/public_key_pem\n");
        rc = RC_FAIL;
        goto out;
    }
    if (out) {
        size_t len;
        if (!(text = json_dumps(doc, JSON_INDENT(2)))) {
            fprintf(stderr, "error: out of memory\n");
            rc = RC_FAIL;
            goto out;
        }
        /* json_dumps leaves no final newline; files are nicer with one. */
        len = strlen(text);
        text[len] = '\n';
        rc = cli_write_file(out, text, len + 1);
        text[len] = '\0';
        if (rc != RC_OK)
            goto out;
    }
    if (c->json) {
        rc = cli_print_json(doc);
    } else {
        keys = json_object_get(doc, "keys");
        printf("license %s\n", cli_safe(cli_jstr(doc, "license")));
        if (json_array_size(keys) == 0)
            printf("no keys published\n");
        else
            printf("%6s  %4s  %-8s  %s\n", "KEY_ID", "PSD", "STATUS", "ALGORITHM");
        json_array_foreach(keys, i, k)
        {
            /* A server from before issue 14 says no status: its keys are all current. */
            const char *status = cli_jstr(k, "status");
            printf("%6s  %4s  %-8s  %s\n", cli_scalar(json_object_get(k, "key_id")),
                   cli_scalar(json_object_get(k, "psd_id")), cli_safe(status ? status : "current"),
                   cli_safe(cli_jstr(k, "algorithm")));
        }
    }
    if (out)
        fprintf(c->json ? stderr : stdout, "saved %zu key%s to %s\n",
                json_array_size(json_object_get(doc, "keys")),
                json_array_size(json_object_get(doc, "keys")) == 1 ? "" : "s", cli_safe(out));
out:
    free(text);
    json_decref(doc);
    return rc;
}
