/*
 * test_cardpay.c - a processor's card rounds (src/server/cardpay.c, compiled
 * in; docs/internals/purchase-path.md, "Group commits of the intents"),
 * driven as the writer drives them: take, write inside a transaction,
 * commit, act after it. One card through every round of its life: its
 * checks and intent, its hold's answer, the give-up of a hold whose batch
 * failed and its end state - each in the state docs/payments.md names, and
 * each round with the statements it costs on SQLite (issue 15, session 9:
 * the new card's three reads in one statement; no savepoint pair around a
 * card's one write, which SQLite undoes alone when it fails; session 10: a
 * round's end states eight to a statement). The batch's claim of its card holds (session 15)
 * runs on PostgreSQL too, with STAMPD_TEST_PG_DSN_FILE, and so do two processors' batches
 * whose rounds write a card's twin intents (session 16: a round before the gate).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "domain_env.h"
#include "pg_psql.h"

#include "crypto/signpool.h"
#include "domain/intent.h"
#include "server/cardpay.h"
#include "server/job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sqlite3.h>
#include <time.h>

/* What the card payments handed back (their hooks, on any thread). */
struct seen {
    pthread_mutex_t mu;
    int held, settled;
    int wakes;               /* the writer woken: one for each gateway answer it must write */
    struct pv_store *look;   /* set: each answered job's intent read on it, into at */
    struct pv_intent_rec at; /* the last answered job's intent, as it was then */
    int look_rc;             /* that read's result (asserted on the test's thread) */
};

static void on_held(void *owner, struct pv_job *job)
{
    struct seen *s = owner;

    (void) job;
    pthread_mutex_lock(&s->mu);
    s->held++;
    pthread_mutex_unlock(&s->mu);
}

static void on_settled(void *owner, struct pv_job *job)
{
    struct seen *s = owner;

    pthread_mutex_lock(&s->mu);
    s->settled++;
    if (s->look && job && job->res.intent_id[0])
        s->look_rc = pv_store_intent_get(s->look, job->res.intent_id, &s->at);
    pthread_mutex_unlock(&s->mu);
}

static int settled_count(struct seen *s)
{
    int n;

    pthread_mutex_lock(&s->mu);
    n = s->settled;
    pthread_mutex_unlock(&s->mu);
    return n;
}

static void on_wake(void *owner)
{
    struct seen *s = owner;

    pthread_mutex_lock(&s->mu);
    s->wakes++;
    pthread_mutex_unlock(&s->mu);
}

/* Until the writer was woken n times in all: once for each job queued, once for each of the
 * gateway's answers it is to write. */
static void wait_wakes(struct seen *s, int n)
{
    int got = 0;

    for (int i = 0; i < 2000; i++) {
        pthread_mutex_lock(&s->mu);
        got = s->wakes;
        pthread_mutex_unlock(&s->mu);
        if (got >= n)
            break;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    assert_int_equal(got, n);
}

static int setup(void **state)
{
    *state = denv_open("cardpay");
    return *state ? 0 : -1;
}

/* The claims' cases on a fresh PostgreSQL database of the fixture's cluster: there the claim
 * is one statement in a savepoint, and the charges one more. */
static int setup_pg(void **state)
{
    *state = denv_open_on("cardpay", 1);
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

/* One round with no job in the batch, as the writer runs it; the statements it wrote. */
static uint64_t round_of(struct denv *e, struct pv_cardpay *cp)
{
    uint64_t ran;
    int rc;

    assert_int_equal(pv_cardpay_take(cp, NULL, NULL, 0), 0);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    ran = pv_store_statements(e->st);
    rc = pv_cardpay_write(cp, e->st);
    assert_int_equal(rc, PV_OK);
    ran = pv_store_statements(e->st) - ran;
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    pv_cardpay_after(cp, e->st, rc);
    return ran;
}

/* Until the gateway answered (the sandbox's timer thread). */
static void wait_ready(struct pv_cardpay *cp)
{
    for (int i = 0; i < 2000 && !pv_cardpay_ready(cp); i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    assert_true(pv_cardpay_ready(cp));
}

static void intent_is(struct denv *e, const char *id, const char *state)
{
    struct pv_intent_rec it;

    assert_int_equal(pv_store_intent_get(e->st, id, &it), PV_OK);
    assert_string_equal(it.state, state);
}

/* A first-class letter of cus_a paid by the sandbox's test card (owned: free()). */
static struct pv_job *card_job(struct denv *e, const char *prefix)
{
    struct pv_job *job = calloc(1, sizeof *job);
    struct pv_payment card;

    assert_non_null(job);
    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&job->req, "cus_a", prefix, 1, 0);
    job->req.pay = card;
    return job;
}

static void test_one_card_through_its_rounds(void **state)
{
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *job = card_job(e, "rounds");
    struct pv_cardpay *cp;

    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, job), PV_OK);
    /* Its checks and intent: one read, one insert (six statements before). */
    assert_int_equal(round_of(e, cp), 2);
    assert_int_equal(job->res.pre_err, PV_OK);
    wait_ready(cp); /* the hold, submitted after the commit, answered */
    /* Its hold's answer recorded (its job in no batch): one move (three before). */
    assert_int_equal(round_of(e, cp), 1);
    assert_int_equal(seen.held, 1);
    assert_int_equal(job->res.held, 1);
    intent_is(e, job->res.intent_id, PV_INTENT_AUTHORIZED);
    /* Its batch failed: the hold given up - its read and one move (four before). */
    job->res.err = PV_ESTORE;
    pv_cardpay_settle(cp, job, 0);
    assert_int_equal(round_of(e, cp), 2);
    intent_is(e, job->res.intent_id, PV_INTENT_VOIDING);
    assert_int_equal(seen.settled, 0);
    wait_ready(cp); /* the void, submitted after the commit, answered */
    /* Its end state: one move (three before); then the job is answered. */
    assert_int_equal(round_of(e, cp), 1);
    intent_is(e, job->res.intent_id, PV_INTENT_VOIDED);
    assert_int_equal(seen.settled, 1);
    assert_int_equal(pv_cardpay_busy(cp), 0);
    pv_cardpay_stop(cp);
    free(job);
    denv_books(e);
}

/* A card purchase whose batch committed is answered at once, its hold captured after (issue 15,
 * session 17): its intent is "settling" in that commit, which the recovery would capture after
 * any crash, so the answer need not wait for a gateway round trip and a commit more. The
 * capture's end state is still recorded, and the job is not answered twice. */
static void test_committed_card_answered_first(void **state)
{
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *job = card_job(e, "first");
    struct pv_cardpay *cp;
    char id[PV_ID_MAX];

    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, job), PV_OK);
    round_of(e, cp); /* its intent */
    wait_ready(cp);
    round_of(e, cp); /* its hold's answer */
    assert_int_equal(seen.held, 1);
    assert_int_equal(job->res.held, 1);
    /* Its batch, as the writer runs it. */
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &job->req, &job->res, 1, PV_NOW_AT_LOCK),
                     PV_OK);
    assert_int_equal(job->res.err, PV_OK);
    snprintf(id, sizeof id, "%s", job->res.intent_id);
    intent_is(e, id, PV_INTENT_SETTLING);
    pv_cardpay_settle(cp, job, 1);
    /* Answered before the gateway saw the capture; the job is the front's again. */
    assert_int_equal(seen.settled, 1);
    intent_is(e, id, PV_INTENT_SETTLING);
    assert_int_equal(pv_cardpay_busy(cp), 1); /* the capture in flight */
    pv_indicium_rec_clear(&job->res.rec);
    memset(job, 0xa5, sizeof *job); /* nothing after the answer reads it */
    wait_ready(cp);
    assert_int_equal(round_of(e, cp), 1); /* the end state */
    intent_is(e, id, PV_INTENT_CAPTURED);
    assert_int_equal(seen.settled, 1);
    assert_int_equal(pv_cardpay_busy(cp), 0);
    pv_cardpay_stop(cp);
    free(job);
    denv_books(e);
}

