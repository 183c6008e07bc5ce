/*
 * events.c - webhook events (events.h): emitting into the outbox, the
 * event's JSON view, the signature, the retry schedule and the URL rules.
 */
#include "domain/events.h"

#include "crypto/primitives.h"
#include "domain/indicium_view.h"
#include "domain/ledger.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

const char *const pv_event_types[] = {
    PV_EVENT_INDICIUM_CREATED,
    PV_EVENT_REFUND_DECIDED,
    PV_EVENT_FUNDS_ADDED,
    PV_EVENT_AUTO_REFILL_FAILED,
    PV_EVENT_BALANCE_LOW,
    PV_EVENT_BATCH_COMPLETED,
    NULL,
};

int pv_event_type_known(const char *name)
{
    for (size_t i = 0; name && pv_event_types[i]; i++)
        if (strcmp(name, pv_event_types[i]) == 0)
            return 1;
    return 0;
}

/* The event row and a delivery to each of ids[0..n-1], in the open transaction. */
static int record(struct pv_store *st, const char *owner_id, int test, const char *type,
                  json_t *data, int64_t now, char ids[][PV_ID_MAX], size_t n, char *id_out)
{
    struct pv_hook_event_rec ev;
    int rc;

    memset(&ev, 0, sizeof ev);
    if ((rc = pv_new_id("evt", ev.id)) != PV_OK)
        return rc;
    pv_str_copy(ev.owner_id, sizeof ev.owner_id, owner_id);
    ev.test = test ? 1 : 0;
    pv_str_copy(ev.type, sizeof ev.type, type);
    ev.created = now;
    if (!(ev.data = json_dumps(data, JSON_COMPACT)))
        return PV_ENOMEM;
    rc = pv_store_hook_event_insert(st, &ev);
    for (size_t i = 0; rc == PV_OK && i < n; i++)
        rc = pv_store_hook_delivery_insert(st, ev.id, ids[i], now * 1000);
    free(ev.data);
    if (rc == PV_OK && id_out)
        pv_str_copy(id_out, PV_ID_MAX, ev.id);
    return rc;
}

int pv_event_subs_load(struct pv_store *st, const char *owner_id, int test, struct pv_event_subs *s)
{
    s->n = 0;
    if (!st || !owner_id || !owner_id[0])
        return PV_EINVAL;
    return pv_store_hook_enabled(st, owner_id, test, s->ids, s->events, &s->n);
}

/* Does an endpoint's events list ("*" or ",a,b,") take type? */
static int takes(const char *events, const char *type)
{
    size_t n = strlen(type);
    const char *p = events;

    if (strcmp(events, "*") == 0)
        return 1;
    while ((p = strstr(p, type)) != NULL) {
        if (p > events && p[-1] == ',' && p[n] == ',')
            return 1;
        p += n;
    }
    return 0;
}

int pv_event_subs_want(const struct pv_event_subs *s, const char *type)
{
    for (size_t i = 0; s && type && i < s->n; i++)
        if (takes(s->events[i], type))
            return 1;
    return 0;
}

int pv_event_emit_subs(struct pv_store *st, const struct pv_event_subs *s, const char *owner_id,
                       int test, const char *type, json_t *data, int64_t now, char *id_out)
{
    char ids[PV_HOOK_FANOUT][PV_ID_MAX];
    size_t n = 0;

    if (id_out)
        id_out[0] = '\0';
    if (!st || !s || !owner_id || !owner_id[0] || !pv_event_type_known(type) ||
        !json_is_object(data))
        return PV_EINVAL;
    for (size_t i = 0; i < s->n; i++)
        if (takes(s->events[i], type))
            memcpy(ids[n++], s->ids[i], PV_ID_MAX);
    if (n == 0)
        return PV_OK; /* nobody takes it: nothing written */
    return record(st, owner_id, test, type, data, now, ids, n, id_out);
}

int pv_event_emit(struct pv_store *st, const char *owner_id, int test, const char *type,
                  json_t *data, int64_t now, char *id_out)
{
    struct pv_event_subs subs;
    int rc;

    if (id_out)
        id_out[0] = '\0';
    if (!st || !owner_id || !owner_id[0] || !pv_event_type_known(type) || !json_is_object(data))
        return PV_EINVAL;
    /* The cheap check: one indexed read; nobody subscribed, nothing written. */
    if ((rc = pv_event_subs_load(st, owner_id, test, &subs)) != PV_OK)
        return rc;
    return pv_event_emit_subs(st, &subs, owner_id, test, type, data, now, id_out);
}

