/*
 * test_claims.c - the postal authority's orders (src/domain/claims.c):
 * refunds of unused postage become claims, accepted or rejected once with
 * their books; holds refuse a customer's purchases before a card is held
 * and again inside the batch; every book balances. The whole suite runs on
 * SQLite and then on PostgreSQL (a throwaway cluster, as test_store).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"

#include "domain/claims.h"
#include "domain/intent.h"
#include "domain/refund.h"

#include <unistd.h>

#define WINDOW (30 * 86400)
#define POSTAL "pa_inspector"

static int use_pg;

static int setup(void **state)
{
    *state = denv_open_on("claims", use_pg);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static pv_mills deposit(struct denv *e)
{
    return denv_balance(e, PV_ACCT_DEPOSIT);
}

/* A live letter of cus_a refunded: its claim. */
static void refunded_claim(struct denv *e, struct pv_claim_rec *out)
{
    static struct pv_indicium_rec rec;
    struct pv_refund_rec r;
    struct pv_claim_rec *rows = NULL;
    size_t n = 0;

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 0, rec.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_APPROVED);
    assert_int_equal(pv_store_claim_list(e->st, PV_CLAIM_PENDING, "", 10, &rows, &n), PV_OK);
    assert_true(n >= 1);
    *out = rows[0]; /* newest first */
    free(rows);
    assert_string_equal(out->refund_id, r.id);
    assert_string_equal(out->indicium_id, rec.id);
    assert_int_equal(out->psd_id, rec.ind.device_id);
    assert_int_equal(out->serial, rec.ind.serial);
    assert_int_equal(out->amount, 740);
    assert_int_equal(out->status, PV_CLAIM_PENDING);
    assert_int_equal(strncmp(out->id, "rcl_", 4), 0);
    assert_string_equal(out->id + 4, r.id + 4);
}

