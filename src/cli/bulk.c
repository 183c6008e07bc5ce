/*
 * bulk.c - `stamp buy --csv FILE`: a CSV of orders bought as one batch
 * (POST /v1/batches, docs/cli.md "Buying from a CSV file").
 *
 * The file is read whole and parsed here (RFC 4180: commas, double quotes
 * around fields that hold commas, quotes or new lines, "" for a quote), so
 * a malformed file buys nothing. Every row becomes one item whose fields are
 * the header's columns; the server validates each item as it would one
 * purchase and reports it by its position, which is printed as its row.
 * The batch's Idempotency-Key defaults to a hash of the file, so running
 * the same file again (after a crash, a lost connection or a server
 * restart) answers or resumes the same batch and never buys twice.
 */
#include "cli.h"

#include "crypto/primitives.h"
#include "stampd/codec.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CSV_MAX      (4u << 20) /* bytes of a CSV file */
#define CSV_ROWS_MAX 1000       /* items of one batch */
#define POLL_MS      400        /* between two looks at the batch */
#define WAIT_MAX_S   3600       /* give up waiting (the batch goes on) */
#define RESUMES_MAX  5          /* POSTs again for an interrupted batch */
#define BAR_WIDTH    30

/* The columns a CSV may have (docs/cli.md); reference is required. */
static const char *const columns[] = {
    "reference",    "mail_class", "weight_oz",     "from_zip",          "to_zip", "mail_date",
    "from_address", "to_address", "medium_serial", "payment_method_id", NULL,
};

struct csv {
    char ***rows; /* rows[r][f], owned */
    size_t *nf;   /* fields of each row */
    size_t *line; /* the file line each row starts on */
    size_t n, cap;
};

static void csv_free(struct csv *t)
{
    size_t r, f;

    for (r = 0; r < t->n; r++) {
        for (f = 0; f < t->nf[r]; f++)
            free(t->rows[r][f]);
        free(t->rows[r]);
    }
    free(t->rows);
    free(t->nf);
    free(t->line);
    memset(t, 0, sizeof *t);
}

/* Append field text[0..len) (unescaping "" when quoted) to the row being built. */
static int push_field(char ***row, size_t *nf, const char *text, size_t len, int quoted)
{
    char **r = realloc(*row, (*nf + 1) * sizeof *r), *s;
    size_t i, o = 0;

    if (!r)
        return -1;
    *row = r;
    if (!(s = malloc(len + 1)))
        return -1;
    for (i = 0; i < len; i++) {
        s[o++] = text[i];
        if (quoted && text[i] == '"')
            i++; /* "" -> " */
    }
    s[o] = '\0';
    r[(*nf)++] = s;
    return 0;
}

static int push_row(struct csv *t, char **row, size_t nf, size_t line)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        char ***rows = realloc(t->rows, cap * sizeof *rows);
        size_t *n1, *n2;
        if (!rows)
            return -1;
        t->rows = rows;
        if (!(n1 = realloc(t->nf, cap * sizeof *n1)))
            return -1;
        t->nf = n1;
        if (!(n2 = realloc(t->line, cap * sizeof *n2)))
            return -1;
        t->line = n2;
        t->cap = cap;
    }
    t->rows[t->n] = row;
    t->nf[t->n] = nf;
    t->line[t->n++] = line;
    return 0;
}

/* Parse text[0..len) into t. 0, or -1 with *why (static) and *at (a line). */
static int csv_parse(const char *text, size_t len, struct csv *t, const char **why, size_t *at)
{
    size_t i = 0, line = 1, start_line = 1, nf = 0;
    char **row = NULL;

    memset(t, 0, sizeof *t);
    if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        i = 3; /* a spreadsheet's byte order mark */
    while (i < len) {
        const char *f;
        size_t flen;
        int quoted = text[i] == '"';
        if (nf == 0)
            start_line = line;
        if (quoted) {
            f = text + ++i;
            while (i < len && !(text[i] == '"' && (i + 1 >= len || text[i + 1] != '"'))) {
                if (text[i] == '\n')
                    line++;
                i += text[i] == '"' ? 2 : 1;
            }
            if (i >= len) {
                *why = "a quoted field does not end";
                *at = start_line;
                goto fail;
            }
            flen = (size_t) (text + i - f);
            i++; /* the closing quote */
            if (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                *why = "text after a closing quote";
                *at = line;
                goto fail;
            }
        } else {
            f = text + i;
            while (i < len && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
                if (text[i] == '"') {
                    *why = "a quote inside an unquoted field (quote the whole field)";
                    *at = line;
                    goto fail;
                }
                i++;
            }
            flen = (size_t) (text + i - f);
        }
        if (push_field(&row, &nf, f, flen, quoted) != 0)
            goto oom;
        if (i < len && text[i] == ',') {
            i++;
            if (i == len || text[i] == '\n' || text[i] == '\r') {
                if (push_field(&row, &nf, "", 0, 0) != 0)
                    goto oom;
            } else {
                continue;
            }
        }
        if (i < len && text[i] == '\r')
            i++;
        if (i < len && text[i] == '\n') {
            i++;
            line++;
        }
        /* A blank line is no row. */
        if (nf == 1 && row[0][0] == '\0') {
            free(row[0]);
            free(row);
        } else if (push_row(t, row, nf, start_line) != 0) {
            goto oom;
        }
        row = NULL;
        nf = 0;
    }
    return 0;
oom:
    *why = "out of memory";
    *at = line;
fail:
    while (nf)
        free(row[--nf]);
    free(row);
    csv_free(t);
    return -1;
}

