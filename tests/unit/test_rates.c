/*
 * test_rates.c - rate tables as data (src/domain/rates.c, pricing.c), the
 * ZIP tables (zip.c) and the address checker (address.c): the shipped
 * table parses and prices letters with their options and parcels by zone;
 * a bad document is refused with a message; loading a table checks its
 * dates and versions, stores it, and the mail date picks the table while a
 * piece bought keeps its price. The store part runs on SQLite and then on
 * PostgreSQL (a throwaway cluster, as test_store).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/address.h"
#include "domain/pricing.h"
#include "stampd/zip.h"

#include <unistd.h>

static int use_pg;

/* The shipped table's text with every `from` replaced by `to` (owned). */
static char *shipped_with(const char *const *pairs)
{
    size_t len, i;
    const char *text = pv_rates_builtin(0, &len);
    char *out = malloc(len * 2 + 1024), *hit;

    assert_non_null(text);
    assert_non_null(out);
    memcpy(out, text, len + 1);
    for (i = 0; pairs[i]; i += 2) {
        assert_non_null(hit = strstr(out, pairs[i]));
        memmove(hit + strlen(pairs[i + 1]), hit + strlen(pairs[i]),
                strlen(hit + strlen(pairs[i])) + 1);
        memcpy(hit, pairs[i + 1], strlen(pairs[i + 1]));
    }
    return out;
}

static int parse(const char *const *pairs, char *err, size_t errlen)
{
    char *text = shipped_with(pairs);
    struct pv_rate_table *t = NULL;
    int rc = pv_rate_table_parse(text, strlen(text), &t, err, errlen);

    pv_rate_table_free(t);
    free(text);
    return rc;
}

