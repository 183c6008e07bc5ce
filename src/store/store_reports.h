/*
 * store_reports.h - the part of the store interface (store.h, which
 * includes it; include store.h, never this) for the daily per-device
 * reports and the watchdog's last contact of each PSD (schema v12,
 * store/reports.c, domain/report.h). Kept apart so store.h stays readable.
 */
#ifndef STAMPD_STORE_REPORTS_H
#define STAMPD_STORE_REPORTS_H

/* ---- daily device reports and the watchdog (schema v12, domain/report.h) ---- */
#define PV_DAY_LEN 11 /* "YYYY-MM-DD" + NUL */

/* One piece as a daily report lists it: what the indicium signed, never the
 * buyer's addresses or account. */
struct pv_report_piece {
    char id[PV_ID_MAX];
    uint32_t serial;
    pv_mills postage;
    pv_mills ascending; /* the ascending register after the piece */
    uint32_t mail_date; /* YYYYMMDD */
    int mail_class;
    int weight_tenth_oz;
    int flags;
    char from_zip[6];
    char to_zip[10];
    char medium_serial[PV_MEDIUM_MAX + 1];
    int64_t created;
    int64_t refunded_at; /* 0 = not refunded */
    /* From the signed bytes: the format version; for version 2 the
     * descending register after the piece and the extra services. */
    int version;
    pv_mills descending;
    int services;
};

/* One device's report of one day, without its bodies. */
struct pv_report_rec {
    uint32_t psd_id;
    char day[PV_DAY_LEN];
    uint32_t key_id; /* the PSD key that signed it */
    int64_t pieces;
    pv_mills postage;
    pv_mills asc_start, asc_end, ctl_start, ctl_end;
    int64_t count_start, count_end;
    char jsonl_sig[129]; /* hex r||s: the PSD key's signature of the JSON Lines bytes */
    char csv_sig[129];   /* ... of the CSV bytes */
    char made_by[PV_ID_MAX];
    int64_t created;
};

/* The reports of one day, summed. */
struct pv_report_day {
    char day[PV_DAY_LEN];
    int64_t devices;
    int64_t pieces;
    pv_mills postage;
};

/* A PSD's last contact (a report made) and whether the watchdog locked it. */
struct pv_contact_rec {
    uint32_t psd_id;
    int64_t last_contact_at;
    int locked;
};

/* refill_from: the PSD's refills at or after since and those of the last second before it (the
 * registers at any time from since: report.c), oldest first; *out owned. */
int pv_store_refill_from(struct pv_store *st, uint32_t psd_id, int64_t since,
                         struct pv_refill_rec **out, size_t *n);

/* report_pieces: the PSD's pieces created in [from, to), by serial; *out
 * owned. psd_reading_before: the serial and ascending register of the
 * PSD's last piece created before t (by time; of its second, the highest
 * serial); PV_ENOTFOUND when none.
 * account_balance_before: the account's balance from the journals dated
 * before t (0 when none); PV_EINVAL for an account other than a customer's
 * or the deposit's. */
int pv_store_report_pieces(struct pv_store *st, uint32_t psd_id, int64_t from, int64_t to,
                           struct pv_report_piece **out, size_t *n);
int pv_store_psd_reading_before(struct pv_store *st, uint32_t psd_id, int64_t t, int64_t *serial,
                                pv_mills *ascending);
int pv_store_account_balance_before(struct pv_store *st, const char *account, int64_t t,
                                    pv_mills *balance);
/* report_insert: PV_EEXIST when (psd_id, day) has one; the bodies borrowed.
 * report_get: rec and, when not NULL, owned copies of the bodies (free());
 * PV_ENOTFOUND. report_last: the PSD's latest report (PV_ENOTFOUND).
 * report_list: the reports of day, by PSD; *out owned. report_days: the
 * days with reports, newest first, before day `before` ("" = from the
 * newest), at most limit; *out owned. */
int pv_store_report_insert(struct pv_store *st, const struct pv_report_rec *rec, const char *jsonl,
                           const char *csv);
int pv_store_report_get(struct pv_store *st, uint32_t psd_id, const char *day,
                        struct pv_report_rec *rec, char **jsonl, char **csv);
int pv_store_report_last(struct pv_store *st, uint32_t psd_id, struct pv_report_rec *rec);
int pv_store_report_list(struct pv_store *st, const char *day, struct pv_report_rec **out,
                         size_t *n);
int pv_store_report_days(struct pv_store *st, const char *before, size_t limit,
                         struct pv_report_day **out, size_t *n);
/* contact_touch: the PSD's last contact becomes at
 * (only_start: only when the PSD has no contact row yet); the lock stays
 * for the watchdog to lift and log. contact_get:
 * PV_ENOTFOUND when none. contact_set_locked: PV_ENOTFOUND. contact_list:
 * every row by PSD; *out owned. */
int pv_store_contact_touch(struct pv_store *st, uint32_t psd_id, int64_t at, int only_start);
int pv_store_contact_get(struct pv_store *st, uint32_t psd_id, struct pv_contact_rec *rec);
int pv_store_contact_set_locked(struct pv_store *st, uint32_t psd_id, int locked);
int pv_store_contact_list(struct pv_store *st, struct pv_contact_rec **out, size_t *n);

#endif