/* Milliseconds of the monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* The items of t (header first) as the JSON text of a batch, owned. */
static char *batch_body(const struct csv *t, const int *col, const char *card, const char **why,
                        size_t *bad_row)
{
    json_t *root = json_object(), *items = json_array();
    size_t r, f;
    char *out = NULL;

    if (!root || !items || json_object_set_new(root, "items", items) != 0) {
        json_decref(root);
        return NULL;
    }
    for (r = 1; r < t->n; r++) {
        json_t *it = json_object(), *pay = NULL;
        if (!it || json_array_append_new(items, it) != 0)
            goto out;
        for (f = 0; f < t->nf[r]; f++) {
            const char *name = columns[col[f]], *v = t->rows[r][f];
            json_t *j = NULL;
            if (!*v)
                continue; /* an empty cell is a field left out */
            if (strcmp(name, "weight_oz") == 0) {
                /* A number goes as one; anything else as text, which the server refuses. */
                j = json_loads(v, JSON_DECODE_ANY, NULL);
                if (j && !json_is_number(j)) {
                    json_decref(j);
                    j = NULL;
                }
                if (!j)
                    j = json_string(v);
            } else if (strcmp(name, "from_address") == 0 || strcmp(name, "to_address") == 0) {
                char *u = cli_unescape_text(v);
                j = u ? json_string(u) : NULL;
                free(u);
            } else if (strcmp(name, "payment_method_id") == 0) {
                pay = json_pack("{s:s, s:s}", "method", "card", "payment_method_id", v);
                continue;
            } else {
                j = json_string(v);
            }
            if (!j) {
                *why = "a field is not valid UTF-8";
                *bad_row = r;
                goto out;
            }
            json_object_set_new(it, name, j);
        }
        if (!pay && card)
            pay = json_pack("{s:s, s:s}", "method", "card", "payment_method_id", card);
        if (pay)
            json_object_set_new(it, "payment", pay);
    }
    out = json_dumps(root, JSON_COMPACT);
out:
    json_decref(root);
    return out;
}

/* "[#####.....] 120/300  bought 118  failed 2" on a terminal, a line otherwise. */
static void show_progress(int tty, const json_t *b, int final)
{
    const json_t *counts = json_object_get(b, "counts");
    json_int_t total = 0, bought = 0, failed = 0, done;
    int filled, i;

    cli_jint(counts, "total", &total);
    cli_jint(counts, "bought", &bought);
    cli_jint(counts, "failed", &failed);
    done = bought + failed;
    if (!tty) {
        fprintf(stderr,
                "progress: %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT
                " done, %" JSON_INTEGER_FORMAT " bought, %" JSON_INTEGER_FORMAT " failed\n",
                done, total, bought, failed);
        return;
    }
    filled = total > 0 ? (int) (done * BAR_WIDTH / total) : 0;
    fputs("\r[", stderr);
    for (i = 0; i < BAR_WIDTH; i++)
        fputc(i < filled ? '#' : '.', stderr);
    fprintf(stderr,
            "] %" JSON_INTEGER_FORMAT "/%" JSON_INTEGER_FORMAT "  bought %" JSON_INTEGER_FORMAT
            "  failed %" JSON_INTEGER_FORMAT "%s",
            done, total, bought, failed, final ? "\n" : "");
    fflush(stderr);
}

