/*
 * internal.c - the front -> processor protocol.
 *
 * The front validates, prices and fingerprints a purchase, then posts it to
 * a processor as JSON at POST /internal/v1/purchase. Every request carries
 * X-Stampd-Time (unix ms) and X-Stampd-Signature: hex HMAC-SHA256 under the
 * vendor's internal secret (each host's, never the database's: made by
 * stampd secret generate, read by cmd_secret.c) over
 * "METHOD\nPATH\nTIME\nBODY". A processor refuses anything unsigned, wrongly
 * signed or more than PV_INTERNAL_SKEW_MS old (401), and any signature it
 * already accepted (401: the replay guard, pv_replay_claim, remembers each
 * one until it is too old anyway), so only fronts holding the secret can
 * spend customers' money, and a copy of a request is served once. Even they
 * cannot set a price: the processor prices every piece itself (purchase.c).
 *
 * The answer carries the job's outcome; a processor answers 503 for
 * outcomes another processor may not share (no PSD lease), so the front
 * retries. The processor signs every answer, errors included
 * (X-Stampd-Signature on the response: HMAC over the status, the request's
 * signature and the body, pv_internal_sign_answer), and the front takes no
 * answer of any status it cannot verify: it treats it like an unreachable
 * processor (PV_EBUSY). That is safe although the processor may have
 * written: the retry carries the same idempotency key, so it replays what
 * was written, never a second piece. Under all this the channel is mutual
 * TLS (router.c, http.c).
 */
#include "server/internal.h"

#include "crypto/primitives.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/rates.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int pv_internal_sign(const char *secret, const char *method, const char *path, int64_t time_ms,
                     const char *body, size_t len, char out[PV_HASH_HEX])
{
    uint8_t mac[32];
    char head[512], *msg;
    int hlen, rc;

    hlen = snprintf(head, sizeof head, "%s\n%s\n%lld\n", method, path, (long long) time_ms);
    if (hlen < 0 || (size_t) hlen >= sizeof head)
        return PV_EINVAL;
    msg = malloc((size_t) hlen + len + 1);
    if (!msg)
        return PV_ENOMEM;
    memcpy(msg, head, (size_t) hlen);
    if (len)
        memcpy(msg + hlen, body, len);
    rc = pv_hmac_sha256(secret, strlen(secret), msg, (size_t) hlen + len, mac);
    free(msg);
    if (rc != PV_OK)
        return rc;
    pv_hex_encode(mac, sizeof mac, out);
    return PV_OK;
}

int pv_internal_verify(const char *secret, const char *method, const char *path,
                       const char *time_hdr, const char *sig_hdr, const char *body, size_t len,
                       int64_t now_ms)
{
    char want[PV_HASH_HEX];
    uint64_t t;

    if (!secret || !*secret || !time_hdr || !sig_hdr || strlen(sig_hdr) != PV_HASH_HEX - 1)
        return PV_EUNAUTH;
    if (pv_parse_u64(time_hdr, 0, (uint64_t) INT64_MAX, &t) != PV_OK)
        return PV_EUNAUTH;
    if ((int64_t) t < now_ms - PV_INTERNAL_SKEW_MS || (int64_t) t > now_ms + PV_INTERNAL_SKEW_MS)
        return PV_EUNAUTH;
    if (pv_internal_sign(secret, method, path, (int64_t) t, body, len, want) != PV_OK)
        return PV_EUNAUTH;
    return pv_memeq_ct(want, sig_hdr, PV_HASH_HEX - 1) ? PV_OK : PV_EUNAUTH;
}

int pv_internal_sign_answer(const char *secret, const char *req_sig, long status, const char *body,
                            size_t len, char out[PV_HASH_HEX])
{
    if (!req_sig || strlen(req_sig) != PV_HASH_HEX - 1)
        return PV_EINVAL;
    return pv_internal_sign(secret, "ANSWER", req_sig, (int64_t) status, body, len, out);
}

int pv_internal_verify_answer(const char *secret, const char *req_sig, long status,
                              const char *sig_hdr, const char *body, size_t len)
{
    char want[PV_HASH_HEX];

    if (!secret || !*secret || !sig_hdr || strlen(sig_hdr) != PV_HASH_HEX - 1 ||
        pv_internal_sign_answer(secret, req_sig, status, body, len, want) != PV_OK)
        return PV_EUNAUTH;
    return pv_memeq_ct(want, sig_hdr, PV_HASH_HEX - 1) ? PV_OK : PV_EUNAUTH;
}