/* Another connection's transaction holding intent id's row (in state, which it keeps); let go
 * with let_go. */
static struct pv_store *held_elsewhere(const char *id, const char *state)
{
    struct pv_store *other = NULL;

    assert_int_equal(pv_store_open(denv_dsn, &other), PV_OK);
    assert_int_equal(pv_store_begin(other), PV_OK);
    assert_int_equal(
        pv_store_intent_move(other, id, state, state, NULL, NULL, NULL, 0, pv_now_ms()), PV_OK);
    return other;
}

static void let_go(struct pv_store *other)
{
    assert_int_equal(pv_store_rollback(other), PV_OK);
    pv_store_close(other);
}

/* The intent's state once it left from (polled: the settler's thread writes it). */
static void intent_becomes(struct denv *e, const char *id, const char *from, const char *to)
{
    struct pv_intent_rec it;

    for (int i = 0; i < 1000; i++) {
        assert_int_equal(pv_store_intent_get(e->st, id, &it), PV_OK);
        if (strcmp(it.state, from) != 0)
            break;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    assert_string_equal(it.state, to);
}

/* With writers side by side (PostgreSQL; issue 15, session 18): a capture's and a void's end
 * states are written by the settler's thread on its own connection, with no round of the
 * writer's - whose backend binds a processor's card purchases there. While another transaction
 * holds the captured intent's row, the settler waits for it and the writer has nothing to do
 * (its round writes nothing); a void's job is answered once its end state committed. */
static void test_end_states_by_the_settler(void **state)
{
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *bought = card_job(e, "settler-a"), *failed = card_job(e, "settler-b");
    struct pv_store *sst = NULL, *other;
    struct pv_cardpay *cp;
    char a[PV_ID_MAX], b[PV_ID_MAX];

    assert_int_equal(pv_store_writers_parallel(e->st), 1);
    assert_int_equal(pv_store_open(denv_dsn, &sst), PV_OK);
    assert_int_equal(pv_store_open(denv_dsn, &seen.look), PV_OK);
    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    assert_int_equal(pv_cardpay_settler(cp, sst), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, bought), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, failed), PV_OK);
    round_of(e, cp); /* their intents */
    for (int i = 0; i < 1000 && seen.held < 2; i++) {
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
        round_of(e, cp); /* the holds' answers, as they come */
    }
    assert_int_equal(seen.held, 2);
    snprintf(a, sizeof a, "%s", bought->res.intent_id);
    snprintf(b, sizeof b, "%s", failed->res.intent_id);

    /* The void: its hold given up in the writer's round, its end state the settler's, its job
     * answered after that end state committed. */
    failed->res.err = PV_ESTORE;
    pv_cardpay_settle(cp, failed, 0);
    round_of(e, cp);
    intent_becomes(e, b, PV_INTENT_VOIDING, PV_INTENT_VOIDED);
    for (int i = 0; i < 1000 && settled_count(&seen) < 1; i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    assert_int_equal(settled_count(&seen), 1);
    assert_int_equal(seen.look_rc, PV_OK);
    assert_string_equal(seen.at.id, b);
    assert_string_equal(seen.at.state, PV_INTENT_VOIDED);

    /* The capture, its intent's row held elsewhere: the settler waits, the writer has nothing. */
    assert_int_equal(
        pv_purchase_batch(e->st, &e->ctx, &bought->req, &bought->res, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(bought->res.err, PV_OK);
    other = held_elsewhere(a, PV_INTENT_SETTLING);
    pv_cardpay_settle(cp, bought, 1);
    assert_int_equal(settled_count(&seen), 2); /* the purchase, answered at once */
    pv_indicium_rec_clear(&bought->res.rec);
    nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL); /* answered, the settler waiting */
    assert_int_equal(pv_cardpay_busy(cp), 1);
    assert_int_equal(pv_cardpay_ready(cp), 0);
    assert_int_equal(round_of(e, cp), 0);
    intent_is(e, a, PV_INTENT_SETTLING);
    let_go(other);
    intent_becomes(e, a, PV_INTENT_SETTLING, PV_INTENT_CAPTURED);
    for (int i = 0; i < 1000 && pv_cardpay_busy(cp); i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    assert_int_equal(pv_cardpay_busy(cp), 0);
    pv_cardpay_stop(cp);
    pv_store_close(seen.look);
    free(bought);
    free(failed);
    denv_books(e);
}

/* A writer's round that fails with settled items of its own (a declined card's job back from its
 * batch: nothing to call for, nothing to write, its job to answer after the round's commit)
 * hands them to the settler, which answers them: nothing is left waiting, and the card payments
 * stop (PostgreSQL; a review of session 18 found them left on a list neither thread would take,
 * the writer stopping forever). */
static void test_failed_round_hands_its_end_states_over(void **state)
{
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *job = calloc(1, sizeof *job);
    struct pv_store *sst = NULL;
    struct pv_cardpay *cp;
    struct pv_payment card;

    assert_non_null(job);
    denv_card(e, 0, "4000000000000002", &card); /* the sandbox declines it */
    denv_letter(&job->req, "cus_a", "handed-over", 1, 0);
    job->req.pay = card;
    assert_int_equal(pv_store_open(denv_dsn, &sst), PV_OK);
    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    assert_int_equal(pv_cardpay_settler(cp, sst), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, job), PV_OK);
    round_of(e, cp);
    wait_ready(cp);
    round_of(e, cp); /* its decline */
    assert_int_equal(seen.held, 1);
    assert_int_equal(job->res.held, 0);
    job->res.err = PV_ESTORE;
    pv_cardpay_settle(cp, job, 0);
    /* The round's transaction fails after its writes. */
    assert_int_equal(pv_cardpay_take(cp, NULL, NULL, 0), 0);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_cardpay_write(cp, e->st), PV_OK);
    assert_int_equal(pv_store_rollback(e->st), PV_OK);
    pv_cardpay_after(cp, e->st, PV_ESTORE);
    for (int i = 0; i < 1000 && pv_cardpay_busy(cp); i++)
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    assert_int_equal(pv_cardpay_busy(cp), 0);
    assert_int_equal(settled_count(&seen), 1);
    pv_cardpay_stop(cp);
    free(job);
    denv_books(e);
}

/* A round's end states on SQLite: eight intents to a statement (issue 15, session 10: one
 * statement a card before), each still moved only from the state its call finished. And no
 * statement of a card's rounds is prepared again to run (session 12: with schema v29's
 * pay_intents_live, whose WHERE a bound state matches, the end states' statement was planned
 * again at each run, on that index - a scan of every intent in the state - until it said
 * `+state`). */