int pv_event_wanted(struct pv_store *st, const char *owner_id, int test, const char *type, int *yes)
{
    struct pv_event_subs subs;
    int rc = pv_event_subs_load(st, owner_id, test, &subs);

    *yes = rc == PV_OK && pv_event_subs_want(&subs, type);
    return rc;
}

static int emit_built(struct pv_store *st, const char *owner_id, int test, const char *type,
                      json_t *data, int64_t now)
{
    int rc = data ? pv_event_emit(st, owner_id, test, type, data, now, NULL) : PV_ENOMEM;

    json_decref(data);
    return rc;
}

int pv_event_funds_added(struct pv_store *st, const struct pv_charge_rec *c, int64_t now)
{
    char created[32], amount[32];
    int rc, yes;

    if ((rc = pv_event_wanted(st, c->customer_id, c->test, PV_EVENT_FUNDS_ADDED, &yes)) != PV_OK ||
        !yes)
        return rc;
    pv_time_format(c->created, created, sizeof created);
    return emit_built(st, c->customer_id, c->test, PV_EVENT_FUNDS_ADDED,
                      json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:{s:s, s:s}, s:s}", "object",
                                "funds", "id", c->ref, "source",
                                strcmp(c->purpose, "auto_refill") == 0 ? "auto_refill" : "card",
                                "amount", pv_money_format(c->amount, amount, sizeof amount),
                                "amount_mills", (json_int_t) c->amount, "charge_id", c->id, "card",
                                "brand", c->brand, "last4", c->last4, "created", created),
                      now);
}

int pv_event_balance_low(struct pv_store *st, const struct pv_event_subs *subs,
                         const char *owner_id, int test, pv_mills before, pv_mills after,
                         int64_t now)
{
    struct pv_event_subs own;
    struct pv_autorefill_rec ar;
    pv_mills line = PV_BALANCE_LOW_DEFAULT;
    char a[32], t[32];
    json_t *data;
    int rc;

    if (after >= before)
        return PV_OK;
    if (!subs) {
        if ((rc = pv_event_subs_load(st, owner_id, test, &own)) != PV_OK)
            return rc;
        subs = &own;
    }
    if (!pv_event_subs_want(subs, PV_EVENT_BALANCE_LOW))
        return PV_OK;
    rc = pv_store_autorefill_get(st, owner_id, test, &ar);
    if (rc == PV_OK && ar.trigger > 0)
        line = ar.trigger;
    else if (rc != PV_OK && rc != PV_ENOTFOUND)
        return rc;
    /* Once per crossing, not on every purchase below the line. */
    if (!(before >= line && after < line))
        return PV_OK;
    data = json_pack("{s:s, s:s, s:I, s:s, s:I}", "object", "balance", "balance",
                     pv_money_format(after, a, sizeof a), "balance_mills", (json_int_t) after,
                     "threshold", pv_money_format(line, t, sizeof t), "threshold_mills",
                     (json_int_t) line);
    rc = data ? pv_event_emit_subs(st, subs, owner_id, test, PV_EVENT_BALANCE_LOW, data, now, NULL)
              : PV_ENOMEM;
    json_decref(data);
    return rc;
}

int pv_event_auto_refill_failed(struct pv_store *st, const char *owner_id, int test,
                                pv_mills amount, const char *decline, int err, int own_tx,
                                int64_t now)
{
    char a[32];
    int rc, yes;
    json_t *data;

    if ((rc = pv_event_wanted(st, owner_id, test, PV_EVENT_AUTO_REFILL_FAILED, &yes)) != PV_OK ||
        !yes)
        return rc;
    data = json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "object", "auto_refill", "amount",
                     pv_money_format(amount, a, sizeof a), "amount_mills", (json_int_t) amount,
                     "error", pv_error_code(err), "message", pv_strerror(err), "decline_code",
                     decline && decline[0] ? json_string(decline) : json_null());
    if (!own_tx)
        return emit_built(st, owner_id, test, PV_EVENT_AUTO_REFILL_FAILED, data, now);
    if ((rc = pv_store_begin(st)) != PV_OK) {
        json_decref(data);
        return rc;
    }
    rc = emit_built(st, owner_id, test, PV_EVENT_AUTO_REFILL_FAILED, data, now);
    return rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
}

