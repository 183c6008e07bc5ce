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
#include "../fuzz/old_fingerprint.h"
#include "crypto/primitives.h"
#include "server/internal.h"
#include "stampd/codec.h"
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

/*
 * The idempotency fingerprint (pv_payments_request_hash): SHA-256 of the prefix and the body
 * written sorted and compact with the card scrubbed - the bytes stored hashes were made of, so
 * a retry made before an upgrade is still known after it. Since issue 15's session 20 the text
 * is written on the stack when it fits: the hash must not change, for a short body and one too
 * long for the stack, with a card or without, the card put back whole; and out of memory it
 * fails cleanly (ENOMEM) or gives the same hash.
 */
struct hash_case {
    json_t *body, *card; /* the card object, which must be the one in the body after each run */
    char want[PV_HASH_HEX];
};

static void hash_the_old_way(json_t *body, char out[PV_HASH_HEX])
{
    assert_int_equal(old_fingerprint("POST /v1/indicia\n", body, out), 0);
}

static int op_hash(void *arg)
{
    struct hash_case *c = arg;
    char got[PV_HASH_HEX];
    int rc = pv_payments_request_hash("POST /v1/indicia\n", c->body, got);
    json_t *card = json_object_get(json_object_get(c->body, "payment"), "card");

    if (rc == PV_OK)
        assert_string_equal(got, c->want);
    /* The card is back, whole, whatever happened: the same object, its number and cvc. */
    assert_ptr_equal(card, c->card);
    assert_string_equal(json_string_value(json_object_get(card, "number")), "4242424242424242");
    assert_string_equal(json_string_value(json_object_get(card, "cvc")), "123");
    return rc;
}

static void test_request_hash(void **state)
{
    static const char card[] =
        "{\"mail_class\": \"first_class_letter\", \"weight_oz\": 1, \"to_zip\": \"10001\", "
        "\"from_zip\": \"94107\", \"payment\": {\"method\": \"card\", \"card\": {\"number\": "
        "\"4242424242424242\", \"exp_month\": 12, \"exp_year\": 2030, \"cvc\": \"123\"}}}";
    struct hash_case c;
    char *note;
    size_t i;

    (void) state;
    for (i = 0; i < 2; i++) {
        assert_non_null(c.body = json_loads(card, 0, NULL));
        if (i == 1) { /* past the stack's 4 kB */
            assert_non_null(note = malloc(6001));
            memset(note, 'n', 6000);
            note[6000] = '\0';
            assert_int_equal(json_object_set_new(c.body, "note", json_string(note)), 0);
            free(note);
        }
        c.card = json_object_get(json_object_get(c.body, "payment"), "card");
        hash_the_old_way(c.body, c.want);
        if (i == 0) /* SHA-256 of: POST /v1/indicia\n{"from_zip":"94107","mail_class":
                     * "first_class_letter","payment":{"card":{"exp_month":12,"exp_year":2030,
                     * "number":"4242"},"method":"card"},"to_zip":"10001","weight_oz":1} */
            assert_string_equal(c.want,
                                "31f795be111546593f6ecfffd57cfdc8d294d2e3853a054e73896e1157e82926");
        oom_loop(i ? "request hash, long body" : "request hash", op_hash, NULL, &c, NULL, 0);
        json_decref(c.body);
    }
    /* Without a card: the same rule, nothing scrubbed. */
    assert_non_null(c.body = json_loads("{\"b\": [1, 2], \"a\": \"x\"}", 0, NULL));
    {
        char got[PV_HASH_HEX];
        uint8_t digest[32];
        const char text[] = "POST /v1/indicia\n{\"a\":\"x\",\"b\":[1,2]}";

        pv_sha256(text, strlen(text), digest);
        pv_hex_encode(digest, sizeof digest, c.want);
        assert_int_equal(pv_payments_request_hash("POST /v1/indicia\n", c.body, got), PV_OK);
        assert_string_equal(got, c.want);
    }
    json_decref(c.body);
}

/*
 * Since session 27 the canonical text is written by the handler itself, not by jansson's
 * json_dumpb: the same bytes for any body, checked against the old way (a scrubbed copy dumped
 * by jansson) on random bodies - nested objects and arrays, keys that share their beginnings,
 * strings (a NUL in them too) with every character jansson escapes, UTF-8 of two to four bytes,
 * integers to their limits, reals, objects of more members than the writer sorts in place,
 * text past the stack's buffer and its first doubling, a payment that is not an object, and a
 * card among other members whose number is a string, a number or missing; then a body as deep
 * as the parser allows, and one text written out by hand.
 */
static uint64_t rnd_state = 0x9e3779b97f4a7c15ULL;

static unsigned rnd(unsigned n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (unsigned) (rnd_state % n);
}

/* Random text of up to 12 pieces into b (room for 64 bytes); its length. */
static size_t rnd_text(char *b, int nul)
{
    static const char *const pieces[] = {
        "a",  "b",  "ab", "Z",  "0",  "\"",   "\\", "/",        "\x01",         "\x1f",
        "\b", "\f", "\n", "\r", "\t", "\x7f", " ",  "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\0"};
    size_t n = 0, k = rnd(12), i, len;

    for (i = 0; i < k; i++) {
        const char *p = pieces[rnd(sizeof pieces / sizeof pieces[0] - (nul ? 0 : 1))];

        len = *p ? strlen(p) : 1;
        memcpy(b + n, p, len);
        n += len;
    }
    return n;
}

static json_t *rnd_object(int depth);

