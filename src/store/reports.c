/*
 * reports.c - the daily per-device reports and the watchdog's last contact
 * (store.h, schema v12; domain/report.h): what a report reads (a PSD's
 * pieces of one day, its registers before a time, the deposit before a
 * time), the signed reports themselves with their exact bytes, and each
 * PSD's last contact and lock.
 *
 * Each write is one statement; the domain puts a report and the contact it
 * renews in one transaction.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

static int read_piece(struct pv_row *r, void *p)
{
    struct pv_report_piece *rec = p;
    uint8_t data[PV_INDICIUM_MAX];
    struct pv_indicium ind;
    size_t len = 0;

    pv_r_text(r, rec->id, sizeof rec->id);
    rec->serial = (uint32_t) pv_r_int(r);
    rec->postage = pv_r_int(r);
    rec->ascending = pv_r_int(r);
    rec->mail_date = (uint32_t) pv_r_int(r);
    rec->mail_class = (int) pv_r_int(r);
    rec->weight_tenth_oz = (int) pv_r_int(r);
    rec->flags = (int) pv_r_int(r);
    pv_r_text(r, rec->from_zip, sizeof rec->from_zip);
    pv_r_text(r, rec->to_zip, sizeof rec->to_zip);
    pv_r_text(r, rec->medium_serial, sizeof rec->medium_serial);
    rec->created = pv_r_int(r);
    rec->refunded_at = pv_r_int(r);
    pv_r_blob(r, data, PV_SIG_LEN, sizeof data, &len);
    if (r->rc != PV_OK)
        return r->rc;
    /* The version 2 fields have no columns: the signed bytes hold them. */
    if (pv_indicium_decode(data, len, &ind, NULL) != PV_OK)
        return PV_ESTORE;
    rec->version = ind.version;
    rec->descending = ind.descending_mills;
    rec->services = ind.services;
    return PV_OK;
}

int pv_store_report_pieces(struct pv_store *st, uint32_t psd_id, int64_t from, int64_t to,
                           struct pv_report_piece **out, size_t *n)
{
    struct pv_q q;

    pv_q_start(&q, st, S_REPORT_PIECES);
    pv_q_int(&q, psd_id);
    pv_q_int(&q, from);
    pv_q_int(&q, to);
    return pv_q_list(&q, sizeof **out, read_piece, (void **) out, n);
}

struct reading {
    int64_t serial;
    pv_mills ascending;
};

static int read_reading(struct pv_row *r, void *p)
{
    struct reading *rec = p;

    rec->serial = pv_r_int(r);
    rec->ascending = pv_r_int(r);
    return r->rc;
}

int pv_store_psd_reading_before(struct pv_store *st, uint32_t psd_id, int64_t t, int64_t *serial,
                                pv_mills *ascending)
{
    struct reading rd;
    struct pv_q q;
    int rc;

    pv_q_start(&q, st, S_PSD_READING_BEFORE);
    pv_q_int(&q, psd_id);
    pv_q_int(&q, t);
    if ((rc = pv_q_get(&q, read_reading, &rd, sizeof rd)) != PV_OK)
        return rc;
    *serial = rd.serial;
    *ascending = rd.ascending;
    return PV_OK;
}

int pv_store_account_balance_before(struct pv_store *st, const char *account, int64_t t,
                                    pv_mills *balance)
{
    struct pv_q q;

    /* An account journal_lines_account holds (v41, v42): the deposit's. */
    if (!pv_fits(account, PV_ACCOUNT_MAX) || !pv_jlines_listed(account))
        return PV_EINVAL;
    pv_q_start(&q, st, S_ACCOUNT_BALANCE_BEFORE);
    pv_q_text(&q, account);
    pv_q_int(&q, t);
    return pv_q_int64(&q, balance);
}

static int valid_day(const char *day)
{
    return day && strlen(day) == PV_DAY_LEN - 1 && day[4] == '-' && day[7] == '-';
}

int pv_store_report_insert(struct pv_store *st, const struct pv_report_rec *rec, const char *jsonl,
                           const char *csv)
{
    struct pv_q q;

    if (!rec || !valid_day(rec->day) || !jsonl || !csv || !PV_FITS(rec->jsonl_sig) ||
        !PV_FITS(rec->csv_sig) || !PV_FITS(rec->made_by) || rec->pieces < 0)
        return PV_EINVAL;
    pv_q_start(&q, st, S_REPORT_INSERT);
    pv_q_int(&q, rec->psd_id);
    pv_q_text(&q, rec->day);
    pv_q_int(&q, rec->key_id);
    pv_q_int(&q, rec->pieces);
    pv_q_int(&q, rec->postage);
    pv_q_int(&q, rec->asc_start);
    pv_q_int(&q, rec->asc_end);
    pv_q_int(&q, rec->ctl_start);
    pv_q_int(&q, rec->ctl_end);
    pv_q_int(&q, rec->count_start);
    pv_q_int(&q, rec->count_end);
    pv_q_text(&q, rec->jsonl_sig);
    pv_q_text(&q, rec->csv_sig);
    pv_q_text(&q, rec->made_by);
    pv_q_int(&q, rec->created);
    pv_q_text(&q, jsonl);
    pv_q_text(&q, csv);
    return pv_q_write(&q);
}

