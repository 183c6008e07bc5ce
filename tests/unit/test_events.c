/*
 * test_events.c - webhook events (src/domain/events.c, src/store/hooks.c):
 * the signature against `openssl dgst -sha256 -hmac` on the command line,
 * the retry schedule, the URL and address rules, and the outbox on SQLite
 * and then on PostgreSQL (a fresh database of the CTest fixture's cluster
 * per test, as test_lifecycle does): events only for subscribed, enabled
 * endpoints of the account's mode; an event rolls back with its
 * transaction; one claim wins, a lost lease records nothing, an expired
 * lease is claimed again; redelivery and deletion; a purchase writes
 * indicium.created and balance.low in its own commit and a refused one
 * writes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "domain_env.h"

#include "crypto/signpool.h"
#include "domain/events.h"
#include "stampd/timeutil.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

static int on_postgres; /* the second pass */

/* ---- pure ------------------------------------------------------------------------------------ */

/* The signature of body at t under secret, as the shell example of docs/webhooks.md computes it. */
static void openssl_sig(const char *secret, int64_t t, const char *body, char *out, size_t n)
{
    const char *tmp = getenv("STAMPD_TEST_TMP");
    char path[512], cmd[1200];
    FILE *f;

    snprintf(path, sizeof path, "%s/events-body-XXXXXX", tmp ? tmp : "/tmp");
    mkdir(tmp ? tmp : "/tmp", 0700);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_non_null(f = fdopen(fd, "w"));
    fprintf(f, "%lld.%s", (long long) t, body);
    fclose(f);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -hmac '%s' -r '%s'", secret, path);
    assert_non_null(f = popen(cmd, "r"));
    assert_non_null(fgets(out, (int) n, f));
    assert_int_equal(pclose(f), 0);
    unlink(path);
    out[strcspn(out, " \n")] = '\0';
}

static void test_sign_matches_openssl(void **state)
{
    const char *secret = "whsec_5f0c1e8e3d0b4c7a9e2f6a1b8c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f";
    const char *body = "{\"id\":\"evt_1\",\"object\":\"event\",\"type\":\"webhook.test\"}";
    char sig[PV_HOOK_SIG_MAX], want[200], expect[256];

    (void) state;
    assert_int_equal(pv_hook_sign(secret, 1796419822, body, strlen(body), sig), PV_OK);
    openssl_sig(secret, 1796419822, body, want, sizeof want);
    assert_int_equal(strlen(want), 64);
    snprintf(expect, sizeof expect, "t=1796419822,v1=%s", want);
    assert_string_equal(sig, expect);
    /* Another secret, another body: another signature. */
    assert_int_equal(pv_hook_sign("whsec_other", 1796419822, body, strlen(body), want), PV_OK);
    assert_string_not_equal(sig, want);
    assert_int_equal(pv_hook_sign(secret, 1796419822, "{}", 2, want), PV_OK);
    assert_string_not_equal(sig, want);
    assert_int_equal(pv_hook_sign("", 1, "{}", 2, want), PV_EINVAL);
}

static void test_secret_shape(void **state)
{
    char a[PV_HOOK_SECRET_MAX], b[PV_HOOK_SECRET_MAX];

    (void) state;
    assert_int_equal(pv_hook_secret_new(a), PV_OK);
    assert_int_equal(pv_hook_secret_new(b), PV_OK);
    assert_int_equal(strlen(a), 6 + 64);
    assert_memory_equal(a, "whsec_", 6);
    assert_int_equal(strspn(a + 6, "0123456789abcdef"), 64);
    assert_string_not_equal(a, b);
}

