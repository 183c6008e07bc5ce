/*
 * test_prints.c - the record of renders (pv_prints_record in
 * src/domain/prints.c): every indicium of a document is counted in its
 * prints in one committed transaction, and a document with an unknown
 * indicium records nothing at all.
 *
 * What was committed is read through a second connection (denv_reader).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/prints.h"

static int setup(void **state)
{
    *state = denv_open("prints");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

/* The committed prints of indicium id, read through r. */
static int64_t prints_of(struct pv_store *r, const char *id)
{
    static struct pv_indicium_rec rec;

    assert_int_equal(pv_store_indicium_get(r, id, &rec), PV_OK);
    return rec.prints;
}

static void test_every_render_counted(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    static struct pv_indicium_rec recs[3];

    denv_buy(e, "cus_a", 0, &recs[0]);
    denv_buy(e, "cus_a", 0, &recs[1]);
    assert_int_equal(prints_of(r, recs[0].id), 0);
    /* A sheet of two labels. */
    assert_int_equal(pv_prints_record(e->st, recs, 2, "cus_a", "pdf", "avery-5160", 1000), PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(prints_of(r, recs[0].id), 1);
    assert_int_equal(prints_of(r, recs[1].id), 1);
    /* A reprint of the first, and a sheet naming it twice: each render counts. */
    recs[2] = recs[0];
    assert_int_equal(pv_prints_record(e->st, recs, 1, "cus_a", "png", "label-4x6", 1001), PV_OK);
    assert_int_equal(pv_prints_record(e->st, &recs[1], 2, "cus_a", "pdf", "avery-5160", 1002),
                     PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(prints_of(r, recs[0].id), 3);
    assert_int_equal(prints_of(r, recs[1].id), 2);
    /* Nothing to record is no transaction to fail. */
    assert_int_equal(pv_prints_record(e->st, recs, 0, "cus_a", "pdf", "avery-5160", 1003), PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(prints_of(r, recs[0].id), 3);
    pv_store_close(r);
}

static void test_unknown_indicium_records_nothing(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    static struct pv_indicium_rec recs[3];

    denv_buy(e, "cus_a", 0, &recs[0]);
    denv_buy(e, "cus_a", 0, &recs[2]);
    memset(&recs[1], 0, sizeof recs[1]);
    snprintf(recs[1].id, sizeof recs[1].id, "ind_nope");
    /* The first render is written before the unknown one is found: it goes too. */
    assert_int_equal(pv_prints_record(e->st, recs, 3, "cus_a", "pdf", "avery-5160", 1000),
                     PV_ENOTFOUND);
    denv_no_tx(e->st);
    assert_int_equal(prints_of(r, recs[0].id), 0);
    assert_int_equal(prints_of(r, recs[2].id), 0);
    assert_int_equal(prints_of(e->st, recs[0].id), 0);
    /* The same document without it is recorded whole. */
    recs[1] = recs[2];
    assert_int_equal(pv_prints_record(e->st, recs, 2, "cus_a", "pdf", "avery-5160", 1001), PV_OK);
    assert_int_equal(prints_of(r, recs[0].id), 1);
    assert_int_equal(prints_of(r, recs[2].id), 1);
    pv_store_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_render_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_indicium_records_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
