/*
 * fuzz_purchase_body.c - the body of POST /v1/indicia, validated the way
 * pv_h_indicia_post validates it (src/server/h_indicia.c).
 *
 * The body parser, parse_purchase, is static in h_indicia.c, so this file
 * compiles that file in (#include) and links the rest of the server
 * (stampd_fuzz_server: src/server but main.c). The input is the body. It
 * runs, in the handler's order and with the handler's own functions:
 * pv_body_object with the purchase's allowed keys, pv_medium_check (the
 * keyring holds the test secrets of docs/serials.md, so its vectors pass),
 * pv_payments_request_hash, parse_purchase, the address check
 * (pv_check_addresses, h_rates.c) and pv_payments_parse with a
 * test key's principal (cards are tokenized by the sandbox gateway; a saved
 * card is looked up in an empty, migrated in-memory SQLite store). Not run:
 * the Idempotency-Key check, the early replay and the job itself, which
 * need an account and a processor.
 *
 * Properties: bad input is always a 4xx answer with the error body; the
 * fingerprint is the one jansson's text of the body gave; a body
 * that passes leaves a sane request (class known, postage priced, ZIPs of
 * digits, weight above 0).
 */
#include "fuzz.h"

#include "server/h_indicia.c"

#include "old_fingerprint.h"

#include <ctype.h>

static struct pv_app app;
static struct pv_store *store;
static struct pv_principal who;

/* The store, with the serial secrets of docs/serials.md (secret A under key
 * ids 0 and 1, B under 2) so its vectors pass the medium check, and the app. */
static void setup(void)
{
    struct pv_media_key_rec key;
    int from, to;
    unsigned i, k;

    if (pv_store_open("sqlite::memory:", &store) != PV_OK ||
        pv_store_migrate(store, &from, &to) != PV_OK)
        abort();
    for (k = 0; k <= 2; k++) {
        memset(&key, 0, sizeof key);
        key.key_id = k;
        for (i = 0; i < PV_MEDIA_SECRET_LEN; i++)
            key.secret[i] = (uint8_t) ((k == 2 ? 0x20 : 0) + i);
        if (pv_store_media_key_insert(store, &key) != PV_OK)
            abort();
    }
    if (pv_media_keyring_init(&app.media, store, PV_MEDIA_RELOAD_MS) != PV_OK ||
        pv_gateway_open("sandbox", &app.gws.live) != PV_OK ||
        pv_gateway_open("sandbox", &app.gws.test) != PV_OK)
        abort();
    who.role = PV_ROLE_CUSTOMER;
    snprintf(who.owner_id, sizeof who.owner_id, "cus_fuzz");
    who.test = 1;
}

/* An error answer: 4xx with {"error": {"code": ...}}; frees its body. */
static void check_error(struct pv_reply *rp)
{
    json_t *e = json_object_get(rp->body, "error");

    FUZZ_CHECK(rp->status >= 400 && rp->status < 500);
    FUZZ_CHECK(json_is_string(json_object_get(e, "code")));
    json_decref(rp->body);
}

static int all_digits(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (!isdigit((unsigned char) s[i]))
            return 0;
    return s[n] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pv_request rq = {.method = "POST", .path = "/v1/indicia"};
    struct pv_reply rp;
    struct pv_purchase_req q;
    struct pv_address_fix fixes[2];
    char hash[PV_HASH_HEX], want[PV_HASH_HEX];
    json_t *root;
    int nfixes = 0;

    if (!store)
        setup();
    memset(&rp, 0, sizeof rp);
    memset(&q, 0, sizeof q);
    rq.body = (const char *) data;
    rq.body_len = size;
    if (!(root = pv_body_object(&rq, purchase_fields, &rp))) {
        check_error(&rp);
        return 0;
    }
    if (pv_medium_check(&app, store, root, &rp) != PV_OK) {
        check_error(&rp);
        goto out;
    }
    FUZZ_CHECK(pv_payments_request_hash("POST /v1/indicia\n", root, hash) == PV_OK);
    FUZZ_CHECK(strlen(hash) == PV_HASH_HEX - 1);
    FUZZ_CHECK(old_fingerprint("POST /v1/indicia\n", root, want) == 0 && strcmp(hash, want) == 0);
    if (parse_purchase(root, &q, &rp) != PV_OK ||
        pv_check_addresses(root, &q, fixes, &nfixes, &rp) != PV_OK ||
        pv_payments_parse(&app, store, &who, json_object_get(root, "payment"), 1, &q.pay, &rp) !=
            PV_OK) {
        check_error(&rp);
        goto out;
    }
    FUZZ_CHECK(rp.status == 0 && rp.body == NULL);
    FUZZ_CHECK(pv_mail_class_name(q.mail_class) != NULL);
    FUZZ_CHECK(q.weight_tenth_oz > 0 && q.postage > 0 && q.postage <= PV_MILLS_MAX);
    FUZZ_CHECK(all_digits(q.from_zip, 5));
    FUZZ_CHECK(all_digits(q.to_zip, 5) || all_digits(q.to_zip, 9));
    FUZZ_CHECK(q.pay.method == PV_PAY_BALANCE || strncmp(q.pay.source, "tok_", 4) == 0);
    FUZZ_CHECK(nfixes >= 0 && nfixes <= 2);
    FUZZ_CHECK(!q.from_address || (*q.from_address && strlen(q.from_address) < PV_ADDRESS_MAX));
    FUZZ_CHECK(!q.to_address || (*q.to_address && strlen(q.to_address) < PV_ADDRESS_MAX));
    FUZZ_CHECK(!q.metadata || (*q.metadata && strlen(q.metadata) < PV_METADATA_MAX));
out:
    pv_purchase_req_clear(&q); /* the request's texts, also when it failed */
    json_decref(root);
    return 0;
}