static void test_backoff_schedule(void **state)
{
    /* rnd % 41 == 20: exactly 100 %. */
    const uint32_t mid = 20, low = 0, high = 40;
    int64_t prev = 0, total = 0;
    int n;

    (void) state;
    assert_int_equal(pv_hook_backoff_ms(1, 30000, mid), 30000);
    assert_int_equal(pv_hook_backoff_ms(2, 30000, mid), 60000);
    assert_int_equal(pv_hook_backoff_ms(3, 30000, mid), 120000);
    assert_int_equal(pv_hook_backoff_ms(10, 30000, mid), 30000LL * 512); /* 4 h 16 min */
    assert_int_equal(pv_hook_backoff_ms(11, 30000, mid), 6LL * 3600000); /* capped */
    assert_int_equal(pv_hook_backoff_ms(60, 30000, mid), 6LL * 3600000);
    assert_int_equal(pv_hook_backoff_ms(1, 30000, low), 24000);  /* 80 % */
    assert_int_equal(pv_hook_backoff_ms(1, 30000, high), 36000); /* 120 % */
    assert_int_equal(pv_hook_backoff_ms(1000000, 30000, high), 6LL * 3600000 * 12 / 10);
    for (n = 1; n < 40; n++) {
        int64_t d = pv_hook_backoff_ms(n, 30000, mid);
        assert_true(d >= prev);
        prev = d;
    }
    /* The defaults: about 20 attempts in the 3-day window. */
    for (n = 1; total < PV_HOOK_WINDOW_S_DEFAULT * 1000; n++)
        total += pv_hook_backoff_ms(n, PV_HOOK_BASE_MS_DEFAULT, mid);
    assert_in_range(n, 15, 25);
}

static void test_url_check(void **state)
{
    static const char *const good[] = {"https://shop.example.com/hooks",
                                       "https://shop.example:8443",
                                       "https://[2001:db8::1]:443/x?y=1", "https://1.2.3.4/a"};
    static const char *const bad[] = {"",
                                      "ftp://example.com/",
                                      "http://example.com/",
                                      "https://user@example.com/",
                                      "https://a b/",
                                      "https://example.com/#frag",
                                      "https://:443/",
                                      "https://example.com:0/",
                                      "https://example.com:99999/",
                                      "https://example.com:/",
                                      "https://[::1/",
                                      "https://ex_ample/",
                                      "https://example.com\x01/"};
    char why[160], host[256];
    int port;

    (void) state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_int_equal(pv_hook_url_check(good[i], 0, why, host, &port), PV_OK);
    assert_int_equal(pv_hook_url_check("https://[2001:db8::1]:444/x", 0, why, host, &port), PV_OK);
    assert_string_equal(host, "2001:db8::1");
    assert_int_equal(port, 444);
    assert_int_equal(pv_hook_url_check("http://127.0.0.1:9/x", 1, why, host, &port), PV_OK);
    assert_int_equal(port, 9);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(pv_hook_url_check(bad[i], 0, why, host, &port), PV_EWEBHOOKURL);
        assert_true(why[0] != '\0');
    }
}

static int private4(const char *s)
{
    unsigned char a[4];

    assert_int_equal(inet_pton(AF_INET, s, a), 1);
    return pv_hook_addr_private(AF_INET, a);
}

static int private6(const char *s)
{
    unsigned char a[16];

    assert_int_equal(inet_pton(AF_INET6, s, a), 1);
    return pv_hook_addr_private(AF_INET6, a);
}

static void test_private_addresses(void **state)
{
    static const char *const priv4[] = {
        "10.0.0.1",   "172.16.0.1", "172.31.255.255",  "192.168.1.1", "169.254.169.254", "0.0.0.0",
        "100.64.0.1", "224.0.0.1",  "255.255.255.255", "198.18.0.1",  "192.0.0.8"};
    static const char *const pub4[] = {"8.8.8.8",     "172.32.0.1",  "172.15.0.1",
                                       "100.128.0.1", "192.169.0.1", "1.1.1.1"};
    static const char *const priv6[] = {
        "fd00::1", "fc00::1",     "fe80::1",         "::",
        "ff02::1", "2001:db8::1", "::ffff:10.1.2.3", "64:ff9b::a00:1"};

    (void) state;
    for (size_t i = 0; i < sizeof priv4 / sizeof priv4[0]; i++)
        assert_int_equal(private4(priv4[i]), 1);
    for (size_t i = 0; i < sizeof pub4 / sizeof pub4[0]; i++)
        assert_int_equal(private4(pub4[i]), 0);
    for (size_t i = 0; i < sizeof priv6 / sizeof priv6[0]; i++)
        assert_int_equal(private6(priv6[i]), 1);
    assert_int_equal(private6("2606:4700::1111"), 0);
    /* Loopback is its own answer: debug builds allow it. */
    assert_int_equal(private4("127.0.0.1"), 2);
    assert_int_equal(private4("127.8.9.10"), 2);
    assert_int_equal(private6("::1"), 2);
    assert_int_equal(private6("::ffff:127.0.0.1"), 2);
}

