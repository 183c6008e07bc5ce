/*
 * fuzz_api_body.c - every other JSON request body (and the query arguments)
 * of the public API, read by its real handler on a real vendor: the
 * handlers are called as the route table calls them (struct pv_call), on
 * an in-memory SQLite store provisioned with pv_provision_init (demo
 * customer and operator, sandbox gateways, a media secret), so validation
 * and the work after it both run.
 *
 * The first byte of the input picks the route (modulo their number, table
 * below); the rest is the body, or for a GET the query string. Covered
 * here: the bodies of funds, payment methods, auto-refill, sheets,
 * printers, verify, API keys, and the operator's media batches,
 * affiliates, resupply shipping and server status; the query arguments of
 * the quote, the indicia list and one indicium, the label, transactions,
 * and the operator's stats, ledger and medium look-up. The purchase,
 * sign-up and login bodies have targets of their own (purchase_body,
 * auth_body). The vendor also has what a body may name (fixtures below):
 * the indicium "ind_fuzz", the affiliate "aff_fuzz", the processor
 * "proc-1", and an open resupply order for every shipping call. The Idempotency-Key is derived from
 * the input, so the same input run twice is a replay, as it would be over HTTP.
 *
 * Properties: every body gets an answer; no body makes the server answer
 * 5xx (bad input is a 4xx with {"error": {"code": ...}}, good input a 2xx),
 * a quote is for the mail date asked, and nothing leaks (LeakSanitizer). FUZZ_DEBUG=1 in the
 * environment prints each answer (route, status, body) to stderr.
 */
#include "fuzz.h"

#include "domain/account.h"
#include "domain/provision.h"
#include "server/app.h"
#include "server/h_admin.h"
#include "server/h_auth.h"
#include "server/h_indicia.h"
#include "server/h_media.h"
#include "server/h_payments.h"
#include "server/h_print.h"
#include "server/h_verify.h"
#include "server/ratelimit.h"
#include "server/reply.h"
#include "stampd/error.h"

#include <jansson.h>
#include <unistd.h>

/* Sheets render with cairo, whose fontconfig keeps caches for the life of
 * the process by design (STACK.md): not leaks of an input. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:libfontconfig\nleak:FcValueSave\n";
}

struct route {
    const char *method, *path, *id;
    int staff; /* called with the operator's key, not the customer's */
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
    {"POST", "/v1/admin/resupply-orders/{id}/ship", NULL, 1, pv_h_resupply_ship},
    {"POST", "/v1/admin/servers/proc-1", "proc-1", 1, pv_h_admin_server_status},
    /* GET: the rest of the input is the query string; "?" takes the path's
     * {id} from its argument "id". */
    {"GET", "/v1/rates/quote", NULL, 0, pv_h_quote},
    {"GET", "/v1/indicia", NULL, 0, pv_h_indicia_list},
    {"GET", "/v1/indicia/ind_fuzz/label", "ind_fuzz", 0, pv_h_label},
    {"GET", "/v1/account/transactions", NULL, 0, pv_h_transactions},
    {"GET", "/v1/admin/stats", NULL, 1, pv_h_admin_stats},
    {"GET", "/v1/admin/ledger", NULL, 1, pv_h_admin_ledger},
    {"GET", "/v1/admin/media/{serial}", "?", 1, pv_h_medium_get},
    {"GET", "/v1/indicia/{id}", "?", 0, pv_h_indicium_get},
};
#define NROUTES (sizeof routes / sizeof routes[0])

static struct pv_app app;
static struct pv_store *store;
static struct pv_principal customer, staff;

static const char *no_arg(void *ctx, const char *name)
{
    (void) ctx;
    (void) name;
    return NULL;
}

/* A query string split in place into up to 32 arguments, as the HTTP layer
 * hands them over (already unescaped): "a=1&b" is a = "1", b = "". */
struct query {
    char text[4096];
    const char *key[32], *val[32];
    size_t n;
};

static void query_parse(struct query *q, const uint8_t *data, size_t size)
{
    char *p, *amp, *eq;

    if (size >= sizeof q->text)
        size = sizeof q->text - 1;
    memcpy(q->text, data, size);
    q->text[size] = '\0';
    q->n = 0;
    for (p = q->text; *p && q->n < 32; p = amp + 1) {
        if ((amp = strchr(p, '&')) != NULL)
            *amp = '\0';
        if ((eq = strchr(p, '=')) != NULL)
            *eq = '\0';
        q->key[q->n] = p;
        q->val[q->n++] = eq ? eq + 1 : "";
        if (!amp)
            break;
    }
}

/* The query of the last GET call. */
static struct query query;

static const char *query_arg(void *ctx, const char *name)
{
    const struct query *q = ctx;
    size_t i;

    for (i = 0; i < q->n; i++)
        if (strcmp(q->key[i], name) == 0)
            return q->val[i];
    return NULL;
}

/*
 * What bodies can name, so that the fuzzer gets past "not found": an
 * affiliate "aff_fuzz" (media batches), an indicium "ind_fuzz" of the demo
 * customer (sheets; well-formed, its signature all zero), and a processor
 * "proc-1" (server status). The resupply order to ship is opened per call
 * (fixture_order).
 */