static int read_report(struct pv_row *r, void *p)
{
    struct pv_report_rec *rec = p;

    rec->psd_id = (uint32_t) pv_r_int(r);
    pv_r_text(r, rec->day, sizeof rec->day);
    rec->key_id = (uint32_t) pv_r_int(r);
    rec->pieces = pv_r_int(r);
    rec->postage = pv_r_int(r);
    rec->asc_start = pv_r_int(r);
    rec->asc_end = pv_r_int(r);
    rec->ctl_start = pv_r_int(r);
    rec->ctl_end = pv_r_int(r);
    rec->count_start = pv_r_int(r);
    rec->count_end = pv_r_int(r);
    pv_r_text(r, rec->jsonl_sig, sizeof rec->jsonl_sig);
    pv_r_text(r, rec->csv_sig, sizeof rec->csv_sig);
    pv_r_text(r, rec->made_by, sizeof rec->made_by);
    rec->created = pv_r_int(r);
    return r->rc;
}

int pv_store_report_get(struct pv_store *st, uint32_t psd_id, const char *day,
                        struct pv_report_rec *rec, char **jsonl, char **csv)
{
    struct pv_row r;
    struct pv_q q;
    char *a = NULL, *b = NULL;
    int rc;

    if (!valid_day(day) || !rec)
        return PV_EINVAL;
    pv_q_start(&q, st, S_REPORT_GET);
    pv_q_int(&q, psd_id);
    pv_q_text(&q, day);
    memset(rec, 0, sizeof *rec);
    if ((rc = pv_q_row(&q)) != PV_OK) {
        pv_q_done(&q);
        return rc;
    }
    r = pv_row_of(&q);
    read_report(&r, rec);
    if (r.rc == PV_OK)
        a = pv_r_dup(&r);
    if (r.rc == PV_OK)
        b = pv_r_dup(&r);
    pv_q_done(&q);
    if ((rc = r.rc) == PV_OK && (!a || !b))
        rc = PV_ENOMEM;
    if (rc == PV_OK && jsonl) {
        *jsonl = a;
        a = NULL;
    }
    if (rc == PV_OK && csv) {
        *csv = b;
        b = NULL;
    }
    free(a);
    free(b);
    return rc;
}

int pv_store_report_last(struct pv_store *st, uint32_t psd_id, struct pv_report_rec *rec)
{
    struct pv_q q;

    pv_q_start(&q, st, S_REPORT_LAST);
    pv_q_int(&q, psd_id);
    return pv_q_get(&q, read_report, rec, sizeof *rec);
}

int pv_store_report_list(struct pv_store *st, const char *day, struct pv_report_rec **out,
                         size_t *n)
{
    struct pv_q q;

    if (!valid_day(day))
        return PV_EINVAL;
    pv_q_start(&q, st, S_REPORT_LIST);
    pv_q_text(&q, day);
    return pv_q_list(&q, sizeof **out, read_report, (void **) out, n);
}

static int read_day(struct pv_row *r, void *p)
{
    struct pv_report_day *rec = p;

    pv_r_text(r, rec->day, sizeof rec->day);
    rec->devices = pv_r_int(r);
    rec->pieces = pv_r_int(r);
    rec->postage = pv_r_int(r);
    return r->rc;
}

int pv_store_report_days(struct pv_store *st, const char *before, size_t limit,
                         struct pv_report_day **out, size_t *n)
{
    struct pv_q q;

    if (!before || (before[0] && !valid_day(before)))
        return PV_EINVAL;
    pv_q_start(&q, st, S_REPORT_DAYS);
    pv_q_text(&q, before);
    pv_q_int(&q, PV_LIMIT(limit));
    return pv_q_list(&q, sizeof **out, read_day, (void **) out, n);
}

int pv_store_contact_touch(struct pv_store *st, uint32_t psd_id, int64_t at, int only_start)
{
    struct pv_q q;

    pv_q_start(&q, st, only_start ? S_CONTACT_START : S_CONTACT_TOUCH);
    pv_q_int(&q, psd_id);
    pv_q_int(&q, at);
    return pv_q_write(&q);
}

static int read_contact(struct pv_row *r, void *p)
{
    struct pv_contact_rec *rec = p;

    rec->psd_id = (uint32_t) pv_r_int(r);
    rec->last_contact_at = pv_r_int(r);
    rec->locked = (int) pv_r_int(r);
    return r->rc;
}

int pv_store_contact_get(struct pv_store *st, uint32_t psd_id, struct pv_contact_rec *rec)
{
    struct pv_q q;

    pv_q_start(&q, st, S_CONTACT_GET);
    pv_q_int(&q, psd_id);
    return pv_q_get(&q, read_contact, rec, sizeof *rec);
}

int pv_store_contact_set_locked(struct pv_store *st, uint32_t psd_id, int locked)
{
    struct pv_q q;

    pv_q_start(&q, st, S_CONTACT_SET_LOCKED);
    pv_q_int(&q, locked ? 1 : 0);
    pv_q_int(&q, psd_id);
    return pv_q_write_found(&q);
}

int pv_store_contact_list(struct pv_store *st, struct pv_contact_rec **out, size_t *n)
{
    return pv_list_all(st, S_CONTACT_LIST, sizeof **out, read_contact, (void **) out, n);
}