/* ---- the outbox, on both databases ---------------------------------------------------------- */

static int setup(void **state)
{
    denv_dsn[0] = '\0';
    if (on_postgres)
        denv_pg_fresh();
    *state = denv_open("events");
    return 0;
}

static int teardown(void **state)
{
    denv_close(*state);
    return 0;
}

static void endpoint(struct denv *e, const char *id, const char *owner, int test,
                     const char *events, int enabled)
{
    struct pv_hook_endpoint_rec ep;

    memset(&ep, 0, sizeof ep);
    snprintf(ep.id, sizeof ep.id, "%s", id);
    snprintf(ep.owner_id, sizeof ep.owner_id, "%s", owner);
    ep.test = test;
    snprintf(ep.url, sizeof ep.url, "https://shop.example/%s", id);
    snprintf(ep.events, sizeof ep.events, "%s", events);
    ep.enabled = enabled;
    assert_int_equal(pv_hook_secret_new(ep.secret), PV_OK);
    ep.created = ep.updated = pv_now();
    assert_int_equal(pv_store_hook_endpoint_insert(e->st, &ep), PV_OK);
}

/* pv_event_emit in a transaction of its own; the event id ("" when none). */
static void emit(struct denv *e, const char *owner, int test, const char *type, char *id)
{
    json_t *data = json_pack("{s:s}", "object", "thing");

    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_event_emit(e->st, owner, test, type, data, pv_now(), id), PV_OK);
    assert_int_equal(pv_store_commit(e->st), PV_OK);
    json_decref(data);
}

static size_t count_events(struct denv *e, const char *owner, int test, const char *type)
{
    struct pv_hook_event_rec *evs = NULL;
    size_t n = 0;

    assert_int_equal(pv_store_hook_event_list(e->st, owner, test, type, NULL, 100, &evs, &n),
                     PV_OK);
    pv_store_hook_events_free(evs, n);
    return n;
}

static size_t count_due(struct denv *e, int64_t now_ms)
{
    int64_t *due = NULL;
    size_t n = 0;

    assert_int_equal(pv_store_hook_delivery_due(e->st, now_ms, 100, &due, &n), PV_OK);
    free(due);
    return n;
}

