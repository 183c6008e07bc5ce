/*
 * test_report.c - the daily per-device reports and the watchdog
 * (domain/report.h) on a real SQLite store and a real OpenSSL module: a
 * day's report lists its pieces and resets, its totals are the registers'
 * movement, each form verifies with the PSD's key and not once a byte
 * changed; the next day starts where it ended; the watchdog's clock is a
 * parameter, so time moves 91 days forward here: the device locks, a sale
 * moves to another PSD, none left is psd_contact_overdue, a report unlocks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"
#include "domain/report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY   86400
#define NOW   1795305600 /* 2026-11-22T00:00:00Z */
#define D1    20261122
#define LATER (NOW + DAY + PV_REPORT_GRACE_S)

static int setup(void **state)
{
    *state = denv_vendor("report", 1000000, 100, 0);
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static struct pv_purchase_req letter(int n, int64_t at)
{
    struct pv_purchase_req q;

    denv_letter(&q, "cus_a", "rep", n, 0);
    q.mail_date = pv_date_from_unix(at);
    return q;
}

/* Buy one letter at time at; the PSD it came from. */
static uint32_t buy(struct denv *e, int n, int64_t at, int want)
{
    struct pv_purchase_req q = letter(n, at);
    struct pv_purchase_res r;

    assert_int_equal(denv_batch(e->st, &e->ctx, &q, &r, 1, at), PV_OK);
    assert_int_equal(r.err, want);
    return want == PV_OK ? r.rec.ind.device_id : 0;
}

static struct pv_report_signer signer(struct denv *e, uint32_t psd)
{
    struct pv_report_signer sg = {e->cm, e->ctx.psds[psd - 1].key_ref, e->ctx.psds[psd - 1].key_id};
    return sg;
}

static char *public_pem(struct denv *e, uint32_t key_id)
{
    struct pv_key_rec *keys;
    size_t n, i;
    char *pem = NULL;

    assert_int_equal(pv_store_key_list(e->st, &keys, &n), PV_OK);
    for (i = 0; i < n; i++)
        if (keys[i].key_id == key_id)
            pem = strdup(keys[i].public_pem);
    free(keys);
    assert_non_null(pem);
    return pem;
}

/* The number after "key": in line (0 when absent). */
static long long num(const char *line, const char *key)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof pat, "\"%s\":", key);
    p = strstr(line, pat);
    return p ? atoll(p + strlen(pat)) : 0;
}

static void test_report_totals_and_signature(void **state)
{
    struct denv *e = *state;
    struct pv_report_signer sg = signer(e, 1);
    struct pv_report_rec rec, got;
    struct pv_psd_rec p;
    char *jl = NULL, *cv = NULL, *pem;
    const char *end;
    int i;

    for (i = 0; i < 3; i++)
        assert_int_equal(buy(e, i, NOW + 60 + i, PV_OK), 1);
    /* The day is not over: nothing is made. */
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, D1, "test", NOW + DAY - 1, NULL),
                     PV_EINVAL);
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, D1, "test", LATER, &rec), PV_OK);
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, D1, "test", LATER, NULL),
                     PV_EEXIST);
    assert_int_equal(pv_store_report_get(e->st, 1, "2026-11-22", &got, &jl, &cv), PV_OK);
    assert_int_equal(got.pieces, 3);
    assert_int_equal(got.postage, 3 * 740);
    /* Its totals are the registers' movement that day: from nothing to what the PSD holds. */
    assert_int_equal(pv_store_psd_get(e->st, 1, &p), PV_OK);
    assert_int_equal(got.asc_start, 0);
    assert_int_equal(got.count_start, 0);
    assert_int_equal(got.ctl_start, 0);
    assert_int_equal(got.asc_end, p.ascending);
    assert_int_equal(got.ctl_end, p.control_total);
    assert_int_equal(got.count_end, p.piece_count);
    assert_int_equal(got.asc_end - got.asc_start, got.postage);
    assert_int_equal(got.count_end - got.count_start, got.pieces);
    /* The JSON Lines say the same, with the reset that filled the PSD. */
    assert_non_null(strstr(jl, "\"object\":\"reset\""));
    assert_non_null(strstr(jl, "\"origin_zip\":\"94107\",\"destination_zip\":\"100011234\""));
    assert_non_null(strstr(jl, "\"medium_serial\":null,\"status\":\"sold\""));
    end = strstr(jl, "\"object\":\"device_report_end\"");
    assert_non_null(end);
    assert_int_equal(num(end, "pieces"), 3);
    assert_int_equal(num(end, "reset_mills"), 5000);
    /* The deposit at the end of that day: the setup credited it by the real clock, after it. */
    assert_int_equal(num(end, "deposit_mills"), -5000);
    assert_non_null(strstr(cv, "\npiece,2026-11-22,1,101,3,740,first_class_letter,"));
    /* Version 2 pieces add their format, descending register and services
     * (the reset filled 5000; three pieces of 740 leave 2780). */
    assert_non_null(strstr(jl, "\"version\":2,\"descending_mills\":2780,\"services\":[]}\n"));
    assert_non_null(strstr(cv, ",version,services\n"));
    assert_non_null(strstr(cv, ",2220,2780,,,,,,,,2,\n"));
    /* Each form verifies with the PSD's key, and not once one byte changed. */
    pem = public_pem(e, rec.key_id);
    assert_int_equal(pv_report_verify(pem, jl, strlen(jl), got.jsonl_sig), PV_OK);
    assert_int_equal(pv_report_verify(pem, cv, strlen(cv), got.csv_sig), PV_OK);
    assert_int_equal(pv_report_verify(pem, cv, strlen(cv), got.jsonl_sig), PV_ESIGNATURE);
    jl[strlen(jl) / 2] ^= 1;
    assert_int_equal(pv_report_verify(pem, jl, strlen(jl), got.jsonl_sig), PV_ESIGNATURE);
    free(pem);
    free(jl);
    free(cv);
    /* PSD 2 sold nothing that day: an empty report whose registers do not move. */
    sg = signer(e, 2);
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 2, D1, "test", LATER, &rec), PV_OK);
    assert_int_equal(rec.pieces, 0);
    assert_int_equal(rec.asc_end, rec.asc_start);
}