/* The guard: chained hash buckets over a fixed pool of entries. */
#define REPLAY_BUCKETS (PV_REPLAY_MAX / 2)

struct replay_ent {
    uint8_t sig[32];
    int64_t expires_ms;
    uint32_t next; /* in its bucket's chain or the free list; UINT32_MAX ends */
};

struct pv_replay {
    pthread_mutex_t mu;
    uint32_t free_head;
    uint32_t bucket[REPLAY_BUCKETS];
    struct replay_ent ent[PV_REPLAY_MAX];
};

int pv_replay_new(struct pv_replay **out)
{
    struct pv_replay *g = malloc(sizeof *g);
    uint32_t i;

    if (!g)
        return PV_ENOMEM;
    pthread_mutex_init(&g->mu, NULL);
    for (i = 0; i < REPLAY_BUCKETS; i++)
        g->bucket[i] = UINT32_MAX;
    for (i = 0; i < PV_REPLAY_MAX; i++)
        g->ent[i].next = i + 1 < PV_REPLAY_MAX ? i + 1 : UINT32_MAX;
    g->free_head = 0;
    *out = g;
    return PV_OK;
}

void pv_replay_free(struct pv_replay *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g);
}

/* Walk bucket b, returning expired entries to the free list; 1 if sig is in it. */
static int replay_scan(struct pv_replay *g, uint32_t b, const uint8_t *sig, int64_t now_ms)
{
    uint32_t *link = &g->bucket[b], i;
    int found = 0;

    while ((i = *link) != UINT32_MAX) {
        if (g->ent[i].expires_ms < now_ms) {
            *link = g->ent[i].next;
            g->ent[i].next = g->free_head;
            g->free_head = i;
            continue;
        }
        if (memcmp(g->ent[i].sig, sig, sizeof g->ent[i].sig) == 0)
            found = 1;
        link = &g->ent[i].next;
    }
    return found;
}

int pv_replay_claim(struct pv_replay *g, const char *time_hdr, const char *sig_hdr, int64_t now_ms)
{
    uint8_t sig[32];
    uint64_t t;
    uint32_t b, i;
    int rc = PV_OK;

    if (!time_hdr || !sig_hdr || strlen(sig_hdr) != 2 * sizeof sig ||
        pv_hex_decode(sig_hdr, sig, sizeof sig) != PV_OK ||
        pv_parse_u64(time_hdr, 0, (uint64_t) INT64_MAX - PV_INTERNAL_SKEW_MS, &t) != PV_OK)
        return PV_EUNAUTH;
    /* An HMAC is uniform: its first bytes are a good hash. */
    b = (uint32_t) (((uint32_t) sig[0] << 24 | (uint32_t) sig[1] << 16 | (uint32_t) sig[2] << 8 |
                     sig[3]) %
                    REPLAY_BUCKETS);
    pthread_mutex_lock(&g->mu);
    if (replay_scan(g, b, sig, now_ms)) {
        rc = PV_EUNAUTH;
        goto out;
    }
    if (g->free_head == UINT32_MAX) {
        /* Full: sweep every bucket once for expired signatures. */
        uint32_t k;
        for (k = 0; k < REPLAY_BUCKETS; k++)
            replay_scan(g, k, sig, now_ms);
        if (g->free_head == UINT32_MAX) {
            rc = PV_EBUSY;
            goto out;
        }
    }
    i = g->free_head;
    g->free_head = g->ent[i].next;
    memcpy(g->ent[i].sig, sig, sizeof sig);
    g->ent[i].expires_ms = (int64_t) t + PV_INTERNAL_SKEW_MS;
    g->ent[i].next = g->bucket[b];
    g->bucket[b] = i;
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

json_t *pv_req_to_json(const struct pv_purchase_req *q)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:i, s:i, s:I, s:s, s:s, s:s, s:s, s:s, s:i, s:I}", "customer_id",
        q->customer_id, "idem_key", q->idem_key, "req_hash", q->req_hash, "mail_class",
        q->mail_class, "weight_tenth_oz", (int) q->weight_tenth_oz, "mail_date",
        (json_int_t) q->mail_date, "from_zip", q->from_zip, "to_zip", q->to_zip, "medium_serial",
        q->medium_serial, "from_address", pv_text(q->from_address), "to_address",
        pv_text(q->to_address), "flags", (int) q->flags, "postage_mills", (json_int_t) q->postage);

    /* The card crosses as the gateway's token: never its number. */
    if (j && json_object_set_new(j, "services", json_integer(q->services)) == 0 &&
        json_object_set_new(j, "test", json_boolean(q->test)) == 0 &&
        json_object_set_new(j, "metadata", json_string(pv_text(q->metadata))) == 0 &&
        json_object_set_new(j, "commit_medium", json_boolean(q->commit_medium)) == 0 &&
        json_object_set_new(j, "pay",
                            json_pack("{s:i, s:s, s:s, s:s, s:s}", "method", q->pay.method,
                                      "source", q->pay.source, "payment_method_id",
                                      q->pay.payment_method_id, "brand", q->pay.brand, "last4",
                                      q->pay.last4)) == 0)
        return j;
    json_decref(j);
    return NULL;
}