static void test_end_states_together(void **state)
{
    enum { N = 10 };
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *jobs[N];
    struct pv_cardpay *cp;
    struct pv_payment card;

    uint64_t reprepared = pv_store_reprepares(e->st);

    denv_card(e, 0, "4242424242424242", &card);
    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    for (int i = 0; i < N; i++) {
        char prefix[16];

        assert_non_null(jobs[i] = calloc(1, sizeof *jobs[i]));
        snprintf(prefix, sizeof prefix, "together-%d", i);
        denv_letter(&jobs[i]->req, "cus_a", prefix, 1, 0);
        jobs[i]->req.pay = card;
        assert_int_equal(pv_cardpay_hold(cp, jobs[i]), PV_OK);
    }
    assert_int_equal(round_of(e, cp), 2 * N); /* each card's read and insert */
    wait_wakes(&seen, 2 * N);                 /* each job queued, then each hold answered */
    assert_int_equal(round_of(e, cp), N);     /* answers, no job in the batch */
    assert_int_equal(seen.held, N);
    for (int i = 0; i < N; i++) {
        jobs[i]->res.err = PV_ESTORE; /* their batch failed: the holds given up */
        pv_cardpay_settle(cp, jobs[i], 0);
    }
    assert_int_equal(round_of(e, cp), 2 * N);
    wait_wakes(&seen, 4 * N); /* each job queued again, then each void answered */
    /* One of them ended meanwhile by another hand (the recovery): left as it is. */
    assert_int_equal(pv_store_intent_move(e->st, jobs[3]->res.intent_id, PV_INTENT_VOIDING,
                                          PV_INTENT_VOIDED, NULL, NULL, NULL, 0, pv_now_ms()),
                     PV_OK);
    assert_int_equal(round_of(e, cp), 2); /* ten end states: two statements */
    assert_int_equal(pv_store_reprepares(e->st) - reprepared, 0);
    for (int i = 0; i < N; i++)
        intent_is(e, jobs[i]->res.intent_id, PV_INTENT_VOIDED);
    assert_int_equal(seen.settled, N);
    assert_int_equal(pv_cardpay_busy(cp), 0);
    pv_cardpay_stop(cp);
    for (int i = 0; i < N; i++)
        free(jobs[i]);
    denv_books(e);
}

/* Another connection's statement on the denv's SQLite file (its dir/db.sqlite). */
static void sql_beside(const struct denv *e, const char *sql)
{
    char path[300];
    sqlite3 *db = NULL;

    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A card's write that takes the whole transaction with it (SQLite rolls it back on its own:
 * a full disk, an I/O error; here a trigger's RAISE(ROLLBACK)) fails the round, and the
 * store refuses what the batch would write after it: a savepoint would otherwise open a
 * transaction of its own, and its release commit the batch's writes one by one. */
static void test_round_whose_transaction_went(void **state)
{
    struct denv *e = *state;
    struct seen seen = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct pv_cardpay_hooks hooks = {on_held, on_settled, on_wake, &seen};
    struct pv_job *job = calloc(1, sizeof *job);
    struct pv_cardpay *cp;
    struct pv_payment card;
    struct pv_ledger_line l[2];
    pv_mills before, after;
    int rc;

    assert_non_null(job);
    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&job->req, "cus_a", "gone", 1, 0);
    job->req.pay = card;
    assert_int_equal(pv_store_account_balance(e->st, "customer:cus_a", &before), PV_OK);
    sql_beside(e, "CREATE TRIGGER boom BEFORE INSERT ON pay_intents "
                  "BEGIN SELECT RAISE(ROLLBACK, 'boom'); END");
    assert_int_equal(pv_cardpay_start(&e->ctx, &hooks, &cp), PV_OK);
    assert_int_equal(pv_cardpay_hold(cp, job), PV_OK);
    assert_int_equal(pv_cardpay_take(cp, NULL, NULL, 0), 0);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    rc = pv_cardpay_write(cp, e->st);
    assert_int_equal(rc, PV_ESTORE);
    /* What a batch would do next is refused, not committed piece by piece. */
    assert_int_equal(pv_store_savepoint(e->st), PV_ESTORE);
    assert_int_equal(pv_store_alive(e->st), PV_ESTORE);
    memset(l, 0, sizeof l);
    snprintf(l[0].account, sizeof l[0].account, "funding");
    l[0].amount = -1000;
    snprintf(l[1].account, sizeof l[1].account, "customer:cus_a");
    l[1].amount = 1000;
    assert_int_not_equal(pv_ledger_post(e->st, "test", "after-gone", l, 2, pv_now()), PV_OK);
    pv_store_rollback(e->st);
    pv_cardpay_after(cp, e->st, rc);
    assert_int_equal(pv_store_account_balance(e->st, "customer:cus_a", &after), PV_OK);
    assert_int_equal(after, before);
    sql_beside(e, "DROP TRIGGER boom");
    pv_cardpay_stop(cp);
    free(job);
    denv_books(e);
}

/* The temporary tables (OpenEphemeral) of sql's program on the denv's SQLite file. */
static int temp_tables(const struct denv *e, const char *sql)
{
    char path[300], *q = sqlite3_mprintf("EXPLAIN %s", sql);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int n = 0;

    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK); /* EXPLAIN compiles the CHECKs */
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &s, NULL), SQLITE_OK);
    while (sqlite3_step(s) == SQLITE_ROW)
        n += strcmp((const char *) sqlite3_column_text(s, 1), "OpenEphemeral") == 0;
    sqlite3_finalize(s);
    sqlite3_close(db);
    sqlite3_free(q);
    return n;
}

/* Schema v27 (issue 15, session 11): on SQLite an intent's insert built one temporary table
 * and its move two (three and three before: the lists of the kind's and the state's CHECK,
 * which SQLite looks up in a table it builds for the statement, besides pay_intents_live's);
 * schema v29 (session 12) wrote pay_intents_live's WHERE as ORs too, so neither builds one
 * now (test_intent_plans: the recovery's read still uses the index). The CHECKs still refuse
 * what they refused. */
static void test_intent_writes_build_fewer_tables(void **state)
{
    struct denv *e = *state;
    char path[300];
    sqlite3 *db = NULL;

    assert_int_equal(temp_tables(e, "INSERT INTO pay_intents(id, kind, owner, customer_id, test, "
                                    "client_key, attempt, gateway_key, amount_mills, state, "
                                    "created, updated) VALUES ('pi_x', 'purchase', 'cus_a', "
                                    "'cus_a', 0, 'k', 1, 'g', 1, 'pending', 1, 1)"),
                     0);
    assert_int_equal(temp_tables(e, "UPDATE pay_intents SET state = 'settling', charge_id = 'ch', "
                                    "updated = 2 WHERE id = 'pi_x' AND state = 'pending'"),
                     0);
    snprintf(path, sizeof path, "%s/db.sqlite", e->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO pay_intents(id, kind, owner, customer_id, test, "
                                  "client_key, attempt, gateway_key, amount_mills, state, created, "
                                  "updated) VALUES ('pi_y', 'purchase', 'cus_a', 'cus_a', 0, 'k', "
                                  "1, 'g', 1, 'gone', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    assert_int_equal(sqlite3_exec(db,
                                  "INSERT INTO pay_intents(id, kind, owner, customer_id, test, "
                                  "client_key, attempt, gateway_key, amount_mills, state, created, "
                                  "updated) VALUES ('pi_y', 'gift', 'cus_a', 'cus_a', 0, 'k', 1, "
                                  "'g', 1, 'pending', 1, 1)",
                                  NULL, NULL, NULL),
                     SQLITE_CONSTRAINT);
    /* Every kind and state the lists allowed (v7) is still allowed. */
    {
        static const char *const kinds[] = {"purchase", "auto_refill", "funds", "refund"};
        static const char *const states[] = {"pending", "authorized", "settling", "captured",
                                             "voiding", "voided",     "declined", "paid"};
        size_t k, t;

        for (k = 0; k < 4; k++)
            for (t = 0; t < 8; t++) {
                char *ins = sqlite3_mprintf(
                    "INSERT INTO pay_intents(id, kind, owner, customer_id, test, client_key, "
                    "attempt, gateway_key, amount_mills, state, created, updated) VALUES "
                    "('pi_%s_%s', '%s', 'cus_a', 'cus_a', 0, 'k-%s-%s', 1, 'g-%s-%s', 1, '%s', 1, "
                    "1)",
                    kinds[k], states[t], kinds[k], kinds[k], states[t], kinds[k], states[t],
                    states[t]);

                assert_int_equal(sqlite3_exec(db, ins, NULL, NULL, NULL), SQLITE_OK);
                sqlite3_free(ins);
            }
    }
    sqlite3_close(db);
}

/* One purchase of cus_a paid by pay (NULL: the balance) in a batch of its own; the
 * statements of that batch. */
