/*
 * fuzz_api_body.c - every other JSON request body of the public API, read
 * by its real handler on a real vendor: the handlers are called as the
 * route table calls them (struct pv_call), on an in-memory SQLite store
 * provisioned with pv_provision_init (demo customer and operator, sandbox
 * gateways, a media secret), so validation and the work after it both run.
 *
 * The first byte of the input picks the route (modulo their number, table
 * below); the rest is the body. Covered here: funds, payment methods,
 * auto-refill, sheets, printers, verify, API keys, and the operator's media
 * batches, affiliates, resupply shipping and server status. The purchase,
 * sign-up and login bodies have targets of their own (purchase_body,
 * auth_body). The Idempotency-Key is derived from the input, so the same
 * input run twice is a replay, as it would be over HTTP.
 *
 * Properties: every body gets an answer; no body makes the server answer
 * 5xx (bad input is a 4xx with {"error": {"code": ...}}, good input a 2xx),
 * and nothing leaks (LeakSanitizer). FUZZ_DEBUG=1 in the environment
 * prints each answer (route, status, body) to stderr.
 */
#include "fuzz.h"

#include "domain/account.h"
#include "domain/provision.h"
#include "server/app.h"
#include "server/h_admin.h"
#include "server/h_auth.h"
#include "server/h_media.h"
#include "server/h_payments.h"
#include "server/h_print.h"
#include "server/h_verify.h"
#include "server/ratelimit.h"
#include "server/reply.h"
#include "stampd/error.h"

#include <jansson.h>
#include <unistd.h>

struct route {
    const char *method, *path, *id;
    int operator;
    void (*handler)(struct pv_call *);
};

static const struct route routes[] = {
    {"POST", "/v1/account/funds", NULL, 0, pv_h_funds},
    {"POST", "/v1/payment-methods", NULL, 0, pv_h_payment_methods},
    {"PUT", "/v1/account/auto-refill", NULL, 0, pv_h_auto_refill},
    {"POST", "/v1/sheets", NULL, 0, pv_h_sheets},
    {"PUT", "/v1/account/printers/desk", "desk", 0, pv_h_printers},
    {"POST", "/v1/verify", NULL, 0, pv_h_verify},
    {"POST", "/v1/account/api-keys", NULL, 0, pv_h_api_keys},
    {"POST", "/v1/admin/media/batches", NULL, 1, pv_h_media_batch_post},
    {"POST", "/v1/admin/affiliates", NULL, 1, pv_h_affiliate_post},
    {"POST", "/v1/admin/resupply-orders/ord_x/ship", "ord_x", 1, pv_h_resupply_ship},
    {"POST", "/v1/admin/servers/proc-1", "proc-1", 1, pv_h_admin_server_status},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static struct pv_app app;
static struct pv_store *store;
static struct pv_principal customer, operator;

static const char *no_arg(void *ctx, const char *name)
{
    (void) ctx;
    (void) name;
    return NULL;
}

/* The vendor: a migrated in-memory store, provisioned with demo accounts
 * (their keys are not needed: the principals are made here) and sandbox
 * gateways; crypto keys in a fresh directory under TMPDIR. */
static void setup(void)
{
    struct pv_provision p = {"PV-FUZZ-1", 2,         100000000,         5000000,
                             NULL,        "sandbox", "fuzzing-password"};
    struct pv_provision_out out;
    const char *tmp = getenv("TMPDIR");
    char dir[256], spec[300];
    int from, to;

    pv_json_alloc_init(); /* as main does */
    snprintf(dir, sizeof dir, "%s/fuzz_api_body-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        abort();
    snprintf(spec, sizeof spec, "openssl:%s", dir);
    p.crypto_spec = spec;
    if (pv_store_open("sqlite::memory:", &store) != PV_OK ||
        pv_store_migrate(store, &from, &to) != PV_OK ||
        pv_provision_init(store, &p, pv_now(), &out) != PV_OK ||
        pv_media_keyring_init(&app.media, store, PV_MEDIA_RELOAD_MS) != PV_OK ||
        pv_gateway_open("sandbox", &app.gws.live) != PV_OK ||
        pv_gateway_open("sandbox", &app.gws.test) != PV_OK ||
        pv_ratelimit_new(60, &app.limits) != PV_OK ||
        pv_ratelimit_new_budget(1000000, 60, &app.signups) != PV_OK)
        abort();
    snprintf(app.license, sizeof app.license, "PV-FUZZ-1");
    app.refund_window_s = 30 * 86400;
    customer.role = PV_ROLE_CUSTOMER;
    snprintf(customer.owner_id, sizeof customer.owner_id, "%s", out.customer_id);
    operator.role = PV_ROLE_OPERATOR;
    snprintf(operator.owner_id, sizeof operator.owner_id, "%s", out.operator_id);
}

/* Mixed into the Idempotency-Key: test_oom_server makes each run a new
 * request with it; the fuzzer leaves it 0. */
static unsigned idem_salt;

/*
 * One call: the route data[0] picks, with the rest as its body. *rp gets
 * the answer (the caller frees rp->body and rp->raw). Also used by
 * tests/unit/test_oom_server.c, which compiles this file in.
 */
static void api_call(const uint8_t *data, size_t size, struct pv_reply *rp)
{
    const struct route *r = &routes[data[0] % NROUTES];
    struct pv_request rq;
    struct pv_call call;
    char idem[32];
    uint32_t h = 2166136261u ^ idem_salt;
    size_t i;

    if (!store)
        setup();
    for (i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    snprintf(idem, sizeof idem, "fuzz-%08x", (unsigned) h);
    memset(&rq, 0, sizeof rq);
    rq.method = r->method;
    rq.path = r->path;
    rq.arg = no_arg;
    rq.header = no_arg;
    rq.idempotency_key = idem;
    rq.body = (const char *) data + 1;
    rq.body_len = size - 1;
    rq.remote = "127.0.0.1";
    memset(rp, 0, sizeof *rp);
    memset(&call, 0, sizeof call);
    call.app = &app;
    call.st = store;
    call.who = r->operator? &operator: & customer;
    call.rq = &rq;
    call.rp = rp;
    call.id = r->id;
    r->handler(&call);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pv_reply rp;

    if (size < 1)
        return 0;
    api_call(data, size, &rp);
    if (getenv("FUZZ_DEBUG")) {
        char *d = rp.body ? json_dumps(rp.body, 0) : NULL;

        fprintf(stderr, "%s %d %s\n", routes[data[0] % NROUTES].path, rp.status, d ? d : "");
        free(d);
    }
    FUZZ_CHECK(rp.status >= 200 && rp.status < 500);
    if (rp.status >= 400)
        FUZZ_CHECK(json_is_string(json_object_get(json_object_get(rp.body, "error"), "code")));
    json_decref(rp.body);
    free(rp.raw);
    return 0;
}