static void test_next_day_starts_where_the_last_ended(void **state)
{
    struct denv *e = *state;
    struct pv_report_signer sg = signer(e, 1);
    struct pv_report_rec a, b;
    uint32_t day;

    assert_int_equal(buy(e, 1, NOW + 100, PV_OK), 1);
    assert_int_equal(buy(e, 2, NOW + DAY + 100, PV_OK), 1);
    assert_int_equal(buy(e, 3, NOW + DAY + 200, PV_OK), 1);
    /* Its watchdog started when it was first checked (a processor's first hold). */
    assert_int_equal(pv_report_next_day(e->st, 1, LATER, &day), PV_ENOTFOUND);
    {
        int overdue = -1;
        assert_int_equal(pv_watchdog_check(e->st, 1, 90, NOW, "test", &overdue), PV_OK);
        assert_int_equal(overdue, 0);
    }
    assert_int_equal(pv_report_next_day(e->st, 1, LATER, &day), PV_OK);
    assert_int_equal(day, D1);
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, day, "test", LATER, &a), PV_OK);
    assert_int_equal(pv_report_next_day(e->st, 1, LATER, &day), PV_ENOTFOUND);
    assert_int_equal(pv_report_next_day(e->st, 1, LATER + DAY, &day), PV_OK);
    assert_int_equal(day, 20261123);
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, day, "test", LATER + DAY, &b),
                     PV_OK);
    /* Reports follow each other: no second one of a day, none before they began. */
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, D1, "test", LATER + DAY, NULL),
                     PV_EEXIST);
    assert_int_equal(
        pv_report_make(e->st, &sg, DENV_LICENSE, 1, 20261121, "test", LATER + DAY, NULL),
        PV_EEXIST);
    assert_int_equal(b.asc_start, a.asc_end);
    assert_int_equal(b.ctl_start, a.ctl_end);
    assert_int_equal(b.count_start, a.count_end);
    assert_int_equal(b.pieces, 2);
    assert_int_equal(b.asc_end - b.asc_start, 2 * 740);
    assert_int_equal(b.count_end, 3);
}

/* A device's first report on a day after its reset, with another reset the day after: its
 * registers at the day's start and end are those of the reset before it (pv_store_refill_from
 * reads the last second before the day and on, not every reset the PSD had), not the control
 * total the later reset made. */
static void test_first_report_after_a_reset(void **state)
{
    struct denv *e = *state;
    struct pv_report_signer sg = signer(e, 1);
    struct pv_report_rec r;
    struct pv_refill_rec *rf, later;
    struct pv_psd_rec p;
    size_t n;

    assert_int_equal(buy(e, 1, NOW + 100, PV_OK), 1); /* the PSD's reset: 5000 */
    assert_int_equal(buy(e, 2, NOW + DAY + 100, PV_OK), 1);
    /* A second reset of 5000 the day after, as a processor writes one. */
    assert_int_equal(pv_store_psd_get(e->st, 1, &p), PV_OK);
    memset(&later, 0, sizeof later);
    later.psd_id = 1;
    later.amount = 5000;
    later.desc_before = p.descending;
    later.asc_before = p.ascending;
    later.ctl_before = p.control_total;
    later.desc_after = p.descending + 5000;
    later.asc_after = p.ascending;
    later.ctl_after = p.control_total + 5000;
    snprintf(later.authorization, sizeof later.authorization, "rfl_later");
    later.at = NOW + 2 * DAY + 100;
    assert_int_equal(pv_store_refill_insert(e->st, &later), PV_OK);
    p.descending += 5000;
    p.control_total += 5000;
    assert_int_equal(pv_store_psd_update(e->st, &p), PV_OK);
    assert_int_equal(pv_store_refill_from(e->st, 1, NOW + DAY, &rf, &n), PV_OK);
    assert_int_equal(n, 2); /* the reset before the day, and the one after it */
    assert_true(rf[0].at < NOW + DAY && rf[1].at >= NOW + 2 * DAY);
    free(rf);
    assert_int_equal(
        pv_report_make(e->st, &sg, DENV_LICENSE, 1, 20261123, "test", LATER + 2 * DAY, &r), PV_OK);
    assert_int_equal(r.ctl_start, 5000);
    assert_int_equal(r.asc_start, 740);
    assert_int_equal(r.count_start, 1);
    assert_int_equal(r.ctl_end, 5000);
    assert_int_equal(r.asc_end, 2 * 740);
    assert_int_equal(r.count_end, 2);
    assert_int_equal(r.pieces, 1);
}

