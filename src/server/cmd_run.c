/*
 * cmd_run.c - running a server: stampd serve (the API and its processors
 * in one process), stampd front (the API; purchases go to processor
 * processes) and stampd processor (one processor answering signed internal
 * requests): their options, start-up and orderly shutdown.
 *
 * Under systemd (Type=notify) it says READY=1 once it listens, STOPPING=1 on
 * SIGTERM or SIGINT, and RELOADING=1 around a SIGHUP, which re-reads the
 * configuration file (cmd_config.c: what takes effect, what needs a restart).
 *
 * A live gateway that is the sandbox moves no real money: every mode says
 * so in a warning line at start (and GET /metrics in
 * stampd_live_gateway_sandbox), so a demo configuration is not taken
 * into production unnoticed.
 */
#include "server/cmd_run.h"

#include "domain/config.h"
#include "domain/media.h"
#include "domain/pricing.h"
#include "domain/report.h"
#include "render/render.h"
#include "server/cmd.h"
#include "server/cmd_config.h"
#include "server/cmd_crypto.h"
#include "server/cmd_secret.h"
#include "server/cmd_tls.h"
#include "server/hooks_worker.h"
#include "server/keycache.h"
#include "server/http.h"
#include "server/internal.h"
#include "server/notify.h"
#include "server/pool.h"
#include "server/processor.h"
#include "server/pubtls.h"
#include "server/ratelimit.h"
#include "server/router.h"
#include "server/batch.h"
#include "stampd/card.h"
#include "stampd/codec.h"
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "stampd/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PROCESSORS 16

static int parse_listen(const char *s, char host[64], uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    uint64_t p;

    if (!colon || (size_t) (colon - s) >= 64 || colon == s)
        return PV_EINVAL;
    memcpy(host, s, (size_t) (colon - s));
    host[colon - s] = '\0';
    if (pv_parse_u64(colon + 1, 0, 65535, &p) != PV_OK)
        return PV_EINVAL;
    *port = (uint16_t) p;
    return PV_OK;
}

static const char *mode_name(enum pv_run_mode mode)
{
    return mode == PV_RUN_SERVE ? "serve" : mode == PV_RUN_FRONT ? "front" : "processor";
}

static int start_procs(const struct opts *o, struct pv_app *app, uint64_t n, const char *address,
                       uint64_t lease_ms, uint64_t recovery_s, uint64_t pay_threads,
                       int sign_threads)
{
    struct pv_processor_opts popts;
    char pin[PV_PIN_MAX + 1];
    int rc;

    memset(&popts, 0, sizeof popts);
    popts.dsn = o->db;
    popts.n = (size_t) n;
    popts.id = o->id;
    popts.address = address;
    popts.lease_ms = (int64_t) lease_ms;
    popts.gws = &app->gws;
    popts.crypto_spec = o->crypto;
    /* The PIN is needed only until the modules have logged in. */
    if ((rc = pv_cmd_crypto_pin(o, o->crypto, pin, sizeof pin)) != PV_OK)
        return pv_cmd_fail("crypto module PIN", rc);
    popts.crypto_pin = pin[0] ? pin : NULL;
    popts.recovery_ms = (int64_t) recovery_s * 1000;
    popts.payment_threads = (size_t) pay_threads;
    popts.sign_threads = sign_threads;
    popts.no_reports = o->reports && strcmp(o->reports, "off") == 0;
    if (pv_report_clock_check() != PV_OK)
        return 2;
    rc = pv_processors_start(&popts, &app->procs);
    pv_card_wipe(pin, sizeof pin);
    if (rc != PV_OK)
        return pv_cmd_fail("start processors", rc);
    app->nprocs = (size_t) n;
    return PV_OK;
}

/*
 * --metrics-token-file PATH: the token GET /metrics takes (on a processor's
 * internal port, the only credential it takes)
 * besides an operator's key, into out (n bytes): one line of 16 or more
 * printable characters without spaces, in a file only its owner may read.
 */
