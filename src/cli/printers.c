/*
 * printers.c - `stamp printers` (the customer's saved printers and their
 * calibration offsets: list, set, delete) and `stamp layouts` (what the
 * server can render). Both are thin views of the API: the server checks
 * and stores; the CLI checks names and offsets locally so that a typo
 * costs no round trip.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* jnum - a JSON number member as a double; 0 when missing or not a number. */
static int jnum(const json_t *obj, const char *key, double *out)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

    if (!json_is_number(v))
        return 0;
    *out = json_number_value(v);
    return 1;
}

/* mm_str - "+0.50" for a member in millimetres, or "-" when missing. */
static const char *mm_str(const json_t *obj, const char *key, char *buf, size_t n)
{
    double v;

    if (!jnum(obj, key, &v))
        return "-";
    snprintf(buf, n, "%+.2f", v);
    return buf;
}

static int printers_list(const struct cli *c)
{
    const json_t *list, *p;
    json_t *doc = NULL;
    char x[32], y[32];
    size_t i;
    int rc, w = 4;

    if ((rc = cli_get_list(c, "/v1/account/printers", "printers", &doc, &list)) != RC_OK || !list)
        goto out;
    if (json_array_size(list) == 0) {
        printf("No saved printers. Save one with: stamp printers set NAME --offset X,Y\n");
        goto out;
    }
    json_array_foreach(list, i, p)
    {
        const char *name = cli_jstr(p, "name");
        if (name && strlen(name) > (size_t) w && strlen(name) <= CLI_NAME_MAX)
            w = (int) strlen(name);
    }
    printf("%-*s  %8s  %8s  %s\n", w, "NAME", "X MM", "Y MM", "UPDATED");
    json_array_foreach(list, i, p)
    {
        printf("%-*s  %8s  %8s  %s\n", w, cli_safe(cli_jstr(p, "name")),
               mm_str(p, "offset_x_mm", x, sizeof x), mm_str(p, "offset_y_mm", y, sizeof y),
               cli_safe(cli_jstr(p, "updated")));
    }
out:
    json_decref(doc);
    return rc;
}

int cmd_printers(const struct cli *c, int argc, char **argv)
{
    const char *offset = NULL;
    const struct cli_opt opts[] = {{"--offset", &offset, NULL}, {NULL, NULL, NULL}};
    const char *pos[3], *sub, *name;
    char path[256], esc[CLI_NAME_MAX * 3 + 1], x[16], y[16], body[128];
    json_t *doc = NULL;
    int32_t ox, oy;
    int npos, rc;

    if ((rc = cli_parse_opts("printers", argc, argv, opts, pos, 3, &npos)) != RC_OK)
        return rc;
    sub = npos > 0 ? pos[0] : "list";
    name = npos > 1 ? pos[1] : NULL;
    if (strcmp(sub, "list") == 0) {
        if (npos > 1 || offset)
            return cli_usage_error("printers", "'stamp printers' lists; it takes no arguments");
        if ((rc = cli_need_key(c, "printers")) != RC_OK)
            return rc;
        return printers_list(c);
    }
    if (strcmp(sub, "set") != 0 && strcmp(sub, "delete") != 0)
        return cli_usage_error("printers", "unknown subcommand '%s' (list, set or delete)",
                               cli_safe(sub));
    if (npos != 2)
        return cli_usage_error("printers", "which printer? stamp printers %s NAME", sub);
    if (!cli_valid_name(name, CLI_NAME_MAX))
        return cli_usage_error("printers",
                               "'%s': a printer name is 1 to %d letters, digits, '.', '_' or "
                               "'-'",
                               cli_safe(name), CLI_NAME_MAX);
    if (strcmp(sub, "set") == 0) {
        if (!offset)
            return cli_usage_error("printers", "missing --offset X,Y (millimetres)");
        if (cli_parse_offset(offset, &ox, &oy) != 0)
            return cli_usage_error("printers",
                                   "--offset '%s': expected X,Y in millimetres such as "
                                   "0.5,-0.25: at most two decimals, each within 10 mm",
                                   cli_safe(offset));
    } else if (offset) {
        return cli_usage_error("printers", "--offset belongs to 'stamp printers set'");
    }
    if ((rc = cli_need_key(c, "printers")) != RC_OK)
        return rc;
    cli_url_escape(name, esc, sizeof esc); /* cannot fail: the name is short and plain */
    snprintf(path, sizeof path, "/v1/account/printers/%s", esc);

    if (strcmp(sub, "set") == 0) {
        /* Decimal text straight from the parsed hundredths: no binary rounding on the way. */
        snprintf(body, sizeof body, "{\"offset_x_mm\":%s,\"offset_y_mm\":%s}",
                 cli_format_mm(ox, x, sizeof x), cli_format_mm(oy, y, sizeof y));
        if ((rc = cli_call(c, "PUT", path, body, NULL, CLI_RETRY, &doc, NULL)) != RC_OK)
            return rc;
        if (c->json) {
            rc = cli_print_json(doc);
        } else {
            char sx[32], sy[32];
            printf("saved printer %s: offset x %s mm, y %s mm\n", cli_safe(name),
                   mm_str(doc, "offset_x_mm", sx, sizeof sx),
                   mm_str(doc, "offset_y_mm", sy, sizeof sy));
        }
    } else {
        /* Not retried: a repeat after a lost answer would report not_found. */
        if ((rc = cli_call(c, "DELETE", path, NULL, NULL, 0, &doc, NULL)) != RC_OK)
            return rc;
        if (c->json)
            rc = cli_print_json(doc);
        else
            printf("deleted printer %s\n", cli_safe(name));
    }
    json_decref(doc);
    return rc;
}

int cmd_layouts(const struct cli *c, int argc, char **argv)
{
    const struct cli_opt opts[] = {{NULL, NULL, NULL}};
    const json_t *list, *l;
    json_t *doc = NULL;
    size_t i;
    int npos, rc, w = 6;

    if ((rc = cli_parse_opts("layouts", argc, argv, opts, NULL, 0, &npos)) != RC_OK)
        return rc;
    /* Layouts are not secret: the key is sent when there is one, not required. */
    if ((rc = cli_get_list(c, "/v1/layouts", "layouts", &doc, &list)) != RC_OK || !list)
        goto out;
    json_array_foreach(list, i, l)
    {
        const char *name = cli_jstr(l, "name");
        if (name && strlen(name) > (size_t) w && strlen(name) <= CLI_NAME_MAX)
            w = (int) strlen(name);
    }
    printf("%-*s  %-8s  %-15s  %4s  %4s  %8s  %s\n", w, "LAYOUT", "KIND", "PAGE (INCHES)", "ROWS",
           "COLS", "PER PAGE", "DESCRIPTION");
    json_array_foreach(list, i, l)
    {
        char page[48] = "-";
        double pw, ph;
        if (jnum(l, "page_width_pt", &pw) && jnum(l, "page_height_pt", &ph) && pw > 0 && ph > 0 &&
            pw < 1e6 && ph < 1e6)
            snprintf(page, sizeof page, "%.4g x %.4g", pw / 72.0, ph / 72.0);
        printf("%-*s  %-8s  %-15s  %4s  %4s  %8s  %s\n", w, cli_safe(cli_jstr(l, "name")),
               cli_safe(cli_jstr(l, "kind")), page, cli_scalar(json_object_get(l, "rows")),
               cli_scalar(json_object_get(l, "cols")),
               cli_scalar(json_object_get(l, "labels_per_page")),
               cli_safe(cli_jstr(l, "description")));
    }
out:
    json_decref(doc);
    return rc;
}
