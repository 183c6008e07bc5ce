/*
 * authority.c - `stamp authority`, the postal authority's commands: its
 * devices (the vendor's PSDs) with their registers and audit trail, their
 * suspension and the reset lock; the postal deposit it credits and the
 * resets it signed; the signed daily reports; the refund claims it decides;
 * the holds it orders on a customer; and the duplicates it saw.
 *
 * These need a postal key (sk_postal_...). stampd answers any other key with
 * 403 forbidden, an ordinary refused request here (exit 1). Every list is
 * printed as a table whose columns are a small spec per subcommand, from
 * the JSON members docs/api.md names; a missing or mistyped member prints
 * as "-". --json prints the server's answer instead.
 */
#include "cli.h"

#include "stampd/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX     39  /* a device, claim or hold id as stampd stores it */
#define REASON_MAX 500 /* what the server takes as a reason */
#define COL_MAX    40  /* a column grows with its contents up to this */
#define PATH_MAX_  512

/* How a column renders its member. */
enum kind { STR, MONEY, INT, BOOL };

struct col {
    const char *head;
    const char *member; /* "a" or "a.b": a member of a member */
    enum kind kind;
};

/* The member of obj named by path ("a.b" goes one level down), or NULL. */
static const json_t *member(const json_t *obj, const char *path)
{
    const char *dot = strchr(path, '.');
    char first[64];

    if (!dot)
        return json_object_get(obj, path);
    if ((size_t) (dot - path) >= sizeof first)
        return NULL;
    memcpy(first, path, (size_t) (dot - path));
    first[dot - path] = '\0';
    return json_object_get(json_object_get(obj, first), dot + 1);
}

/* One cell as text, in buf (>= 64 bytes) or cli_safe's buffers. */
static const char *cell(const json_t *row, const struct col *c, char *buf, size_t n)
{
    const json_t *v = member(row, c->member);

    switch (c->kind) {
    case MONEY:
        return json_is_integer(v) ? cli_money(json_integer_value(v), buf, n) : "-";
    case BOOL:
        return json_is_boolean(v) ? (json_is_true(v) ? "yes" : "no") : "-";
    case INT:
    case STR:
    default:
        return cli_scalar(v);
    }
}

/* Print rows (an array) under cols, each column as wide as its widest cell up to COL_MAX. */
static void print_table(const json_t *rows, const struct col *cols, size_t ncols)
{
    size_t w[12] = {0}, i, k;
    const json_t *r;
    char buf[64];

    if (ncols > sizeof w / sizeof w[0])
        ncols = sizeof w / sizeof w[0];
    for (k = 0; k < ncols; k++)
        w[k] = strlen(cols[k].head);
    json_array_foreach(rows, i, r)
    {
        for (k = 0; k < ncols; k++) {
            size_t len = strlen(cell(r, &cols[k], buf, sizeof buf));
            if (len > w[k])
                w[k] = len > COL_MAX ? COL_MAX : len;
        }
    }
    for (k = 0; k < ncols; k++)
        printf("%s%-*s", k ? "  " : "", k + 1 < ncols ? (int) w[k] : 0, cols[k].head);
    putchar('\n');
    json_array_foreach(rows, i, r)
    {
        for (k = 0; k < ncols; k++) {
            const char *s = cell(r, &cols[k], buf, sizeof buf);

            if (cols[k].kind == MONEY || cols[k].kind == INT)
                printf("%s%*s", k ? "  " : "", (int) w[k], s); /* numbers to the right */
            else
                printf("%s%-*s", k ? "  " : "", k + 1 < ncols ? (int) w[k] : 0, s);
        }
        putchar('\n');
    }
}

/* GET path and print its "data" as a table (or the answer with --json); a note when there is more.
 */