static uint64_t batch_of(struct denv *e, const struct pv_payment *pay, int n,
                         struct pv_purchase_res *r)
{
    struct pv_purchase_req q;
    uint64_t ran;

    denv_letter(&q, "cus_a", "stmts", n, 0);
    if (pay)
        q.pay = *pay;
    memset(r, 0, sizeof *r);
    pv_purchase_authorize(e->st, &e->ctx, &q, r, pv_now());
    ran = pv_store_statements(e->st);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    ran = pv_store_statements(e->st) - ran;
    assert_int_equal(r->err, PV_OK);
    pv_purchase_settle(e->st, &e->ctx, r, 1);
    return ran;
}

/* A card purchase's batch costs one statement fewer than a balance purchase's on SQLite (issue
 * 15; four more before session 11, when its card_charge journal was three statements of its
 * own; one more until session 25, as many until session 26): its card_charge is posted with the
 * postage_sale, both kept to the batch's end with every job's journals (session 12; the
 * customer's two lines cancel in the batch's accounts update), its intent's move to settling
 * is its idempotency record - no row of its own (store_payments.h, card_key_put), yet its key
 * reads as stored - and its key is not read in its batch: its intent has held it since its card
 * round (test_balance_under_a_held_cards_key). The books read the same: the customer's account
 * has both lines, card_charge first, its balance unchanged. */
static void test_card_purchase_statements(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res *r = calloc(1, sizeof *r);
    struct pv_payment card;
    struct pv_txn_rec *t = NULL;
    uint64_t balance, by_card, reprepared;
    pv_mills before, clearing;
    size_t n;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    batch_of(e, NULL, 0, r); /* the PSD and the customer's rows warm */
    balance = batch_of(e, NULL, 1, r);
    before = denv_balance(e, "customer:cus_a");
    clearing = denv_balance(e, "card_clearing");
    reprepared = pv_store_reprepares(e->st);
    by_card = batch_of(e, &card, 2, r);
    assert_int_equal(by_card - balance, -1); /* its key not read: its intent holds it */
    assert_int_equal(pv_store_reprepares(e->st) - reprepared, 0); /* no plan made again */
    {
        char hash[PV_HASH_HEX], id[PV_ID_MAX];

        assert_int_equal(pv_store_idem_get(e->st, "cus_a", "stmts-2", hash, id), PV_ENOTFOUND);
        assert_int_equal(pv_store_purchase_key(e->st, "cus_a", "stmts-2", hash, id), PV_OK);
        assert_string_equal(id, r->rec.id);
        assert_string_equal(hash, "hash");
    }
    assert_int_equal(denv_balance(e, "customer:cus_a"), before);
    assert_int_equal(denv_balance(e, "card_clearing"), clearing - r->charged);
    assert_int_equal(pv_store_account_lines(e->st, "customer:cus_a", 0, 2, &t, &n), PV_OK);
    assert_int_equal(n, 2); /* newest first */
    assert_string_equal(t[0].kind, "postage_sale");
    assert_int_equal(t[0].amount, -r->charged);
    assert_string_equal(t[1].kind, "card_charge");
    assert_int_equal(t[1].amount, r->charged);
    assert_string_equal(t[0].ref, r->rec.id);
    assert_string_equal(t[1].ref, r->rec.id);
    assert_true(t[1].journal_id < t[0].journal_id);
    free(t);
    pv_indicium_rec_clear(&r->rec);
    free(r);
    denv_books(e);
}

/* A retry of a card purchase that committed is its replay before any check the first purchase
 * would now fail (issue 15, session 25's review): on SQLite the committed intent is the key's
 * only record (no idempotency row), and a hold the postal authority placed since - or the
 * medium the purchase used - must not refuse the retry that the front did not answer. */
static void test_card_retry_replays_before_checks(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_res *r = calloc(2, sizeof *r);
    struct pv_purchase_req q;
    struct pv_payment card;
    struct pv_hold_rec hold;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    batch_of(e, &card, 5, &r[0]); /* bought, committed, captured */
    memset(&hold, 0, sizeof hold);
    snprintf(hold.id, sizeof hold.id, "hld_retry");
    snprintf(hold.customer_id, sizeof hold.customer_id, "cus_a");
    snprintf(hold.reason, sizeof hold.reason, "claims");
    snprintf(hold.placed_by, sizeof hold.placed_by, "pa_1");
    hold.placed_at = pv_now();
    hold.serial = -1;
    assert_int_equal(pv_store_hold_insert(e->st, &hold), PV_OK);
    denv_letter(&q, "cus_a", "stmts", 5, 0);
    q.pay = card;
    pv_purchase_authorize(e->st, &e->ctx, &q, &r[1], pv_now());
    assert_int_equal(r[1].pre_err, PV_OK);
    assert_int_equal(r[1].held, 0);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r[1], 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[1].err, PV_OK);
    assert_int_equal(r[1].replayed, 1);
    assert_string_equal(r[1].rec.id, r[0].rec.id);
    pv_indicium_rec_clear(&r[0].rec);
    pv_indicium_rec_clear(&r[1].rec);
    free(r);
}

/* The charge row recorded for a card's hold, or none (PV_ENOTFOUND). */
static int charge_of(struct denv *e, const char *piece, struct pv_charge_rec *c)
{
    return pv_store_charge_find(e->st, "purchase", piece, c);
}

/* A batch's card holds are claimed before its jobs (issue 15, session 15: their intents
 * "settling" in one statement on PostgreSQL, one each here), each naming the piece its job
 * then makes; a job refused after the claim (its price is no longer the hold's) moves its
 * intent on to "voiding" in the same transaction, so that no committed "settling" intent is
 * without its piece: the recovery would capture it. The charge rows are the pieces' only. */
static void test_claimed_holds(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[3];
    struct pv_purchase_res *r = calloc(3, sizeof *r);
    struct pv_payment card;
    struct pv_intent_rec it;
    struct pv_charge_rec c;
    int64_t charges;
    int i;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    for (i = 0; i < 3; i++) {
        denv_letter(&q[i], "cus_a", "claim", i, 0);
        q[i].pay = card;
        pv_purchase_authorize(e->st, &e->ctx, &q[i], &r[i], pv_now());
        assert_int_equal(r[i].held, 1);
    }
    r[1].charged += 10; /* as if the price moved since its hold */
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, q, r, 3, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[1].err, PV_EPAYSTATE);
    assert_int_equal(r[2].err, PV_OK);
    for (i = 0; i < 3; i += 2) {
        assert_int_equal(r[i].claimed, 1);
        assert_string_equal(r[i].rec.id, r[i].piece_id);
        assert_int_equal(pv_store_intent_get(e->st, r[i].intent_id, &it), PV_OK);
        assert_string_equal(it.state, PV_INTENT_SETTLING);
        assert_string_equal(it.ref, r[i].rec.id);
        assert_string_equal(it.charge_id, r[i].charge_id);
        assert_int_equal(charge_of(e, r[i].rec.id, &c), PV_OK);
        assert_string_equal(c.id, r[i].charge_id);
        assert_int_equal(c.amount, r[i].charged);
    }
    assert_int_equal(r[1].claimed, 1); /* refused after its claim */
    intent_is(e, r[1].intent_id, PV_INTENT_VOIDING);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 2); /* the two pieces' only */
    pv_purchase_settle(e->st, &e->ctx, r, 3);
    intent_is(e, r[0].intent_id, PV_INTENT_CAPTURED);
    intent_is(e, r[1].intent_id, PV_INTENT_VOIDED);
    intent_is(e, r[2].intent_id, PV_INTENT_CAPTURED);
    for (i = 0; i < 3; i++)
        pv_indicium_rec_clear(&r[i].rec);
    free(r);
    denv_books(e);
}

