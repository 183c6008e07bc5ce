/*
 * media.c - `stamp admin media|affiliate|resupply`: the operator's side of
 * media with identifier codes (docs/media.md). Batches of serial-numbered
 * sheets and their serials (a table, CSV, or a printable PDF of the blank
 * media), the CRM record of one serial, the affiliates media go to, and
 * the resupply orders opened when an affiliate runs low.
 *
 * Like the rest of `stamp admin` these need an operator key; a 4xx answer
 * is exit 1, a usage error exit 2.
 */
#include "cli.h"

#include "stampd/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Creating things is not idempotent: no retries on these POSTs. */
static int post_json(const struct cli *c, const char *path, json_t *body, json_t **out)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc;

    json_decref(body);
    if (!text) {
        fprintf(stderr, "error: out of memory\n");
        return RC_FAIL;
    }
    rc = cli_call(c, "POST", path, text, NULL, 0, out, NULL);
    free(text);
    return rc;
}

/* A positive integer option, or -1 with the usage error printed. */
static long long count_opt(const char *cmd, const char *name, const char *v, long long max)
{
    uint64_t n;

    if (!v)
        return 0;
    if (pv_parse_u64(v, 0, (uint64_t) max, &n) != 0) {
        cli_usage_error(cmd, "%s must be a whole number 0..%lld", name, max);
        return -1;
    }
    return (long long) n;
}

static void print_batch(const json_t *b)
{
    json_int_t sheets = 0, per = 0;

    cli_jint(b, "sheets", &sheets);
    cli_jint(b, "labels_per_sheet", &per);
    printf("batch %s: %lld sheet(s) of %s, %lld labels each, for %s, %s (price %s)\n",
           cli_scalar(json_object_get(b, "batch")), (long long) sheets,
           cli_safe(cli_jstr(b, "layout")), (long long) per, cli_safe(cli_jstr(b, "affiliate_id")),
           cli_safe(cli_jstr(b, "payment")), cli_safe(cli_jstr(b, "price")));
}