static void test_shipped_table(void **state)
{
    struct pv_rate_piece p = {PV_MC_FIRST_CLASS_LETTER, 10, 20261204, 0, 0};
    struct pv_rate_price o;
    struct pv_rate_info *info;
    size_t n;

    (void) state;
    assert_int_equal(pv_rates_builtin_count(), 1);
    assert_int_equal(pv_rates_info(&info, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(info[0].version, "usps-2025-07-13");
    assert_int_equal(info[0].effective, 20250713);
    assert_int_equal(info[0].classes, 0x3e); /* classes 1-5 */
    free(info);

    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_int_equal(o.total, 740);
    assert_string_equal(o.version, "usps-2025-07-13");
    /* Non-machinable, Certified Mail and Return Receipt, each broken out. */
    p.services = PV_SVC_NONMACHINABLE | PV_SVC_CERTIFIED | PV_SVC_RETURN_RECEIPT;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_int_equal(o.postage, 740);
    assert_int_equal(o.surcharge, 490);
    assert_int_equal(o.certified, 5300);
    assert_int_equal(o.return_receipt, 4400);
    assert_int_equal(o.total, 740 + 490 + 5300 + 4400);
    /* A return receipt needs Certified Mail; the surcharge is for letters. */
    p.services = PV_SVC_RETURN_RECEIPT;
    assert_int_equal(pv_rate_price(&p, &o), PV_ESERVICE);
    p.mail_class = PV_MC_POSTCARD;
    p.services = PV_SVC_NONMACHINABLE;
    assert_int_equal(pv_rate_price(&p, &o), PV_ESERVICE);
    p.services = PV_SVC_CERTIFIED;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_int_equal(o.total, 610 + 5300);
    p.services = 0x80;
    assert_int_equal(pv_rate_price(&p, &o), PV_ESERVICE);

    /* Parcels: by weight and zone, up to 70 lb; no zone, no price. */
    p.mail_class = PV_MC_GROUND_ADVANTAGE;
    p.services = 0;
    p.weight_tenth_oz = 40;
    assert_int_equal(pv_rate_price(&p, &o), PV_EZONE);
    p.zone = 10;
    assert_int_equal(pv_rate_price(&p, &o), PV_EZONE);
    p.zone = 1;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_int_equal(o.total, 5400);
    p.zone = 8;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_true(o.total > 5400);
    p.weight_tenth_oz = 11200;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    p.weight_tenth_oz = 11201;
    assert_int_equal(pv_rate_price(&p, &o), PV_EWEIGHT);
    /* Certified Mail is not a Ground Advantage service; it is Priority's. */
    p.weight_tenth_oz = 160;
    p.services = PV_SVC_CERTIFIED;
    assert_int_equal(pv_rate_price(&p, &o), PV_ESERVICE);
    p.mail_class = PV_MC_PRIORITY_MAIL;
    assert_int_equal(pv_rate_price(&p, &o), PV_OK);
    assert_int_equal(o.certified, 5300);
    assert_int_equal(pv_rate_max_weight(PV_MC_PRIORITY_MAIL), 11200);
    assert_int_equal(pv_rate_max_weight(PV_MC_FIRST_CLASS_LETTER), 35);
    p.mail_date = 20250712;
    assert_int_equal(pv_rate_price(&p, &o), PV_ENORATE);
}

static void test_bad_documents(void **state)
{
    static const char *const cases[][5] = {
        {"stampd-rates/1", "stampd-rates/2", NULL, NULL, "format"},
        {"\"note\"", "\"nite\"", NULL, NULL, "unknown key \"nite\""},
        {"\"2025-07-13\",\n \"source\"", "\"2025-02-30\",\n \"source\"", NULL, NULL, "effective"},
        {"\"usps-2025-07-13\"", "\"usps 2025\"", NULL, NULL, "version"},
        {"{\"max_oz\": \"2\", \"price\": \"1.03\"}", "{\"max_oz\": \"0.5\", \"price\": \"1.03\"}",
         NULL, NULL,
         "classes.first_class_letter.steps[1].max_oz: the steps' weights must increase"},
        {"\"max_oz\": \"3.5\"", "\"max_oz\": \"3.55\"", NULL, NULL, "steps[3].max_oz"},
        {"\"price\": \"0.61\"", "\"price\": \"-1\"", NULL, NULL, "classes.postcard.steps[0].price"},
        {"\"price\": \"0.61\"", "\"price\": 0.61", NULL, NULL, "classes.postcard.steps[0].price"},
        {"\"zones\": [\"5.40\", ", "\"zones\": [", NULL, NULL,
         "classes.ground_advantage.steps[0].zones: 9 prices"},
        {"\"postcard\"", "\"parcel_post\"", NULL, NULL, "unknown mail class \"parcel_post\""},
        {"\"requires\": \"certified_mail\"", "\"requires\": \"nothing\"", NULL, NULL,
         "return_receipt.requires"},
        {"\"nonmachinable_surcharge\": \"0.49\"}",
         "\"nonmachinable_surcharge\": \"0.49\"}, \"x\": 1", NULL, NULL,
         "classes: unknown mail class \"x\""},
        {"\"format\"", "\"format\": 1, \"format\"", NULL, NULL, "not JSON"},
    };
    char err[192];
    size_t i;

    (void) state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *pairs[] = {cases[i][0], cases[i][1], NULL};
        err[0] = '\0';
        if (parse(pairs, err, sizeof err) != PV_ERATETABLE || !strstr(err, cases[i][4]))
            fail_msg("case %zu: want \"%s\", got \"%s\"", i, cases[i][4], err);
    }
    assert_int_equal(pv_rate_table_parse("[]", 2, &(struct pv_rate_table *){NULL}, err, sizeof err),
                     PV_ERATETABLE);
}

static void test_zip_tables(void **state)
{
    int zone = 0;

    (void) state;
    assert_null(pv_zip_state("00000"));
    assert_null(pv_zip_state("00100"));
    assert_null(pv_zip_state("abc"));
    assert_string_equal(pv_zip_state("10001"), "NY");
    assert_string_equal(pv_zip_state("94107"), "CA");
    assert_string_equal(pv_zip_state("00601"), "PR");
    assert_string_equal(pv_zip_state("20500"), "DC");
    assert_int_equal(pv_zip_zone("10001", "10002", &zone), PV_OK);
    assert_int_equal(zone, 1);
    assert_int_equal(pv_zip_zone("10001", "90001", &zone), PV_OK);
    assert_int_equal(zone, 8);
    assert_int_equal(pv_zip_zone("10001", "60601", &zone), PV_OK);
    assert_int_equal(zone, 5);
    assert_int_equal(pv_zip_zone("96910", "10001", &zone), PV_OK); /* Guam */
    assert_int_equal(zone, 9);
    assert_int_equal(pv_zip_zone("00000", "10001", &zone), PV_EZIP);
    assert_int_equal(pv_zip_zone("10001", "96601", &zone), PV_EZONE); /* APO: no centroid */
    assert_string_equal(pv_state_code("new york"), "NY");
    assert_string_equal(pv_state_code("Ca"), "CA");
    assert_null(pv_state_code("Atlantis"));
}

static void test_address_checker(void **state)
{
    char block[PV_ADDRESS_MAX], msg[160];
    json_t *o;
    int changed;

    (void) state;
    /* Corrected: whitespace, case, state name, a comma, ZIP+4 digits. */
    snprintf(block, sizeof block, "  Jane  Doe \n1 Main St\nNew York,  new york 100011234");
    assert_int_equal(pv_address_check(block, "100011234", &changed, msg, sizeof msg), PV_OK);
    assert_int_equal(changed, 1);
    assert_string_equal(block, "Jane Doe\n1 Main St\nNEW YORK NY 10001-1234");
    /* Already standard: unchanged. */
    assert_int_equal(pv_address_check(block, "10001", &changed, msg, sizeof msg), PV_OK);
    assert_int_equal(changed, 0);
    snprintf(block, sizeof block, "1 Pennsylvania Ave\nWashington District of Columbia 20500");
    assert_int_equal(pv_address_check(block, NULL, &changed, msg, sizeof msg), PV_OK);
    assert_string_equal(block, "1 Pennsylvania Ave\nWASHINGTON DC 20500");
    /* Refused, the block untouched. */
    snprintf(block, sizeof block, "1 Main St\nNEW YORK CA 10001");
    assert_int_equal(pv_address_check(block, "10001", &changed, msg, sizeof msg), PV_EADDRESS);
    assert_non_null(strstr(msg, "does not match ZIP code 10001 (NY)"));
    assert_string_equal(block, "1 Main St\nNEW YORK CA 10001");
    snprintf(block, sizeof block, "1 Main St\nNEW YORK NY 10001");
    assert_int_equal(pv_address_check(block, "10002", &changed, msg, sizeof msg), PV_EADDRESS);
    assert_non_null(strstr(msg, "not the ZIP field's 10002"));
    snprintf(block, sizeof block, "NEW YORK NY 10001");
    assert_int_equal(pv_address_check(block, NULL, &changed, msg, sizeof msg), PV_EADDRESS);
    snprintf(block, sizeof block, "1 Main St\nNowhere XX 10001");
    assert_int_equal(pv_address_check(block, NULL, &changed, msg, sizeof msg), PV_EADDRESS);
    snprintf(block, sizeof block, "1 Main St\nNY 10001");
    assert_int_equal(pv_address_check(block, NULL, &changed, msg, sizeof msg), PV_EADDRESS);
    snprintf(block, sizeof block, "1 Main St\nSOMEWHERE NY 00012");
    assert_int_equal(pv_address_check(block, NULL, &changed, msg, sizeof msg), PV_EADDRESS);
    assert_non_null(strstr(msg, "never issued"));
    /* The structured form. */
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "name", "Jane Doe", "street1", "1 Main St",
                  "street2", "Apt 5", "city", "New York", "state", "NY", "zip", "10001");
    assert_int_equal(pv_address_from_json(o, block, msg, sizeof msg), PV_OK);
    assert_string_equal(block, "Jane Doe\n1 Main St\nApt 5\nNew York NY 10001");
    json_object_del(o, "street1");
    assert_int_equal(pv_address_from_json(o, block, msg, sizeof msg), PV_EINVAL);
    assert_non_null(strstr(msg, "street1"));
    json_object_set_new(o, "street1", json_string("1 Main St"));
    json_object_set_new(o, "country", json_string("US"));
    assert_int_equal(pv_address_from_json(o, block, msg, sizeof msg), PV_EINVAL);
    json_decref(o);
}