/* A hold taken by pv_purchase_authorize (its intent "authorized") made as the card round leaves
 * a hold it answered for a job of its batch: the intent still "pending", the charge recorded by
 * the move that buys (r->held_pending). */
static void as_the_round_leaves_it(struct denv *e, struct pv_purchase_res *r)
{
    assert_int_equal(pv_store_intent_move(e->st, r->intent_id, PV_INTENT_AUTHORIZED,
                                          PV_INTENT_PENDING, NULL, NULL, NULL, 0, pv_now_ms()),
                     PV_OK);
    r->held_pending = 1;
}

/* A card purchase of cus_a's under the key PREFIX-1 with its hold taken (*q, *r), and a
 * purchase from the balance under the same key (*b, not run). */
static void held_and_balance(struct denv *e, const char *prefix, struct pv_purchase_req *q,
                             struct pv_purchase_res *r, struct pv_purchase_req *b)
{
    struct pv_payment card;

    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(q, "cus_a", prefix, 1, 0);
    q->pay = card;
    pv_purchase_authorize(e->st, &e->ctx, q, r, pv_now());
    assert_int_equal(r->held, 1);
    denv_letter(b, "cus_a", prefix, 1, 0);
}

/* A purchase from the balance under the key of a card purchase on its way (its hold taken, its
 * batch not yet run) is refused 409 idempotency_key_reused on SQLite, whatever its request's
 * hash (here the card's own: a purchase not paid by card is another request): the card's intent
 * holds the key from its card round on (purchase_key; issue 15, session 26) - "authorized" as
 * an adopted hold leaves it, and "pending" as the round leaves a hold it answered for a job of
 * its batch. The card's batch then buys it as if the key had never been asked for again,
 * claimed from that state, without reading the key (one statement fewer:
 * test_card_purchase_statements). A purchase from the balance after it (its own body): refused
 * alike. */
static void test_balance_under_a_held_cards_key(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q, b;
    struct pv_purchase_res *r = calloc(2, sizeof *r);
    struct pv_charge_rec c;

    assert_non_null(r);
    for (int pending = 0; pending < 2; pending++) {
        memset(r, 0, 2 * sizeof *r);
        held_and_balance(e, pending ? "inuse-p" : "inuse", &q, &r[0], &b);
        if (pending)
            as_the_round_leaves_it(e, &r[0]);
        assert_int_equal(denv_batch(e->st, &e->ctx, &b, &r[1], 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r[1].err, PV_EIDEMREUSED);
        assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r[0], 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r[0].err, PV_OK);
        assert_int_equal(r[0].replayed, 0);
        assert_int_equal(r[0].claimed, 1);
        intent_is(e, r[0].intent_id, PV_INTENT_SETTLING);
        assert_int_equal(charge_of(e, r[0].rec.id, &c), PV_OK);
        assert_int_equal(c.amount, r[0].charged);
        pv_purchase_settle(e->st, &e->ctx, &r[0], 1);
        intent_is(e, r[0].intent_id, PV_INTENT_CAPTURED);
        snprintf(b.req_hash, sizeof b.req_hash, "balance-hash"); /* a body that names no card */
        assert_int_equal(denv_batch(e->st, &e->ctx, &b, &r[1], 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r[1].err, PV_EIDEMREUSED);
        pv_indicium_rec_clear(&r[0].rec);
    }
    free(r);
    denv_books(e);
}

/* Two card jobs under one key with one request in one batch (a retry that adopted the first's
 * hold): the first claims the intent and buys without reading its key (SQLite, session 26);
 * the twin, run after it (pv_purchase_repeats), reads the key and replays that piece - one
 * indicium, one charge, the intent captured once. */
static void test_twin_of_a_claimed_card(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[2];
    struct pv_purchase_res *r = calloc(2, sizeof *r);
    struct pv_payment card;
    int64_t charges;

    assert_non_null(r);
    denv_card(e, 0, "4242424242424242", &card);
    for (int i = 0; i < 2; i++) {
        denv_letter(&q[i], "cus_a", "twins", 1, 0);
        q[i].pay = card;
        pv_purchase_authorize(e->st, &e->ctx, &q[i], &r[i], pv_now());
        assert_int_equal(r[i].held, 1);
    }
    assert_string_equal(r[0].intent_id, r[1].intent_id); /* the retry adopted the hold */
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, q, r, 2, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[0].claimed, 1);
    assert_int_equal(r[0].replayed, 0);
    assert_int_equal(r[1].err, PV_OK);
    assert_int_equal(r[1].claimed, 0);
    assert_int_equal(r[1].replayed, 1);
    assert_string_equal(r[1].rec.id, r[0].rec.id);
    pv_purchase_settle(e->st, &e->ctx, r, 2);
    intent_is(e, r[0].intent_id, PV_INTENT_CAPTURED);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 1);
    pv_indicium_rec_clear(&r[0].rec);
    pv_indicium_rec_clear(&r[1].rec);
    free(r);
    denv_books(e);
}

/* A held card job whose key another purchase stored meanwhile (PostgreSQL: from the balance,
 * with the same request, on a store whose writers go side by side - on SQLite that purchase is
 * refused, test_balance_under_a_held_cards_key): its batch claims its hold, then it replays
 * that purchase - its intent ends "voiding" in the batch, never "settling", no charge is
 * recorded for it, and its hold is voided after the commit. */
static void test_claimed_hold_of_a_replay(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q, b;
    struct pv_purchase_res *r = calloc(2, sizeof *r);
    struct pv_intent_rec it;
    int64_t charges;

    assert_non_null(r);
    held_and_balance(e, "twin", &q, &r[0], &b); /* b: the same key and request */
    assert_int_equal(denv_batch(e->st, &e->ctx, &b, &r[1], 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[1].err, PV_OK);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r[0], 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[0].replayed, 1);
    assert_string_equal(r[0].rec.id, r[1].rec.id);
    assert_int_equal(pv_store_intent_get(e->st, r[0].intent_id, &it), PV_OK);
    assert_string_equal(it.state, PV_INTENT_VOIDING);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 0);
    pv_purchase_settle(e->st, &e->ctx, &r[0], 1); /* voided now, not left to the recovery */
    intent_is(e, r[0].intent_id, PV_INTENT_VOIDED);
    pv_indicium_rec_clear(&r[0].rec);
    pv_indicium_rec_clear(&r[1].rec);
    free(r);
    denv_books(e);
}

/* A held card job whose intent another transaction holds (PostgreSQL; issue 15, session 16):
 * its batch's claim skips the row, and the job, rather than wait for it in its own move (after
 * the gate, where it could close a circle with another processor's batch), is deferred with its
 * hold kept - nothing charged, nothing voided - and bought by a later batch once the row is
 * free. Both ways a hold reaches a batch: answered before (its intent "authorized"), and
 * answered in the batch's round (still "pending", the charge recorded by the move that buys). */
static void test_held_intent_held_elsewhere(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q;
    struct pv_purchase_res r;
    struct pv_payment card;
    struct pv_store *other;
    int64_t charges;

    denv_card(e, 0, "4242424242424242", &card);
    for (int pending = 0; pending < 2; pending++) {
        const char *held = pending ? PV_INTENT_PENDING : PV_INTENT_AUTHORIZED;

        memset(&r, 0, sizeof r);
        denv_letter(&q, "cus_a", "elsewhere", pending, 0);
        q.pay = card;
        pv_purchase_authorize(e->st, &e->ctx, &q, &r, pv_now());
        assert_int_equal(r.held, 1);
        if (pending)
            as_the_round_leaves_it(e, &r);
        other = held_elsewhere(r.intent_id, held);
        assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r, 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r.err, PV_EBUSY);
        assert_int_equal(r.refill.deferred, 1);
        assert_int_equal(r.claimed, 0);
        assert_int_equal(r.held, 1);
        let_go(other);
        pv_purchase_settle(e->st, &e->ctx, &r, 1); /* its hold is not this batch's to void */
        intent_is(e, r.intent_id, held);
        assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
        assert_int_equal(charges, pending);

        /* The next batch, the row free: bought with the same hold. */
        assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r, 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r.err, PV_OK);
        assert_int_equal(r.claimed, 1);
        intent_is(e, r.intent_id, PV_INTENT_SETTLING);
        pv_purchase_settle(e->st, &e->ctx, &r, 1);
        intent_is(e, r.intent_id, PV_INTENT_CAPTURED);
        assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
        assert_int_equal(charges, pending + 1);
        pv_indicium_rec_clear(&r.rec);
    }
    denv_books(e);
}

