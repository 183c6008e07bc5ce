/*
 * test_provision.c - setting a vendor up (src/domain/provision.c): what
 * init writes, that a processor can work with it, refusals that write
 * nothing, demo accounts, and the upgrade after a migration.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/account.h"
#include "domain/provision.h"

static int setup(void **state)
{
    *state = denv_empty("provision");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static struct pv_provision vendor(struct denv *e, char spec[320])
{
    struct pv_provision p;

    snprintf(spec, 320, "openssl:%s/keys", e->dir);
    memset(&p, 0, sizeof p);
    p.license = "PV-NEW-1";
    p.psds = 3;
    p.deposit = 500000;
    p.refill = 20000;
    p.crypto_spec = spec;
    return p;
}

static char *config(struct denv *e, const char *key)
{
    char *v = NULL;

    return pv_store_config_get(e->st, key, &v) == PV_OK ? v : NULL;
}

static void test_init(void **state)
{
    struct denv *e = *state;
    struct pv_psd_rec *psds = NULL;
    struct pv_key_rec *keys = NULL;
    struct pv_provision_out out;
    char spec[320], *v;
    struct pv_provision p = vendor(e, spec);
    size_t n = 0, nk = 0, i;

    assert_int_equal(pv_provision_initialised(e->st, &v), PV_ENOTFOUND);
    assert_null(v);
    assert_int_equal(pv_provision_init(e->st, &p, 1000, &out), PV_OK);
    assert_string_equal(out.customer_id, "");
    assert_int_equal(pv_provision_initialised(e->st, &v), PV_OK);
    assert_string_equal(v, "PV-NEW-1");
    free(v);
    assert_string_equal(v = config(e, PV_CFG_REFILL), "20000");
    free(v);
    assert_string_equal(v = config(e, PV_CFG_CRYPTO), spec);
    free(v);
    /* The front-processor secret is not the database's (issue 12): every
     * reader and every backup of it would hold it. */
    assert_null(config(e, PV_CFG_OLD_INTERNAL_SECRET));
    assert_null(config(e, PV_CFG_GATEWAY));
    assert_int_equal(pv_store_psd_list(e->st, &psds, &n), PV_OK);
    assert_int_equal(pv_store_key_list(e->st, &keys, &nk), PV_OK);
    assert_int_equal(n, 4);
    assert_int_equal(nk, 4);
    for (i = 0; i < n; i++) {
        assert_int_equal(psds[i].id, i + 1);
        assert_int_equal(psds[i].key_id, i + 1);
        assert_int_equal(psds[i].test, i == 3);
        assert_int_equal(psds[i].status, PV_PSD_ACTIVE);
        assert_int_equal(keys[i].psd_id, keys[i].key_id);
        assert_non_null(strstr(keys[i].public_pem, "BEGIN PUBLIC KEY"));
        assert_string_equal(keys[i].module, "openssl");
    }
    free(psds);
    free(keys);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 500000);
    assert_int_equal(denv_balance(e, PV_ACCT_AUTHORITY), -500000);
    {
        struct pv_media_key_rec mk[4];
        size_t nm = 0;
        assert_int_equal(pv_media_keys_load(e->st, mk, 4, &nm), PV_OK);
        assert_int_equal(nm, 1);
    }
    denv_books(e);
    /* A processor can load it: three live PSDs and the test PSD. */
    e->ctx.cm = e->cm;
    snprintf(e->ctx.server_id, sizeof e->ctx.server_id, "proc-1");
    assert_int_equal(pv_processor_load(e->st, &e->ctx), PV_OK);
    assert_int_equal(e->ctx.npsds, 3);
    assert_int_equal(e->ctx.test_psd.psd_id, 4);
    assert_int_equal(e->ctx.refill_policy, 20000);
    assert_string_equal(e->ctx.license, "PV-NEW-1");
    /* Twice is refused. */
    assert_int_equal(pv_provision_init(e->st, &p, 1000, &out), PV_EEXIST);
}