/* Copy string field name of o into dst (cap bytes) if it fits. */
static int str_field(json_t *o, const char *name, char *dst, size_t cap)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return PV_EINVAL;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return PV_OK;
}

/* An optional text of a record (store.h: owned, NULL for ""): str_field's
 * rules; optional: an absent field is none (a peer from before it existed).
 * PV_ENOMEM short of memory. */
static int text_field(json_t *o, const char *name, int optional, char **dst, size_t cap)
{
    json_t *v = json_object_get(o, name);

    if (!v && optional)
        return pv_text_set(dst, NULL);
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return PV_EINVAL;
    return pv_text_set(dst, json_string_value(v));
}

/* A piece's or a request's three optional texts of o, in the same fields both ways;
 * apart from the other fields, so that short of memory (PV_ENOMEM) is not read as
 * bad input (the front tries another processor). */
static int texts_field(json_t *o, char **from, char **to, char **metadata)
{
    int rc;

    if ((rc = text_field(o, "from_address", 0, from, PV_ADDRESS_MAX)) == PV_OK &&
        (rc = text_field(o, "to_address", 0, to, PV_ADDRESS_MAX)) == PV_OK)
        rc = text_field(o, "metadata", 1, metadata, PV_METADATA_MAX);
    return rc;
}

static int int_field(json_t *o, const char *name, int64_t min, int64_t max, int64_t *out)
{
    json_t *v = json_object_get(o, name);

    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return PV_EINVAL;
    *out = json_integer_value(v);
    return PV_OK;
}

int pv_req_from_json(json_t *o, struct pv_purchase_req *q)
{
    int64_t cls, w, date, flags, postage, method;
    json_t *pay;
    int rc;

    memset(q, 0, sizeof *q);
    if (!json_is_object(o))
        return PV_EINVAL;
    if ((rc = texts_field(o, &q->from_address, &q->to_address, &q->metadata)) != PV_OK)
        return rc;
    if (str_field(o, "customer_id", q->customer_id, sizeof q->customer_id) ||
        str_field(o, "idem_key", q->idem_key, sizeof q->idem_key) ||
        str_field(o, "req_hash", q->req_hash, sizeof q->req_hash) ||
        str_field(o, "from_zip", q->from_zip, sizeof q->from_zip) ||
        str_field(o, "to_zip", q->to_zip, sizeof q->to_zip) ||
        str_field(o, "medium_serial", q->medium_serial, sizeof q->medium_serial) ||
        int_field(o, "mail_class", 1, 255, &cls) || int_field(o, "weight_tenth_oz", 1, 65535, &w) ||
        int_field(o, "mail_date", 20000101, 20991231, &date) ||
        int_field(o, "flags", 0, 255, &flags) ||
        int_field(o, "postage_mills", 0, UINT32_MAX, &postage) ||
        !json_is_boolean(json_object_get(o, "test")) ||
        !json_is_object(pay = json_object_get(o, "pay")) ||
        int_field(pay, "method", PV_PAY_BALANCE, PV_PAY_CARD, &method) ||
        str_field(pay, "source", q->pay.source, sizeof q->pay.source) ||
        str_field(pay, "payment_method_id", q->pay.payment_method_id,
                  sizeof q->pay.payment_method_id) ||
        str_field(pay, "brand", q->pay.brand, sizeof q->pay.brand) ||
        str_field(pay, "last4", q->pay.last4, sizeof q->pay.last4))
        return PV_EINVAL;
    q->test = json_is_true(json_object_get(o, "test"));
    q->pay.method = (int) method;
    /* A sane, known class; the price is checked against the rates in the
     * purchase itself (purchase.c), not trusted. */
    if (!pv_mail_class_name((int) cls) || !q->customer_id[0] || !q->idem_key[0])
        return PV_EINVAL;
    q->mail_class = (int) cls;
    q->weight_tenth_oz = (uint16_t) w;
    q->mail_date = (uint32_t) date;
    q->flags = (uint8_t) flags;
    q->postage = postage;
    q->commit_medium = json_is_true(json_object_get(o, "commit_medium"));
    /* Priced options (rates.h); checked with the price in the purchase. */
    if (json_object_get(o, "services") && int_field(o, "services", 0, PV_SVC_ALL, &flags))
        return PV_EINVAL;
    q->services = json_object_get(o, "services") ? (uint8_t) flags : 0;
    return PV_OK;
}