/* The same in a batch locking late (two jobs, a sign pool): the job whose intent is held
 * elsewhere is deferred, the other bought beside it with its hold claimed; the customers' rows
 * taken at the settle are undisturbed by the deferred one. */
static void test_held_intent_held_elsewhere_late(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q[2];
    struct pv_purchase_res r[2];
    struct pv_payment card;
    struct pv_sign_pool *pool = NULL;
    struct pv_store *other = NULL;
    int64_t charges;

    memset(r, 0, sizeof r);
    denv_card(e, 0, "4242424242424242", &card);
    for (int i = 0; i < 2; i++) {
        denv_letter(&q[i], "cus_a", "late-elsewhere", i, 0);
        q[i].pay = card;
        pv_purchase_authorize(e->st, &e->ctx, &q[i], &r[i], pv_now());
        assert_int_equal(r[i].held, 1);
    }
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK);
    e->ctx.sign_pool = pool;
    other = held_elsewhere(r[0].intent_id, PV_INTENT_AUTHORIZED);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, q, r, 2, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[0].err, PV_EBUSY);
    assert_int_equal(r[0].refill.deferred, 1);
    assert_int_equal(r[1].err, PV_OK);
    assert_int_equal(r[1].claimed, 1);
    let_go(other);
    pv_purchase_settle(e->st, &e->ctx, r, 2);
    intent_is(e, r[0].intent_id, PV_INTENT_AUTHORIZED);
    intent_is(e, r[1].intent_id, PV_INTENT_CAPTURED);
    assert_int_equal(pv_purchase_batch(e->st, &e->ctx, q, r, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(r[0].err, PV_OK);
    pv_purchase_settle(e->st, &e->ctx, r, 1);
    intent_is(e, r[0].intent_id, PV_INTENT_CAPTURED);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 2);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    pv_indicium_rec_clear(&r[0].rec);
    pv_indicium_rec_clear(&r[1].rec);
    denv_books(e);
}

/* A batch run on its own thread (the job's move waits for a row another connection holds). */
struct waiting_batch {
    struct denv *e;
    struct pv_purchase_req *q;
    struct pv_purchase_res *r;
    atomic_int done;
    int rc;
};

static void *run_waiting_batch(void *arg)
{
    struct waiting_batch *w = arg;

    w->rc = pv_purchase_batch(w->e->st, &w->e->ctx, w->q, w->r, 1, PV_NOW_AT_LOCK);
    atomic_store(&w->done, 1);
    return NULL;
}

/* The cap on deferrals (PostgreSQL; issue 15, session 16's HELD_WAIT_ROUNDS): a held job whose
 * intent another transaction keeps holding is deferred by 200 batches in a row, its hold kept
 * and nothing charged; the 201st batch no longer defers it but waits in its own move for the
 * row, as before session 16, and buys with the same hold once the row is let go. */
static void test_held_intent_deferred_200_batches(void **state)
{
    struct denv *e = *state;
    struct pv_purchase_req q;
    struct pv_purchase_res r;
    struct pv_payment card;
    struct pv_store *other;
    struct waiting_batch w;
    pthread_t th;
    int64_t charges;
    int deferred = 0;

    memset(&r, 0, sizeof r);
    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&q, "cus_a", "deferred-200", 0, 0);
    q.pay = card;
    pv_purchase_authorize(e->st, &e->ctx, &q, &r, pv_now());
    assert_int_equal(r.held, 1);
    other = held_elsewhere(r.intent_id, PV_INTENT_AUTHORIZED);
    for (int i = 0; i < 200; i++) {
        assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q, &r, 1, PV_NOW_AT_LOCK), PV_OK);
        if (r.err != PV_EBUSY || !r.refill.deferred)
            break;
        deferred++;
    }
    assert_int_equal(deferred, 200);
    assert_int_equal(r.claimed, 0);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 0);

    /* The 201st waits for the row: still running while the other transaction holds it. */
    memset(&w, 0, sizeof w);
    w.e = e;
    w.q = &q;
    w.r = &r;
    assert_int_equal(pthread_create(&th, NULL, run_waiting_batch, &w), 0);
    nanosleep(&(struct timespec){0, 500 * 1000 * 1000}, NULL);
    assert_int_equal(atomic_load(&w.done), 0);
    let_go(other);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(w.rc, PV_OK);
    assert_int_equal(r.err, PV_OK);
    assert_int_equal(r.refill.deferred, 0);
    intent_is(e, r.intent_id, PV_INTENT_SETTLING);
    pv_purchase_settle(e->st, &e->ctx, &r, 1);
    intent_is(e, r.intent_id, PV_INTENT_CAPTURED);
    assert_int_equal(pv_store_charge_count(e->st, "cus_a", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 1);
    pv_indicium_rec_clear(&r.rec);
    denv_books(e);
}

/* Two processors' batches, each with a round that writes a card's intent, the same card's
 * twin (a retry sent to the other processor): the late batch's round writes it first and waits
 * until the other batch reached its round; the other, one job locking first, writes the twin. */
struct twins {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int late_wrote, first_at_round;
    struct pv_store *st; /* the late batch's */
    struct pv_processor_ctx *ctx;
    struct pv_purchase_req reqs[2];
    struct pv_purchase_res res[2];
    int rc;
    uint8_t twin_written;
};

static int twin_intent(struct pv_store *st, const char *id, uint8_t *done)
{
    struct pv_intent_rec it;

    memset(&it, 0, sizeof it);
    snprintf(it.id, sizeof it.id, "%s", id);
    snprintf(it.kind, sizeof it.kind, "purchase");
    snprintf(it.owner, sizeof it.owner, "cus_a");
    snprintf(it.customer_id, sizeof it.customer_id, "cus_a");
    snprintf(it.client_key, sizeof it.client_key, "twin");
    it.attempt = 1;
    snprintf(it.gateway_key, sizeof it.gateway_key, "purchase:cus_a:twin:1");
    snprintf(it.state, sizeof it.state, "%s", PV_INTENT_PENDING);
    it.amount = 740;
    it.created = it.updated = pv_now_ms();
    return pv_store_intents_insert(st, &it, 1, done);
}

static int late_round(void *arg, struct pv_store *st)
{
    struct twins *t = arg;
    struct timespec until;
    uint8_t done = 0;
    int rc = twin_intent(st, "pi_twin_late", &done);

    pthread_mutex_lock(&t->mu);
    t->late_wrote = 1;
    pthread_cond_broadcast(&t->cv);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    while (!t->first_at_round && pthread_cond_timedwait(&t->cv, &t->mu, &until) == 0)
        ;
    pthread_mutex_unlock(&t->mu);
    return rc != PV_OK ? rc : done ? PV_OK : PV_EINTERNAL;
}

static int first_round(void *arg, struct pv_store *st)
{
    struct twins *t = arg;

    pthread_mutex_lock(&t->mu);
    t->first_at_round = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return twin_intent(st, "pi_twin_first", &t->twin_written); /* waits for the late one */
}

static void *late_batch(void *arg)
{
    struct twins *t = arg;

    t->rc = denv_batch(t->st, t->ctx, t->reqs, t->res, 2, PV_NOW_AT_LOCK);
    return NULL;
}