static int list(const struct cli *c, const char *path, const struct col *cols, size_t ncols,
                const char *none)
{
    const json_t *rows;
    json_t *doc = NULL;
    int rc, more = 0;

    if ((rc = cli_need_key(c, "authority")) != RC_OK)
        return rc;
    if ((rc = cli_get_list(c, path, "data", &doc, &rows)) != RC_OK || !rows)
        goto out;
    if (json_array_size(rows) == 0)
        printf("%s\n", none);
    else
        print_table(rows, cols, ncols);
    if (cli_jbool(doc, "has_more", &more) && more)
        printf("(more: add --cursor %s)\n", cli_safe(cli_jstr(doc, "next_cursor")));
out:
    json_decref(doc);
    return rc;
}

/* One object's members, one per line, under cols (or the answer with --json). */
static int show(const struct cli *c, const json_t *obj, const struct col *cols, size_t ncols)
{
    char buf[64];
    size_t k;

    if (c->json)
        return cli_print_json(obj);
    for (k = 0; k < ncols; k++)
        printf("%-16s %s\n", cols[k].head, cell(obj, &cols[k], buf, sizeof buf));
    return RC_OK;
}

/* A request whose answer is one object shown under cols; body (JSON, borrowed) may be NULL. */
static int call_show(const struct cli *c, const char *method, const char *path, json_t *body,
                     const char *idem, const struct col *cols, size_t ncols)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_t *doc = NULL;
    int rc;

    if ((rc = cli_need_key(c, "authority")) != RC_OK)
        goto out;
    if (body && !text) {
        fprintf(stderr, "error: out of memory\n");
        rc = RC_FAIL;
        goto out;
    }
    rc = cli_call(c, method, path, text, idem, strcmp(method, "GET") == 0 || idem ? CLI_RETRY : 0,
                  &doc, NULL);
    if (rc == RC_OK)
        rc = show(c, doc, cols, ncols);
out:
    free(text);
    json_decref(doc);
    return rc;
}

/* path = prefix, the id (checked, escaped), suffix; RC_USAGE when the id is not one. */
static int id_path(const char *prefix, const char *id, const char *suffix, const char *what,
                   char *path, size_t n)
{
    char esc[3 * ID_MAX + 1];

    if (!cli_valid_name(id, ID_MAX) || cli_url_escape(id, esc, sizeof esc) != 0)
        return cli_usage_error("authority", "%s must be 1 to %d letters, digits, '.', '_' or '-'",
                               what, ID_MAX);
    snprintf(path, n, "%s%s%s", prefix, esc, suffix);
    return RC_OK;
}

/* A path with the paging options of a list: ?limit=N&cursor=C (each optional) appended. */
static int paged(const char *base, const char *extra, const char *limit, const char *cursor,
                 char *path, size_t n)
{
    char l[16], cur[3 * 64 + 1];
    int used;

    if (limit && (strspn(limit, "0123456789") != strlen(limit) || !*limit || strlen(limit) > 3))
        return cli_usage_error("authority", "--limit must be a number 1 to 100");
    if (cursor && (strlen(cursor) > 64 || cli_url_escape(cursor, cur, sizeof cur) != 0))
        return cli_usage_error("authority", "--cursor is the next_cursor of an earlier page");
    pv_str_copy(l, sizeof l, limit ? limit : "");
    used = snprintf(path, n, "%s%s%s", base, extra ? "?" : "", extra ? extra : "");
    if (limit)
        used += snprintf(path + used, n - (size_t) used, "%slimit=%s",
                         strchr(path, '?') ? "&" : "?", l);
    if (cursor)
        snprintf(path + used, n - (size_t) used, "%scursor=%s", strchr(path, '?') ? "&" : "?", cur);
    return RC_OK;
}