static void test_only_for_subscribers(void **state)
{
    struct denv *e = *state;
    char id[PV_ID_MAX];
    int yes;

    /* Nobody subscribed: nothing written. */
    emit(e, "cus_a", 0, PV_EVENT_INDICIUM_CREATED, id);
    assert_string_equal(id, "");
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 0);
    endpoint(e, "we_funds", "cus_a", 0, ",funds.added,balance.low,", 1);
    endpoint(e, "we_off", "cus_a", 0, "*", 0);
    endpoint(e, "we_test", "cus_a", 1, "*", 1);
    endpoint(e, "we_b", "cus_b", 0, "*", 1);
    assert_int_equal(pv_event_wanted(e->st, "cus_a", 0, PV_EVENT_INDICIUM_CREATED, &yes), PV_OK);
    assert_false(yes);
    emit(e, "cus_a", 0, PV_EVENT_INDICIUM_CREATED, id);
    assert_string_equal(id, "");
    /* "auto_refill.failed"'s underscore matches only itself. */
    emit(e, "cus_a", 0, PV_EVENT_AUTO_REFILL_FAILED, id);
    assert_string_equal(id, "");
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 0);
    emit(e, "cus_a", 0, PV_EVENT_FUNDS_ADDED, id);
    assert_memory_equal(id, "evt_", 4);
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 1);
    assert_int_equal(count_events(e, "cus_a", 1, NULL), 0); /* the test world saw nothing */
    assert_int_equal(count_due(e, pv_now_ms()), 1);         /* to we_funds only */
    /* The test world: its own endpoint, "*". */
    emit(e, "cus_a", 1, PV_EVENT_INDICIUM_CREATED, id);
    assert_int_equal(count_events(e, "cus_a", 1, NULL), 1);
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 1);
    assert_int_equal(count_events(e, "cus_a", 1, PV_EVENT_FUNDS_ADDED), 0);
    assert_int_equal(count_due(e, pv_now_ms()), 2);
    /* Unknown types, a missing owner, data that is no object: refused. */
    {
        json_t *arr = json_array();
        assert_int_equal(pv_event_emit(e->st, "cus_a", 0, "nope", arr, pv_now(), id), PV_EINVAL);
        assert_int_equal(pv_event_emit(e->st, "cus_a", 0, PV_EVENT_FUNDS_ADDED, arr, pv_now(), id),
                         PV_EINVAL);
        assert_int_equal(pv_event_emit(e->st, "", 0, PV_EVENT_FUNDS_ADDED, arr, pv_now(), id),
                         PV_EINVAL);
        json_decref(arr);
    }
}

static void test_event_rolls_back_with_its_transaction(void **state)
{
    struct denv *e = *state;
    json_t *data = json_pack("{s:s}", "object", "thing");
    char id[PV_ID_MAX];

    endpoint(e, "we_1", "cus_a", 0, "*", 1);
    assert_int_equal(pv_store_begin(e->st), PV_OK);
    assert_int_equal(pv_event_emit(e->st, "cus_a", 0, PV_EVENT_FUNDS_ADDED, data, pv_now(), id),
                     PV_OK);
    assert_memory_equal(id, "evt_", 4);
    pv_store_rollback(e->st);
    json_decref(data);
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 0);
    assert_int_equal(count_due(e, pv_now_ms()), 0);
}

static void test_one_claim_wins_and_leases_run_out(void **state)
{
    struct denv *e = *state;
    struct pv_store *other = denv_reader(e);
    struct pv_hook_delivery_rec d, d2;
    struct pv_hook_attempt_rec a, *log = NULL;
    int64_t *due = NULL, now = pv_now_ms();
    char id[PV_ID_MAX];
    size_t n = 0;

    endpoint(e, "we_1", "cus_a", 0, "*", 1);
    emit(e, "cus_a", 0, PV_EVENT_FUNDS_ADDED, id);
    assert_int_equal(pv_store_hook_delivery_due(e->st, now, 10, &due, &n), PV_OK);
    assert_int_equal(n, 1);
    assert_int_equal(pv_store_hook_delivery_claim(e->st, due[0], "w1", now, now + 1000, &d), PV_OK);
    assert_string_equal(d.event_id, id);
    assert_string_equal(d.endpoint_id, "we_1");
    assert_int_equal(d.attempts, 0);
    /* The other worker (another connection) cannot have it, nor finish it. */
    assert_int_equal(pv_store_hook_delivery_claim(other, due[0], "w2", now, now + 1000, &d2),
                     PV_EBUSY);
    assert_int_equal(count_due(e, now), 0);
    memset(&a, 0, sizeof a);
    a.attempt = 1;
    a.at = now / 1000;
    a.outcome = PV_HOOK_PENDING;
    snprintf(a.error, sizeof a.error, "HTTP 500");
    a.status_code = 500;
    d2 = d;
    d2.attempts = 1;
    d2.next_at = now + 5000;
    assert_int_equal(pv_store_hook_delivery_finish(other, &d2, "w2", &a), PV_EBUSY);
    /* Its lease ran out: the other takes it; the first one's late outcome is not recorded. */
    assert_int_equal(pv_store_hook_delivery_claim(other, due[0], "w2", now + 1001, now + 5000, &d2),
                     PV_OK);
    d.attempts = 1;
    d.next_at = now + 5000;
    assert_int_equal(pv_store_hook_delivery_finish(e->st, &d, "w1", &a), PV_EBUSY);
    d2.attempts = 1;
    d2.status = PV_HOOK_DELIVERED;
    d2.last_code = 200;
    a.status_code = 200;
    a.error[0] = '\0';
    a.outcome = PV_HOOK_DELIVERED;
    snprintf(a.response, sizeof a.response, "ok");
    assert_int_equal(pv_store_hook_delivery_finish(other, &d2, "w2", &a), PV_OK);
    assert_int_equal(count_due(e, now + 100000), 0);
    assert_int_equal(pv_store_hook_attempt_list(e->st, "we_1", 0, 10, &log, &n), PV_OK);
    assert_int_equal(n, 1); /* the lost lease wrote no attempt */
    assert_string_equal(log[0].event_id, id);
    assert_string_equal(log[0].event_type, PV_EVENT_FUNDS_ADDED);
    assert_int_equal(log[0].status_code, 200);
    assert_int_equal(log[0].outcome, PV_HOOK_DELIVERED);
    assert_string_equal(log[0].response, "ok");
    free(log);
    free(due);
    pv_store_close(other);
}

