/*
 * test_oom_server.c - allocation failure in the JSON request bodies of
 * src/server, read by their real handlers (tests/unit/oom.h): every hand-made
 * seed of tests/fuzz/corpus/api_body (funds, payment methods, auto-refill,
 * sheets, printers, verify, API keys, media batches, affiliates, resupply
 * shipping, server status) goes through the handler of its route on the
 * vendor of tests/fuzz/fuzz_api_body.c, which this file compiles in.
 *
 * For each n the n-th allocation fails. The answer must then be the one the
 * body gets when nothing fails, or 500 internal_error (out of memory): never
 * another 4xx, which would blame the client for the server's memory; and
 * every block allocated must be freed. jansson allocates through
 * pv_json_alloc_init's counter, as in stampd (whose malloc calls the
 * wrappers of oom.c count in turn), so a parse that lost memory is told
 * from bad JSON: jansson alone reports some of those as syntax errors, and
 * its lexer drops a character it cannot store. Each run is a new request (a new
 * Idempotency-Key), so no run is answered as a replay of the last.
 * The front-processor messages of src/server/internal.c are failed the same
 * way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../fuzz/fuzz_api_body.c"
#include "server/internal.h"
#include "stampd/rates.h"
#include "oom.h"

#include <dirent.h>

struct body {
    uint8_t data[4096];
    size_t len;
    int status; /* the answer's status with nothing failing */
};

static int op_body(void *arg)
{
    struct body *b = arg;
    struct pv_reply rp;
    json_t *e;
    int rc = PV_OK;

    /* Sandbox gateways of the run's own (see test_oom_domain.c, gw_fresh):
     * what a sandbox remembers of a charge is not a leak of the run. */
    struct pv_gateways kept = app.gws;

    oom_pause(1);
    assert_int_equal(pv_gateway_open("sandbox", &app.gws.live), PV_OK);
    assert_int_equal(pv_gateway_open("sandbox", &app.gws.test), PV_OK);
    oom_pause(0);
    idem_salt++;
    api_call(b->data, b->len, &rp);
    pv_gateway_close(app.gws.live);
    pv_gateway_close(app.gws.test);
    app.gws = kept;
    e = json_object_get(rp.body, "error");
    if (b->status == 0) {
        b->status = rp.status; /* the first run: nothing fails */
    } else if (rp.status != b->status) {
        const char *code = json_string_value(json_object_get(e, "code"));

        if (rp.status == 500 && (!rp.body || (code && strcmp(code, "internal_error") == 0)))
            rc = PV_ENOMEM;
        else
            rc = PV_EINTERNAL;
        if (rc != PV_ENOMEM)
            fprintf(stderr, "oom: answered %d (%s), not %d or 500\n", rp.status,
                    json_string_value(json_object_get(e, "message")), b->status);
    }
    json_decref(rp.body);
    free(rp.raw);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Every hand-made seed (not a SHA-1 name) of the api_body corpus. */
static void test_bodies(void **state)
{
    const char *src = getenv("STAMPD_SOURCE_DIR");
    char dir[1024], path[1300], *names[256];
    struct dirent *d;
    size_t n = 0, i;
    DIR *dh;

    (void) state;
    snprintf(dir, sizeof dir, "%s/tests/fuzz/corpus/api_body", src && *src ? src : ".");
    assert_non_null(dh = opendir(dir));
    while ((d = readdir(dh)) != NULL && n < 256)
        if (d->d_name[0] != '.' && strlen(d->d_name) != 40)
            assert_non_null(names[n++] = strdup(d->d_name));
    closedir(dh);
    assert_true(n >= 10);
    qsort(names, n, sizeof *names, by_name);
    setup(); /* the vendor, before anything is counted */
    setup_pause = oom_pause;
    for (i = 0; i < n; i++) {
        struct body *b = calloc(1, sizeof *b);
        FILE *f;

        assert_non_null(b);
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        assert_non_null(f = fopen(path, "rb"));
        b->len = fread(b->data, 1, sizeof b->data, f);
        fclose(f);
        assert_true(b->len >= 1);
        oom_loop(names[i], op_body, NULL, b, NULL, 0);
        free(b);
        free(names[i]);
    }
}

/* The front-processor messages (src/server/internal.c): a purchase request
 * and its result to JSON text and back, parsed with pv_json_loadb as the
 * processor (h_internal.c) and the front (router.c) parse them, and the
 * replay guard. Parsed with plain jansson, a run that failed an allocation
 * in its lexer read a field name short of a character (PV_EINVAL). */
static int op_internal(void *arg)
{
    struct pv_purchase_req q, q2;
    struct pv_purchase_res *r = calloc(1, sizeof *r), *r2 = calloc(1, sizeof *r2);
    struct pv_replay *g = NULL;
    json_t *j = NULL, *back = NULL;
    char *text = NULL;
    int rc = PV_ENOMEM, oom = 0;

    (void) arg;
    memset(&q, 0, sizeof q);
    memset(&q2, 0, sizeof q2);
    snprintf(q.customer_id, sizeof q.customer_id, "cus_a");
    snprintf(q.idem_key, sizeof q.idem_key, "k1");
    q.mail_class = PV_MC_FIRST_CLASS_LETTER;
    q.weight_tenth_oz = 10;
    q.mail_date = 20261204;
    memcpy(q.from_zip, "94107", 6);
    memcpy(q.to_zip, "10001", 6);
    q.postage = 740;
    q.pay.method = PV_PAY_BALANCE;
    /* Owned texts (purchase_types.h): short of memory on either side is PV_ENOMEM. */
    if (pv_text_set(&q.to_address, "Jo\nNew York NY 10001") != PV_OK ||
        pv_text_set(&q.metadata, "order=17\n") != PV_OK)
        goto out;
    if (!r || !r2 || !(j = pv_req_to_json(&q)) || !(text = json_dumps(j, 0)) ||
        !(back = pv_json_loadb(text, strlen(text), 0, NULL, &oom)))
        goto out;
    if ((rc = pv_req_from_json(back, &q2)) != PV_OK)
        goto out;
    json_decref(j);
    json_decref(back);
    free(text);
    back = NULL;
    text = NULL;
    rc = PV_ENOMEM;
    r->err = PV_EFUNDS; /* a refused job: the result without an indicium */
    r->balance_after = 9260;
    if (!(j = pv_res_to_json(r)) || !(text = json_dumps(j, 0)) ||
        !(back = pv_json_loadb(text, strlen(text), 0, NULL, &oom)))
        goto out;
    if ((rc = pv_res_from_json(back, r2)) != PV_OK)
        goto out;
    if ((rc = pv_replay_new(&g)) == PV_OK)
        rc = pv_replay_claim(
            g, "1000", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1000);
out:
    pv_replay_free(g);
    json_decref(j);
    json_decref(back);
    free(text);
    pv_purchase_req_clear(&q);
    pv_purchase_req_clear(&q2);
    free(r);
    free(r2);
    return rc;
}

static void test_internal(void **state)
{
    (void) state;
    oom_loop("internal request and result", op_internal, NULL, NULL, NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_internal),
    };

    oom_init(1);
    pv_json_alloc_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