static const struct col device_cols[] = {
    {"DEVICE", "id", INT},
    {"STATUS", "status", STR},
    {"BY", "suspended_by", STR},
    {"DESCENDING", "descending_mills", MONEY},
    {"ASCENDING", "ascending_mills", MONEY},
    {"CONTROL TOTAL", "control_total_mills", MONEY},
    {"PIECES", "piece_count", INT},
    {"KEY", "key_id", INT},
    {"LAST CONTACT", "last_contact_at", STR},
    {"OVERDUE", "overdue", BOOL},
    {"RESETS LOCKED", "resets_locked", BOOL},
};

static const struct col event_cols[] = {
    {"AT", "at", STR},
    {"EVENT", "event", STR},
    {"BY", "actor", STR},
    {"STATUS", "status_after", STR},
    {"DESCENDING", "descending_mills", MONEY},
    {"ASCENDING", "ascending_mills", MONEY},
    {"CONTROL TOTAL", "control_total_mills", MONEY},
    {"PIECES", "piece_count", INT},
    {"REASON", "reason", STR},
};

static const struct col lock_cols[] = {
    {"resets locked", "locked", BOOL},
    {"by", "by", STR},
    {"at", "at", STR},
    {"reason", "reason", STR},
};

static const struct col reset_cols[] = {
    {"RESET", "id", STR},
    {"DEVICE", "psd_id", INT},
    {"AMOUNT", "amount_mills", MONEY},
    {"DESC BEFORE", "before.descending_mills", MONEY},
    {"DESC AFTER", "after.descending_mills", MONEY},
    {"AT", "created", STR},
    {"SIGNED", "authorisation.verified", BOOL},
};

static const struct col deposit_cols[] = {
    {"AT", "created", STR},
    {"TYPE", "type", STR},
    {"AMOUNT", "amount_mills", MONEY},
    {"BALANCE", "balance_mills", MONEY},
    {"DEVICE", "psd_id", INT},
    {"REFERENCE", "reference", STR},
    {"REF", "ref", STR},
};

static const struct col credit_cols[] = {
    {"credit", "id", STR},
    {"amount", "amount_mills", MONEY},
    {"deposit now", "balance_mills", MONEY},
    {"reference", "reference", STR},
    {"created", "created", STR},
};

static const struct col report_cols[] = {
    {"DATE", "date", STR},
    {"DEVICES", "devices", INT},
    {"PIECES", "pieces", INT},
    {"POSTAGE", "postage_mills", MONEY},
};

static const struct col claim_cols[] = {
    {"CLAIM", "id", STR},           {"STATUS", "status", STR}, {"AMOUNT", "amount_mills", MONEY},
    {"DEVICE", "psd_id", INT},      {"SERIAL", "serial", INT}, {"CREATED", "created", STR},
    {"DECIDED", "decided_at", STR}, {"REASON", "reason", STR},
};

static const struct col hold_cols[] = {
    {"HOLD", "id", STR},          {"CUSTOMER", "customer_id", STR}, {"STANDING", "standing", BOOL},
    {"PLACED", "placed_at", STR}, {"LIFTED", "lifted_at", STR},     {"REASON", "reason", STR},
};