static void test_retry_redeliver_and_delete(void **state)
{
    struct denv *e = *state;
    struct pv_hook_delivery_rec d;
    struct pv_hook_attempt_rec a;
    int64_t *due = NULL, now = pv_now_ms(), changed;
    char id[PV_ID_MAX];
    size_t n = 0;

    endpoint(e, "we_1", "cus_a", 0, "*", 1);
    emit(e, "cus_a", 0, PV_EVENT_BALANCE_LOW, id);
    assert_int_equal(pv_store_hook_delivery_due(e->st, now, 10, &due, &n), PV_OK);
    assert_int_equal(pv_store_hook_delivery_claim(e->st, due[0], "w1", now, now + 1000, &d), PV_OK);
    memset(&a, 0, sizeof a);
    a.attempt = 1;
    a.at = now / 1000;
    d.attempts = 1;
    d.status = PV_HOOK_PENDING;
    d.next_at = now + 60000; /* a retry in a minute */
    assert_int_equal(pv_store_hook_delivery_finish(e->st, &d, "w1", &a), PV_OK);
    assert_int_equal(count_due(e, now + 59000), 0);
    assert_int_equal(count_due(e, now + 60000), 1);
    /* Failed for good, then sent again on request. */
    assert_int_equal(
        pv_store_hook_delivery_claim(e->st, due[0], "w1", now + 60000, now + 61000, &d), PV_OK);
    d.attempts = 2;
    d.status = PV_HOOK_FAILED;
    a.attempt = 2;
    a.outcome = PV_HOOK_FAILED;
    assert_int_equal(pv_store_hook_delivery_finish(e->st, &d, "w1", &a), PV_OK);
    assert_int_equal(count_due(e, now + 10000000), 0);
    /* Another account cannot redeliver it. */
    assert_int_equal(pv_store_hook_delivery_redeliver(e->st, "cus_b", 0, id, 0, now, &changed),
                     PV_OK);
    assert_int_equal(changed, 0);
    assert_int_equal(pv_store_hook_delivery_redeliver(e->st, "cus_a", 0, id, 0, now, &changed),
                     PV_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(count_due(e, now), 1);
    /* Deleting the endpoint fails what is pending for it. */
    assert_int_equal(pv_store_hook_endpoint_delete(e->st, "cus_b", 0, "we_1", now), PV_ENOTFOUND);
    assert_int_equal(pv_store_hook_endpoint_delete(e->st, "cus_a", 1, "we_1", now), PV_ENOTFOUND);
    assert_int_equal(pv_store_hook_endpoint_delete(e->st, "cus_a", 0, "we_1", now), PV_OK);
    assert_int_equal(count_due(e, now + 10000000), 0);
    assert_int_equal(count_events(e, "cus_a", 0, NULL), 1); /* the event stays */
    free(due);
}

static void test_purchase_writes_its_events(void **state)
{
    struct denv *e = *state;
    struct pv_store *r = denv_reader(e);
    struct pv_hook_event_rec *evs = NULL;
    struct pv_purchase_req q;
    struct pv_purchase_res *res = calloc(1, sizeof *res);
    struct pv_indicium_rec rec;
    size_t n = 0;
    json_t *j;

    assert_non_null(res);
    endpoint(e, "we_a", "cus_a", 0, ",indicium.created,balance.low,", 1);
    endpoint(e, "we_b", "cus_b", 0, "*", 1);
    /* cus_a has 10.00: the first letter takes it under the default line of 10.00. */
    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(pv_store_hook_event_list(r, "cus_a", 0, NULL, NULL, 10, &evs, &n), PV_OK);
    assert_int_equal(n, 2);
    assert_string_equal(evs[0].type, PV_EVENT_BALANCE_LOW);
    assert_string_equal(evs[1].type, PV_EVENT_INDICIUM_CREATED);
    assert_non_null(j = pv_event_json(&evs[1]));
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(j, "data"), "object"), "id")),
                        rec.id);
    assert_true(json_is_true(json_object_get(j, "livemode")));
    json_decref(j);
    assert_non_null(j = pv_event_json(&evs[0]));
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(json_object_get(j, "data"), "object"), "balance_mills")),
                     10000 - 740);
    json_decref(j);
    pv_store_hook_events_free(evs, n);
    /* Once per crossing: the second letter is still under the line, no new balance.low. */
    denv_buy(e, "cus_a", 0, &rec);
    assert_int_equal(count_events(e, "cus_a", 0, PV_EVENT_BALANCE_LOW), 1);
    assert_int_equal(count_events(e, "cus_a", 0, PV_EVENT_INDICIUM_CREATED), 2);
    /* A refused purchase (cus_b has 0.50) reports nothing. */
    denv_letter(&q, "cus_b", "poor", 1, 0);
    assert_int_equal(denv_batch(e->st, &e->ctx, &q, res, 1, PV_NOW_AT_LOCK), PV_OK);
    assert_int_equal(res->err, PV_EFUNDS);
    assert_int_equal(count_events(e, "cus_b", 0, NULL), 0);
    free(res);
    pv_store_close(r);
    denv_books(e);
}