/* A round runs before its batch waits for the gate, in a batch locking first as in one locking
 * late (issue 15, session 16): had the batch locking first taken the gate and its customers'
 * rows before its round, the late batch would wait for that gate while holding the intent the
 * round waits for - a deadlock PostgreSQL breaks by failing one of the batches. Both buy here,
 * and the twin's intent is the late batch's. */
static void test_rounds_before_the_gate(void **state)
{
    struct denv *e = *state;
    struct twins t;
    struct pv_processor_ctx other;
    struct pv_sign_pool *pool = NULL;
    struct pv_purchase_req q;
    struct pv_purchase_res r;
    struct pv_intent_rec it;
    struct pv_store *st2 = NULL;
    pthread_t th;
    int rc;

    memset(&t, 0, sizeof t);
    assert_int_equal(pthread_mutex_init(&t.mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&t.cv, NULL), 0);
    t.rc = -1;
    t.twin_written = 1;
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK); /* a batch of two locks late */
    e->ctx.sign_pool = pool;
    e->ctx.in_batch = late_round;
    e->ctx.in_batch_arg = &t;
    t.st = e->st;
    t.ctx = &e->ctx;
    denv_letter(&t.reqs[0], "cus_a", "late", 1, 0);
    denv_letter(&t.reqs[1], "cus_a", "late", 2, 0);
    memset(&other, 0, sizeof other);
    other.cm = e->cm;
    other.gws = e->gws;
    snprintf(other.server_id, sizeof other.server_id, "proc-2");
    other.in_batch = first_round;
    other.in_batch_arg = &t;
    assert_int_equal(pv_store_open(denv_dsn, &st2), PV_OK);
    assert_int_equal(pv_processor_load(st2, &other), PV_OK);
    denv_register_and_tick(st2, &other);
    denv_letter(&q, "cus_a", "first", 1, 0);

    assert_int_equal(pthread_create(&th, NULL, late_batch, &t), 0);
    pthread_mutex_lock(&t.mu);
    while (!t.late_wrote)
        pthread_cond_wait(&t.cv, &t.mu);
    pthread_mutex_unlock(&t.mu);
    rc = denv_batch(st2, &other, &q, &r, 1, PV_NOW_AT_LOCK);
    assert_int_equal(pthread_join(th, NULL), 0); /* before any assert: the thread uses e->st */
    assert_int_equal(rc, PV_OK);
    assert_int_equal(t.rc, PV_OK);
    assert_int_equal(t.res[0].err, PV_OK);
    assert_int_equal(t.res[1].err, PV_OK);
    assert_int_equal(t.twin_written, 0); /* the late batch's stood */
    assert_int_equal(pv_store_intent_get(e->st, "pi_twin_late", &it), PV_OK);
    assert_int_equal(pv_store_intent_get(e->st, "pi_twin_first", &it), PV_ENOTFOUND);

    pv_indicium_rec_clear(&t.res[0].rec);
    pv_indicium_rec_clear(&t.res[1].rec);
    pv_indicium_rec_clear(&r.rec);
    e->ctx.in_batch = NULL;
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    pv_processor_ctx_clear(&other);
    pv_store_close(st2);
    pthread_cond_destroy(&t.cv);
    pthread_mutex_destroy(&t.mu);
}

/* The plan PostgreSQL keeps for the claim (INTENTS_CLAIM in src/store/sql.h, copied: the
 * statement is the store's private business): its UPDATE joins only the rows it locked, by id.
 * The kept (generic) plan of the statement before session 17 joined them with the arrays again
 * in a nested loop - every card with every card, 160,000 comparisons for a batch of 400 (a Join
 * Filter) - so two minutes of card purchases made each batch's claim 40 ms. */
static void test_claim_plan_joins_by_id(void **state)
{
    static const char claim[] =
        "PREPARE c(text[], text[], text[], text[], text, text, bigint) AS "
        "WITH t AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) "
        "AS u(i, f, c, r)), l AS (SELECT p.id, t.f, t.c, t.r FROM pay_intents p JOIN t ON "
        "p.id = t.i AND p.state = t.f ORDER BY p.id FOR UPDATE OF p SKIP LOCKED) UPDATE "
        "pay_intents AS p SET state = $5, charge_id = COALESCE(NULLIF(l.c, ''), p.charge_id), "
        "ref = l.r, server_id = $6, updated = $7 FROM l WHERE p.id = l.id AND p.state = l.f "
        "RETURNING p.id; SET plan_cache_mode = force_generic_plan; EXPLAIN (COSTS OFF) EXECUTE "
        "c('{a}', '{pending}', '{}', '{}', 'settling', 'proc-1', 1)";
    char plan[8192];

    (void) state;
    assert_int_equal(pv_test_psql(denv_dsn, claim, plan, sizeof plan), 0);
    /* The signature of the old plan whatever the table's statistics: a filter on a join. */
    assert_null(strstr(plan, "Join Filter"));
}

/* Another processor's late batch (two balance purchases: a batch locking first would wait for
 * the late one at the gate) that spends what a late batch decided on, made once that batch read
 * its customers' balances without a lock (its round ran: the read comes right after, and its
 * claim then waits a second in a trigger). */
struct spender {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int at_round;
    struct pv_store *st;
    struct pv_processor_ctx *ctx;
    struct pv_purchase_req reqs[2];
    struct pv_purchase_res res[2];
    int rc;
};

static int spender_round(void *arg, struct pv_store *st)
{
    struct spender *sp = arg;

    (void) st;
    pthread_mutex_lock(&sp->mu);
    sp->at_round = 1;
    pthread_cond_broadcast(&sp->cv);
    pthread_mutex_unlock(&sp->mu);
    return PV_OK;
}

static void *spend(void *arg)
{
    struct spender *sp = arg;

    pthread_mutex_lock(&sp->mu);
    while (!sp->at_round)
        pthread_cond_wait(&sp->cv, &sp->mu);
    pthread_mutex_unlock(&sp->mu);
    nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
    sp->rc = denv_batch(sp->st, sp->ctx, sp->reqs, sp->res, 2, PV_NOW_AT_LOCK);
    return NULL;
}

/* A late batch undone and run again (PostgreSQL): its card job's hold, claimed in the first
 * run (the intent "settling"), is claimed again in the second - the undo took the move back -
 * and bought once: one charge, the intent captured after the settle; the balance job whose
 * money another processor spent meanwhile is refused in the second run. (Before, only
 * test_pg_concurrency and test_pg_late ran this path, by chance.) */
