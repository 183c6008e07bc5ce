/*
 * report.h - the daily per-device reports each device attests with its own
 * PSD key, and the watchdog that locks a device that stopped reporting
 * (issue 13; docs/authority.md, "Daily reports" and "The watchdog").
 *
 * A report covers one PSD and one report day: the UTC calendar day in
 * which its pieces were signed (indicia.created), the same clock that makes
 * "today" for mail dates. It lists every piece (serial, postage, class,
 * ZIPs, medium serial, mail date, sold or refunded), every reset with its
 * authorisation id, the registers at the start and end of the day, and the
 * postal deposit at the end of the day against the low-deposit threshold.
 * It is written twice, as JSON Lines and as CSV, and each form's exact
 * bytes are signed (ECDSA P-256 / SHA-256, DER) with the PSD's key in the
 * crypto module that holds it, so only a processor that holds the PSD (or
 * `stampd authority report` with that module) can report for it; the key's
 * certificate chains to the vendor CA (GET /v1/keys).
 *
 * Making a report renews the PSD's last contact, in the same transaction.
 * A device whose last contact is older than the deadline (config
 * PV_CFG_CONTACT_DAYS, default 90 days) is overdue: the purchase path never
 * selects it until it reports again.
 *
 * The clock: every function takes the time as a parameter. pv_report_clock
 * is the time processors and the CLI pass - the real clock, or, in a debug
 * build only, shifted by STAMPD_TEST_CLOCK_OFFSET_S seconds (a test hook;
 * a release build refuses to start with it set).
 */
#ifndef STAMPD_DOMAIN_REPORT_H
#define STAMPD_DOMAIN_REPORT_H

#include "crypto/crypto.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

#define PV_CFG_CONTACT_DAYS     "contact_deadline_days" /* the watchdog's deadline, days */
#define PV_CONTACT_DAYS_DEFAULT 90
#define PV_CONTACT_DAYS_MAX     3650
#define PV_REPORT_GRACE_S       300 /* a day is reported this long after it ended */
#define PV_REPORT_FORMAT        "stampd-report/1"

/* What signs a report: the PSD's key in a module (all borrowed). */
struct pv_report_signer {
    struct pv_crypto *cm;
    const char *key_ref;
    uint32_t key_id;
};

/*
 * pv_report_clock - unix seconds for reports and the watchdog: pv_now(),
 * plus STAMPD_TEST_CLOCK_OFFSET_S in a debug build. pv_report_clock_check -
 * PV_OK, or PV_ECONFIG (said on stderr) when the offset is set but not
 * allowed (a release build) or not a number; servers and the CLI call it at
 * start.
 */
int64_t pv_report_clock(void);
int pv_report_clock_check(void);

/*
 * pv_report_make - build, sign with sg (borrowed) and store the report of
 * PSD psd_id for day (YYYYMMDD) of the vendor with license (borrowed), made
 * by made_by (borrowed, "proc-1" or "cli") at now, and renew the PSD's last
 * contact to now - in one transaction. rec (may be NULL) gets the stored
 * record. PV_EINVAL (the day has not ended PV_REPORT_GRACE_S before now, or
 * a test PSD), PV_EEXIST (reported already, or a day before
 * pv_report_first_day: reports follow each other day by day), PV_ENOTFOUND
 * (no such PSD), crypto and store errors.
 */
int pv_report_make(struct pv_store *st, const struct pv_report_signer *sg, const char *license,
                   uint32_t psd_id, uint32_t day, const char *made_by, int64_t now,
                   struct pv_report_rec *rec);

/*
 * pv_report_first_day - the first day PSD psd_id has no report for: the day
 * after its last report, or, before its first, the day its watchdog started
 * (a processor first held it). PV_OK and *day; PV_ENOTFOUND when neither.
 * pv_report_next_day - the same day when it is over at now (reportable);
 * PV_ENOTFOUND when nothing is due.
 */
int pv_report_first_day(struct pv_store *st, uint32_t psd_id, uint32_t *day);
int pv_report_next_day(struct pv_store *st, uint32_t psd_id, int64_t now, uint32_t *day);

/*
 * pv_report_verify - PV_OK when sig_hex (hex r||s) is a signature of len
 * bytes of body by public_pem (all borrowed); PV_ESIGNATURE otherwise.
 */
int pv_report_verify(const char *public_pem, const char *body, size_t len, const char *sig_hex);

/* ---- the watchdog ---- */

/* pv_contact_deadline_days - the deadline in days (the default when unset);
 * PV_ECONFIG for a stored value out of 1..PV_CONTACT_DAYS_MAX. */
int pv_contact_deadline_days(struct pv_store *st, int64_t *days);
/* pv_contact_deadline_set - 1..PV_CONTACT_DAYS_MAX (PV_EINVAL otherwise). */
int pv_contact_deadline_set(struct pv_store *st, int64_t days);

/* A PSD as the watchdog sees it at some time. */
struct pv_contact_view {
    int known;                   /* 0: no contact yet (no processor has held it) */
    int64_t last_contact_at;     /* unix s */
    int64_t contact_deadline_at; /* last_contact_at + the deadline */
    int overdue;                 /* now > contact_deadline_at */
    int locked;                  /* the watchdog locked it (and said so) */
};

/* pv_contact_view - PSD psd_id's contact at now into *out (deadline_days
 * from pv_contact_deadline_days). PV_OK or a store error. */
int pv_contact_view(struct pv_store *st, uint32_t psd_id, int64_t deadline_days, int64_t now,
                    struct pv_contact_view *out);

/*
 * pv_watchdog_check - PSD psd_id at now: *overdue gets whether it is past
 * its deadline (deadline_days). A PSD with no contact yet starts its
 * watchdog now. On a change it records the lock (or the unlock) and says so
 * on stderr as "stampd: watchdog: PSD N locked|unlocked ..." (who: the
 * processor's id, for the line). PV_OK or a store error.
 */
int pv_watchdog_check(struct pv_store *st, uint32_t psd_id, int64_t deadline_days, int64_t now,
                      const char *who, int *overdue);

#endif
