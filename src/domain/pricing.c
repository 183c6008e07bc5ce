/*
 * pricing.c - the rate tables of the database as the set in use, loading a
 * new one, and a piece's price with its zone (pricing.h, docs/rates.md).
 *
 * Every process (front, processor, serve) calls pv_pricing_refresh: at
 * start, on each processor tick and before a quote or purchase on the
 * front, so a table loaded by `stampd rates load` is in use everywhere
 * within about a second, without a restart. The look is one cheap query
 * (how many tables, the latest load time); the documents are read and
 * parsed only when that changed. A table is only ever added, never changed
 * or removed, and a new one must start after today (unless forced), so a
 * front and a processor that look a second apart still price today's
 * pieces alike.
 */
#include "domain/pricing.h"

#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/log.h"
#include "stampd/timeutil.h"
#include "stampd/zip.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof((struct pv_indicium_rec *) 0)->rate_version == PV_RATE_VERSION_MAX,
               "a piece stores its table's version");

#define LOOK_EVERY_MS 1000
#define MAX_TABLES    64

static pthread_mutex_t look_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t last_look_ms = -LOOK_EVERY_MS, seen_count = -1, seen_latest = -1;

/* The shipped tables the database lacks, stored (recs: what it has). */
static int seed(struct pv_store *st, const struct pv_rate_rec *recs, size_t n, int *added)
{
    struct pv_rate_table *t;
    struct pv_rate_rec rec;
    const char *text;
    size_t i, j, len = 0;
    int rc;

    *added = 0;
    for (i = 0; i < pv_rates_builtin_count(); i++) {
        if (!(text = pv_rates_builtin(i, &len)) ||
            pv_rate_table_parse(text, len, &t, NULL, 0) != PV_OK)
            continue; /* test_rates checks every shipped table parses */
        for (j = 0; j < n; j++)
            if (strcmp(recs[j].version, pv_rate_table_version(t)) == 0 ||
                recs[j].effective == pv_rate_table_effective(t))
                break;
        if (j == n) {
            memset(&rec, 0, sizeof rec);
            pv_str_copy(rec.version, sizeof rec.version, pv_rate_table_version(t));
            pv_str_copy(rec.source, sizeof rec.source, pv_rate_table_source(t));
            snprintf(rec.loaded_by, sizeof rec.loaded_by, "shipped");
            rec.effective = pv_rate_table_effective(t);
            rec.body = (char *) text;
            rec.loaded_at = pv_now();
            rc = pv_store_rate_insert(st, &rec);
            if (rc == PV_OK)
                *added = 1;
            else if (rc != PV_EEXIST) { /* EEXIST: another process seeded it */
                pv_rate_table_free(t);
                return rc;
            }
        }
        pv_rate_table_free(t);
    }
    return PV_OK;
}

/* Parse recs into the set in use. */
static int install(const struct pv_rate_rec *recs, size_t n)
{
    struct pv_rate_table *t[MAX_TABLES];
    char err[160];
    size_t i;
    int rc = PV_OK;

    if (n == 0 || n > MAX_TABLES)
        return n ? PV_ERATETABLE : PV_OK;
    for (i = 0; i < n; i++) {
        rc = pv_rate_table_parse(recs[i].body, strlen(recs[i].body), &t[i], err, sizeof err);
        if (rc != PV_OK) {
            pv_log(PV_LOG_ERROR, "rate table %s: %s\n", recs[i].version, err);
            break;
        }
    }
    if (rc == PV_OK && (rc = pv_rates_install(t, n)) == PV_OK)
        return PV_OK;
    while (i-- > 0)
        pv_rate_table_free(t[i]);
    return rc;
}

static int reload(struct pv_store *st)
{
    struct pv_rate_rec *recs = NULL;
    size_t n = 0;
    int rc, added = 0;

    if ((rc = pv_store_rate_list(st, &recs, &n)) == PV_OK &&
        (rc = seed(st, recs, n, &added)) == PV_OK && added) {
        pv_rate_recs_free(recs, n);
        recs = NULL;
        rc = pv_store_rate_list(st, &recs, &n);
    }
    if (rc == PV_OK)
        rc = install(recs, n);
    pv_rate_recs_free(recs, n);
    return rc;
}