static int metrics_token(const struct opts *o, char *out, size_t n)
{
    size_t len = 0, i;
    int rc;

    if ((rc = pv_cmd_read_private("--metrics-token-file", o->metrics_token_file, out, n - 1,
                                  &len)) != PV_OK)
        return rc;
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r'))
        len--;
    out[len] = '\0';
    for (i = 0; i < len; i++)
        if (out[i] <= 0x20 || out[i] >= 0x7f)
            break;
    if (len < 16 || i < len) {
        pv_card_wipe(out, n);
        pv_log(PV_LOG_ERROR,
               "--metrics-token-file: the token must be one line of 16 to %zu "
               "printable characters without spaces",
               n - 1);
        return PV_EINVAL;
    }
    return PV_OK;
}

/*
 * --tls-cert FILE --tls-key FILE (serve, front): read the public listener's
 * pair into *out (owned; pv_tls_clear). The key file must be mode 0600 or
 * stricter. Says what is wrong. PV_OK or the error.
 */
static int pub_tls_read(const struct opts *o, struct pv_tls *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = pv_cmd_tls_read_pem(o->tls_cert, 0, &out->cert_pem)) != PV_OK ||
        (rc = pv_cmd_tls_read_pem(o->tls_key, 1, &out->key_pem)) != PV_OK)
        pv_tls_clear(out);
    return rc;
}

/* SIGHUP: the files of --tls-cert/--tls-key again, for new connections; a
 * pair that does not load keeps the one in use. */
static void pub_tls_reload(const struct opts *o)
{
    struct pv_tls t;
    char why[160];

    if (pub_tls_read(o, &t) != PV_OK) {
        pv_log(PV_LOG_ERROR, "tls: %s / %s not reloaded: keeping the certificate in use\n",
               o->tls_cert, o->tls_key);
        return;
    }
    if (pv_pubtls_set(t.cert_pem, t.key_pem, why, sizeof why) != PV_OK)
        pv_log(PV_LOG_ERROR, "tls: %s / %s not reloaded (%s): keeping the certificate in use\n",
               o->tls_cert, o->tls_key, why);
    else
        pv_log(PV_LOG_INFO, "tls: reloaded %s for new connections\n", o->tls_cert);
    pv_tls_clear(&t);
}

/*
 * stampd serve: the API and N processors in one process.
 * stampd front: the API; purchases go to processor processes (router.c).
 * stampd processor: one processor answering signed internal requests.
 */