int pv_event_emit_to(struct pv_store *st, const struct pv_hook_endpoint_rec *ep, const char *type,
                     json_t *data, int64_t now, char *id_out)
{
    char ids[1][PV_ID_MAX];
    int rc;

    if (id_out)
        id_out[0] = '\0';
    if (!st || !ep || !type || !json_is_object(data))
        return PV_EINVAL;
    pv_str_copy(ids[0], sizeof ids[0], ep->id);
    if ((rc = pv_store_begin(st)) != PV_OK)
        return rc;
    rc = record(st, ep->owner_id, ep->test, type, data, now, ids, 1, id_out);
    return rc == PV_OK ? pv_store_commit(st) : (pv_store_rollback(st), rc);
}

json_t *pv_event_json(const struct pv_hook_event_rec *ev)
{
    char created[32];
    json_t *data, *j;

    if (!ev || !ev->data || !(data = json_loads(ev->data, 0, NULL)))
        return NULL;
    pv_time_format(ev->created, created, sizeof created);
    j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:{s:o}}", "id", ev->id, "object", "event", "type",
                  ev->type, "created", created, "livemode", !ev->test, "data", "object", data);
    return j;
}

int pv_hook_sign(const char *secret, int64_t t, const void *body, size_t len, char *out)
{
    char prefix[32];
    uint8_t mac[32];
    unsigned char *msg;
    int plen, rc;

    if (!secret || !secret[0] || (!body && len) || !out)
        return PV_EINVAL;
    plen = snprintf(prefix, sizeof prefix, "%" PRId64 ".", t);
    if (plen < 0 || (size_t) plen >= sizeof prefix || len > SIZE_MAX - (size_t) plen)
        return PV_EINVAL;
    if (!(msg = malloc((size_t) plen + len + 1)))
        return PV_ENOMEM;
    memcpy(msg, prefix, (size_t) plen);
    if (len)
        memcpy(msg + plen, body, len);
    rc = pv_hmac_sha256(secret, strlen(secret), msg, (size_t) plen + len, mac);
    free(msg);
    if (rc != PV_OK)
        return rc;
    plen = snprintf(out, PV_HOOK_SIG_MAX, "t=%" PRId64 ",v1=", t);
    pv_hex_encode(mac, sizeof mac, out + plen);
    return PV_OK;
}

int pv_hook_secret_new(char out[PV_HOOK_SECRET_MAX])
{
    uint8_t rnd[32];

    if (pv_random(rnd, sizeof rnd) != PV_OK)
        return PV_ECRYPTO;
    memcpy(out, "whsec_", 6);
    pv_hex_encode(rnd, sizeof rnd, out + 6);
    return PV_OK;
}

int64_t pv_hook_backoff_ms(int n, int64_t base_ms, uint32_t rnd)
{
    int64_t d = base_ms > 0 ? base_ms : 1;

    for (int i = 1; i < n && d < PV_HOOK_BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > PV_HOOK_BACKOFF_CAP_MS)
        d = PV_HOOK_BACKOFF_CAP_MS;
    /* Jitter 80-120 %: endpoints that failed together do not retry together. */
    return d * (80 + (int64_t) (rnd % 41)) / 100;
}