/* pv_store_hook_owners when no endpoint is enabled (on SQLite its statement then builds
 * nothing: issue 15, session 12), and when the only enabled one is another owner's. */
static void test_hook_owners_none_enabled(void **state)
{
    struct denv *e = *state;
    static const char *const owners[] = {"cus_a", "cus_b", "cus_a"};
    uint8_t has[3];

    memset(has, 9, sizeof has);
    assert_int_equal(pv_store_hook_owners(e->st, owners, 3, has), PV_OK); /* no endpoint */
    assert_int_equal(has[0] + has[1] + has[2], 0);
    endpoint(e, "we_a", "cus_a", 0, "*", 0); /* disabled */
    memset(has, 9, sizeof has);
    assert_int_equal(pv_store_hook_owners(e->st, owners, 3, has), PV_OK);
    assert_int_equal(has[0] + has[1] + has[2], 0);
    endpoint(e, "we_z", "cus_zz", 0, "*", 1);
    assert_int_equal(pv_store_hook_owners(e->st, owners, 3, has), PV_OK);
    assert_int_equal(has[0] + has[1] + has[2], 0);
    endpoint(e, "we_b", "cus_b", 1, "*", 1);
    assert_int_equal(pv_store_hook_owners(e->st, owners, 3, has), PV_OK);
    assert_int_equal(has[0], 0);
    assert_int_equal(has[1], 2);
    assert_int_equal(has[2], 0);
}