/* stamp admin media create-batch ... */
static int create_batch(const struct cli *c, int argc, char **argv)
{
    const char *product = NULL, *sheets = NULL, *aff = NULL, *price = NULL, *pdf = NULL;
    int paid = 0, free_ = 0, csv = 0, npos, rc;
    const struct cli_opt opts[] = {
        {"--product", &product, NULL}, {"--sheets", &sheets, NULL}, {"--affiliate", &aff, NULL},
        {"--price", &price, NULL},     {"--pdf", &pdf, NULL},       {"--paid", NULL, &paid},
        {"--free", NULL, &free_},      {"--csv", NULL, &csv},       {NULL, NULL, NULL}};
    const json_t *serials, *s;
    struct cli_doc doc;
    json_t *body, *out = NULL;
    const char *pos[1];
    char *text;
    long long n;
    size_t i;

    if ((rc = cli_parse_opts("admin", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    if (npos || !product || !sheets || !aff || (paid && free_) || (csv && pdf))
        return cli_usage_error("admin", "media create-batch --product P --sheets N --affiliate A "
                                        "[--paid | --free] [--price DOLLARS] [--csv | --pdf FILE]");
    if ((n = count_opt("admin", "--sheets", sheets, 1000)) <= 0)
        return n < 0 ? RC_USAGE : cli_usage_error("admin", "--sheets must be 1..1000");
    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    body = json_pack("{s:s, s:I, s:s, s:s}", "product", product, "sheets", (json_int_t) n,
                     "affiliate_id", aff, "payment",
                     paid    ? "paid"
                     : free_ ? "free"
                             : "unpaid");
    if (body && price)
        json_object_set_new(body, "price", json_string(price));
    if (csv || pdf) {
        text = body ? json_dumps(body, JSON_COMPACT) : NULL;
        json_decref(body);
        if (!text)
            return RC_FAIL;
        memset(&doc, 0, sizeof doc);
        rc = cli_fetch(c, "POST",
                       csv ? "/v1/admin/media/batches?format=csv"
                           : "/v1/admin/media/batches?format=pdf",
                       text, csv ? "text/csv" : "application/pdf", 0, NULL, &doc);
        free(text);
        if (rc == RC_OK) {
            if (csv)
                rc = fwrite(doc.data, 1, doc.len, stdout) == doc.len ? RC_OK : RC_FAIL;
            else if ((rc = cli_write_file(pdf, doc.data, doc.len)) == RC_OK)
                fprintf(stderr, "wrote %s (%zu bytes)\n", pdf, doc.len);
        }
        cli_doc_free(&doc);
        return rc;
    }
    if ((rc = post_json(c, "/v1/admin/media/batches", body, &out)) != RC_OK)
        return rc;
    if (c->json) {
        rc = cli_print_json(out);
    } else {
        print_batch(out);
        serials = json_object_get(out, "serials");
        if (json_is_array(serials))
            json_array_foreach(serials, i, s)
            {
                printf("%s  sheet %s position %s\n", cli_safe(cli_jstr(s, "serial")),
                       cli_scalar(json_object_get(s, "sheet")),
                       cli_scalar(json_object_get(s, "position")));
            }
    }
    json_decref(out);
    return rc;
}

/* stamp admin media show SERIAL */
static int show_medium(const struct cli *c, const char *serial)
{
    char path[160], esc[100];
    const json_t *aff, *cus, *x;
    json_t *doc = NULL;
    size_t i;
    int rc;

    if (cli_url_escape(serial, esc, sizeof esc) != 0)
        return cli_usage_error("admin", "that is not a serial");
    snprintf(path, sizeof path, "/v1/admin/media/%s", esc);
    if ((rc = cli_call(c, "GET", path, NULL, NULL, CLI_RETRY, &doc, NULL)) != RC_OK)
        return rc;
    if (c->json) {
        rc = cli_print_json(doc);
        goto out;
    }
    aff = json_object_get(doc, "affiliate");
    printf("%-14s%s (%s, sheet %s position %s)\n", "serial", cli_safe(cli_jstr(doc, "serial")),
           cli_safe(cli_jstr(doc, "kind")), cli_scalar(json_object_get(doc, "sheet")),
           cli_scalar(json_object_get(doc, "position")));
    printf("%-14s", "batch");
    print_batch(json_object_get(doc, "batch"));
    printf("%-14s%s %s (group %s)\n", "affiliate", cli_safe(cli_jstr(aff, "id")),
           cli_safe(cli_jstr(aff, "name")), cli_scalar(json_object_get(aff, "group")));
    printf("%-14s%s\n", "payment", cli_safe(cli_jstr(doc, "payment")));
    printf("%-14s%s of %s\n", "labels used", cli_scalar(json_object_get(doc, "labels_used")),
           cli_scalar(json_object_get(doc, "labels_per_sheet")));
    printf("%-14s%s\n", "first use", cli_scalar(json_object_get(doc, "first_use")));
    printf("%-14s%s\n", "last use", cli_scalar(json_object_get(doc, "last_use")));
    printf("%-14s", "customers");
    cus = json_object_get(doc, "customers");
    if (json_is_array(cus) && json_array_size(cus))
        json_array_foreach(cus, i, x) printf("%s%s", i ? ", " : "", cli_scalar(x));
    else
        printf("-");
    printf("\n");
out:
    json_decref(doc);
    return rc;
}

/* stamp admin affiliate create ... */
static int create_affiliate(const struct cli *c, int argc, char **argv)
{
    const char *name = NULL, *cus = NULL, *thr = NULL, *days = NULL, *sheets = NULL;
    const struct cli_opt opts[] = {{"--name", &name, NULL},
                                   {"--customer", &cus, NULL},
                                   {"--threshold", &thr, NULL},
                                   {"--target-days", &days, NULL},
                                   {"--resupply-sheets", &sheets, NULL},
                                   {NULL, NULL, NULL}};
    long long t, d, s;
    json_t *body, *out = NULL;
    const char *pos[1];
    int npos, rc;

    if ((rc = cli_parse_opts("admin", argc, argv, opts, pos, 1, &npos)) != RC_OK)
        return rc;
    if (npos || !name)
        return cli_usage_error("admin", "affiliate create --name NAME [--customer CUSTOMER_ID] "
                                        "[--threshold LABELS] [--target-days DAYS] "
                                        "[--resupply-sheets N]");
    if ((t = count_opt("admin", "--threshold", thr, 1000000000)) < 0 ||
        (d = count_opt("admin", "--target-days", days, 3650)) < 0 ||
        (s = count_opt("admin", "--resupply-sheets", sheets, 1000)) < 0)
        return RC_USAGE;
    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    body = json_pack("{s:s, s:I, s:I}", "name", name, "threshold_labels", (json_int_t) t,
                     "target_days", (json_int_t) d);
    if (body && cus)
        json_object_set_new(body, "customer_id", json_string(cus));
    if (body && s)
        json_object_set_new(body, "resupply_sheets", json_integer(s));
    if ((rc = post_json(c, "/v1/admin/affiliates", body, &out)) != RC_OK)
        return rc;
    if (c->json)
        rc = cli_print_json(out);
    else
        printf("affiliate %s: %s, group %s\n", cli_safe(cli_jstr(out, "id")),
               cli_safe(cli_jstr(out, "name")), cli_scalar(json_object_get(out, "group")));
    json_decref(out);
    return rc;
}

static int list_affiliates(const struct cli *c)
{
    const json_t *list, *a;
    json_t *doc = NULL;
    size_t i;
    int rc = cli_get_list(c, "/v1/admin/affiliates", "affiliates", &doc, &list);

    if (rc == RC_OK && list) {
        printf("%-26s  %-5s  %-26s  %9s  %4s  %s\n", "ID", "GROUP", "CUSTOMER", "THRESHOLD", "DAYS",
               "NAME");
        json_array_foreach(list, i, a)
        {
            printf("%-26s  %-5s  %-26s  %9s  %4s  %s\n", cli_safe(cli_jstr(a, "id")),
                   cli_scalar(json_object_get(a, "group")),
                   cli_scalar(json_object_get(a, "customer_id")),
                   cli_scalar(json_object_get(a, "threshold_labels")),
                   cli_scalar(json_object_get(a, "target_days")), cli_safe(cli_jstr(a, "name")));
        }
    }
    json_decref(doc);
    return rc;
}

static int list_orders(const struct cli *c)
{
    const json_t *list, *o;
    json_t *doc = NULL;
    size_t i;
    int rc = cli_get_list(c, "/v1/admin/resupply-orders", "orders", &doc, &list);

    if (rc == RC_OK && list) {
        printf("%-26s  %-26s  %-7s  %7s  %9s  %s\n", "ID", "AFFILIATE", "STATUS", "PRODUCT",
               "REMAINING", "BATCH");
        json_array_foreach(list, i, o)
        {
            printf("%-26s  %-26s  %-7s  %7s  %9s  %s\n", cli_safe(cli_jstr(o, "id")),
                   cli_safe(cli_jstr(o, "affiliate_id")), cli_safe(cli_jstr(o, "status")),
                   cli_scalar(json_object_get(o, "product")),
                   cli_scalar(json_object_get(o, "labels_remaining")),
                   cli_scalar(json_object_get(o, "batch")));
        }
    }
    json_decref(doc);
    return rc;
}

static int ship_order(const struct cli *c, int argc, char **argv)
{
    const char *sheets = NULL, *pos[2];
    const struct cli_opt opts[] = {{"--sheets", &sheets, NULL}, {NULL, NULL, NULL}};
    char path[160], esc[100];
    json_t *body, *out = NULL;
    long long n;
    int npos, rc;

    if ((rc = cli_parse_opts("admin", argc, argv, opts, pos, 2, &npos)) != RC_OK)
        return rc;
    if (npos != 1 || cli_url_escape(pos[0], esc, sizeof esc) != 0)
        return cli_usage_error("admin", "resupply ship ORDER_ID [--sheets N]");
    if ((n = count_opt("admin", "--sheets", sheets, 1000)) < 0)
        return RC_USAGE;
    if ((rc = cli_need_key(c, "admin")) != RC_OK)
        return rc;
    snprintf(path, sizeof path, "/v1/admin/resupply-orders/%s/ship", esc);
    body = n ? json_pack("{s:I}", "sheets", (json_int_t) n) : json_object();
    if ((rc = post_json(c, path, body, &out)) != RC_OK)
        return rc;
    if (c->json) {
        rc = cli_print_json(out);
    } else {
        printf("order %s shipped: ", cli_safe(cli_jstr(json_object_get(out, "order"), "id")));
        print_batch(json_object_get(out, "batch"));
    }
    json_decref(out);
    return rc;
}

int cmd_admin_media(const struct cli *c, int argc, char **argv)
{
    const char *what = argv[0], *verb = argc > 1 ? argv[1] : "";

    if (strcmp(what, "media") == 0 && strcmp(verb, "create-batch") == 0)
        return create_batch(c, argc - 2, argv + 2);
    if (strcmp(what, "media") == 0 && strcmp(verb, "show") == 0 && argc == 3)
        return cli_need_key(c, "admin") == RC_OK ? show_medium(c, argv[2]) : RC_USAGE;
    if (strcmp(what, "affiliate") == 0 && strcmp(verb, "create") == 0)
        return create_affiliate(c, argc - 2, argv + 2);
    if (strcmp(what, "affiliate") == 0 && strcmp(verb, "list") == 0 && argc == 2)
        return cli_need_key(c, "admin") == RC_OK ? list_affiliates(c) : RC_USAGE;
    if (strcmp(what, "resupply") == 0 && strcmp(verb, "list") == 0 && argc == 2)
        return cli_need_key(c, "admin") == RC_OK ? list_orders(c) : RC_USAGE;
    if (strcmp(what, "resupply") == 0 && strcmp(verb, "ship") == 0)
        return ship_order(c, argc - 2, argv + 2);
    return cli_usage_error("admin", "media (create-batch | show SERIAL), affiliate (create | "
                                    "list), resupply (list | ship ID)");
}