/* Print each failed item as its CSV row (data row i is row i + 2). */
static int report_failures(const struct cli *c, const char *id, const struct csv *t)
{
    char path[160];
    json_t *b = NULL, *data, *it;
    size_t i;
    int rc;

    snprintf(path, sizeof path, "/v1/batches/%s?status=failed&limit=1000", id);
    if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &b, NULL)) != RC_OK)
        return rc;
    data = json_object_get(json_object_get(b, "items"), "data");
    json_array_foreach(data, i, it)
    {
        const json_t *e = json_object_get(it, "error");
        json_int_t n = -1;
        const char *field = cli_jstr(e, "field");
        cli_jint(it, "index", &n);
        fprintf(stderr, "row %" JSON_INTEGER_FORMAT " (line %zu, %s): %s: %s", n + 2,
                n >= 0 && (size_t) n + 1 < t->n ? t->line[n + 1] : (size_t) 0,
                cli_safe(cli_jstr(it, "reference")), cli_safe(cli_jstr(e, "code")),
                cli_safe(cli_jstr(e, "message")));
        if (field)
            fprintf(stderr, " (field %s)", cli_safe(field));
        fputc('\n', stderr);
    }
    json_decref(b);
    return RC_OK;
}

static const char *content_type(const char *fmt)
{
    if (strcmp(fmt, "png") == 0)
        return "image/png";
    if (strcmp(fmt, "svg") == 0)
        return "image/svg+xml";
    if (strcmp(fmt, "zpl") == 0)
        return "application/zpl";
    return "application/pdf";
}

/* The batch's label file into print. */
static int save_labels(const struct cli *c, const char *id, const char *print, const char *fmt,
                       const char *layout, int tty)
{
    char path[256];
    struct cli_doc doc;
    int rc;

    snprintf(path, sizeof path, "/v1/batches/%s/labels?layout=%s&format=%s", id,
             layout ? layout : CLI_DEFAULT_LAYOUT, fmt);
    memset(&doc, 0, sizeof doc);
    rc = cli_fetch(c, "GET", path, NULL, content_type(fmt), CLI_RETRY,
                   tty ? "rendering the labels" : NULL, &doc);
    if (rc == RC_OK && (rc = cli_write_file(print, doc.data, doc.len)) == RC_OK)
        fprintf(c->json ? stderr : stdout, "%-12ssaved to %s (%.1f kB)\n", "labels",
                cli_safe(print), (double) doc.len / 1e3);
    if (rc != RC_OK)
        fprintf(stderr, "note: the postage was bought; get the labels again with the same "
                        "command (nothing is bought twice)\n");
    cli_doc_free(&doc);
    return rc;
}