int pv_pricing_refresh(struct pv_store *st, int force)
{
    int64_t now = pv_now_ms(), count, latest;
    int rc = PV_OK;

    if (!st)
        return PV_EINVAL;
    pthread_mutex_lock(&look_lock);
    if (!force && now - last_look_ms < LOOK_EVERY_MS)
        goto out;
    /* A failed look is tried again on the next call, not a second later. */
    if ((rc = pv_store_rate_stamp(st, &count, &latest)) != PV_OK)
        goto out;
    last_look_ms = now;
    if (!force && count == seen_count && latest == seen_latest)
        goto out;
    if ((rc = reload(st)) == PV_OK && (rc = pv_store_rate_stamp(st, &count, &latest)) == PV_OK) {
        seen_count = count;
        seen_latest = latest;
    }
out:
    pthread_mutex_unlock(&look_lock);
    return rc;
}

int pv_pricing_load(struct pv_store *st, const char *text, size_t len, int force, int64_t now,
                    char *version, uint32_t *effective, char *err, size_t errlen)
{
    struct pv_rate_rec *recs = NULL, rec;
    struct pv_rate_table *t;
    size_t n = 0, i;
    int rc;

    if ((rc = pv_rate_table_parse(text, len, &t, err, errlen)) != PV_OK)
        return rc;
    pv_str_copy(version, PV_RATE_VERSION_MAX, pv_rate_table_version(t));
    *effective = pv_rate_table_effective(t);
    if (!force && *effective <= pv_date_from_unix(now)) {
        rc = PV_ERATEPAST;
        goto out;
    }
    /* The shipped tables first, so that one cannot be shadowed unnoticed. */
    if ((rc = pv_pricing_refresh(st, 1)) != PV_OK ||
        (rc = pv_store_rate_list(st, &recs, &n)) != PV_OK)
        goto out;
    for (i = 0; i < n; i++) {
        if (strcmp(recs[i].version, version) == 0 || recs[i].effective == *effective) {
            snprintf(err, errlen, "%s is taken by table %s",
                     recs[i].effective == *effective ? "the effective date" : "the version",
                     recs[i].version);
            rc = PV_ERATECONFLICT;
            goto out;
        }
    }
    memset(&rec, 0, sizeof rec);
    pv_str_copy(rec.version, sizeof rec.version, version);
    pv_str_copy(rec.source, sizeof rec.source, pv_rate_table_source(t));
    snprintf(rec.loaded_by, sizeof rec.loaded_by, "cli");
    rec.effective = *effective;
    rec.loaded_at = now;
    /* The document as given, so every process parses the very same bytes. */
    if (!(rec.body = malloc(len + 1))) {
        rc = PV_ENOMEM;
        goto out;
    }
    memcpy(rec.body, text, len);
    rec.body[len] = '\0';
    if (strlen(rec.body) != len) {
        snprintf(err, errlen, "the document holds a NUL byte");
        rc = PV_ERATETABLE;
    } else if ((rc = pv_store_rate_insert(st, &rec)) == PV_EEXIST) {
        snprintf(err, errlen, "a table with this version or effective date was loaded meanwhile");
        rc = PV_ERATECONFLICT;
    }
    free(rec.body);
    if (rc == PV_OK)
        rc = pv_pricing_refresh(st, 1);
out:
    pv_rate_recs_free(recs, n);
    pv_rate_table_free(t);
    return rc;
}

int pv_price_piece(int mail_class, uint32_t weight_tenth_oz, uint32_t mail_date, uint8_t services,
                   const char *from_zip, const char *to_zip, struct pv_rate_price *out, int *zone)
{
    struct pv_rate_piece p = {mail_class, weight_tenth_oz, mail_date, services, 0};
    int rc;

    if (pv_mail_class_is_parcel(mail_class) &&
        (rc = pv_zip_zone(from_zip, to_zip, &p.zone)) != PV_OK)
        return rc;
    *zone = p.zone;
    return pv_rate_price(&p, out);
}