/* A batch signed on a pool reads its customers' endpoints once
 * (pv_store_hook_owners, purchase.c's hooks_known): only the customers with
 * an endpoint in the purchase's mode get events, and each piece its own. */
static void test_batch_reads_endpoints_once(void **state)
{
    struct denv *e = *state;
    static const char *const owners[] = {"cus_a", "cus_b", "cus_a", "cus_zz", "cus_t"};
    const char *bad[] = {"cus_a", "x\"y"};
    struct pv_sign_pool *pool = NULL;
    struct pv_purchase_req q[4];
    struct pv_purchase_res *res = calloc(4, sizeof *res);
    uint8_t has[5];
    size_t i;

    assert_non_null(res);
    endpoint(e, "we_a", "cus_a", 0, ",indicium.created,", 1);
    endpoint(e, "we_b", "cus_b", 0, "*", 0); /* disabled */
    endpoint(e, "we_t", "cus_t", 1, "*", 1); /* test mode only */
    assert_int_equal(pv_store_hook_owners(e->st, owners, 5, has), PV_OK);
    assert_int_equal(has[0], 1);
    assert_int_equal(has[1], 0);
    assert_int_equal(has[2], 1);
    assert_int_equal(has[3], 0);
    assert_int_equal(has[4], 2);
    assert_int_equal(pv_store_hook_owners(e->st, bad, 2, has), PV_EINVAL);
    assert_int_equal(pv_store_hook_owners(e->st, NULL, 0, NULL), PV_OK);

    denv_post(e->st, PV_ACCT_FUNDING, "customer:cus_b", 5000);
    assert_int_equal(pv_sign_pool_new(1, &pool), PV_OK);
    e->ctx.sign_pool = pool;
    denv_letter(&q[0], "cus_a", "bo", 1, 0);
    denv_letter(&q[1], "cus_b", "bo", 2, 0);
    denv_letter(&q[2], "cus_a", "bo", 3, 0);
    denv_letter(&q[3], "cus_b", "bo", 4, 0);
    assert_int_equal(denv_batch(e->st, &e->ctx, q, res, 4, PV_NOW_AT_LOCK), PV_OK);
    e->ctx.sign_pool = NULL;
    pv_sign_pool_free(pool);
    for (i = 0; i < 4; i++)
        assert_int_equal(res[i].err, PV_OK);
    assert_int_equal(count_events(e, "cus_a", 0, PV_EVENT_INDICIUM_CREATED), 2);
    assert_int_equal(count_events(e, "cus_b", 0, NULL), 0);
    free(res);
    denv_books(e);
}

#define BOTH_TESTS                                                                                 \
    cmocka_unit_test_setup_teardown(test_only_for_subscribers, setup, teardown),                   \
        cmocka_unit_test_setup_teardown(test_event_rolls_back_with_its_transaction, setup,         \
                                        teardown),                                                 \
        cmocka_unit_test_setup_teardown(test_one_claim_wins_and_leases_run_out, setup, teardown),  \
        cmocka_unit_test_setup_teardown(test_retry_redeliver_and_delete, setup, teardown),         \
        cmocka_unit_test_setup_teardown(test_purchase_writes_its_events, setup, teardown),         \
        cmocka_unit_test_setup_teardown(test_hook_owners_none_enabled, setup, teardown),           \
        cmocka_unit_test_setup_teardown(test_batch_reads_endpoints_once, setup, teardown)

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_sign_matches_openssl), cmocka_unit_test(test_secret_shape),
        cmocka_unit_test(test_backoff_schedule),     cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_private_addresses),
    };
    const struct CMUnitTest tests[] = {BOTH_TESTS};
    int failed;

    failed = cmocka_run_group_tests_name("events", pure, NULL, NULL);
    failed += cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    on_postgres = 1;
    failed += cmocka_run_group_tests_name("postgres", tests, NULL, NULL);
    return failed ? 1 : 0;
}
