/*
 * http.c - the `stamp` command's HTTP client: one function, cli_call(),
 * that sends a JSON request to stampd with libcurl and hands back the
 * parsed JSON answer.
 *
 * What it guarantees: response bodies are capped at CLI_BODY_MAX; only
 * http and https are spoken and redirects are not followed (a redirect
 * would carry the bearer key elsewhere); every answer is parsed as a JSON
 * object before a command sees it. Retries: a request marked CLI_RETRY
 * (GETs, and POSTs that carry an Idempotency-Key) is retried up to 3 times
 * on timeouts, broken connections and 5xx answers, each time byte for byte
 * the same; any request is retried when the connection could not even be
 * opened, since then the server cannot have seen it.
 */
#include "cli.h"

#include <curl/curl.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ATTEMPTS      4 /* the first try and 3 retries */
#define CONNECT_TIMEOUT_S 10L
#define TOTAL_TIMEOUT_S   60L

struct body {
    char *data;
    size_t len, cap;
    int too_big;
};

struct headers {
    int replayed;
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t add = size * nmemb;

    if (add > CLI_BODY_MAX - b->len) {
        b->too_big = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + add + 1)
            cap *= 2;
        p = realloc(b->data, cap);
        if (!p)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    static const char name[] = "idempotent-replayed:";
    struct headers *h = userdata;
    size_t len = size * nmemb, n = sizeof name - 1;

    /* A new status line starts a new response (e.g. after a 100 Continue). */
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0)
        h->replayed = 0;
    if (len > n && strncasecmp(ptr, name, n) == 0) {
        const char *v = ptr + n, *end = ptr + len;
        while (v < end && (*v == ' ' || *v == '\t'))
            v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
            end--;
        h->replayed = (end - v == 4 && strncasecmp(v, "true", 4) == 0);
    }
    return len;
}

int cli_url_escape(const char *s, char *out, size_t n)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;

    for (; *s; s++) {
        unsigned char ch = (unsigned char) *s;
        int plain = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        if (o + (plain ? 1 : 3) >= n)
            return -1;
        if (plain) {
            out[o++] = (char) ch;
        } else {
            out[o++] = '%';
            out[o++] = hx[ch >> 4];
            out[o++] = hx[ch & 15];
        }
    }
    if (o >= n)
        return -1;
    out[o] = '\0';
    return 0;
}

void cli_print_api_error(const json_t *body, long status)
{
    const json_t *err = json_is_object(body) ? json_object_get(body, "error") : NULL;
    const char *code = cli_jstr(err, "code"), *msg = cli_jstr(err, "message");
    const char *field = cli_jstr(err, "field");

    if (!code) {
        fprintf(stderr, "error: HTTP %ld from the server, without an error description\n", status);
        return;
    }
    fprintf(stderr, "error: %s: %s", cli_safe(code), msg ? cli_safe(msg) : "(no message)");
    if (field)
        fprintf(stderr, " (field: %s)", cli_safe(field));
    fputc('\n', stderr);
}

/* Errors after which the server cannot have received the request. */
static int never_sent(CURLcode rc)
{
    return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
           rc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* Errors that another attempt may not repeat. */
static int transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static void backoff(int attempt)
{
    /* 0.5 s, 1 s, 2 s */
    long ms = 500L << (attempt - 1);
    struct timespec ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* parse_body - the answer as a JSON object, or NULL. */
static json_t *parse_body(const struct body *b)
{
    json_error_t jerr;
    json_t *j;

    if (!b->data || b->len == 0)
        return NULL;
    j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES, &jerr);
    if (j && !json_is_object(j)) {
        json_decref(j);
        j = NULL;
    }
    return j;
}

static struct curl_slist *build_headers(const struct cli *c, const char *body, const char *idem_key,
                                        unsigned flags)
{
    struct curl_slist *h = NULL, *t;
    char line[1024];

    /* Expect: (empty) stops curl from waiting for a 100 Continue. */
    const char *fixed[] = {"Accept: application/json", "Expect:"};
    size_t i;

    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i])))
            goto fail;
        h = t;
    }
    if (body) {
        if (!(t = curl_slist_append(h, "Content-Type: application/json")))
            goto fail;
        h = t;
    }
    if (c->key && !(flags & CLI_NOAUTH)) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", c->key);
        if (!(t = curl_slist_append(h, line)))
            goto fail;
        h = t;
    }
    if (idem_key) {
        snprintf(line, sizeof line, "Idempotency-Key: %s", idem_key);
        if (!(t = curl_slist_append(h, line)))
            goto fail;
        h = t;
    }
    return h;
