/*
 * report.c - the daily per-device reports and the watchdog (report.h).
 *
 * A report is built from what the store recorded when the registers moved:
 * the pieces (each carries the ascending register and the piece count after
 * it) and the resets (each carries the registers before and after). The
 * registers at a time t follow from them: the ascending register and the
 * piece count of the last piece signed before t, the control total of the
 * last reset before t (or the one before the first reset after t), and the
 * descending register as the control total less the ascending one. The
 * start of a day is the end of the previous day's report when there is one.
 *
 * Both forms are written here by hand (no JSON library in src/domain): every
 * value is a number, a fixed word, or a field the indicium format limits to
 * digits and [A-Z0-9-], escaped anyway.
 */
#include "domain/report.h"

#include "crypto/primitives.h"
#include "domain/deposit_low.h"
#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/log.h"
#include "stampd/money.h"
#include "stampd/rates.h"
#include "stampd/timeutil.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S 86400

/* ---- the clock ---- */

static int64_t clock_offset;
static int clock_bad;
static pthread_once_t clock_once = PTHREAD_ONCE_INIT;

static void clock_read(void)
{
    const char *v = getenv("STAMPD_TEST_CLOCK_OFFSET_S");
    char *end = NULL;
    long long s;

    if (!v || !v[0])
        return;
    s = strtoll(v, &end, 10);
    if (!end || *end || s < -100LL * 365 * DAY_S || s > 100LL * 365 * DAY_S) {
        clock_bad = 1;
        return;
    }
#ifdef NDEBUG
    clock_bad = 2; /* a release build never runs on a shifted clock */
#else
    clock_offset = (int64_t) s;
#endif
}

int pv_report_clock_check(void)
{
    pthread_once(&clock_once, clock_read);
    if (clock_bad == 1)
        fprintf(stderr, "stampd: STAMPD_TEST_CLOCK_OFFSET_S is not a number of seconds\n");
    else if (clock_bad == 2)
        fprintf(stderr, "stampd: STAMPD_TEST_CLOCK_OFFSET_S is a test hook: a release build "
                        "refuses to run with it set\n");
    else if (clock_offset)
        fprintf(stderr,
                "stampd: TEST CLOCK: reports and the watchdog run %+lld s from the real "
                "clock (STAMPD_TEST_CLOCK_OFFSET_S; never in production)\n",
                (long long) clock_offset);
    return clock_bad ? PV_ECONFIG : PV_OK;
}

int64_t pv_report_clock(void)
{
    pthread_once(&clock_once, clock_read);
    return pv_now() + clock_offset;
}

/* ---- a growing text ---- */

struct text {
    char *p;
    size_t len, cap;
    int rc;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct text *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (t->rc != PV_OK)
        return;
    for (;;) {
        size_t room = t->cap - t->len;
        va_start(ap, fmt);
        n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->rc = PV_EINTERNAL;
            return;
        }
        if (t->p && (size_t) n < room) {
            t->len += (size_t) n;
            return;
        }
        {
            size_t ncap = (t->cap ? t->cap * 2 : 4096) + (size_t) n;
            char *q = realloc(t->p, ncap);
            if (!q) {
                t->rc = PV_ENOMEM;
                return;
            }
            t->p = q;
            t->cap = ncap;
        }
    }
}

/* A field limited to printable ASCII by the indicium format, escaped for JSON and CSV alike
 * (neither form needs more for [A-Z0-9-]; anything else becomes '?'). */