static void test_refusals_write_nothing(void **state)
{
    struct denv *e = *state;
    char spec[320];
    struct pv_provision p = vendor(e, spec), bad;

    bad = p;
    bad.license = "pv-lower";
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad.license = "PV-WAY-TOO-LONG-LICENSE";
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad = p;
    bad.psds = 0;
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad.psds = PV_PROVISION_MAX_PSDS + 1;
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad = p;
    bad.refill = 0;
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad = p;
    bad.deposit = -1;
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_EINVAL);
    bad = p;
    bad.gateway = "stripe";
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_ECONFIG);
    bad = p;
    bad.crypto_spec = "nosuchmodule:x";
    assert_int_equal(pv_provision_init(e->st, &bad, 1, NULL), PV_ECONFIG);
    assert_int_equal(pv_provision_initialised(e->st, NULL), PV_ENOTFOUND);
    assert_true(pv_license_valid("PV-1"));
    assert_false(pv_license_valid(NULL));
    assert_false(pv_license_valid(""));
}

static void test_demo(void **state)
{
    struct denv *e = *state;
    struct pv_provision_out out;
    struct pv_principal who;
    char spec[320], owner[PV_ID_MAX], acct[PV_ACCOUNT_MAX], *v;
    struct pv_provision p = vendor(e, spec);

    p.demo_password = "stampd-demo-password";
    p.deposit = 0;
    assert_int_equal(pv_provision_init(e->st, &p, 1000, &out), PV_OK);
    assert_string_equal(v = config(e, PV_CFG_GATEWAY), "sandbox");
    free(v);
    assert_int_equal(pv_apikey_lookup(e->st, out.customer_key, &who), PV_OK);
    assert_string_equal(who.owner_id, out.customer_id);
    assert_int_equal(pv_apikey_lookup(e->st, out.operator_key, &who), PV_OK);
    assert_int_equal(who.role, PV_ROLE_OPERATOR);
    assert_int_equal(pv_account_check_password(e->st, PV_ROLE_CUSTOMER, PV_DEMO_CUSTOMER_EMAIL,
                                               "stampd-demo-password", owner),
                     PV_OK);
    pv_account_customer(out.customer_id, acct);
    assert_int_equal(denv_balance(e, acct), PV_DEMO_BALANCE);
    assert_int_equal(denv_balance(e, PV_ACCT_DEPOSIT), 0);
    denv_books(e);
}

static void test_upgrade(void **state)
{
    struct denv *e = *state;
    struct pv_psd_rec p;
    char spec[320];
    uint32_t added = 99;
    int removed = 99;

    /* Not initialised: the media secret only; no internal secret is made. */
    assert_int_equal(pv_provision_upgrade(e->st, 1, &added, &removed), PV_OK);
    assert_int_equal(added, 0);
    assert_int_equal(removed, 0);
    assert_null(config(e, PV_CFG_OLD_INTERNAL_SECRET));
    /* The internal secret an older stampd kept in the config table is deleted. */
    assert_int_equal(pv_store_config_set(e->st, PV_CFG_OLD_INTERNAL_SECRET, "0123abcd"), PV_OK);
    assert_int_equal(pv_provision_upgrade(e->st, 1, &added, &removed), PV_OK);
    assert_int_equal(removed, 1);
    assert_null(config(e, PV_CFG_OLD_INTERNAL_SECRET));
    /* A vendor from before test keys: live PSDs 1 and 2 (key 7), a module. */
    snprintf(spec, sizeof spec, "openssl:%s/keys", e->dir);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_store_config_set(e->st, PV_CFG_CRYPTO, spec), PV_OK);
    denv_psd(e->st, e->cm, 1, 1, 0);
    denv_psd(e->st, e->cm, 7, 7, 0);
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    assert_int_equal(pv_provision_upgrade(e->st, 2, &added, &removed), PV_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(added, 8);
    assert_int_equal(pv_store_psd_get(e->st, 8, &p), PV_OK);
    assert_true(p.test);
    assert_int_equal(p.key_id, 8);
    assert_int_equal(pv_provision_upgrade(e->st, 3, &added, NULL), PV_OK);
    assert_int_equal(added, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_init, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals_write_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_demo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upgrade, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