static const struct col dup_cols[] = {
    {"DEVICE", "psd_id", INT},        {"SERIAL", "serial", INT},
    {"TIMES", "presentations", INT},  {"FIRST", "first_presented_at", STR},
    {"WHERE", "first_location", STR}, {"LAST", "last_presented_at", STR},
    {"WHERE", "last_location", STR},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A reason option: 1..REASON_MAX printable characters, or RC_USAGE. */
static int check_reason(const char *reason, int required)
{
    size_t i, n = reason ? strlen(reason) : 0;

    if (!reason)
        return required ? cli_usage_error("authority", "--reason TEXT is required") : RC_OK;
    if (n == 0 || n > REASON_MAX)
        return cli_usage_error("authority", "--reason must be 1 to %d characters", REASON_MAX);
    for (i = 0; i < n; i++)
        if ((unsigned char) reason[i] < 0x20 || reason[i] == 0x7f)
            return cli_usage_error("authority", "--reason must not hold control characters");
    return RC_OK;
}

/* POST path with {"reason": reason} (or {} without one) and show the answer under cols. */
static int post_reason(const struct cli *c, const char *path, const char *reason,
                       const struct col *cols, size_t ncols)
{
    json_t *body = reason ? json_pack("{s:s}", "reason", reason) : json_object();
    int rc = call_show(c, "POST", path, body, NULL, cols, ncols);

    json_decref(body);
    return rc;
}

/* stamp authority report DATE [--csv] [--psd N] [--out FILE]: the day's signed reports. */
static int report(const struct cli *c, const char *date, int csv, const char *psd, const char *out)
{
    struct cli_doc doc;
    char path[PATH_MAX_];
    int rc;

    if (strlen(date) != 10 || strspn(date, "0123456789-") != 10 || date[4] != '-' || date[7] != '-')
        return cli_usage_error("authority", "DATE is YYYY-MM-DD");
    if ((rc = cli_need_key(c, "authority")) != RC_OK)
        return rc;
    if (psd && (!*psd || strlen(psd) > 10 || strspn(psd, "0123456789") != strlen(psd)))
        return cli_usage_error("authority", "--psd is a device id (a number)");
    snprintf(path, sizeof path, "/v1/authority/reports/%s?format=%s%s%s", date,
             csv ? "csv" : "jsonl", psd ? "&psd=" : "", psd ? psd : "");
    rc = cli_fetch(c, "GET", path, NULL, csv ? "text/csv" : "application/jsonl", CLI_RETRY, NULL,
                   &doc);
    if (rc == RC_OK)
        rc = out ? cli_write_file(out, doc.data, doc.len)
                 : (fwrite(doc.data, 1, doc.len, stdout) == doc.len ? RC_OK : RC_FAIL);
    if (rc == RC_OK && out)
        fprintf(stderr, "wrote %s (%zu bytes)\n", out, doc.len);
    cli_doc_free(&doc);
    return rc;
}

int cmd_authority(const struct cli *c, int argc, char **argv)
{
    const char *reason = NULL, *reference = NULL, *idem = NULL, *status = NULL, *customer = NULL,
               *serial = NULL, *out = NULL, *limit = NULL, *cursor = NULL, *psd = NULL;
    int csv = 0;
    const struct cli_opt opts[] = {
        {"--reason", &reason, NULL},
        {"--reference", &reference, NULL},
        {"--idempotency-key", &idem, NULL},
        {"--status", &status, NULL},
        {"--customer", &customer, NULL},
        {"--serial", &serial, NULL},
        {"--out", &out, NULL},
        {"--csv", NULL, &csv},
        {"--psd", &psd, NULL},
        {"--limit", &limit, NULL},
        {"--cursor", &cursor, NULL},
        {NULL, NULL, NULL},
    };
    const char *pos[4], *verb;
    char path[PATH_MAX_], extra[256], key[33];
    int npos, rc;

    if ((rc = cli_parse_opts("authority", argc, argv, opts, pos, 4, &npos)) != RC_OK)
        return rc;
    if (npos == 0)
        return cli_usage_error("authority", "what? stamp authority devices, deposits, resets, "
                                            "reports, claims, holds or duplicates");
    verb = pos[0];
#define ARGS(k)                                                                                    \
    do {                                                                                           \
        if (npos != (k) + 1)                                                                       \
            return cli_usage_error("authority", "'stamp authority %s' takes %d argument%s",        \
                                   cli_safe(verb), (k), (k) == 1 ? "" : "s");                      \
    } while (0)
    if (strcmp(verb, "devices") == 0) {
        ARGS(0);
        if ((rc = paged("/v1/authority/devices", NULL, limit, cursor, path, sizeof path)) != RC_OK)
            return rc;
        return list(c, path, device_cols, N(device_cols), "No devices.");
    }
    if (strcmp(verb, "device") == 0 || strcmp(verb, "history") == 0) {
        ARGS(1);
        if (verb[0] == 'd') {
            if ((rc = id_path("/v1/authority/devices/", pos[1], "", "DEVICE", path, sizeof path)) !=
                RC_OK)
                return rc;
            return call_show(c, "GET", path, NULL, NULL, device_cols, N(device_cols));
        }
        if ((rc = id_path("/v1/authority/devices/", pos[1], "/history", "DEVICE", extra,
                          sizeof extra)) != RC_OK ||
            (rc = paged(extra, NULL, limit, cursor, path, sizeof path)) != RC_OK)
            return rc;
        return list(c, path, event_cols, N(event_cols), "No events.");
    }
    if (strcmp(verb, "suspend") == 0 || strcmp(verb, "resume") == 0) {
        ARGS(1);
        if ((rc = check_reason(reason, verb[0] == 's')) != RC_OK)
            return rc;
        snprintf(extra, sizeof extra, "/%s", verb);
        if ((rc = id_path("/v1/authority/devices/", pos[1], extra, "DEVICE", path, sizeof path)) !=
            RC_OK)
            return rc;
        return post_reason(c, path, reason, device_cols, N(device_cols));
    }
    if (strcmp(verb, "resets") == 0) {
        if (npos == 1 || strcmp(pos[1], "list") == 0) {
            if (npos > 2)
                return cli_usage_error("authority", "'stamp authority resets' takes no arguments");
            if ((rc = paged("/v1/authority/resets", NULL, limit, cursor, path, sizeof path)) !=
                RC_OK)
                return rc;
            return list(c, path, reset_cols, N(reset_cols), "No resets.");
        }
        if (npos != 2 || (strcmp(pos[1], "lock") != 0 && strcmp(pos[1], "unlock") != 0))
            return cli_usage_error("authority", "stamp authority resets [list | lock | unlock]");
        if ((rc = check_reason(reason, pos[1][0] == 'l')) != RC_OK)
            return rc;
        snprintf(path, sizeof path, "/v1/authority/resets/%s", pos[1]);
        return post_reason(c, path, reason, lock_cols, N(lock_cols));
    }
    if (strcmp(verb, "deposits") == 0) {
        ARGS(0);
        if ((rc = paged("/v1/authority/deposits", NULL, limit, cursor, path, sizeof path)) != RC_OK)
            return rc;
        return list(c, path, deposit_cols, N(deposit_cols), "No deposit entries.");
    }
    if (strcmp(verb, "deposit") == 0) {
        json_t *body;

        ARGS(1);
        if (!reference)
            return cli_usage_error("authority",
                                   "--reference REF is required (the transfer's reference)");
        if (idem && cli_check_idem_key(idem) != 0)
            return cli_usage_error("authority", CLI_IDEM_KEY_USAGE, CLI_IDEM_KEY_MAX);
        if (!idem && !(idem = cli_new_idem_key(key)))
            return RC_FAIL;
        body = json_pack("{s:s, s:s}", "amount", pos[1], "reference", reference);
        rc =
            call_show(c, "POST", "/v1/authority/deposits", body, idem, credit_cols, N(credit_cols));
        json_decref(body);
        return rc;
    }
    if (strcmp(verb, "reports") == 0) {
        ARGS(0);
        if ((rc = paged("/v1/authority/reports", NULL, limit, cursor, path, sizeof path)) != RC_OK)
            return rc;
        return list(c, path, report_cols, N(report_cols), "No reports yet.");
    }
    if (strcmp(verb, "report") == 0) {
        ARGS(1);
        return report(c, pos[1], csv, psd, out);
    }
    if (strcmp(verb, "claims") == 0) {
        ARGS(0);
        if (status && strcmp(status, "pending") != 0 && strcmp(status, "accepted") != 0 &&
            strcmp(status, "rejected") != 0)
            return cli_usage_error("authority", "--status is pending, accepted or rejected");
        snprintf(extra, sizeof extra, "status=%s", status ? status : "");
        if ((rc = paged("/v1/authority/refund-claims", status ? extra : NULL, limit, cursor, path,
                        sizeof path)) != RC_OK)
            return rc;
        return list(c, path, claim_cols, N(claim_cols), "No refund claims.");
    }
    if (strcmp(verb, "claim") == 0) {
        json_t *body;

        if (npos != 3 || (strcmp(pos[2], "accept") != 0 && strcmp(pos[2], "reject") != 0))
            return cli_usage_error("authority", "stamp authority claim ID accept|reject "
                                                "[--reason TEXT]");
        if ((rc = check_reason(reason, pos[2][0] == 'r')) != RC_OK ||
            (rc = id_path("/v1/authority/refund-claims/", pos[1], "", "ID", path, sizeof path)) !=
                RC_OK)
            return rc;
        body = reason ? json_pack("{s:s, s:s}", "decision", pos[2], "reason", reason)
                      : json_pack("{s:s}", "decision", pos[2]);
        rc = call_show(c, "POST", path, body, NULL, claim_cols, N(claim_cols));
        json_decref(body);
        return rc;
    }
    if (strcmp(verb, "holds") == 0) {
        ARGS(0);
        if ((rc = paged("/v1/authority/holds",
                        status && strcmp(status, "standing") == 0 ? "standing=true" : NULL, limit,
                        cursor, path, sizeof path)) != RC_OK)
            return rc;
        return list(c, path, hold_cols, N(hold_cols), "No holds.");
    }
    if (strcmp(verb, "hold") == 0) {
        json_t *body;

        ARGS(0);
        if (!customer == !serial)
            return cli_usage_error("authority", "name the customer: --customer ID or --serial "
                                                "SERIAL (one of the customer's pieces)");
        if ((rc = check_reason(reason, 1)) != RC_OK)
            return rc;
        if (customer) {
            body = json_pack("{s:s, s:s}", "customer_id", customer, "reason", reason);
        } else {
            json_int_t n, d = 0;
            char *end;

            n = (json_int_t) strtoll(serial, &end, 10);
            if (!*serial || *end || n < 1 || n > 4294967295LL)
                return cli_usage_error("authority", "--serial is a piece's serial number");
            if (psd) {
                d = (json_int_t) strtoll(psd, &end, 10);
                if (!*psd || *end || d < 1 || d > 4294967295LL)
                    return cli_usage_error("authority", "--psd is a device id (a number)");
            }
            body = d ? json_pack("{s:I, s:I, s:s}", "serial", n, "psd_id", d, "reason", reason)
                     : json_pack("{s:I, s:s}", "serial", n, "reason", reason);
        }
        rc = call_show(c, "POST", "/v1/authority/holds", body, NULL, hold_cols, N(hold_cols));
        json_decref(body);
        return rc;
    }
    if (strcmp(verb, "lift") == 0) {
        ARGS(1);
        if ((rc = check_reason(reason, 0)) != RC_OK ||
            (rc = id_path("/v1/authority/holds/", pos[1], "/lift", "HOLD", path, sizeof path)) !=
                RC_OK)
            return rc;
        return post_reason(c, path, reason, hold_cols, N(hold_cols));
    }
    if (strcmp(verb, "duplicates") == 0) {
        ARGS(0);
        if ((rc = paged("/v1/authority/presentations", "duplicates=true", limit, cursor, path,
                        sizeof path)) != RC_OK)
            return rc;
        return list(c, path, dup_cols, N(dup_cols), "No duplicates seen.");
    }
#undef ARGS
    return cli_usage_error("authority",
                           "unknown subcommand '%s' (devices, device, history, suspend, resume, "
                           "resets, deposits, deposit, reports, report, claims, claim, holds, "
                           "hold, lift or duplicates)",
                           cli_safe(verb));
}