/* The registers at a time: the PSD's last piece before it by time, of its second the highest
 * serial (two probes of indicia_psd_created, whatever the PSD's history). */
static void test_reading_before(void **state)
{
    struct denv *e = *state;
    int64_t serial = -1;
    pv_mills asc = -1;
    int i;

    for (i = 0; i < 3; i++) /* three pieces in one second, then one a minute later */
        assert_int_equal(buy(e, i, NOW + 100, PV_OK), 1);
    assert_int_equal(buy(e, 3, NOW + 160, PV_OK), 1);
    assert_int_equal(pv_store_psd_reading_before(e->st, 1, NOW + 100, &serial, &asc), PV_ENOTFOUND);
    assert_int_equal(pv_store_psd_reading_before(e->st, 1, NOW + 101, &serial, &asc), PV_OK);
    assert_int_equal(serial, 3);
    assert_int_equal(asc, 3 * 740);
    assert_int_equal(pv_store_psd_reading_before(e->st, 1, NOW + 160, &serial, &asc), PV_OK);
    assert_int_equal(serial, 3);
    assert_int_equal(pv_store_psd_reading_before(e->st, 1, NOW + DAY, &serial, &asc), PV_OK);
    assert_int_equal(serial, 4);
    assert_int_equal(asc, 4 * 740);
}

static void test_watchdog_locks_and_unlocks(void **state)
{
    struct denv *e = *state;
    struct pv_report_signer sg = signer(e, 1);
    struct pv_contact_view v;
    struct pv_contact_rec c;
    int64_t later = NOW + 91LL * DAY, days = 0;
    int overdue = -1;

    assert_int_equal(pv_contact_deadline_days(e->st, &days), PV_OK);
    assert_int_equal(days, PV_CONTACT_DAYS_DEFAULT);
    assert_int_equal(pv_contact_deadline_set(e->st, 0), PV_EINVAL);
    /* Both PSDs are first seen at NOW: in time then, 91 days later not. */
    assert_int_equal(pv_watchdog_check(e->st, 1, days, NOW, "test", &overdue), PV_OK);
    assert_int_equal(pv_watchdog_check(e->st, 2, days, NOW, "test", &overdue), PV_OK);
    assert_int_equal(pv_watchdog_check(e->st, 1, days, NOW + 90LL * DAY, "test", &overdue), PV_OK);
    assert_int_equal(overdue, 0);
    assert_int_equal(pv_watchdog_check(e->st, 1, days, later, "test", &overdue), PV_OK);
    assert_int_equal(overdue, 1);
    assert_int_equal(pv_store_contact_get(e->st, 1, &c), PV_OK);
    assert_int_equal(c.locked, 1);
    assert_int_equal(pv_contact_view(e->st, 1, days, later, &v), PV_OK);
    assert_true(v.known && v.overdue && v.locked);
    assert_int_equal(v.contact_deadline_at, NOW + 90LL * DAY);
    e->ctx.psds[0].overdue = 1;
    /* Meanwhile a sale moves to the other PSD... */
    assert_int_equal(buy(e, 1, NOW + 100, PV_OK), 2);
    /* ... and with none left it is refused cleanly, nothing written. */
    e->ctx.psds[1].overdue = 1;
    assert_int_equal(buy(e, 2, NOW + 100, PV_EOVERDUE), 0);
    /* A report renews the contact; the next check unlocks. */
    assert_int_equal(pv_report_make(e->st, &sg, DENV_LICENSE, 1, D1, "test", later, NULL), PV_OK);
    assert_int_equal(pv_watchdog_check(e->st, 1, days, later, "test", &overdue), PV_OK);
    assert_int_equal(overdue, 0);
    e->ctx.psds[0].overdue = overdue;
    assert_int_equal(buy(e, 3, NOW + 100, PV_OK), 1);
    assert_int_equal(pv_store_contact_get(e->st, 1, &c), PV_OK);
    assert_int_equal(c.locked, 0);
    assert_int_equal(c.last_contact_at, later);
    /* A shorter deadline counts from the last contact. */
    assert_int_equal(pv_contact_deadline_set(e->st, 30), PV_OK);
    assert_int_equal(pv_contact_deadline_days(e->st, &days), PV_OK);
    assert_int_equal(days, 30);
    assert_int_equal(pv_watchdog_check(e->st, 1, days, later + 31LL * DAY, "test", &overdue),
                     PV_OK);
    assert_int_equal(overdue, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_report_totals_and_signature, setup, teardown),
        cmocka_unit_test_setup_teardown(test_next_day_starts_where_the_last_ended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_report_after_a_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reading_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watchdog_locks_and_unlocks, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
