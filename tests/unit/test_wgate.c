/*
 * test_wgate.c - the SQLite driver's writers' gate (src/store/wgate.c): one in
 * at a time, a timeout, and the checkpointer's wait ahead of the writers,
 * including the writer that leaves and asks again at once (session 23: it
 * kept the checkpointer waiting batch after batch).
 */
#include "store/wgate.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

static void nap(void)
{
    struct timespec ts = {0, 1000000L}; /* 1 ms */

    nanosleep(&ts, NULL);
}

/* Wait until n threads wait at g. */
static void until_waiting(struct pv_wgate *g, int n)
{
    for (int i = 0; i < 10000 && pv_wgate_waiting(g) < n; i++)
        nap();
    assert_int_equal(pv_wgate_waiting(g), n);
}

struct waiter {
    struct pv_wgate *g;
    int first;
    int rc;
    int *order; /* its turn, from next */
    int *next;
};

static void *wait_then_leave(void *arg)
{
    struct waiter *w = arg;

    w->rc = pv_wgate_enter(w->g, w->first, 10000);
    if (w->rc == 0) {
        *w->order = (*w->next)++; /* under the gate */
        pv_wgate_leave(w->g);
    }
    return NULL;
}

static void test_one_at_a_time_and_timeout(void **state)
{
    struct pv_wgate g;

    (void) state;
    assert_int_equal(pv_wgate_init(&g), 0);
    assert_int_equal(pv_wgate_enter(&g, 0, 1000), 0);
    /* Held: another entry gives up after its timeout. */
    assert_int_equal(pv_wgate_enter(&g, 0, 20), ETIMEDOUT);
    assert_int_equal(pv_wgate_enter(&g, 1, 20), ETIMEDOUT);
    assert_int_equal(pv_wgate_waiting(&g), 0);
    pv_wgate_leave(&g);
    assert_int_equal(pv_wgate_enter(&g, 0, 20), 0);
    pv_wgate_leave(&g);
    pv_wgate_destroy(&g);
}

/* A writer that leaves and asks again at once waits for the checkpointer already
 * waiting; a writer that came after the checkpointer goes after it too. */
static void test_first_goes_before_writers(void **state)
{
    struct pv_wgate g;
    pthread_t ck, wr;
    int next = 1, ck_turn = 0, wr_turn = 0, mine;
    struct waiter c = {&g, 1, -1, &ck_turn, &next}, w = {&g, 0, -1, &wr_turn, &next};

    (void) state;
    assert_int_equal(pv_wgate_init(&g), 0);
    assert_int_equal(pv_wgate_enter(&g, 0, 1000), 0);
    assert_int_equal(pthread_create(&ck, NULL, wait_then_leave, &c), 0);
    until_waiting(&g, 1);
    assert_int_equal(pthread_create(&wr, NULL, wait_then_leave, &w), 0);
    until_waiting(&g, 2);
    /* Leave and ask again at once, as the processor's writer does between batches. */
    pv_wgate_leave(&g);
    assert_int_equal(pv_wgate_enter(&g, 0, 10000), 0);
    mine = next++;
    pv_wgate_leave(&g);
    assert_int_equal(pthread_join(ck, NULL), 0);
    assert_int_equal(pthread_join(wr, NULL), 0);
    assert_int_equal(c.rc, 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(ck_turn, 1); /* the checkpointer first */
    assert_true(mine > 1 && wr_turn > 1);
    pv_wgate_destroy(&g);
}

/* A checkpointer that gives up leaves the order as it was: the writer waiting goes next. */
static void test_first_that_gives_up(void **state)
{
    struct pv_wgate g;
    pthread_t wr;
    int next = 1, wr_turn = 0;
    struct waiter w = {&g, 0, -1, &wr_turn, &next};

    (void) state;
    assert_int_equal(pv_wgate_init(&g), 0);
    assert_int_equal(pv_wgate_enter(&g, 0, 1000), 0);
    assert_int_equal(pthread_create(&wr, NULL, wait_then_leave, &w), 0);
    until_waiting(&g, 1);
    assert_int_equal(pv_wgate_enter(&g, 1, 30), ETIMEDOUT); /* held all along */
    pv_wgate_leave(&g);
    assert_int_equal(pthread_join(wr, NULL), 0);
    assert_int_equal(w.rc, 0);
    assert_int_equal(wr_turn, 1);
    pv_wgate_destroy(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_at_a_time_and_timeout),
        cmocka_unit_test(test_first_goes_before_writers),
        cmocka_unit_test(test_first_that_gives_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