fail:
    curl_slist_free_all(h);
    return NULL;
}

int cli_call(const struct cli *c, const char *method, const char *path, const char *body,
             const char *idem_key, unsigned flags, json_t **out, struct cli_reply *meta)
{
    CURL *curl = NULL;
    struct curl_slist *hdrs = NULL;
    struct body resp = {NULL, 0, 0, 0};
    struct headers hs = {0};
    char url[2048], errbuf[CURL_ERROR_SIZE];
    CURLcode cres = CURLE_OK;
    long status = 0;
    json_t *j = NULL;
    int attempt, rc = RC_FAIL;

    *out = NULL;
    if (meta)
        memset(meta, 0, sizeof *meta);
    if ((size_t) snprintf(url, sizeof url, "%s%s", c->server, path) >= sizeof url) {
        fprintf(stderr, "error: request URL is too long\n");
        return RC_USAGE;
    }
    curl = curl_easy_init();
    hdrs = build_headers(c, body, idem_key, flags);
    if (!curl || !hdrs) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, TOTAL_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) CLI_BODY_MAX);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "stamp/" STAMP_VERSION);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &hs);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (strcmp(method, "POST") == 0) {
        const char *b = body ? body : "";
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(b));
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }

    for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        int retry;

        resp.len = 0;
        resp.too_big = 0;
        hs.replayed = 0;
        status = 0;
        errbuf[0] = '\0';
        cres = curl_easy_perform(curl);
        if (cres == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (meta)
            meta->attempts = attempt;
        if (cres == CURLE_OK && status < 500)
            break;
        if (cres != CURLE_OK)
            retry = never_sent(cres) || ((flags & CLI_RETRY) && transient(cres));
        else
            retry = (flags & CLI_RETRY) != 0;
        if (!retry || attempt == MAX_ATTEMPTS)
            break;
        if (cres != CURLE_OK)
            fprintf(stderr, "warning: %s %s: %s; retrying (%d of %d)\n", method, path,
                    errbuf[0] ? errbuf : curl_easy_strerror(cres), attempt + 1, MAX_ATTEMPTS);
        else
            fprintf(stderr, "warning: %s %s: server error (HTTP %ld); retrying (%d of %d)\n",
                    method, path, status, attempt + 1, MAX_ATTEMPTS);
        backoff(attempt);
    }
    if (meta) {
        meta->status = status;
        meta->replayed = hs.replayed;
    }

    if (cres != CURLE_OK) {
        if (resp.too_big || cres == CURLE_FILESIZE_EXCEEDED)
            fprintf(stderr, "error: the server's response is larger than %zu bytes\n",
                    CLI_BODY_MAX);
        else
            fprintf(stderr, "error: cannot reach %s: %s%s\n", cli_safe(c->server),
                    cli_safe(errbuf[0] ? errbuf : curl_easy_strerror(cres)),
                    attempt > 1 ? " (gave up after retries)" : "");
        goto out;
    }

    j = parse_body(&resp);
    if (status >= 200 && status < 300) {
        if (!j) {
            fprintf(stderr, "error: the server's answer to %s %s is not a JSON object\n", method,
                    path);
            goto out;
        }
        *out = j;
        j = NULL;
        rc = RC_OK;
        goto out;
    }
    if (status < 400 || status > 599) {
        fprintf(stderr, "error: unexpected HTTP status %ld from %s %s\n", status, method, path);
        goto out;
    }
    rc = status < 500 ? RC_REFUSED : RC_FAIL;
    if (rc == RC_REFUSED && (flags & CLI_KEEP_ERROR)) {
        *out = j;
        j = NULL;
        goto out;
    }
    if (c->json && j)
        cli_print_json(j);
    cli_print_api_error(j, status);
    if (rc == RC_FAIL && attempt > 1)
        fprintf(stderr, "error: HTTP %ld after %d attempts\n", status, attempt);
out:
    json_decref(j);
    free(resp.data);
    curl_slist_free_all(hdrs);
    if (curl)
        curl_easy_cleanup(curl);
    return rc;
}
