/*
 * cmd_rates.c - rate tables from the command line (docs/rates.md):
 *
 *   stampd rates load FILE --db DSN [--force]
 *   stampd rates list --db DSN
 *
 * load checks the whole document and stores it (domain/pricing.h): a new
 * table must take effect after today, unless --force; its version and its
 * effective date must be new. Running fronts and processors price with it
 * within a second or two, without a restart. list prints every table with
 * its dates, status and source.
 */
#include "server/cmd_rates.h"

#include "domain/pricing.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/timeutil.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE (1024 * 1024)

/* The whole file path into *out (owned, NUL-terminated), *len its bytes. */
static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    size_t n;

    if (!f) {
        fprintf(stderr, "stampd: cannot open %s\n", path);
        return 1;
    }
    if (!(buf = malloc(MAX_FILE + 1))) {
        fclose(f);
        return pv_cmd_fail("read the table", PV_ENOMEM);
    }
    n = fread(buf, 1, MAX_FILE + 1, f);
    if (ferror(f) || n > MAX_FILE) {
        fprintf(stderr, "stampd: %s: %s\n", path,
                n > MAX_FILE ? "larger than 1 MiB" : "read error");
        fclose(f);
        free(buf);
        return 1;
    }
    fclose(f);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int load(struct pv_store *st, const struct opts *o)
{
    char *text = NULL, version[PV_RATE_VERSION_MAX], err[192] = "", day[16];
    uint32_t effective = 0;
    size_t len = 0;
    int rc;

    if ((rc = read_file(o->in, &text, &len)) != 0)
        return rc;
    rc = pv_pricing_load(st, text, len, o->force, pv_now(), version, &effective, err, sizeof err);
    free(text);
    if (rc == PV_ERATEPAST) {
        fprintf(stderr,
                "stampd: table %s takes effect on %s, not after today: quotes for mail dates "
                "from then on would change (pieces bought keep their price); --force loads it "
                "anyway\n",
                version, pv_date_format(effective, day, sizeof day));
        return 1;
    }
    if (rc == PV_ERATETABLE || rc == PV_ERATECONFLICT) {
        fprintf(stderr, "stampd: %s: %s (%s)\n", o->in, err, pv_error_code(rc));
        return 1;
    }
    if (rc != PV_OK)
        return pv_cmd_fail("load the rate table", rc);
    fprintf(stderr, "stampd: loaded rate table %s, in effect from %s\n", version,
            pv_date_format(effective, day, sizeof day));
    printf("version=%s\n", version);
    return 0;
}

static int list(struct pv_store *st)
{
    struct pv_rate_rec *recs = NULL;
    uint32_t today = pv_date_from_unix(pv_now());
    char eff[16], until[16];
    size_t n = 0, i;
    int rc;

    if ((rc = pv_pricing_refresh(st, 1)) != PV_OK ||
        (rc = pv_store_rate_list(st, &recs, &n)) != PV_OK)
        return pv_cmd_fail("list the rate tables", rc);
    printf("%-24s %-10s %-10s %-9s %-7s %s\n", "VERSION", "EFFECTIVE", "UNTIL", "STATUS", "BY",
           "SOURCE");
    for (i = 0; i < n; i++) {
        uint32_t next = i + 1 < n ? recs[i + 1].effective : 0;
        printf("%-24s %-10s %-10s %-9s %-7s %.60s\n", recs[i].version,
               pv_date_format(recs[i].effective, eff, sizeof eff),
               next ? pv_date_format(next, until, sizeof until) : "-",
               recs[i].effective > today ? "scheduled"
               : next && next <= today   ? "past"
                                         : "in_effect",
               recs[i].loaded_by, recs[i].source);
    }
    pv_rate_recs_free(recs, n);
    return 0;
}

int pv_cmd_rates(const struct opts *o, const char *verb)
{
    struct pv_store *st = NULL;
    int rc;

    if (strcmp(verb, "load") == 0 && !o->in) {
        fprintf(stderr, "stampd: rates load needs the table's FILE\n");
        return 2;
    }
    if (!pv_cmd_db_exists(o->db))
        return 1;
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK)
        return pv_cmd_fail("open database (run stampd migrate after an upgrade)", rc);
    rc = strcmp(verb, "load") == 0 ? load(st, o) : list(st);
    pv_store_close(st);
    return rc;
}