/* ---- the store: loading, picking by mail date, pieces keep their price ---- */

static int setup(void **state)
{
    *state = denv_open_on("rates", use_pg);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void test_load_and_pick_by_mail_date(void **state)
{
    struct denv *e = *state;
    uint32_t today = pv_date_from_unix(pv_now()), tomorrow = pv_date_add_days(today, 1), eff;
    char day[16], v1[64], v2[64], version[PV_RATE_VERSION_MAX], err[192];
    struct pv_purchase_req q;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    struct pv_indicium_rec *got = calloc(1, sizeof *got);
    struct pv_rate_rec *recs;
    struct pv_rate_price o;
    size_t n;
    int zone;
    char *text;

    assert_non_null(r);
    assert_non_null(got);
    /* The shipped table is stored by the first look. */
    assert_int_equal(pv_pricing_refresh(e->st, 1), PV_OK);
    assert_int_equal(pv_store_rate_list(e->st, &recs, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(recs[0].loaded_by, "shipped");
    pv_rate_recs_free(recs, n);

    /* A new table for tomorrow: letters at $0.78. */
    snprintf(v1, sizeof v1, "\"effective\": \"%s\"", pv_date_format(tomorrow, day, sizeof day));
    {
        const char *pairs[] = {"\"usps-2025-07-13\"",
                               "\"next\"",
                               "\"effective\": \"2025-07-13\"",
                               v1,
                               "{\"max_oz\": \"1\", \"price\": \"0.74\"}",
                               "{\"max_oz\": \"1\", \"price\": \"0.78\"}",
                               NULL};
        text = shipped_with(pairs);
    }
    assert_int_equal(
        pv_pricing_load(e->st, text, strlen(text), 0, pv_now(), version, &eff, err, sizeof err),
        PV_OK);
    assert_string_equal(version, "next");
    assert_int_equal(eff, tomorrow);
    /* Again: the version and the date are taken. */
    assert_int_equal(
        pv_pricing_load(e->st, text, strlen(text), 1, pv_now(), version, &eff, err, sizeof err),
        PV_ERATECONFLICT);
    free(text);
    /* Today's, not forced: too late; forced: a conflict with no table, so it loads. */
    snprintf(v2, sizeof v2, "\"effective\": \"%s\"", pv_date_format(today, day, sizeof day));
    {
        const char *pairs[] = {"\"usps-2025-07-13\"", "\"today\"", "\"effective\": \"2025-07-13\"",
                               v2, NULL};
        text = shipped_with(pairs);
    }
    assert_int_equal(
        pv_pricing_load(e->st, text, strlen(text), 0, pv_now(), version, &eff, err, sizeof err),
        PV_ERATEPAST);
    assert_int_equal(pv_pricing_load(e->st, text, 5, 0, pv_now(), version, &eff, err, sizeof err),
                     PV_ERATETABLE);
    free(text);
    assert_int_equal(pv_store_rate_list(e->st, &recs, &n), PV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(recs[1].version, "next");
    assert_string_equal(recs[1].loaded_by, "cli");
    pv_rate_recs_free(recs, n);

    /* The mail date picks the table. */
    assert_int_equal(
        pv_price_piece(PV_MC_FIRST_CLASS_LETTER, 10, today, 0, "94107", "10001", &o, &zone), PV_OK);
    assert_int_equal(o.total, 740);
    assert_int_equal(
        pv_price_piece(PV_MC_FIRST_CLASS_LETTER, 10, tomorrow, 0, "94107", "10001", &o, &zone),
        PV_OK);
    assert_int_equal(o.total, 780);
    assert_string_equal(o.version, "next");

    /* A piece for tomorrow with options, bought at the new price; the
     * processor prices again and refuses the old one. */
    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_a", 100000);
    denv_letter(&q, "cus_a", "rates", 1, 0);
    q.mail_date = tomorrow;
    q.services = PV_SVC_CERTIFIED | PV_SVC_RETURN_RECEIPT;
    q.postage = 740 + 5300 + 4400;
    assert_int_equal(pv_purchase_check_price(&q, pv_now()), PV_EPOSTAGE);
    q.postage = 780 + 5300 + 4400;
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r->err, PV_OK);
    assert_int_equal(pv_store_indicium_get(e->st, r->rec.id, got), PV_OK);
    assert_int_equal(got->ind.postage_mills, 780 + 5300 + 4400);
    assert_int_equal(got->services, PV_SVC_CERTIFIED | PV_SVC_RETURN_RECEIPT);
    assert_int_equal(got->certified_mills, 5300);
    assert_int_equal(got->return_receipt_mills, 4400);
    assert_int_equal(got->surcharge_mills, 0);
    assert_string_equal(got->rate_version, "next");

    /* A parcel: its zone from the ZIP codes, stored. */
    denv_letter(&q, "cus_a", "rates", 2, 0);
    q.mail_class = PV_MC_PRIORITY_MAIL;
    q.weight_tenth_oz = 160;
    assert_int_equal(
        pv_price_piece(q.mail_class, 160, q.mail_date, 0, q.from_zip, q.to_zip, &o, &zone), PV_OK);
    assert_int_equal(zone, 8);
    q.postage = o.total;
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r->err, PV_OK);
    assert_int_equal(pv_store_indicium_get(e->st, r->rec.id, got), PV_OK);
    assert_int_equal(got->zone, 8);
    assert_int_equal(got->ind.postage_mills, o.total);
    free(r);
    free(got);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_shipped_table),
        cmocka_unit_test(test_bad_documents),
        cmocka_unit_test(test_zip_tables),
        cmocka_unit_test(test_address_checker),
    };
    const struct CMUnitTest stored[] = {
        cmocka_unit_test_setup_teardown(test_load_and_pick_by_mail_date, setup, teardown),
    };
    const char *file = getenv("STAMPD_TEST_PG_DSN_FILE");
    const char *src = getenv("STAMPD_SOURCE_DIR");
    int failed;

    failed = cmocka_run_group_tests_name("rates", pure, NULL, NULL);
    unsetenv("STAMPD_DENV_DSN");
    failed += cmocka_run_group_tests_name("rates (sqlite)", stored, NULL, NULL);
    if (!file || !src || access(file, R_OK) != 0 || strchr(file, '\'') || strchr(src, '\'')) {
        fprintf(stderr, "rates (postgres): needs STAMPD_TEST_PG_DSN_FILE and "
                        "STAMPD_SOURCE_DIR (run under ctest)\n");
        return 1;
    }
    use_pg = 1;
    failed += cmocka_run_group_tests_name("rates (postgres)", stored, NULL, NULL);
    return failed ? 1 : 0;
}