/* What a purchase did with its medium (media.h), both ways. */
static json_t *medium_to_json(const struct pv_media_use *u)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:s, s:b, s:I, s:I, s:s, s:I}", "serial", u->serial,
                     "batch", (json_int_t) u->batch, "sheet", (json_int_t) u->sheet, "position",
                     (json_int_t) u->position, "affiliate_id", u->affiliate_id, "own_affiliate",
                     u->own_affiliate, "price", (json_int_t) u->price, "price_due",
                     (json_int_t) u->price_due, "order_id", u->order_id, "labels_remaining",
                     (json_int_t) u->labels_remaining);
}

static int medium_from_json(json_t *o, struct pv_media_use *u)
{
    int64_t batch, sheet, pos, price, due, remaining;

    if (!json_is_object(o) || str_field(o, "serial", u->serial, sizeof u->serial) ||
        str_field(o, "affiliate_id", u->affiliate_id, sizeof u->affiliate_id) ||
        str_field(o, "order_id", u->order_id, sizeof u->order_id) ||
        int_field(o, "batch", 0, UINT32_MAX, &batch) ||
        int_field(o, "sheet", 0, UINT32_MAX, &sheet) ||
        int_field(o, "position", 0, UINT32_MAX, &pos) ||
        int_field(o, "price", 0, PV_MILLS_MAX, &price) ||
        int_field(o, "price_due", 0, PV_MILLS_MAX, &due) ||
        int_field(o, "labels_remaining", 0, INT64_MAX, &remaining) ||
        !json_is_boolean(json_object_get(o, "own_affiliate")))
        return PV_EINVAL;
    u->batch = (uint32_t) batch;
    u->sheet = (uint32_t) sheet;
    u->position = (uint32_t) pos;
    u->price = price;
    u->price_due = due;
    u->labels_remaining = remaining;
    u->own_affiliate = json_is_true(json_object_get(o, "own_affiliate"));
    return PV_OK;
}

json_t *pv_res_to_json(const struct pv_purchase_res *r)
{
    const struct pv_indicium_rec *rec = &r->rec;
    json_t *j = json_pack("{s:i, s:s, s:b, s:I, s:s, s:s, s:I, s:s, s:I}", "err", r->err, "code",
                          pv_error_code(r->err), "replayed", r->replayed, "balance_mills",
                          (json_int_t) r->balance_after, "decline", r->decline, "charge_id",
                          r->charge_id, "charged", (json_int_t) r->charged, "refill_id",
                          r->refill_id, "refilled", (json_int_t) r->refilled);
    char *b64;

    if (j && (r->medium.serial[0] || r->medium.price_due) &&
        json_object_set_new(j, "medium", medium_to_json(&r->medium)) != 0) {
        json_decref(j);
        return NULL;
    }
    if (!j || r->err != PV_OK)
        return j;
    b64 = pv_base64_encode(rec->data, rec->data_len);
    if (!b64 ||
        json_object_set_new(j, "indicium",
                            json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s, s:I}",
                                      "id", rec->id, "customer_id", rec->customer_id, "server_id",
                                      rec->server_id, "created", (json_int_t) rec->created,
                                      "presentations", (json_int_t) rec->presentations, "prints",
                                      (json_int_t) rec->prints, "data", b64, "from_address",
                                      pv_text(rec->from_address), "to_address",
                                      pv_text(rec->to_address), "medium_sheet", rec->medium_sheet,
                                      "medium_label", (json_int_t) rec->medium_label)) != 0 ||
        json_object_set_new(json_object_get(j, "indicium"), "metadata",
                            json_string(pv_text(rec->metadata))) != 0 ||
        /* A replay of a piece refunded since (absent: not refunded, as from older
         * processors; issue 15, session 17: card replays are the writer's too). */
        (rec->refunded_at &&
         json_object_set_new(json_object_get(j, "indicium"), "refunded_at",
                             json_integer((json_int_t) rec->refunded_at)) != 0)) {
        json_decref(j);
        j = NULL;
    }
    free(b64);
    /* The piece's options and price breakdown (schema v16). */
    if (j && json_object_set_new(json_object_get(j, "indicium"), "price",
                                 json_pack("{s:i, s:i, s:s, s:I, s:I, s:I}", "services",
                                           (int) rec->services, "zone", rec->zone, "rate_version",
                                           rec->rate_version, "surcharge",
                                           (json_int_t) rec->surcharge_mills, "certified",
                                           (json_int_t) rec->certified_mills, "return_receipt",
                                           (json_int_t) rec->return_receipt_mills)) != 0) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The price object of res_to_json into rec; absent is a piece without options. */
