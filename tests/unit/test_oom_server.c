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
 * pv_body_alloc_init's counter, as in stampd (whose malloc calls the
 * wrappers of oom.c count in turn), so a parse that lost memory is told
 * from bad JSON: jansson alone reports some of those as syntax errors, and
 * its lexer drops a character it cannot store. Each run is a new request (a new
 * Idempotency-Key), so no run is answered as a replay of the last.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../fuzz/fuzz_api_body.c"
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
    };

    oom_init(1);
    pv_body_alloc_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