static json_t *rnd_value(int depth)
{
    char b[64];
    size_t n, i, k;
    json_t *v;

    switch (rnd(depth > 3 ? 6 : 8)) {
    case 0:
        return json_null();
    case 1:
        return json_boolean(rnd(2));
    case 2: {
        static const json_int_t ints[] = {0, 1, -1, 9, 10, -10, 123456789, INT64_MAX, INT64_MIN};
        return json_integer(ints[rnd(sizeof ints / sizeof ints[0])]);
    }
    case 3: {
        static const double reals[] = {0.0, -0.0, 1.5, 0.1, 1e300, -2.5e-7, 100.0, 3.14159};
        return json_real(reals[rnd(sizeof reals / sizeof reals[0])]);
    }
    case 4:
    case 5:
        n = rnd_text(b, 1);
        return json_stringn(b, n);
    case 6:
        v = json_array();
        for (i = 0, k = rnd(4); i < k; i++)
            json_array_append_new(v, rnd_value(depth + 1));
        return v;
    default:
        return rnd_object(depth);
    }
}

/* An object of up to 12 members: more than the writer sorts in place (8) or fewer. */
static json_t *rnd_object(int depth)
{
    json_t *v = json_object();
    char b[64];
    size_t n, i, k;

    for (i = 0, k = rnd(13); i < k; i++) {
        n = rnd_text(b, 0); /* a key with a NUL: not from the parser, cut by json_deep_copy */
        json_object_setn_new(v, b, n, rnd_value(depth + 1));
    }
    return v;
}

/* The text of a body (taken) checked against the old way's. */
static void same_hash(json_t *body, int i)
{
    char got[PV_HASH_HEX], want[PV_HASH_HEX];

    hash_the_old_way(body, want);
    assert_int_equal(pv_payments_request_hash("POST /v1/indicia\n", body, got), PV_OK);
    if (strcmp(got, want) != 0) {
        char *text = json_dumps(body, JSON_SORT_KEYS | JSON_COMPACT);

        print_error("body %d: %s\n", i, text ? text : "?");
        free(text);
    }
    assert_string_equal(got, want);
    json_decref(body);
}

static void test_request_hash_text(void **state)
{
    static const char numbers[][24] = {"4242 4242 4242 4242", "12", "", "x-9"};
    char got[PV_HASH_HEX], *big, *text;
    json_t *body, *pay, *card;
    size_t n, k;
    int i;

    (void) state;
    for (i = 0; i < 3000; i++) {
        body = rnd_object(1);
        if (rnd(10) == 0) { /* past the stack's 4 kB, and past its first doubling */
            n = 3000 + rnd(17000);
            assert_non_null(big = malloc(n));
            memset(big, 'q', n);
            for (k = 0; k < 8; k++)
                big[rnd((unsigned) n)] = "\"\\\n\x01"[rnd(4)];
            json_object_set_new(body, "note", json_stringn(big, n));
            free(big);
        }
        switch (rnd(6)) {
        case 0: /* a payment that is not an object */
            json_object_set_new(body, "payment", rnd_value(3));
            break;
        case 1:
        case 2:
        case 3: /* a card as a purchase's, among more members or fewer */
            pay = rnd(3) ? json_object() : rnd_object(2);
            card = rnd(6) ? rnd_object(3) : rnd_value(3);
            if (json_is_object(card)) {
                if (rnd(4))
                    json_object_set_new(card, "number",
                                        rnd(4) ? json_string(numbers[rnd(4)]) : json_integer(4242));
                if (rnd(3))
                    json_object_set_new(card, "cvc", rnd(4) ? json_string("123") : rnd_value(3));
                json_object_set_new(card, "cvc2", json_string("9"));
            }
            json_object_set_new(pay, "card", card);
            json_object_set_new(body, "payment", pay);
            break;
        default:
            break;
        }
        same_hash(body, i);
    }
    /* As deep as jansson's parser goes (2048): objects in arrays in objects. */
    assert_non_null(text = malloc(8 * 2040 + 16));
    for (n = 0, k = 0; k < 2040; k++) {
        memcpy(text + n, k % 2 ? "[" : "{\"a\":", k % 2 ? 1 : 5);
        n += k % 2 ? 1 : 5;
    }
    text[n++] = '1';
    for (k = 2040; k-- > 0;)
        text[n++] = k % 2 ? ']' : '}';
    assert_non_null(body = json_loadb(text, n, 0, NULL));
    free(text);
    same_hash(body, -1);
    /* An oracle of its own: the text written out by hand, hashed by Python's hashlib -
     * the card's number with spaces cut to 4444, its cvc gone, its own members sorted. */
    assert_non_null(body = json_loads("{\"weight_oz\": 2.5, \"to_zip\": \"10001\", \"payment\": "
                                      "{\"method\": \"card\", \"card\": {\"number\": "
                                      "\"5555 5555 5555 4444\", \"cvc\": \"123\", "
                                      "\"exp_month\": 12, \"meta\": {\"b\": [1, {\"y\": "
                                      "\"\\u00e9\"}], \"a\": \"\\\"q\\\"\"}}}}",
                                      0, NULL));
    assert_int_equal(pv_payments_request_hash("POST /v1/indicia\n", body, got), PV_OK);
    /* POST /v1/indicia\n{"payment":{"card":{"exp_month":12,"meta":{"a":"\"q\"","b":[1,
     * {"y":"é"}]},"number":"4444"},"method":"card"},"to_zip":"10001","weight_oz":2.5} */
    assert_string_equal(got, "e9ee3125a98fce792447eecd1b03a926bcf4f1fb7803d4cbd29cca87979646d3");
    json_decref(body);
    /* Only an object is a body. */
    assert_non_null(body = json_array());
    assert_int_equal(pv_payments_request_hash("POST /v1/indicia\n", body, got), PV_EINVAL);
    json_decref(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_internal),
        cmocka_unit_test(test_request_hash),
        cmocka_unit_test(test_request_hash_text),
    };

    oom_init(1);
    pv_json_alloc_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