int pv_cmd_run(const struct opts *o, enum pv_run_mode mode)
{
    struct pv_app app;
    struct pv_processor_opts popts;
    struct pv_store *st = NULL;
    struct pv_http *http = NULL;
    struct pv_tls tls = {NULL, NULL, NULL}, pub = {NULL, NULL, NULL};
    char host[64], address[128], *license = NULL;
    uint64_t nproc = mode == PV_RUN_PROCESSOR ? 1 : 2, threads = 4, lease_ms = 0;
    uint64_t lockout = 900, refund_days = 30, signup_limit = 5;
    /* Behind a trusted proxy every client shares the proxy's address: the
     * proxy limits per client, so by default stampd does not. */
    uint64_t per_address = o->trusted_proxy ? 0 : PV_HTTP_PER_ADDRESS;
    uint64_t deadline = PV_HTTP_DEADLINE_S, conn_limit = PV_HTTP_CONNECTIONS;
    uint64_t gw_latency = 0, recovery_s = 0, pay_threads = 0, sign_n = 0;
    int sign_threads;
    uint64_t hook_base = 30000, hook_window = 259200, hook_timeout = 10000;
    struct pv_hooks_opts hopts;
    struct pv_hooks *hooks = NULL;
    struct pv_gateway_opts gwo;
    char journal[1024];
    struct pv_http_limits limits;
    char *gateway = NULL;
    uint16_t port = 8080, bound = 0;
    sigset_t set;
    int sig, rc, live_sandbox;

    /* Every line from here on goes through the log (stampd/log.h). */
    if (pv_log_setup(o->log_format) != PV_OK) {
        fprintf(stderr, "stampd: --log-format takes text or json\n");
        return 2;
    }
    if (pv_log_set_level(o->log_level) != PV_OK) {
        fprintf(stderr, "stampd: --log-level takes error, warning, info or debug\n");
        return 2;
    }
    pv_cmd_server_log();
    if (parse_listen(o->listen ? o->listen : "127.0.0.1:8080", host, &port) != PV_OK ||
        (o->processors && (mode != PV_RUN_SERVE ||
                           pv_parse_u64(o->processors, 1, MAX_PROCESSORS, &nproc) != PV_OK)) ||
        (o->threads && pv_parse_u64(o->threads, 1, 256, &threads) != PV_OK) ||
        (o->lease_ms && pv_parse_u64(o->lease_ms, 200, 600000, &lease_ms) != PV_OK) ||
        (o->lockout && pv_parse_u64(o->lockout, 1, 86400, &lockout) != PV_OK) ||
        (o->refund_days && pv_parse_u64(o->refund_days, 0, 365, &refund_days) != PV_OK) ||
        (o->signup_limit && pv_parse_u64(o->signup_limit, 1, 100000, &signup_limit) != PV_OK) ||
        (o->per_address_limit &&
         pv_parse_u64(o->per_address_limit, 0, 1000, &per_address) != PV_OK) ||
        (o->request_deadline && pv_parse_u64(o->request_deadline, 1, 300, &deadline) != PV_OK) ||
        (o->connection_limit &&
         pv_parse_u64(o->connection_limit, 16, 60000, &conn_limit) != PV_OK) ||
        (o->id && (mode != PV_RUN_PROCESSOR || !o->id[0] || strlen(o->id) >= 32)) ||
        (o->advertise && (mode != PV_RUN_PROCESSOR ||
                          strncmp(o->advertise, o->internal_plaintext ? "http://" : "https://",
                                  o->internal_plaintext ? 7 : 8) != 0 ||
                          strlen(o->advertise) >= 200)) ||
        ((o->internal_secret_file || o->internal_tls_dir || o->internal_tls_name ||
          o->internal_plaintext) &&
         mode == PV_RUN_SERVE) ||
        (o->internal_plaintext && (o->internal_tls_dir || o->internal_tls_name)) ||
        ((o->crypto || o->crypto_pin_file) && mode == PV_RUN_FRONT) ||
        (o->gateway_latency && pv_parse_u64(o->gateway_latency, 0, 60000, &gw_latency) != PV_OK) ||
        (o->gateway_journal && (!o->gateway_journal[0] || strlen(o->gateway_journal) >= 1000)) ||
        (o->payment_recovery && (mode == PV_RUN_FRONT || pv_parse_u64(o->payment_recovery, 1, 86400,
                                                                      &recovery_s) != PV_OK)) ||
        (o->payment_threads &&
         (mode == PV_RUN_FRONT ||
          pv_parse_u64(o->payment_threads, 1, PV_PAYMENT_THREADS_MAX, &pay_threads) != PV_OK)) ||
        (o->sign_threads &&
         (mode == PV_RUN_FRONT ||
          pv_parse_u64(o->sign_threads, 0, PV_SIGN_THREADS_MAX, &sign_n) != PV_OK)) ||
        (o->reports && (mode == PV_RUN_FRONT ||
                        (strcmp(o->reports, "on") != 0 && strcmp(o->reports, "off") != 0))) ||
        ((o->tls_cert || o->tls_key) &&
         (mode == PV_RUN_PROCESSOR || !o->tls_cert || !o->tls_key)) ||
        ((o->hook_base || o->hook_window || o->hook_timeout || o->hook_private) &&
         mode == PV_RUN_PROCESSOR) ||
        (o->hook_base && pv_parse_u64(o->hook_base, 100, 3600000, &hook_base) != PV_OK) ||
        (o->hook_window && pv_parse_u64(o->hook_window, 1, 2592000, &hook_window) != PV_OK) ||
        (o->hook_timeout && pv_parse_u64(o->hook_timeout, 100, 60000, &hook_timeout) != PV_OK)) {

        pv_log(PV_LOG_ERROR,
               "--listen HOST:PORT, --processors 1-%d (serve), --threads "
               "1-256, --lease-ms 200-600000, --lockout 1-86400 (seconds), "
               "--refund-window-days 0-365, --signup-limit 1-100000 (per minute), --id NAME and "
               "--advertise https://HOST:PORT (processor; http:// with --internal-plaintext), "
               "--internal-secret-file PATH and --internal-tls-dir DIR [--internal-tls-name "
               "NAME] or else --internal-plaintext (front and processor), --crypto SPEC and "
               "--crypto-pin-file PATH (serve and processor), --per-address-limit 0-1000 (0: "
               "none), --connection-limit 16-60000, --request-deadline 1-300 (seconds), "
               "--gateway-journal FILE, "
               "--gateway-latency 0-60000 (ms, sandbox), --payment-recovery-after 1-86400 "
               "(seconds; serve and processor), --payment-threads 1-%d and --sign-threads 0-%d "
               "(serve and processor), "
               "--reports on|off (serve and processor), --log-format "
               "text|json, --metrics-token-file PATH, --tls-cert FILE with "
               "--tls-key FILE (serve and front), --webhook-retry-base-ms 100-3600000, "
               "--webhook-retry-window 1-2592000 (seconds), --webhook-timeout-ms 100-60000 and "
               "--webhook-allow-private (serve and front)\n",
               MAX_PROCESSORS, PV_PAYMENT_THREADS_MAX, PV_SIGN_THREADS_MAX);
        return 2;
    }
    sign_threads = o->sign_threads ? (int) sign_n : -1; /* -1: cores - 1 (processor.c) */
    /* Signals are taken by sigwait() below; every thread inherits the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP); /* reload (below) */
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    memset(&app, 0, sizeof app);
    memset(&popts, 0, sizeof popts);
    /* The front-processor secret is the host's (cmd_secret.c); serve needs none. */
    if (mode != PV_RUN_SERVE && pv_cmd_secret_load(o, mode == PV_RUN_FRONT ? "front" : "processor",
                                                   app.secret, sizeof app.secret) != PV_OK)
        return 1;
    /* The channel is mutual TLS unless a developer says otherwise (cmd_tls.c). */
    if (mode != PV_RUN_SERVE && !o->internal_plaintext) {
        if (!o->internal_tls_dir) {
            pv_log(PV_LOG_ERROR,
                   "%s needs the internal TLS certificates: --internal-tls-dir DIR "
                   "(ca.pem, NAME.pem, NAME.key, made by stampd tls init). For development "
                   "only, --internal-plaintext runs the channel without TLS.\n",
                   mode == PV_RUN_FRONT ? "front" : "processor");
            pv_card_wipe(app.secret, sizeof app.secret);
            return 1;
        }
        if (pv_cmd_tls_load(o, mode == PV_RUN_FRONT ? "front" : "processor",
                            mode == PV_RUN_FRONT ? "front"
                            : o->id              ? o->id
                                                 : "processor",
                            mode == PV_RUN_FRONT, &tls) != PV_OK) {
            pv_card_wipe(app.secret, sizeof app.secret);
            return 1;
        }
    }
    if (mode != PV_RUN_SERVE && o->internal_plaintext)
        pv_log(PV_LOG_WARNING,
               "--internal-plaintext: the front-processor channel is "
               "plain HTTP, neither encrypted nor authenticated by certificates (for "
               "development only; docs/operations.md, Internal TLS)\n");
    if (!pv_cmd_db_exists(o->db)) {
        rc = PV_ECONFIG;
        goto early;
    }
    if ((rc = pv_store_open_checked(o->db, &st)) != PV_OK) {
        pv_cmd_fail("open database (run stampd init, or stampd migrate after an upgrade)", rc);
        goto early;
    }
    rc = pv_store_config_get(st, PV_CFG_LICENSE, &license);
    /* The rate tables of the database (the shipped ones stored first): pricing.h. */
    if (rc == PV_OK && (rc = pv_pricing_refresh(st, 1)) != PV_OK) {
        pv_store_close(st);
        free(license);
        pv_cmd_fail("rate tables", rc);
        goto early;
    }
    if (rc == PV_OK && pv_store_config_get(st, PV_CFG_GATEWAY, &gateway) != PV_OK)
        gateway = NULL; /* no live card payments */
    if (rc == PV_OK && (rc = pv_media_keyring_init(&app.media, st, PV_MEDIA_RELOAD_MS)) != PV_OK) {
        pv_store_close(st);
        free(license);
        free(gateway);
        pv_cmd_fail("media serial secrets", rc);
        goto early;
    }
    pv_store_close(st);
    if (rc != PV_OK) {
        pv_cmd_fail("read license (run stampd init first?)", rc);
        goto early;
    }
    pv_str_copy(app.license, sizeof app.license, license);
    free(license);
    app.internal = mode == PV_RUN_PROCESSOR;
    app.hooks_private = o->hook_private;
    app.refund_window_s = (int64_t) refund_days * 86400;
    if (o->trusted_proxy) {
        if (!o->trusted_proxy[0] || strlen(o->trusted_proxy) >= sizeof app.trusted_proxy) {
            pv_log(PV_LOG_ERROR, "--trusted-proxy takes the proxy's IP address\n");
            pv_media_keyring_clear(&app.media);
            pv_tls_clear(&tls);
            pv_card_wipe(app.secret, sizeof app.secret);
            return 2;
        }
        pv_str_copy(app.trusted_proxy, sizeof app.trusted_proxy, o->trusted_proxy);
    }
    if (o->metrics_token_file &&
        metrics_token(o, app.metrics_token, sizeof app.metrics_token) != PV_OK) {
        pv_media_keyring_clear(&app.media);
        pv_tls_clear(&tls);
        pv_card_wipe(app.secret, sizeof app.secret);
        return 2;
    }
    /* Test keys always pay through the sandbox; live keys through the
     * configured gateway, or not by card at all. */
    /* The sandbox's journal: beside a SQLite database unless named; with
     * PostgreSQL, memory only unless named (docs/operations.md). */
    memset(&gwo, 0, sizeof gwo);
    gwo.latency_ms = (int) gw_latency;
    if (o->gateway_journal)
        gwo.journal = o->gateway_journal;
    else if (pv_cmd_sqlite_path(o->db) &&
             (size_t) snprintf(journal, sizeof journal, "%s.gateway.jsonl",
                               pv_cmd_sqlite_path(o->db)) < sizeof journal)
        gwo.journal = journal;
    else
        pv_log(PV_LOG_WARNING, "the sandbox gateway keeps its charges in memory (no "
                               "--gateway-journal FILE): a restart forgets them\n");
    rc = pv_gateway_open_with("sandbox", &gwo, &app.gws.test);
    if (rc == PV_OK && gateway)
        rc = pv_gateway_open_with(gateway, &gwo, &app.gws.live);
    live_sandbox = gateway && strcmp(gateway, "sandbox") == 0;
    free(gateway);
    if (rc == PV_OK)
        rc = pv_ratelimit_new((int64_t) lockout, &app.limits);
    if (rc == PV_OK)
        rc = pv_ratelimit_new_budget((int) signup_limit, 60, &app.signups);
    if (rc != PV_OK) {
        pv_cmd_fail("payment gateway", rc);
        goto out;
    }

    if ((rc = pv_pool_new(o->db, (size_t) threads + 2, &app.pool)) != PV_OK) {
        pv_cmd_fail("store pool", rc);
        goto out;
    }
    /* API keys answered from memory while a watch vouches (keycache.h). */
    if (mode != PV_RUN_PROCESSOR && (rc = pv_keycache_start(o->db, &app.keys)) != PV_OK) {
        pv_cmd_fail("API-key cache", rc);
        goto out;
    }
    if (mode == PV_RUN_PROCESSOR && (rc = pv_replay_new(&app.replay)) != PV_OK) {
        pv_cmd_fail("replay guard", rc);
        goto out;
    }
    if (mode == PV_RUN_FRONT && (rc = pv_router_start(o->db, app.secret, tls.ca_pem ? &tls : NULL,
                                                      16, &app.router)) != PV_OK) {
        pv_cmd_fail("router", rc);
        goto out;
    }
    if (mode == PV_RUN_SERVE && (rc = start_procs(o, &app, nproc, "inproc", lease_ms, recovery_s,
                                                  pay_threads, sign_threads)) != PV_OK)
        goto out;
    if (mode != PV_RUN_PROCESSOR && (rc = pv_batches_start(&app, &app.batches)) != PV_OK) {
        pv_cmd_fail("batch runner", rc);
        goto out;
    }
    limits.per_address = (unsigned) per_address;
    limits.deadline_s = (unsigned) deadline;
    limits.connections = (unsigned) conn_limit;
    /* A processor's port is the internal channel (mutual TLS); the public
     * side's HTTPS is --tls-cert's, or a reverse proxy's (docs/operations.md). */
    if (o->tls_cert && (rc = pub_tls_read(o, &pub)) != PV_OK)
        goto out;
    rc = pv_http_start(&app, host, port, (unsigned) threads, &limits,
                       mode == PV_RUN_PROCESSOR ? (tls.ca_pem ? &tls : NULL)
                       : pub.cert_pem           ? &pub
                                                : NULL,
                       &http, &bound);
    pv_tls_clear(&pub); /* pubtls.c holds its own copy */
    if (rc != PV_OK) {
        char what[96];
        snprintf(what, sizeof what, "listen on %s:%u (in use?)", host, (unsigned) port);
        pv_cmd_fail(what, rc);
        goto out;
    }
    /* A processor registers the address it really listens on. */
    snprintf(address, sizeof address, "%s://%s:%u",
             (mode == PV_RUN_PROCESSOR && tls.ca_pem) || o->tls_cert ? "https" : "http", host,
             (unsigned) bound);
    if (mode == PV_RUN_PROCESSOR &&
        (rc = start_procs(o, &app, 1, o->advertise ? o->advertise : address, lease_ms, recovery_s,
                          pay_threads, sign_threads)) != PV_OK)
        goto out;
    /* Webhook deliveries: one worker per serve or front, never in a processor. */
    if (mode != PV_RUN_PROCESSOR) {
        memset(&hopts, 0, sizeof hopts);
        hopts.dsn = o->db;
        hopts.allow_private = o->hook_private;
        hopts.base_ms = (int64_t) hook_base;
        hopts.window_s = (int64_t) hook_window;
        hopts.timeout_ms = (int64_t) hook_timeout;
        if ((rc = pv_hooks_start(&hopts, &hooks)) != PV_OK) {
            pv_cmd_fail("webhook worker", rc);
            goto out;
        }
        if (o->hook_private)
            pv_log(PV_LOG_WARNING, "--webhook-allow-private: webhook endpoints may be http:// "
                                   "and private or loopback addresses\n");
    }
    if (mode == PV_RUN_SERVE)
        pv_log(PV_LOG_INFO, "license %s, %u processors\n", app.license, (unsigned) nproc);
    else if (mode == PV_RUN_FRONT)
        pv_log(PV_LOG_INFO, "front, license %s, processors from the servers table\n", app.license);
    else
        pv_log(PV_LOG_INFO, "processor %s, license %s\n", pv_processor_id(app.procs, 0),
               app.license);
    if (live_sandbox)
        pv_log(PV_LOG_WARNING,
               "live card payments go to the sandbox gateway and move "
               "no real money (the database's gateway setting is sandbox: for demos "
               "and staging only)\n");
    pv_log(PV_LOG_INFO, "listening on %s\n", address);
    fflush(stderr);
    pv_notify("READY=1");

    /* SIGHUP re-reads the configuration file: refund-window-days takes effect,
     * other changes are reported as needing a restart (cmd_config.c). */
    for (;;) {
        uint64_t days = refund_days;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig != SIGHUP)
            break;
        pv_notify("RELOADING=1");
        if (pv_cmd_config_reload(o, mode_name(mode), &days) == 0 && days != refund_days) {
            refund_days = days;
            app.refund_window_s = (int64_t) days * 86400;
        }
        if (o->tls_cert)
            pub_tls_reload(o);
        fflush(stderr);
        pv_notify("READY=1");
    }
    pv_notify("STOPPING=1");
    pv_log(PV_LOG_INFO, "signal %d, shutting down\n", sig);
out:
    /* Stop taking connections, let the processors (or the router) finish and
     * answer every queued purchase, then close the rest. */
    pv_http_quiesce(http);
    /* Batches first: their items at the processors are answered and recorded. */
    pv_batches_stop(app.batches);
    app.batches = NULL;
    pv_hooks_stop(hooks);
    pv_processors_drain(app.procs, app.nprocs);
    pv_router_stop(app.router);
    app.router = NULL;
    pv_http_stop(http);
    pv_processors_stop(app.procs, app.nprocs);
    pv_render_shutdown();
    pv_pool_free(app.pool);
    pv_keycache_stop(app.keys);
    pv_gateway_close(app.gws.live);
    pv_gateway_close(app.gws.test);
    pv_ratelimit_free(app.limits);
    pv_ratelimit_free(app.signups);
    pv_replay_free(app.replay);
    pv_media_keyring_clear(&app.media);
    pv_card_wipe(app.secret, sizeof app.secret);
    pv_tls_clear(&tls);
    return rc == PV_OK ? 0 : 1;
early:
    pv_tls_clear(&tls);
    pv_card_wipe(app.secret, sizeof app.secret);
    return 1;
}