static const char *safe(const char *s, char *out, size_t n)
{
    size_t i;

    for (i = 0; s[i] && i + 1 < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' && s[i] != ',') ? s[i]
                                                                                             : '?';
    out[i] = '\0';
    return out;
}

/* ---- registers at a time ---- */

struct regs {
    pv_mills asc, desc, ctl;
    int64_t count;
};

/* The registers at time t: the count and ascending of the last piece before t, the control total
 * of the resets around t. rf (oldest first) must hold every reset at or after t and the last one
 * before it (pv_store_refill_from); earlier ones change nothing. */
static int regs_at(struct pv_store *st, const struct pv_psd_rec *psd,
                   const struct pv_refill_rec *rf, size_t nrf, int64_t t, struct regs *out)
{
    size_t i;
    int rc;

    memset(out, 0, sizeof *out);
    rc = pv_store_psd_reading_before(st, psd->id, t, &out->count, &out->asc);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    out->ctl = psd->control_total; /* never reset: what it holds now */
    for (i = 0; i < nrf; i++) {
        if (rf[i].at < t) {
            out->ctl = rf[i].ctl_after;
            if (rf[i].asc_after > out->asc)
                out->asc = rf[i].asc_after;
        } else {
            if (i == 0 || rf[i - 1].at < t)
                out->ctl = rf[i].ctl_before;
            break;
        }
    }
    return pv_money_sub(out->ctl, out->asc, &out->desc);
}

static void put_regs_json(struct text *t, const struct regs *r)
{
    put(t,
        "{\"ascending_mills\":%" PRId64 ",\"descending_mills\":%" PRId64
        ",\"control_total_mills\":%" PRId64 ",\"piece_count\":%" PRId64 "}",
        r->asc, r->desc, r->ctl, r->count);
}

/* ---- the two forms ---- */

struct day_data {
    const char *license;
    uint32_t psd_id, key_id, day;
    int64_t from, to, now;
    const char *made_by;
    struct regs start, end;
    const struct pv_report_piece *pieces;
    size_t npieces;
    /* The PSD's resets from the day on and the last one before it (all regs_at needs); those
     * of the day are [rf_lo, rf_hi). */
    const struct pv_refill_rec *rf;
    size_t rf_lo, rf_hi;
    pv_mills postage, refunded_postage, reset_mills;
    int64_t refunded;
    struct pv_deposit_status deposit; /* balance: at the end of the day */
};

static const char *status_of(const struct day_data *d, const struct pv_report_piece *p)
{
    return p->refunded_at && p->refunded_at < d->to ? "refunded" : "sold";
}

/* The names of a version 2 piece's extra services (indicium.h
 * PV_IND_SVC_*): quoted and comma-separated for JSON, else joined by '+'. */
static const char *services_text(int services, int json, char *out, size_t n)
{
    static const char *const names[] = {"certified_mail", "return_receipt", "non_machinable"};
    size_t i, at = 0;

    out[0] = '\0';
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if ((services & (1 << i)) && at < n)
            at += (size_t) snprintf(out + at, n - at, json ? "%s\"%s\"" : "%s%s",
                                    at ? (json ? "," : "+") : "", names[i]);
    return out;
}

static void write_jsonl(struct text *t, const struct day_data *d)
{
    char date[16], at[32], at2[32], ms[64], mdate[16], svc[64];
    size_t i;

    pv_date_format(d->day, date, sizeof date);
    put(t,
        "{\"object\":\"device_report\",\"format\":\"" PV_REPORT_FORMAT
        "\",\"license\":\"%s\",\"date\":\"%s\",\"day_start\":\"%s\",\"day_end\":\"%s\","
        "\"psd_id\":%u,\"key_id\":%u,\"start\":",
        d->license, date, pv_time_format(d->from, at, sizeof at),
        pv_time_format(d->to, at2, sizeof at2), (unsigned) d->psd_id, (unsigned) d->key_id);
    put_regs_json(t, &d->start);
    put(t, "}\n");
    for (i = 0; i < d->npieces; i++) {
        const struct pv_report_piece *p = &d->pieces[i];
        const char *cls = pv_mail_class_name(p->mail_class);
        put(t,
            "{\"object\":\"piece\",\"psd_id\":%u,\"serial\":%u,\"postage_mills\":%" PRId64
            ",\"mail_class\":\"%s\",\"weight_tenth_oz\":%d,\"mail_date\":\"%s\","
            "\"origin_zip\":\"%s\",\"destination_zip\":\"%s\",\"medium_serial\":",
            (unsigned) d->psd_id, (unsigned) p->serial, p->postage, cls ? cls : "unknown",
            p->weight_tenth_oz, pv_date_format(p->mail_date, mdate, sizeof mdate),
            safe(p->from_zip, ms, sizeof ms), p->to_zip);
        if (p->medium_serial[0])
            put(t, "\"%s\"", safe(p->medium_serial, ms, sizeof ms));
        else
            put(t, "null");
        put(t, ",\"status\":\"%s\",\"ascending_mills\":%" PRId64 ",\"signed_at\":\"%s\"",
            status_of(d, p), p->ascending, pv_time_format(p->created, at, sizeof at));
        /* The format version; what only version 2 carries, null for version 1. */
        if (p->version == PV_INDICIUM_V2)
            put(t, ",\"version\":2,\"descending_mills\":%" PRId64 ",\"services\":[%s]}\n",
                p->descending, services_text(p->services, 1, svc, sizeof svc));
        else
            put(t, ",\"version\":%d,\"descending_mills\":null,\"services\":null}\n", p->version);
    }
    for (i = d->rf_lo; i < d->rf_hi; i++) {
        const struct pv_refill_rec *r = &d->rf[i];
        put(t,
            "{\"object\":\"reset\",\"psd_id\":%u,\"authorisation_id\":\"%s\",\"amount_mills\":"
            "%" PRId64 ",\"before\":{\"ascending_mills\":%" PRId64 ",\"descending_mills\":%" PRId64
            ",\"control_total_mills\":%" PRId64 "},\"after\":{\"ascending_mills\":%" PRId64
            ",\"descending_mills\":%" PRId64 ",\"control_total_mills\":%" PRId64
            "},\"at\":\"%s\"}\n",
            (unsigned) d->psd_id, safe(r->authorization, ms, sizeof ms), r->amount, r->asc_before,
            r->desc_before, r->ctl_before, r->asc_after, r->desc_after, r->ctl_after,
            pv_time_format(r->at, at, sizeof at));
    }
    put(t, "{\"object\":\"device_report_end\",\"date\":\"%s\",\"psd_id\":%u,\"end\":", date,
        (unsigned) d->psd_id);
    put_regs_json(t, &d->end);
    put(t,
        ",\"pieces\":%zu,\"postage_mills\":%" PRId64 ",\"refunded_pieces\":%" PRId64
        ",\"refunded_postage_mills\":%" PRId64 ",\"resets\":%zu,\"reset_mills\":%" PRId64
        ",\"deposit_mills\":%" PRId64 ",\"deposit_low_threshold_mills\":%" PRId64
        ",\"deposit_low\":%s,\"made_by\":\"%s\",\"made_at\":\"%s\"}\n",
        d->npieces, d->postage, d->refunded, d->refunded_postage, d->rf_hi - d->rf_lo,
        d->reset_mills, d->deposit.balance, d->deposit.threshold, d->deposit.low ? "true" : "false",
        safe(d->made_by, ms, sizeof ms), pv_time_format(d->now, at, sizeof at));
}

#define CSV_HEADER                                                                                 \
    "record,date,psd_id,key_id,serial,postage_mills,mail_class,weight_tenth_oz,mail_date,"         \
    "origin_zip,destination_zip,medium_serial,status,signed_at,ascending_mills,"                   \
    "descending_mills,control_total_mills,piece_count,authorisation_id,amount_mills,"              \
    "deposit_mills,deposit_low_threshold_mills,deposit_low,version,services\n"

static void csv_regs(struct text *t, const char *record, const struct day_data *d, const char *date,
                     const struct regs *r, int end)
{
    put(t, "%s,%s,%u,%u,,,,,,,,,,,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",,", record, date,
        (unsigned) d->psd_id, (unsigned) d->key_id, r->asc, r->desc, r->ctl, r->count);
    if (end)
        put(t, ",%" PRId64 ",%" PRId64 ",%s,,\n", d->deposit.balance, d->deposit.threshold,
            d->deposit.low ? "true" : "false");
    else
        put(t, ",,,,,\n");
}

static void write_csv(struct text *t, const struct day_data *d)
{
    char date[16], at[32], ms[64], mdate[16], svc[64];
    size_t i;

    pv_date_format(d->day, date, sizeof date);
    put(t, CSV_HEADER);
    csv_regs(t, "start", d, date, &d->start, 0);
    for (i = 0; i < d->npieces; i++) {
        const struct pv_report_piece *p = &d->pieces[i];
        const char *cls = pv_mail_class_name(p->mail_class);
        put(t, "piece,%s,%u,%u,%u,%" PRId64 ",%s,%d,%s,%s,%s,", date, (unsigned) d->psd_id,
            (unsigned) d->key_id, (unsigned) p->serial, p->postage, cls ? cls : "unknown",
            p->weight_tenth_oz, pv_date_format(p->mail_date, mdate, sizeof mdate), p->from_zip,
            p->to_zip);
        put(t, "%s,%s,%s,%" PRId64 ",", safe(p->medium_serial, ms, sizeof ms), status_of(d, p),
            pv_time_format(p->created, at, sizeof at), p->ascending);
        /* Version 2 pieces carry their descending register and services. */
        if (p->version == PV_INDICIUM_V2)
            put(t, "%" PRId64 ",,,,,,,,%d,%s\n", p->descending, p->version,
                services_text(p->services, 0, svc, sizeof svc));
        else
            put(t, ",,,,,,,,%d,\n", p->version);
    }
    for (i = d->rf_lo; i < d->rf_hi; i++) {
        const struct pv_refill_rec *r = &d->rf[i];
        put(t,
            "reset,%s,%u,%u,,,,,,,,,,%s,%" PRId64 ",%" PRId64 ",%" PRId64 ",,%s,%" PRId64 ",,,,,\n",
            date, (unsigned) d->psd_id, (unsigned) d->key_id, pv_time_format(r->at, at, sizeof at),
            r->asc_after, r->desc_after, r->ctl_after, safe(r->authorization, ms, sizeof ms),
            r->amount);
    }
    csv_regs(t, "end", d, date, &d->end, 1);
}

/* ---- signing ---- */

static int sign_hex(const struct pv_report_signer *sg, const struct text *t, char out[129])
{
    uint8_t sig[64];
    int rc = pv_crypto_sign(sg->cm, sg->key_ref, (const uint8_t *) t->p, t->len, sig);

    if (rc != PV_OK)
        return rc;
    pv_hex_encode(sig, sizeof sig, out);
    return PV_OK;
}

int pv_report_verify(const char *public_pem, const char *body, size_t len, const char *sig_hex)
{
    uint8_t sig[64];

    if (!public_pem || !body || !sig_hex || strlen(sig_hex) != 128 ||
        pv_hex_decode(sig_hex, sig, sizeof sig) != PV_OK)
        return PV_ESIGNATURE;
    return pv_crypto_verify(public_pem, (const uint8_t *) body, len, sig) == PV_OK ? PV_OK
                                                                                   : PV_ESIGNATURE;
}

/* Gather the day's facts into *d (its pieces and resets owned by the caller's pointers). */
static int gather(struct pv_store *st, const struct pv_psd_rec *psd, struct day_data *d,
                  struct pv_report_piece **pieces, struct pv_refill_rec **rf, size_t *nrf)
{
    struct pv_report_rec prev;
    size_t i;
    int rc;

    if ((rc = pv_store_report_pieces(st, psd->id, d->from, d->to, pieces, &d->npieces)) != PV_OK ||
        (rc = pv_store_refill_from(st, psd->id, d->from, rf, nrf)) != PV_OK)
        return rc;
    d->pieces = *pieces;
    d->rf = *rf;
    for (i = 0; i < d->npieces; i++) {
        if ((rc = pv_money_add(d->postage, d->pieces[i].postage, &d->postage)) != PV_OK)
            return rc;
        if (strcmp(status_of(d, &d->pieces[i]), "refunded") == 0) {
            d->refunded++;
            if ((rc = pv_money_add(d->refunded_postage, d->pieces[i].postage,
                                   &d->refunded_postage)) != PV_OK)
                return rc;
        }
    }
    for (d->rf_lo = 0; d->rf_lo < *nrf && (*rf)[d->rf_lo].at < d->from; d->rf_lo++)
        ;
    for (d->rf_hi = d->rf_lo; d->rf_hi < *nrf && (*rf)[d->rf_hi].at < d->to; d->rf_hi++)
        if ((rc = pv_money_add(d->reset_mills, (*rf)[d->rf_hi].amount, &d->reset_mills)) != PV_OK)
            return rc;
    if ((rc = regs_at(st, psd, *rf, *nrf, d->to, &d->end)) != PV_OK)
        return rc;
    rc = pv_store_report_last(st, psd->id, &prev);
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    if (rc == PV_OK) {
        char want[PV_DAY_LEN];
        pv_date_format(pv_date_add_days(d->day, -1), want, sizeof want);
        if (strcmp(prev.day, want) == 0) {
            /* The start is where the previous report ended. */
            d->start.asc = prev.asc_end;
            d->start.ctl = prev.ctl_end;
            d->start.count = prev.count_end;
            return pv_money_sub(prev.ctl_end, prev.asc_end, &d->start.desc);
        }
    }
    /* The device's first report: its registers before the day's first movement. */
    return regs_at(st, psd, *rf, *nrf, d->from, &d->start);
}

int pv_report_make(struct pv_store *st, const struct pv_report_signer *sg, const char *license,
                   uint32_t psd_id, uint32_t day, const char *made_by, int64_t now,
                   struct pv_report_rec *rec)
{
    struct pv_report_piece *pieces = NULL;
    struct pv_refill_rec *rf = NULL;
    struct text jl = {0}, csv = {0};
    struct pv_report_rec r;
    struct pv_psd_rec psd;
    struct day_data d;
    uint32_t first;
    size_t nrf = 0;
    int rc;

    if (!st || !sg || !sg->cm || !sg->key_ref || !license || !made_by || !pv_date_valid(day))
        return PV_EINVAL;
    memset(&d, 0, sizeof d);
    d.license = license;
    d.psd_id = psd_id;
    d.key_id = sg->key_id;
    d.day = day;
    d.from = pv_date_to_unix(day);
    d.to = d.from + DAY_S;
    d.now = now;
    d.made_by = made_by;
    if (now < d.to + PV_REPORT_GRACE_S)
        return PV_EINVAL; /* the day is not over (with a grace for clocks) */
    if ((rc = pv_store_psd_get(st, psd_id, &psd)) != PV_OK)
        return rc;
    if (psd.test)
        return PV_EINVAL; /* play money: not the authority's */
    /* Reports follow each other day by day: none for a day before the next one due. */
    rc = pv_report_first_day(st, psd_id, &first);
    if (rc == PV_OK && day < first)
        return PV_EEXIST;
    if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    if ((rc = gather(st, &psd, &d, &pieces, &rf, &nrf)) != PV_OK)
        goto out;
    if ((rc = pv_deposit_status(st, &d.deposit)) != PV_OK ||
        (rc = pv_store_account_balance_before(st, PV_ACCT_DEPOSIT, d.to, &d.deposit.balance)) !=
            PV_OK)
        goto out;
    d.deposit.low = d.deposit.threshold > 0 && d.deposit.balance < d.deposit.threshold;
    write_jsonl(&jl, &d);
    write_csv(&csv, &d);
    if ((rc = jl.rc) != PV_OK || (rc = csv.rc) != PV_OK)
        goto out;

    memset(&r, 0, sizeof r);
    r.psd_id = psd_id;
    pv_date_format(day, r.day, sizeof r.day);
    r.key_id = sg->key_id;
    r.pieces = (int64_t) d.npieces;
    r.postage = d.postage;
    r.asc_start = d.start.asc;
    r.asc_end = d.end.asc;
    r.ctl_start = d.start.ctl;
    r.ctl_end = d.end.ctl;
    r.count_start = d.start.count;
    r.count_end = d.end.count;
    pv_str_copy(r.made_by, sizeof r.made_by, made_by);
    r.created = now;
    if ((rc = sign_hex(sg, &jl, r.jsonl_sig)) != PV_OK ||
        (rc = sign_hex(sg, &csv, r.csv_sig)) != PV_OK)
        goto out;
    if ((rc = pv_store_begin(st)) != PV_OK)
        goto out;
    if ((rc = pv_store_report_insert(st, &r, jl.p, csv.p)) != PV_OK ||
        (rc = pv_store_contact_touch(st, psd_id, now, 0)) != PV_OK) {
        pv_store_rollback(st);
        goto out;
    }
    if ((rc = pv_store_commit(st)) != PV_OK)
        goto out;
    if (rec)
        *rec = r;
out:
    free(pieces);
    free(rf);
    free(jl.p);
    free(csv.p);
    return rc;
}

int pv_report_first_day(struct pv_store *st, uint32_t psd_id, uint32_t *day)
{
    struct pv_report_rec last;
    struct pv_contact_rec c;
    uint32_t d;
    int rc;

    rc = pv_store_report_last(st, psd_id, &last);
    if (rc == PV_OK) {
        if (pv_date_parse(last.day, &d) != PV_OK)
            return PV_EINTERNAL;
        d = pv_date_add_days(d, 1);
    } else if (rc == PV_ENOTFOUND) {
        if ((rc = pv_store_contact_get(st, psd_id, &c)) != PV_OK)
            return rc;
        d = pv_date_from_unix(c.last_contact_at);
    } else {
        return rc;
    }
    if (!pv_date_valid(d))
        return PV_ENOTFOUND;
    *day = d;
    return PV_OK;
}

int pv_report_next_day(struct pv_store *st, uint32_t psd_id, int64_t now, uint32_t *day)
{
    uint32_t d;
    int rc;

    if ((rc = pv_report_first_day(st, psd_id, &d)) != PV_OK)
        return rc;
    if (now < pv_date_to_unix(d) + DAY_S + PV_REPORT_GRACE_S)
        return PV_ENOTFOUND;
    *day = d;
    return PV_OK;
}

/* ---- the watchdog ---- */

int pv_contact_deadline_days(struct pv_store *st, int64_t *days)
{
    char *val = NULL;
    uint64_t v;
    int rc = pv_store_config_get(st, PV_CFG_CONTACT_DAYS, &val);

    if (rc == PV_ENOTFOUND) {
        *days = PV_CONTACT_DAYS_DEFAULT;
        return PV_OK;
    }
    if (rc != PV_OK)
        return rc;
    rc = pv_parse_u64(val, 1, PV_CONTACT_DAYS_MAX, &v);
    free(val);
    if (rc != PV_OK)
        return PV_ECONFIG;
    *days = (int64_t) v;
    return PV_OK;
}

int pv_contact_deadline_set(struct pv_store *st, int64_t days)
{
    char buf[24];

    if (days < 1 || days > PV_CONTACT_DAYS_MAX)
        return PV_EINVAL;
    snprintf(buf, sizeof buf, "%lld", (long long) days);
    return pv_store_config_set(st, PV_CFG_CONTACT_DAYS, buf);
}

int pv_contact_view(struct pv_store *st, uint32_t psd_id, int64_t deadline_days, int64_t now,
                    struct pv_contact_view *out)
{
    struct pv_contact_rec c;
    int rc = pv_store_contact_get(st, psd_id, &c);

    memset(out, 0, sizeof *out);
    if (rc == PV_ENOTFOUND)
        return PV_OK;
    if (rc != PV_OK)
        return rc;
    out->known = 1;
    out->last_contact_at = c.last_contact_at;
    out->contact_deadline_at = c.last_contact_at + deadline_days * DAY_S;
    out->overdue = now > out->contact_deadline_at;
    out->locked = c.locked;
    return PV_OK;
}

int pv_watchdog_check(struct pv_store *st, uint32_t psd_id, int64_t deadline_days, int64_t now,
                      const char *who, int *overdue)
{
    struct pv_contact_view v;
    char at[32];
    int rc;

    *overdue = 0;
    if ((rc = pv_contact_view(st, psd_id, deadline_days, now, &v)) != PV_OK)
        return rc;
    if (!v.known) /* first held: its watchdog starts now */
        return pv_store_contact_touch(st, psd_id, now, 1);
    *overdue = v.overdue;
    if (v.overdue == v.locked)
        return PV_OK;
    if ((rc = pv_store_contact_set_locked(st, psd_id, v.overdue)) != PV_OK)
        return rc;
    pv_time_format(v.last_contact_at, at, sizeof at);
    if (v.overdue)
        pv_log(PV_LOG_WARNING,
               "watchdog: PSD %u locked for sales: no report since %s (deadline %lld "
               "days) [%s]\n",
               (unsigned) psd_id, at, (long long) deadline_days, who ? who : "-");
    else
        pv_log(PV_LOG_INFO, "watchdog: PSD %u unlocked: it reported at %s [%s]\n",
               (unsigned) psd_id, at, who ? who : "-");
    return PV_OK;
}