static int price_from_json(json_t *o, struct pv_indicium_rec *rec)
{
    int64_t svc, zone;

    if (!o)
        return PV_OK;
    if (int_field(o, "services", 0, PV_SVC_ALL, &svc) || int_field(o, "zone", 0, 9, &zone) ||
        str_field(o, "rate_version", rec->rate_version, sizeof rec->rate_version) ||
        int_field(o, "surcharge", 0, PV_MILLS_MAX, &rec->surcharge_mills) ||
        int_field(o, "certified", 0, PV_MILLS_MAX, &rec->certified_mills) ||
        int_field(o, "return_receipt", 0, PV_MILLS_MAX, &rec->return_receipt_mills))
        return PV_EINVAL;
    rec->services = (uint8_t) svc;
    rec->zone = (int) zone;
    return PV_OK;
}

int pv_res_from_json(json_t *o, struct pv_purchase_res *r)
{
    struct pv_indicium_rec *rec = &r->rec;
    json_t *ind, *v;
    int64_t err, bal, created, pres, prints, label;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc;

    pv_purchase_res_reset(r);
    if (!json_is_object(o) || int_field(o, "err", -1000, 0, &err) ||
        int_field(o, "balance_mills", -PV_MILLS_MAX, PV_MILLS_MAX, &bal) ||
        !json_is_boolean(json_object_get(o, "replayed")))
        return PV_EINVAL;
    r->err = (int) err;
    r->balance_after = bal;
    r->replayed = json_is_true(json_object_get(o, "replayed"));
    if (str_field(o, "decline", r->decline, sizeof r->decline) ||
        str_field(o, "charge_id", r->charge_id, sizeof r->charge_id) ||
        str_field(o, "refill_id", r->refill_id, sizeof r->refill_id) ||
        int_field(o, "charged", 0, PV_MILLS_MAX, &r->charged) ||
        int_field(o, "refilled", 0, PV_MILLS_MAX, &r->refilled))
        return PV_EINVAL;
    if ((v = json_object_get(o, "medium")) != NULL && medium_from_json(v, &r->medium) != PV_OK)
        return PV_EINVAL;
    if (r->err != PV_OK)
        return PV_OK;
    ind = json_object_get(o, "indicium");
    if (!json_is_object(ind))
        return PV_EINVAL;
    if ((rc = texts_field(ind, &rec->from_address, &rec->to_address, &rec->metadata)) != PV_OK)
        return rc;
    if (str_field(ind, "id", rec->id, sizeof rec->id) ||
        str_field(ind, "customer_id", rec->customer_id, sizeof rec->customer_id) ||
        str_field(ind, "server_id", rec->server_id, sizeof rec->server_id) ||
        str_field(ind, "medium_sheet", rec->medium_sheet, sizeof rec->medium_sheet) ||
        int_field(ind, "medium_label", 0, UINT32_MAX, &label) ||
        int_field(ind, "created", 0, INT64_MAX, &created) ||
        int_field(ind, "presentations", 0, INT64_MAX, &pres) ||
        int_field(ind, "prints", 0, INT64_MAX, &prints) || !(v = json_object_get(ind, "data")) ||
        !json_is_string(v))
        return PV_EINVAL;
    if (price_from_json(json_object_get(ind, "price"), rec) != PV_OK ||
        (json_object_get(ind, "refunded_at") &&
         int_field(ind, "refunded_at", 0, INT64_MAX, &rec->refunded_at)))
        return PV_EINVAL;
    rec->created = created;
    rec->presentations = pres;
    rec->prints = prints;
    rec->medium_label = (uint32_t) label;
    if ((rc = pv_base64_decode(json_string_value(v), json_string_length(v), &data, &len)) != PV_OK)
        return PV_EINVAL;
    if (len > sizeof rec->data || pv_indicium_decode(data, len, &rec->ind, NULL) != PV_OK) {
        free(data);
        return PV_EINVAL;
    }
    memcpy(rec->data, data, len);
    rec->data_len = len;
    free(data);
    return PV_OK;
}
