/*
 * fuzz_internal.c - the front-processor protocol (src/server/internal.c,
 * compiled in: it needs nothing of the server but its own header).
 *
 * The input is "TIME\nSIGNATURE\nBODY": the X-Stampd-Time and
 * X-Stampd-Signature headers and the body a processor receives (a missing
 * line is a missing header, an empty body then). Three parsers read it:
 *   - pv_internal_verify, as h_internal.c calls it: anything but the
 *     genuine signature of the body (made here under a test secret) is
 *     PV_EUNAUTH, and the genuine one at the current time is PV_OK; and
 *     pv_internal_verify_answer, as router.c calls it, the same way;
 *   - pv_req_from_json on the body as h_internal.c loads it, as if it had
 *     been signed (a front's bug or a stolen secret): what it accepts goes
 *     through pv_req_to_json and back unchanged;
 *   - pv_res_from_json on the body as router.c loads a processor's answer:
 *     the same round trip (a medium with no serial and nothing due is not
 *     sent, so it is compared as absent).
 */
#include "fuzz.h"

#include "server/internal.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

static const char secret[] = "fuzz-internal-secret-0123456789abcdef";

/* The next line of *p (advanced past it; NUL written over the newline), or
 * NULL when there is no newline left: the rest is the body. */
static char *header(char **p)
{
    char *s = *p, *nl = strchr(s, '\n');

    if (!nl)
        return NULL;
    *nl = '\0';
    *p = nl + 1;
    return s;
}

static void check_verify(const char *time_hdr, const char *sig_hdr, const char *body, size_t len)
{
    char good[PV_HASH_HEX], ans[PV_HASH_HEX], stamp[24];
    int64_t now = pv_now_ms();
    int rc =
        pv_internal_verify(secret, "POST", PV_INTERNAL_PATH, time_hdr, sig_hdr, body, len, now);
    uint64_t t;

    FUZZ_CHECK(rc == PV_OK || rc == PV_EUNAUTH);
    if (rc == PV_OK) { /* only the genuine signature of a fresh time passes */
        FUZZ_CHECK(pv_parse_u64(time_hdr, 0, (uint64_t) INT64_MAX, &t) == PV_OK);
        FUZZ_CHECK(pv_internal_sign(secret, "POST", PV_INTERNAL_PATH, (int64_t) t, body, len,
                                    good) == PV_OK);
        FUZZ_CHECK(strcmp(good, sig_hdr) == 0);
    }
    snprintf(stamp, sizeof stamp, "%lld", (long long) now);
    FUZZ_CHECK(pv_internal_sign(secret, "POST", PV_INTERNAL_PATH, now, body, len, good) == PV_OK);
    FUZZ_CHECK(pv_internal_verify(secret, "POST", PV_INTERNAL_PATH, stamp, good, body, len, now) ==
               PV_OK);
    FUZZ_CHECK(pv_internal_verify(secret, "POST", "/internal/v1/other", stamp, good, body, len,
                                  now) == PV_EUNAUTH);
    /* The body as a processor's answer to that request (router.c): only its
     * genuine signature passes, for that status; a request's never does. */
    rc = pv_internal_verify_answer(secret, good, 200, sig_hdr, body, len);
    FUZZ_CHECK(rc == PV_OK || rc == PV_EUNAUTH);
    FUZZ_CHECK(pv_internal_sign_answer(secret, good, 200, body, len, ans) == PV_OK);
    FUZZ_CHECK(rc == PV_EUNAUTH || strcmp(ans, sig_hdr) == 0);
    FUZZ_CHECK(pv_internal_verify_answer(secret, good, 200, ans, body, len) == PV_OK);
    FUZZ_CHECK(pv_internal_verify_answer(secret, good, 503, ans, body, len) == PV_EUNAUTH);
    FUZZ_CHECK(pv_internal_verify_answer(secret, good, 200, good, body, len) == PV_EUNAUTH);
}

/* Two optional texts (store.h) alike; both freed and NULL after. */
static int same_text(char **a, char **b)
{
    int same = strcmp(pv_text(*a), pv_text(*b)) == 0;

    free(*a);
    free(*b);
    *a = *b = NULL;
    return same;
}

static void check_req(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL), *again;
    struct pv_purchase_req *a = calloc(2, sizeof *a);

    FUZZ_CHECK(a != NULL);
    if (root && pv_req_from_json(root, &a[0]) == PV_OK) {
        FUZZ_CHECK((again = pv_req_to_json(&a[0])) != NULL);
        FUZZ_CHECK(pv_req_from_json(again, &a[1]) == PV_OK);
        /* The texts are owned strings: the same text, then out of the comparison. */
        FUZZ_CHECK(same_text(&a[0].from_address, &a[1].from_address));
        FUZZ_CHECK(same_text(&a[0].to_address, &a[1].to_address));
        FUZZ_CHECK(same_text(&a[0].metadata, &a[1].metadata));
        FUZZ_CHECK(memcmp(&a[0], &a[1], sizeof *a) == 0);
        json_decref(again);
    }
    json_decref(root);
    pv_purchase_req_clear(&a[0]);
    pv_purchase_req_clear(&a[1]);
    free(a);
}

static void check_res(const char *body, size_t len)
{
    json_t *root = json_loadb(body, len, 0, NULL), *again;
    struct pv_purchase_res *r = calloc(2, sizeof *r);

    FUZZ_CHECK(r != NULL);
    if (root && pv_res_from_json(root, &r[0]) == PV_OK) {
        if (!r[0].medium.serial[0] && !r[0].medium.price_due)
            memset(&r[0].medium, 0, sizeof r[0].medium);
        FUZZ_CHECK((again = pv_res_to_json(&r[0])) != NULL);
        FUZZ_CHECK(pv_res_from_json(again, &r[1]) == PV_OK);
        /* The piece's texts are owned strings: the same text, then out of the comparison. */
        FUZZ_CHECK(same_text(&r[0].rec.from_address, &r[1].rec.from_address));
        FUZZ_CHECK(same_text(&r[0].rec.to_address, &r[1].rec.to_address));
        FUZZ_CHECK(same_text(&r[0].rec.metadata, &r[1].rec.metadata));
        FUZZ_CHECK(memcmp(&r[0], &r[1], sizeof *r) == 0);
        json_decref(again);
    }
    json_decref(root);
    pv_purchase_res_reset(&r[0]);
    pv_purchase_res_reset(&r[1]);
    free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), *p = text, *time_hdr, *sig_hdr;
    const char *body;
    size_t len;

    time_hdr = header(&p);
    sig_hdr = time_hdr ? header(&p) : NULL;
    body = time_hdr && sig_hdr ? p : "";
    /* The body is bytes, NULs included: its length is what is left. */
    len = time_hdr && sig_hdr ? size - (size_t) (p - text) : 0;
    check_verify(time_hdr, sig_hdr, body, len);
    check_req(body, len);
    check_res(body, len);
    free(text);
    return 0;
}