static void test_claim_accepted(void **state)
{
    struct denv *e = *state;
    struct pv_claim_rec c, d, again;
    struct pv_claim_totals t;
    pv_mills dep, owed;
    int replayed = -1;

    refunded_claim(e, &c);
    assert_int_equal(pv_claims_owed(e->st, &owed), PV_OK);
    assert_int_equal(owed, 740);
    assert_int_equal(denv_balance(e, PV_ACCT_CLAIMED), -740);
    denv_books(e);
    dep = deposit(e);
    assert_int_equal(pv_claim_decide(e->st, POSTAL, c.id, 1, "", pv_now(), &d, &replayed), PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(replayed, 0);
    assert_int_equal(d.status, PV_CLAIM_ACCEPTED);
    assert_string_equal(d.decided_by, POSTAL);
    assert_true(d.decided_at > 0);
    /* The authority paid it back into the deposit: nothing owed, books whole. */
    assert_int_equal(deposit(e), dep + 740);
    assert_int_equal(denv_balance(e, PV_ACCT_RECEIVABLE), 0);
    denv_books(e);
    /* Decided again, the other way: the first decision stands, nothing moves. */
    assert_int_equal(
        pv_claim_decide(e->st, POSTAL, c.id, 0, "changed my mind", pv_now(), &again, &replayed),
        PV_OK);
    assert_int_equal(replayed, 1);
    assert_int_equal(again.status, PV_CLAIM_ACCEPTED);
    assert_string_equal(again.reason, "");
    assert_int_equal(deposit(e), dep + 740);
    assert_int_equal(denv_balance(e, PV_ACCT_CLAIM_LOSS), 0);
    assert_int_equal(pv_store_claim_totals(e->st, &t), PV_OK);
    assert_int_equal(t.count[PV_CLAIM_ACCEPTED], 1);
    assert_int_equal(t.amount[PV_CLAIM_ACCEPTED], 740);
    assert_int_equal(t.count[PV_CLAIM_PENDING], 0);
    denv_books(e);
}

static void test_claim_rejected(void **state)
{
    struct denv *e = *state;
    struct pv_claim_rec c, d, *rows = NULL;
    pv_mills dep;
    size_t n = 0;
    int replayed = -1;

    refunded_claim(e, &c);
    dep = deposit(e);
    /* A rejection needs a reason; a bad one, or an unknown claim, moves nothing. */
    assert_int_equal(pv_claim_decide(e->st, POSTAL, c.id, 0, "", pv_now(), &d, &replayed),
                     PV_EINVAL);
    assert_int_equal(pv_claim_decide(e->st, POSTAL, c.id, 0, " padded", pv_now(), &d, &replayed),
                     PV_EINVAL);
    assert_int_equal(pv_claim_decide(e->st, POSTAL, "rcl_nope", 0, "no", pv_now(), &d, &replayed),
                     PV_ENOTFOUND);
    denv_no_tx(e->st);
    assert_int_equal(pv_claim_decide(e->st, POSTAL, c.id, 0, "piece seen in the mail stream",
                                     pv_now(), &d, &replayed),
                     PV_OK);
    assert_int_equal(replayed, 0);
    assert_int_equal(d.status, PV_CLAIM_REJECTED);
    assert_string_equal(d.reason, "piece seen in the mail stream");
    /* Written off: the vendor's loss, the deposit untouched. */
    assert_int_equal(deposit(e), dep);
    assert_int_equal(denv_balance(e, PV_ACCT_RECEIVABLE), 0);
    assert_int_equal(denv_balance(e, PV_ACCT_CLAIM_LOSS), 740);
    denv_books(e);
    /* Listed by status. */
    assert_int_equal(pv_store_claim_list(e->st, PV_CLAIM_PENDING, "", 10, &rows, &n), PV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pv_store_claim_list(e->st, PV_CLAIM_REJECTED, "", 10, &rows, &n), PV_OK);
    assert_int_equal(n, 1);
    free(rows);
    /* Paging: a second claim, then the page after the newest holds the first. */
    refunded_claim(e, &d);
    assert_int_equal(pv_store_claim_list(e->st, -1, d.id, 10, &rows, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, c.id);
    free(rows);
    denv_books(e);
}

/* Test pieces are play money: their refund is denied, so never claimed. */
static void test_no_claim_for_test_piece(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec;
    struct pv_claim_totals t;
    struct pv_refund_rec r;

    denv_post(e->st, PV_ACCT_FUNDING, "test:customer:cus_a", 5000);
    denv_buy(e, "cus_a", 1, &rec);
    assert_int_equal(pv_refund_request(e->st, &e->gws, "cus_a", 1, rec.id, WINDOW, pv_now(), &r),
                     PV_OK);
    assert_int_equal(r.status, PV_REFUND_DENIED);
    assert_int_equal(pv_store_claim_totals(e->st, &t), PV_OK);
    assert_int_equal(t.count[0] + t.count[1] + t.count[2], 0);
    denv_books(e);
}

/* The check has teeth: money out of the receivable that no claim decided. */
static void test_ledger_check_sees_claim_books(void **state)
{
    struct denv *e = *state;
    struct pv_ledger_report rep;
    struct pv_claim_rec c;
    size_t i;
    int seen = 0;

    refunded_claim(e, &c);
    denv_post(e->st, PV_ACCT_RECEIVABLE, PV_ACCT_DEPOSIT, 740);
    assert_int_equal(pv_ledger_check(e->st, &rep), PV_OK);
    assert_true(rep.n > 0);
    for (i = 0; i < rep.n; i++)
        seen |= strcmp(rep.issues[i].name, PV_ACCT_RECEIVABLE) == 0;
    assert_true(seen);
    pv_ledger_report_clear(&rep);
}

/* One letter of customer from its balance (or with pay): its result. */
static int try_buy(struct denv *e, const char *customer, int test, const struct pv_payment *pay,
                   struct pv_purchase_res *r, struct pv_purchase_req *q)
{
    denv_letter(q, customer, "hold", e->nbought++, test);
    if (pay)
        q->pay = *pay;
    assert_int_equal(denv_batch(e->st, &e->ctx, q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    return r->err;
}

static void test_hold_refuses_and_lift_restores(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    struct pv_purchase_req q;
    struct pv_hold_rec h, lifted, again, *rows = NULL;
    struct pv_psd_rec p1, p1_after;
    struct pv_intent_rec it;
    struct pv_payment card;
    pv_mills bal;
    size_t n = 0;
    int replayed = -1;

    assert_non_null(r);
    assert_int_equal(pv_hold_place(e->st, POSTAL, "cus_nobody", 0, -1, "fraud", pv_now(), &h),
                     PV_ENOTFOUND);
    assert_int_equal(pv_hold_place(e->st, POSTAL, "cus_a", 0, -1, "", pv_now(), &h), PV_EINVAL);
    denv_no_tx(e->st);
    assert_int_equal(pv_hold_check(e->st, "cus_a"), PV_OK);
    assert_int_equal(
        pv_hold_place(e->st, POSTAL, "cus_a", 0, -1, "order 2026-17: postage fraud", pv_now(), &h),
        PV_OK);
    denv_no_tx(e->st);
    assert_int_equal(strncmp(h.id, "hld_", 4), 0);
    assert_int_equal(h.serial, -1);
    assert_int_equal(pv_hold_check(e->st, "cus_a"), PV_EONHOLD);
    assert_int_equal(pv_hold_check(e->st, "cus_b"), PV_OK);

    /* Balance, live and test: refused, nothing moves. */
    bal = denv_balance(e, "customer:cus_a");
    assert_int_equal(pv_store_psd_get(e->st, 1, &p1), PV_OK);
    assert_int_equal(try_buy(e, "cus_a", 0, NULL, r, &q), PV_EONHOLD);
    assert_int_equal(try_buy(e, "cus_a", 1, NULL, r, &q), PV_EONHOLD);
    assert_int_equal(denv_balance(e, "customer:cus_a"), bal);
    assert_int_equal(pv_store_psd_get(e->st, 1, &p1_after), PV_OK);
    assert_int_equal(p1_after.ascending, p1.ascending);
    assert_int_equal(p1_after.piece_count, p1.piece_count);

    /* A card: refused before it is held - no intent, so no gateway call. */
    denv_card(e, 0, "4242424242424242", &card);
    assert_int_equal(try_buy(e, "cus_a", 0, &card, r, &q), PV_EONHOLD);
    assert_int_equal(r->held, 0);
    assert_int_equal(pv_store_intent_latest(e->st, "purchase", "cus_a", q.idem_key, &it),
                     PV_ENOTFOUND);
    denv_books(e);

    assert_int_equal(pv_store_hold_list(e->st, 1, "", 10, &rows, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(rows[0].id, h.id);
    free(rows);

    /* Lifted: purchases go through again; lifting twice answers the first lift. */
    assert_int_equal(
        pv_hold_lift(e->st, POSTAL, h.id, "order withdrawn", pv_now(), &lifted, &replayed), PV_OK);
    assert_int_equal(replayed, 0);
    assert_true(lifted.lifted_at > 0);
    assert_string_equal(lifted.lifted_by, POSTAL);
    assert_string_equal(lifted.lift_reason, "order withdrawn");
    assert_int_equal(pv_hold_lift(e->st, POSTAL, h.id, "", pv_now(), &again, &replayed), PV_OK);
    assert_int_equal(replayed, 1);
    assert_string_equal(again.lift_reason, "order withdrawn");
    assert_int_equal(pv_hold_lift(e->st, POSTAL, "hld_nope", "", pv_now(), &again, &replayed),
                     PV_ENOTFOUND);
    assert_int_equal(pv_store_hold_list(e->st, 1, "", 10, &rows, &n), PV_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pv_store_hold_list(e->st, 0, "", 10, &rows, &n), PV_OK);
    assert_int_equal(n, 1);
    free(rows);
    assert_int_equal(pv_hold_check(e->st, "cus_a"), PV_OK);
    assert_int_equal(try_buy(e, "cus_a", 0, NULL, r, &q), PV_OK);
    assert_int_equal(try_buy(e, "cus_a", 0, &card, r, &q), PV_OK);
    free(r);
    denv_books(e);
}

/* A hold placed after the card was held but before the batch wins: the
 * batch refuses the job and the hold is voided; nothing moves. */
static void test_hold_mid_flight_wins(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    struct pv_purchase_req q;
    struct pv_intent_rec it;
    struct pv_payment card;
    struct pv_hold_rec h;
    pv_mills bal, dispensed;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&q, "cus_b", "flight", 1, 0);
    q.pay = card;
    bal = denv_balance(e, "customer:cus_b");
    dispensed = denv_balance(e, PV_ACCT_DISPENSED);
    pv_purchase_authorize(e->st, &e->ctx, &q, r, pv_now());
    assert_int_equal(r->pre_err, PV_OK);
    assert_int_equal(r->held, 1);
    assert_int_equal(pv_hold_place(e->st, POSTAL, "cus_b", 0, -1, "stop", pv_now(), &h), PV_OK);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r->err, PV_EONHOLD);
    pv_purchase_settle(e->st, &e->ctx, r, 1);
    assert_int_equal(pv_store_intent_get(e->st, r->intent_id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_VOIDED);
    assert_int_equal(denv_balance(e, "customer:cus_b"), bal);
    assert_int_equal(denv_balance(e, PV_ACCT_DISPENSED), dispensed);
    free(r);
    denv_books(e);
}

/* A new card's checks in the writer's round (issue 15, session 9): the key's use, the
 * customer's hold and the key's latest intent in one statement, then the intent's insert -
 * two statements, four before; a retry adopts its pending intent with one; a held
 * customer is refused with one and holds nothing. */
static void test_card_checks_in_one_read(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    struct pv_purchase_req q;
    struct pv_intent_rec it, again;
    struct pv_payment card;
    struct pv_hold_rec h;
    uint64_t ran;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&q, "cus_b", "round", 1, 0);
    q.pay = card;
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    ran = pv_store_statements(e->st);
    assert_int_equal(pv_purchase_hold_open(e->st, &e->ctx, &q, r, pv_now(), &it, 1), 1);
    assert_int_equal(pv_store_statements(e->st) - ran, 2);
    assert_string_equal(it.state, PV_INTENT_PENDING);
    assert_int_equal(it.attempt, 1);
    ran = pv_store_statements(e->st);
    assert_int_equal(pv_purchase_hold_open(e->st, &e->ctx, &q, r, pv_now(), &again, 1), 1);
    assert_int_equal(pv_store_statements(e->st) - ran, 1);
    assert_string_equal(again.id, it.id); /* adopted: the same hold, never a second */
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    assert_int_equal(pv_hold_place(e->st, POSTAL, "cus_b", 0, -1, "stop", pv_now(), &h), PV_OK);
    denv_letter(&q, "cus_b", "round", 2, 0);
    q.pay = card;
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    ran = pv_store_statements(e->st);
    assert_int_equal(pv_purchase_hold_open(e->st, &e->ctx, &q, r, pv_now(), &again, 1), 0);
    assert_int_equal(pv_store_statements(e->st) - ran, 1);
    assert_int_equal(r->pre_err, PV_EONHOLD);
    assert_int_equal(r->held, 0);
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    free(r);
    denv_books(e);
}

/* A hold by a piece: the piece names its buyer. */
static void test_piece_customer(void **state)
{
    struct denv *e = *state;
    static struct pv_indicium_rec rec, trec;
    char cus[PV_ID_MAX];
    uint32_t psd = 0;

    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_piece_customer(e->st, 0, rec.ind.serial, cus, &psd), PV_OK);
    assert_string_equal(cus, "cus_a");
    assert_int_equal(psd, rec.ind.device_id);
    assert_int_equal(pv_piece_customer(e->st, rec.ind.device_id, rec.ind.serial, cus, &psd), PV_OK);
    assert_int_equal(pv_piece_customer(e->st, rec.ind.device_id, 999999, cus, &psd), PV_ENOTFOUND);
    assert_string_equal(cus, "");
    /* A test piece is not postage: the authority cannot reach a customer by it. */
    denv_post(e->st, PV_ACCT_FUNDING, "test:customer:cus_b", 5000);
    denv_buy(e, "cus_b", 1, &trec);
    assert_int_equal(pv_piece_customer(e->st, trec.ind.device_id, trec.ind.serial, cus, &psd),
                     PV_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claim_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claim_rejected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_claim_for_test_piece, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ledger_check_sees_claim_books, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_refuses_and_lift_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_mid_flight_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_piece_customer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_checks_in_one_read, setup, teardown),
    };
    const char *file = getenv("STAMPD_TEST_PG_DSN_FILE");
    const char *src = getenv("STAMPD_SOURCE_DIR");
    int failed;

    unsetenv("STAMPD_DENV_DSN");
    failed = cmocka_run_group_tests_name("claims (sqlite)", tests, NULL, NULL);
    if (!file || !src || access(file, R_OK) != 0 || strchr(file, '\'') || strchr(src, '\'')) {
        fprintf(stderr, "claims (postgres): needs STAMPD_TEST_PG_DSN_FILE and "
                        "STAMPD_SOURCE_DIR (run under ctest)\n");
        return 1;
    }
    use_pg = 1;
    failed += cmocka_run_group_tests_name("claims (postgres)", tests, NULL, NULL);
    return failed ? 1 : 0;
}