int pv_hook_url_check(const char *url, int allow_http, char *why, char *host_out, int *port_out)
{
    const char *p, *host, *end;
    char host_buf[256];
    size_t n, hl;
    int port;

    why[0] = '\0';
    if (!url || !(n = strlen(url)) || n >= PV_HOOK_URL_MAX) {
        snprintf(why, 128, "url is 1 to %d characters", PV_HOOK_URL_MAX - 1);
        return PV_EWEBHOOKURL;
    }
    for (size_t i = 0; i < n; i++)
        if ((unsigned char) url[i] <= 0x20 || (unsigned char) url[i] >= 0x7f) {
            snprintf(why, 128, "url has a space or a character that is not printable ASCII");
            return PV_EWEBHOOKURL;
        }
    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        port = 443;
    } else if (strncmp(url, "http://", 7) == 0 && allow_http) {
        p = url + 7;
        port = 80;
    } else {
        snprintf(why, 128, "url must start with https://");
        return PV_EWEBHOOKURL;
    }
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t) (end - p)) || strchr(url, '#')) {
        snprintf(why, 128, "url may have neither user information nor a fragment");
        return PV_EWEBHOOKURL;
    }
    host = p;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t) (end - host));
        if (!close) {
            snprintf(why, 128, "url has an unclosed [IPv6] address");
            return PV_EWEBHOOKURL;
        }
        hl = (size_t) (close - host - 1);
        host++;
        p = close + 1;
    } else {
        const char *colon = memchr(host, ':', (size_t) (end - host));
        hl = (size_t) ((colon ? colon : end) - host);
        p = colon ? colon : end;
    }
    if (hl == 0 || hl >= sizeof host_buf) {
        snprintf(why, 128, "url has no host");
        return PV_EWEBHOOKURL;
    }
    memcpy(host_buf, host, hl);
    host_buf[hl] = '\0';
    if (*p == ':') {
        long v = 0;
        const char *q = p + 1;
        if (q == end) {
            snprintf(why, 128, "url has an empty port");
            return PV_EWEBHOOKURL;
        }
        for (; q < end; q++) {
            if (*q < '0' || *q > '9' || v > 65535) {
                snprintf(why, 128, "url's port is not a number 1-65535");
                return PV_EWEBHOOKURL;
            }
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535) {
            snprintf(why, 128, "url's port is not a number 1-65535");
            return PV_EWEBHOOKURL;
        }
        port = (int) v;
    } else if (p != end) {
        snprintf(why, 128, "url's host is not valid");
        return PV_EWEBHOOKURL;
    }
    for (size_t i = 0; i < hl; i++) {
        char c = host_buf[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == ':')) {
            snprintf(why, 128, "url's host is not valid");
            return PV_EWEBHOOKURL;
        }
    }
    if (host_out)
        memcpy(host_out, host_buf, hl + 1);
    if (port_out)
        *port_out = port;
    return PV_OK;
}

int pv_hook_addr_private(int family, const unsigned char *a)
{
    static const unsigned char v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (family == AF_INET6 && memcmp(a, v4mapped, 12) == 0)
        return pv_hook_addr_private(AF_INET, a + 12);
    if (family == AF_INET) {
        if (a[0] == 127)
            return 2;
        return a[0] == 0 || a[0] == 10 || (a[0] == 100 && (a[1] & 0xc0) == 64) ||
               (a[0] == 169 && a[1] == 254) || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
               (a[0] == 192 && a[1] == 168) || (a[0] == 192 && a[1] == 0 && a[2] == 0) ||
               (a[0] == 198 && (a[1] & 0xfe) == 18) || a[0] >= 224;
    }
    if (family == AF_INET6) {
        static const unsigned char loop[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char any[16] = {0};
        if (memcmp(a, loop, 16) == 0)
            return 2;
        return memcmp(a, any, 16) == 0 || (a[0] & 0xfe) == 0xfc || /* unique local */
               (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||          /* link-local */
               a[0] == 0xff ||                                     /* multicast */
               (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) ||
               (a[0] == 0 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b); /* NAT64 */
    }
    return 1;
}

int pv_event_piece(struct pv_store *st, const char *owner_id, int test,
                   const struct pv_indicium_rec *rec, int balance_paid, pv_mills before,
                   pv_mills after, int hooks, int64_t now)
{
    struct pv_event_subs subs;
    json_t *data;
    int rc;

    /* The usual answer is "no endpoints". */
    if (!hooks)
        return PV_OK;
    if ((rc = pv_event_subs_load(st, owner_id, test, &subs)) != PV_OK || subs.n == 0)
        return rc;
    if (pv_event_subs_want(&subs, PV_EVENT_INDICIUM_CREATED)) {
        data = pv_indicium_json(rec);
        rc = data ? pv_event_emit_subs(st, &subs, owner_id, test, PV_EVENT_INDICIUM_CREATED, data,
                                       now, NULL)
                  : PV_ENOMEM;
        json_decref(data);
        if (rc != PV_OK)
            return rc;
    }
    return balance_paid ? pv_event_balance_low(st, &subs, owner_id, test, before, after, now)
                        : PV_OK;
}