int cli_buy_csv(const struct cli *c, const char *file, const char *idem, const char *print,
                const char *fmt, const char *layout, const char *card)
{
    char *text = NULL, *body = NULL, keybuf[48], path[128], hex[65];
    const char *why = NULL, *id;
    int col[16], tty = isatty(STDERR_FILENO), resumes = 0, rc;
    json_t *b = NULL;
    size_t len, f, g, at = 0, r;
    struct csv t;
    uint8_t digest[32];
    json_int_t failed = 0, bought = 0, total = 0, postage = 0;
    int64_t deadline, last_print = 0;

    memset(&t, 0, sizeof t);
    if ((rc = cli_read_file(file, CSV_MAX, &text, &len)) != RC_OK)
        return rc;
    if (csv_parse(text, len, &t, &why, &at) != 0) {
        rc = cli_usage_error("buy", "--csv %s: line %zu: %s", cli_safe(file), at, why);
        goto out;
    }
    if (t.n < 2) {
        rc = cli_usage_error("buy", "--csv %s: a header row and at least one order are needed",
                             cli_safe(file));
        goto out;
    }
    if (t.n - 1 > CSV_ROWS_MAX) {
        rc = cli_usage_error("buy", "--csv %s: %zu orders; at most %d in one file", cli_safe(file),
                             t.n - 1, CSV_ROWS_MAX);
        goto out;
    }
    if (t.nf[0] > sizeof col / sizeof col[0]) {
        rc = cli_usage_error("buy", "--csv %s: too many columns", cli_safe(file));
        goto out;
    }
    for (f = 0; f < t.nf[0]; f++) {
        for (g = 0; columns[g] && strcmp(columns[g], t.rows[0][f]) != 0; g++)
            ;
        if (!columns[g]) {
            rc = cli_usage_error("buy",
                                 "--csv %s: unknown column '%s' (the columns are reference, "
                                 "mail_class, weight_oz, from_zip, to_zip, mail_date, "
                                 "from_address, to_address, medium_serial, payment_method_id)",
                                 cli_safe(file), cli_safe(t.rows[0][f]));
            goto out;
        }
        col[f] = (int) g;
        for (g = 0; g < f; g++)
            if (col[g] == col[f]) {
                rc = cli_usage_error("buy", "--csv %s: column '%s' twice", cli_safe(file),
                                     cli_safe(t.rows[0][f]));
                goto out;
            }
    }
    for (g = 0; g < f && col[g] != 0; g++)
        ;
    if (g == f) {
        rc = cli_usage_error("buy",
                             "--csv %s: the header has no 'reference' column (the order "
                             "id each row is reported by)",
                             cli_safe(file));
        goto out;
    }
    for (r = 1; r < t.n; r++)
        if (t.nf[r] != t.nf[0]) {
            rc = cli_usage_error("buy",
                                 "--csv %s: row %zu (line %zu) has %zu fields, the header %zu",
                                 cli_safe(file), r + 1, t.line[r], t.nf[r], t.nf[0]);
            goto out;
        }
    if (!(body = batch_body(&t, col, card, &why, &r))) {
        if (why)
            rc = cli_usage_error("buy", "--csv %s: row %zu: %s", cli_safe(file), r + 1, why);
        else
            rc = RC_FAIL;
        goto out;
    }
    if (!idem) {
        /* The same file is the same batch: a rerun answers or resumes it. */
        pv_sha256(text, len, digest);
        snprintf(keybuf, sizeof keybuf, "csv-%.40s", pv_hex_encode(digest, sizeof digest, hex));
        idem = keybuf;
    }
    rc = cli_call(c, "POST", "/v1/batches", body, idem, CLI_RETRY, &b, NULL);
    if (rc != RC_OK) {
        if (rc == RC_FAIL)
            fprintf(stderr,
                    "note: the batch may or may not have been saved. Run the same command "
                    "again%s%s: nothing is bought twice.\n",
                    idem == keybuf ? "" : " with --idempotency-key ",
                    idem == keybuf ? "" : cli_safe(idem));
        goto out;
    }
    if (!(id = cli_jstr(b, "id")) || strlen(id) > 64) {
        fprintf(stderr, "error: the server's answer has no batch id\n");
        rc = RC_FAIL;
        goto out;
    }
    fprintf(stderr, "batch %s: %zu orders\n", cli_safe(id), t.n - 1);
    {
        char bid[80];
        pv_str_copy(bid, sizeof bid, id);
        deadline = now_ms() + (int64_t) WAIT_MAX_S * 1000;
        for (;;) {
            const char *status = cli_jstr(b, "status");
            if (status && strcmp(status, "completed") == 0)
                break;
            if (status && strcmp(status, "interrupted") == 0 && resumes < RESUMES_MAX) {
                /* The server restarted meanwhile: the same request resumes it. */
                json_decref(b);
                b = NULL;
                resumes++;
                if ((rc = cli_call(c, "POST", "/v1/batches", body, idem, CLI_RETRY, &b, NULL)) !=
                    RC_OK)
                    goto out;
                continue;
            }
            if (now_ms() > deadline) {
                fprintf(stderr,
                        "\nerror: batch %s is still running; run the same command again "
                        "later to see it finish\n",
                        cli_safe(bid));
                rc = RC_FAIL;
                goto out;
            }
            if (tty || now_ms() - last_print >= 1000) {
                show_progress(tty, b, 0);
                last_print = now_ms();
            }
            sleep_ms(POLL_MS);
            json_decref(b);
            b = NULL;
            snprintf(path, sizeof path, "/v1/batches/%s?limit=1", bid);
            if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &b, NULL)) != RC_OK)
                goto out;
        }
        show_progress(tty, b, 1);
        cli_jint(json_object_get(b, "counts"), "total", &total);
        cli_jint(json_object_get(b, "counts"), "bought", &bought);
        cli_jint(json_object_get(b, "counts"), "failed", &failed);
        cli_jint(b, "postage_mills", &postage);
        if (failed > 0 && (rc = report_failures(c, bid, &t)) != RC_OK)
            goto out;
        if (c->json) {
            json_decref(b);
            b = NULL;
            snprintf(path, sizeof path, "/v1/batches/%s?limit=1000", bid);
            if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &b, NULL)) != RC_OK ||
                (rc = cli_print_json(b)) != RC_OK)
                goto out;
        } else {
            char money[48];
            printf("%-12s%s\n", "batch", cli_safe(bid));
            printf("%-12s%" JSON_INTEGER_FORMAT " of %" JSON_INTEGER_FORMAT "\n", "bought", bought,
                   total);
            printf("%-12s%" JSON_INTEGER_FORMAT "\n", "failed", failed);
            printf("%-12s%s\n", "postage", cli_money(postage, money, sizeof money));
        }
        if (print && bought > 0 && (rc = save_labels(c, bid, print, fmt, layout, tty)) != RC_OK)
            goto out;
    }
    rc = failed > 0 ? RC_REFUSED : RC_OK;
out:
    json_decref(b);
    free(body);
    free(text);
    csv_free(&t);
    return rc;
}