static void late_undo(struct denv *e, int deferred)
{
    enum { SPENT = 12 };
    struct spender sp;
    struct pv_processor_ctx other;
    struct pv_sign_pool *pool = NULL, *pool2 = NULL;
    struct pv_purchase_req q[3], pre[SPENT];
    struct pv_purchase_res *r = calloc(3 + SPENT, sizeof *r);
    struct pv_store *held = NULL;
    struct pv_payment card;
    uint64_t retries;
    int64_t charges;
    pthread_t th;
    size_t n = deferred ? 3 : 2;
    int rc, status = -1;

    assert_non_null(r);
    /* cus_a keeps $11.20: one letter more, not two. */
    for (int i = 0; i < SPENT; i++)
        denv_letter(&pre[i], "cus_a", "before", i, 0);
    assert_int_equal(denv_batch(e->st, &e->ctx, pre, r + 3, SPENT, PV_NOW_AT_LOCK), PV_OK);
    for (int i = 0; i < SPENT; i++) {
        assert_int_equal(r[3 + i].err, PV_OK);
        pv_indicium_rec_clear(&r[3 + i].rec);
    }
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000 - SPENT * 740);
    assert_int_equal(
        pv_test_psql(denv_dsn,
                     "CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN "
                     "IF NEW.state = ''settling'' AND NEW.client_key LIKE ''undo-card%'' THEN "
                     "PERFORM pg_sleep(1); END IF; RETURN NEW; END'; "
                     "CREATE TRIGGER slow_claim BEFORE UPDATE ON pay_intents FOR EACH ROW "
                     "EXECUTE FUNCTION slow_claim()",
                     NULL, 0),
        0);

    memset(&sp, 0, sizeof sp);
    assert_int_equal(pthread_mutex_init(&sp.mu, NULL), 0);
    assert_int_equal(pthread_cond_init(&sp.cv, NULL), 0);
    memset(&other, 0, sizeof other);
    other.cm = e->cm;
    other.gws = e->gws;
    snprintf(other.server_id, sizeof other.server_id, "proc-2");
    assert_int_equal(pv_store_open(denv_dsn, &sp.st), PV_OK);
    assert_int_equal(pv_processor_load(sp.st, &other), PV_OK);
    denv_register_and_tick(sp.st, &other);
    /* The PSDs shared out: this processor gives one up, the other takes it. */
    assert_int_equal(pv_processor_tick(e->st, &e->ctx, pv_now_ms(), &status), PV_OK);
    assert_int_equal(pv_processor_tick(sp.st, &other, pv_now_ms(), &status), PV_OK);
    sp.ctx = &other;
    assert_int_equal(pv_sign_pool_new(1, &pool2), PV_OK);
    other.sign_pool = pool2;
    denv_letter(&sp.reqs[0], "cus_a", "spend", 1, 0);
    denv_letter(&sp.reqs[1], "cus_a", "spend", 2, 0);
    sp.rc = -1;

    denv_card(e, 0, "4242424242424242", &card);
    denv_letter(&q[0], "cus_b", "undo-card", 1, 0);
    q[0].pay = card;
    pv_purchase_authorize(e->st, &e->ctx, &q[0], &r[0], pv_now());
    assert_int_equal(r[0].held, 1);
    denv_letter(&q[1], "cus_a", "undo-balance", 1, 0);
    if (deferred) { /* a third job: a held card whose intent another transaction holds */
        denv_letter(&q[2], "cus_b", "undo-deferred", 1, 0);
        q[2].pay = card;
        pv_purchase_authorize(e->st, &e->ctx, &q[2], &r[2], pv_now());
        assert_int_equal(r[2].held, 1);
        held = held_elsewhere(r[2].intent_id, PV_INTENT_AUTHORIZED);
    }
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK); /* a batch of two locks late */
    e->ctx.sign_pool = pool;
    e->ctx.in_batch = spender_round;
    e->ctx.in_batch_arg = &sp;
    retries = e->ctx.late_retries;

    assert_int_equal(pthread_create(&th, NULL, spend, &sp), 0);
    rc = pv_purchase_batch(e->st, &e->ctx, q, r, n, PV_NOW_AT_LOCK);
    assert_int_equal(pthread_join(th, NULL), 0); /* before any assert: the thread uses sp.st */
    e->ctx.in_batch = NULL;
    assert_int_equal(rc, PV_OK);
    assert_int_equal(sp.rc, PV_OK);
    assert_int_equal(sp.res[0].err, PV_OK); /* it spent first: $3.80 left */
    assert_int_equal(sp.res[1].err, PV_EFUNDS);
    assert_int_equal(e->ctx.late_retries - retries, 1); /* undone once, run again */
    assert_int_equal(r[0].err, PV_OK);
    assert_int_equal(r[0].claimed, 1);
    assert_int_equal(r[1].err, PV_EFUNDS);
    intent_is(e, r[0].intent_id, PV_INTENT_SETTLING);
    assert_int_equal(pv_store_charge_count(e->st, "cus_b", "purchase", &charges), PV_OK);
    assert_int_equal(charges, 1);
    if (deferred) {
        /* Deferred in both runs, its hold kept through the undo: nothing charged, nothing
         * voided; bought with the same hold by the next batch once the row is free. */
        assert_int_equal(r[2].err, PV_EBUSY);
        assert_int_equal(r[2].refill.deferred, 1);
        assert_int_equal(r[2].claimed, 0);
        assert_int_equal(r[2].held, 1);
        /* The undone run's deferral went back with everything else it did: one batch counts
         * towards the cap of 200. */
        assert_int_equal(r[2].refill.rounds, 1);
    }
    pv_purchase_settle(e->st, &e->ctx, r, n);
    intent_is(e, r[0].intent_id, PV_INTENT_CAPTURED);
    assert_int_equal(denv_balance(e, "customer:cus_a"), 10000 - (SPENT + 1) * 740);
    if (deferred) {
        intent_is(e, r[2].intent_id, PV_INTENT_AUTHORIZED);
        let_go(held);
        e->ctx.sign_pool = NULL; /* one job: a batch locking first */
        assert_int_equal(pv_purchase_batch(e->st, &e->ctx, &q[2], &r[2], 1, PV_NOW_AT_LOCK), PV_OK);
        assert_int_equal(r[2].err, PV_OK);
        assert_int_equal(r[2].claimed, 1);
        pv_purchase_settle(e->st, &e->ctx, &r[2], 1);
        intent_is(e, r[2].intent_id, PV_INTENT_CAPTURED);
        assert_int_equal(pv_store_charge_count(e->st, "cus_b", "purchase", &charges), PV_OK);
        assert_int_equal(charges, 2);
        pv_indicium_rec_clear(&r[2].rec);
    }

    assert_int_equal(pv_test_psql(denv_dsn, "DROP TRIGGER slow_claim ON pay_intents", NULL, 0), 0);
    pv_indicium_rec_clear(&r[0].rec);
    pv_indicium_rec_clear(&sp.res[0].rec);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    other.sign_pool = NULL;
    pv_sign_pool_free(pool2);
    pv_processor_ctx_clear(&other);
    pv_store_close(sp.st);
    pthread_cond_destroy(&sp.cv);
    pthread_mutex_destroy(&sp.mu);
    free(r);
    denv_books(e);
}

static void test_claim_again_after_late_undo(void **state)
{
    late_undo(*state, 0);
}

/* The same late batch with a third job, a held card whose intent another transaction holds
 * (issue 15, session 16's deferral): deferred, the batch undone and run again, deferred again -
 * the undo neither voids nor claims its hold, and the undone run's deferral is not counted - and
 * bought by a later batch once the row is free (session 16 left this case without a test). */
static void test_deferred_job_through_late_undo(void **state)
{
    late_undo(*state, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_card_through_its_rounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_whose_transaction_went, setup, teardown),
        cmocka_unit_test_setup_teardown(test_committed_card_answered_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_end_states_together, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_purchase_statements, setup, teardown),
        cmocka_unit_test_setup_teardown(test_card_retry_replays_before_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_intent_writes_build_fewer_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_claimed_holds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_balance_under_a_held_cards_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_twin_of_a_claimed_card, setup, teardown),
    };

    const struct CMUnitTest on_pg[] = {
        cmocka_unit_test_setup_teardown(test_claimed_holds, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_claimed_hold_of_a_replay, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_rounds_before_the_gate, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_held_intent_held_elsewhere, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_held_intent_held_elsewhere_late, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_held_intent_deferred_200_batches, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_end_states_by_the_settler, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_failed_round_hands_its_end_states_over, setup_pg,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claim_again_after_late_undo, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_job_through_late_undo, setup_pg, teardown),
        cmocka_unit_test_setup_teardown(test_claim_plan_joins_by_id, setup_pg, teardown),
    };
    int failed = cmocka_run_group_tests_name("cardpay (sqlite)", tests, NULL, NULL);

    if (getenv("STAMPD_TEST_PG_DSN_FILE"))
        failed += cmocka_run_group_tests_name("cardpay (postgres)", on_pg, NULL, NULL);
    return failed ? 1 : 0;
}