static void fixtures(void)
{
    struct pv_affiliate_rec a;
    struct pv_server_rec sv;
    struct pv_indicium_rec *rec = calloc(1, sizeof *rec);
    struct pv_indicium *x;

    if (!rec)
        abort();
    memset(&a, 0, sizeof a);
    snprintf(a.id, sizeof a.id, "aff_fuzz");
    snprintf(a.name, sizeof a.name, "Fuzz Shop");
    /* Low, so the affiliates a body makes (one per run of test_oom_server's
     * allocation loop over the affiliate body) have thousands of groups left. */
    a.group_no = 100;
    a.resupply_sheets = 2;
    memset(&sv, 0, sizeof sv);
    snprintf(sv.id, sizeof sv.id, "proc-1");
    snprintf(sv.address, sizeof sv.address, "inproc");
    snprintf(sv.crypto_module, sizeof sv.crypto_module, "openssl");
    sv.started_ms = sv.heartbeat_ms = pv_now_ms();
    snprintf(rec->id, sizeof rec->id, "ind_fuzz");
    snprintf(rec->customer_id, sizeof rec->customer_id, "%s", customer.owner_id);
    snprintf(rec->server_id, sizeof rec->server_id, "proc-1");
    rec->created = pv_now();
    x = &rec->ind;
    x->version = PV_INDICIUM_V1;
    x->sig_alg = PV_SIGALG_P256_SHA256;
    memcpy(x->license, "PV-FUZZ-1", 10);
    x->device_id = x->key_id = x->serial = 1;
    x->ascending_mills = x->postage_mills = 740;
    x->mail_date = pv_date_from_unix(pv_now());
    x->mail_class = 1;
    x->weight_tenth_oz = 10;
    memcpy(x->from_zip, "94107", 6);
    memcpy(x->to_zip, "10001", 6);
    memcpy(x->software_id, PV_SOFTWARE_ID, sizeof PV_SOFTWARE_ID);
    if (pv_store_affiliate_insert(store, &a) != PV_OK ||
        pv_store_server_register(store, &sv) != PV_OK ||
        pv_indicium_encode(x, rec->data, sizeof rec->data, &rec->data_len) != PV_OK ||
        pv_store_indicium_insert(store, rec) != PV_OK)
        abort();
    free(rec);
}

/* Called with 1 before and 0 after set-up work inside a call (NULL: none):
 * test_oom_server pauses its allocation counting there. */
static void (*setup_pause)(int on);

/* The open resupply order of aff_fuzz, opened when there is none (the
 * last call may have shipped it): its id into id. */
static void fixture_order(char id[PV_ID_MAX])
{
    static unsigned n;
    struct pv_resupply_rec o;
    int opened;

    memset(&o, 0, sizeof o);
    snprintf(o.id, sizeof o.id, "rso_fuzz_%u", ++n);
    snprintf(o.affiliate_id, sizeof o.affiliate_id, "aff_fuzz");
    o.product = 1;
    o.created = pv_now();
    if (pv_store_resupply_open(store, &o, &opened) != PV_OK)
        abort();
    memcpy(id, o.id, PV_ID_MAX);
}

/* The vendor: a migrated in-memory store, provisioned with demo accounts
 * (their keys are not needed: the principals are made here) and sandbox
 * gateways; crypto keys in a fresh directory under TMPDIR. */
static void setup(void)
{
    struct pv_provision p = {.license = "PV-FUZZ-1",
                             .psds = 2,
                             .deposit = 100000000,
                             .refill = 5000000,
                             .gateway = "sandbox",
                             .demo_password = "fuzzing-password"};
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
    staff.role = PV_ROLE_OPERATOR;
    snprintf(staff.owner_id, sizeof staff.owner_id, "%s", out.operator_id);
    fixtures();
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
    char idem[32], order[PV_ID_MAX];
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
    if (strcmp(r->method, "GET") == 0) {
        query_parse(&query, data + 1, size - 1);
        rq.arg = query_arg;
        rq.arg_ctx = &query;
    } else {
        rq.body = (const char *) data + 1;
        rq.body_len = size - 1;
    }
    rq.remote = "127.0.0.1";
    memset(rp, 0, sizeof *rp);
    memset(&call, 0, sizeof call);
    call.app = &app;
    call.st = store;
    call.who = r->staff ? &staff : &customer;
    call.rq = &rq;
    call.rp = rp;
    call.id = r->id;
    /* The route table always gives a {id} route its segment, "" at least. */
    if (r->id && strcmp(r->id, "?") == 0)
        call.id = query_arg(&query, "id") ? query_arg(&query, "id") : "";
    if (r->handler == pv_h_resupply_ship) {
        if (setup_pause)
            setup_pause(1);
        fixture_order(order);
        if (setup_pause)
            setup_pause(0);
        call.id = order;
    }
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
    /* A quote is for the day asked, or not at all. */
    if (routes[data[0] % NROUTES].handler == pv_h_quote && rp.status == 200 &&
        query_arg(&query, "mail_date"))
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(rp.body, "mail_date")),
                          query_arg(&query, "mail_date")) == 0);
    json_decref(rp.body);
    free(rp.raw);
    return 0;
}
