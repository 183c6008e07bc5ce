/*
 * buyopts.c - the rate options of `stamp buy` (docs/rates.md): --services,
 * --non-machinable and --no-address-check into the purchase body, and the
 * lines that show a piece's options and its address corrections.
 */
#include "cli.h"

#include <stdio.h>
#include <string.h>

int cli_buy_opts_set(json_t *obj, const struct cli_buy_opts *o)
{
    if (o->services) {
        json_t *list = json_array();
        const char *p = o->services;
        while (list && *p) {
            size_t n = strcspn(p, ",");
            if (n && json_array_append_new(list, json_stringn(p, n)) != 0)
                break;
            p += n + (p[n] == ',');
        }
        if (list && *p) { /* a name json_stringn refused (not UTF-8), or no memory */
            json_decref(list);
            return -1;
        }
        if (!list || json_object_set_new(obj, "extra_services", list) != 0)
            return -1;
    }
    if ((o->non_machinable && json_object_set_new(obj, "non_machinable", json_true()) != 0) ||
        (o->no_address_check && json_object_set_new(obj, "address_check", json_string("off")) != 0))
        return -1;
    return 0;
}

/* cli_print_options (cli.h) - the piece's extra services, non-machinable surcharge and
 * zone (rates.md), and the address corrections the purchase made, when any. */
void cli_print_options(const json_t *ind)
{
    const json_t *list = json_object_get(ind, "extra_services"), *v, *fix;
    size_t i;
    int nm = 0;

    json_array_foreach(list, i, v)
        printf("%-12s%s\n", i == 0 ? "services" : "", cli_safe(json_string_value(v)));
    if (cli_jbool(ind, "non_machinable", &nm) && nm)
        printf("%-12s%s\n", "surcharge", "non-machinable");
    if (json_integer_value(json_object_get(ind, "zone")) > 0)
        printf("%-12s%s\n", "zone", cli_scalar(json_object_get(ind, "zone")));
    json_array_foreach(json_object_get(ind, "address_corrections"), i, fix)
        printf("%-12s%s corrected\n", i == 0 ? "address" : "", cli_safe(cli_jstr(fix, "field")));
}
