/*
 * http.c - the `stamp` command's HTTP client. cli_call() sends a request
 * to stampd with libcurl and hands back the parsed JSON answer;
 * cli_fetch() does the same for a request whose answer is a document (a
 * PDF, PNG, SVG or ZPL label) and hands back its bytes and Content-Type.
 * Both share one attempt loop (exchange()) and one way of reporting an
 * error answer, which is JSON whichever kind of answer was asked for.
 *
 * What it guarantees: JSON bodies are capped at CLI_BODY_MAX and documents
 * at CLI_DOC_MAX; only http and https are spoken and redirects are not
 * followed (a redirect would carry the bearer key elsewhere); every JSON
 * answer is parsed as a JSON object, and every document is checked to have
 * the Content-Type asked for, before a command sees it. Retries: a request
 * marked CLI_RETRY (GETs, PUTs, and POSTs that carry an Idempotency-Key or
 * only render) is retried up to 3 times on timeouts, broken connections
 * and 5xx answers, each time byte for byte the same; any request is retried
 * when the connection could not even be opened, since then the server
 * cannot have seen it. A document download can show a progress bar on
 * stderr; the caller decides whether stderr is a terminal worth drawing on.
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
/* Rendering a 500-label sheet takes the server a while before the first byte. */
#define DOC_TIMEOUT_S 300L
#define BAR_WIDTH     30

struct body {
    char *data;
    size_t len, cap;
    size_t max; /* largest body accepted */
    int too_big;
};

struct headers {
    int replayed;
    char content_type[128]; /* "" when absent or too long */
};

/* The progress display of one document download (stderr is a terminal). */
struct progress {
    const char *note;    /* "rendering 30 labels...", borrowed */
    int drawn;           /* a bar is on the current line */
    int last_pct;        /* percentage last drawn, -1 when the size is unknown */
    curl_off_t last_now; /* bytes last drawn */
    int width;           /* characters of the last bar, to blank a shorter one */
};

/* One request, as both cli_call() and cli_fetch() describe it. */
struct request {
    const char *method, *path;
    const char *body;     /* JSON text or NULL, borrowed */
    const char *idem_key; /* or NULL */
    const char *accept;   /* value of the Accept header */
    unsigned flags;       /* CLI_* */
    size_t max;           /* body cap */
    long timeout_s;
    struct progress *progress; /* or NULL */
};

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct body *b = userdata;
    size_t add = size * nmemb;

    if (add > b->max - b->len) {
        b->too_big = 1;
        return 0; /* makes curl stop with CURLE_WRITE_ERROR */
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        char *p;
        while (cap < b->len + add + 1)
            cap *= 2;
        /* Doubling could ask for twice the cap; max + 1 always suffices. */
        if (cap > b->max + 1)
            cap = b->max + 1;
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

/*
 * header_value - when the header line ptr (len bytes) is "name: value",
 * point *v at the value without surrounding blanks, *vlen its length.
 */
static int header_value(const char *ptr, size_t len, const char *name, const char **v, size_t *vlen)
{
    size_t n = strlen(name);
    const char *p, *end = ptr + len;

    if (len <= n || strncasecmp(ptr, name, n) != 0)
        return 0;
    p = ptr + n;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *v = p;
    *vlen = (size_t) (end - p);
    return 1;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct headers *h = userdata;
    size_t len = size * nmemb, vlen;
    const char *v;

    /* A new status line starts a new response (e.g. after a 100 Continue). */
    if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
        h->replayed = 0;
        h->content_type[0] = '\0';
    }
    if (header_value(ptr, len, "idempotent-replayed:", &v, &vlen))
        h->replayed = (vlen == 4 && strncasecmp(v, "true", 4) == 0);
    if (header_value(ptr, len, "content-type:", &v, &vlen)) {
        if (vlen < sizeof h->content_type) {
            memcpy(h->content_type, v, vlen);
            h->content_type[vlen] = '\0';
        } else {
            h->content_type[0] = '\0';
        }
    }
    return len;
}

/* human_size - "512 B", "88.1 kB", "1.2 MB" into buf. */
static void human_size(curl_off_t n, char *buf, size_t len)
{
    if (n < 1000)
        snprintf(buf, len, "%d B", (int) n);
    else if (n < 1000000)
        snprintf(buf, len, "%.1f kB", (double) n / 1e3);
    else
        snprintf(buf, len, "%.1f MB", (double) n / 1e6);
}

/* progress_end - finish the bar's line so that later messages start clean. */
static void progress_end(struct progress *pg)
{
    if (pg && pg->drawn) {
        fputc('\n', stderr);
        pg->drawn = 0;
        pg->width = 0;
    }
}

/* on_progress - CURLOPT_XFERINFOFUNCTION: "[#######.....] 58%  1.2 MB". */
static int on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct progress *pg = clientp;
    char line[BAR_WIDTH + 64], size[32];
    int pct = -1, used, i;

    (void) ultotal;
    (void) ulnow;
    if (dlnow <= 0)
        return 0; /* the server is still rendering: the note says so */
    if (dltotal > 0)
        pct = dlnow >= dltotal ? 100 : (int) (dlnow * 100 / dltotal);
    /* Redraw when something visible changed, not on every callback. */
    if (pg->drawn && pct == pg->last_pct && (pct >= 0 || dlnow - pg->last_now < 100000))
        return 0;
    human_size(dlnow, size, sizeof size);
    if (pct >= 0) {
        int fill = pct * BAR_WIDTH / 100;
        line[0] = '[';
        for (i = 0; i < BAR_WIDTH; i++)
            line[1 + i] = i < fill ? '#' : '.';
        snprintf(line + 1 + BAR_WIDTH, sizeof line - 1 - BAR_WIDTH, "] %3d%%  %s", pct, size);
    } else {
        snprintf(line, sizeof line, "received %s", size);
    }
    used = (int) strlen(line);
    fprintf(stderr, "\r%s%*s", line, pg->width > used ? pg->width - used : 0, "");
    fflush(stderr);
    pg->drawn = 1;
    pg->width = used;
    pg->last_pct = pct;
    pg->last_now = dlnow;
    return 0;
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
    const char *field = cli_jstr(err, "field"), *request = cli_jstr(err, "request_id");

    if (!code) {
        fprintf(stderr, "error: HTTP %ld from the server, without an error description\n", status);
        return;
    }
    fprintf(stderr, "error: %s: %s", cli_safe(code), msg ? cli_safe(msg) : "(no message)");
    if (field)
        fprintf(stderr, " (field: %s)", cli_safe(field));
    /* The id the server logged this answer under: what a complaint quotes. */
    if (request)
        fprintf(stderr, " [request %s]", cli_safe(request));
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

static struct curl_slist *build_headers(const struct cli *c, const struct request *rq)
{
    struct curl_slist *h = NULL, *t;
    const char *body = rq->body, *idem_key = rq->idem_key;
    unsigned flags = rq->flags;
    char line[1024];

    /* Expect: (empty) stops curl from waiting for a 100 Continue. */
    const char *fixed[] = {"Expect:"};
    size_t i;

    for (i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        if (!(t = curl_slist_append(h, fixed[i])))
            goto fail;
        h = t;
    }
    snprintf(line, sizeof line, "Accept: %s", rq->accept);
    if (!(t = curl_slist_append(h, line)))
        goto fail;
    h = t;
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

/*
 * exchange - make the request of rq, retrying as its flags allow, until an
 * HTTP answer arrives. Returns RC_OK with the last answer's status in
 * *status, body in resp (owned by the caller, who frees resp->data) and
 * headers in hs; RC_USAGE or RC_FAIL, with the error printed, when no
 * answer came. r receives the attempt count and replay flag.
 */
static int exchange(const struct cli *c, const struct request *rq, struct body *resp,
                    struct headers *hs, long *status, struct cli_reply *r)
{
    CURL *curl = NULL;
    struct curl_slist *hdrs = NULL;
    char url[2048], errbuf[CURL_ERROR_SIZE], agent[128];
    CURLcode cres = CURLE_OK;
    int attempt, rc = RC_FAIL;

    *status = 0;
    if ((size_t) snprintf(url, sizeof url, "%s%s", c->server, rq->path) >= sizeof url) {
        fprintf(stderr, "error: request URL is too long\n");
        return RC_USAGE;
    }
    curl = curl_easy_init();
    hdrs = build_headers(c, rq);
    if (!curl || !hdrs) {
        fprintf(stderr, "error: out of memory\n");
        goto out;
    }

    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CONNECT_TIMEOUT_S);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, rq->timeout_s);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) rq->max);
    snprintf(agent, sizeof agent, "stamp/%s", pv_version);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, agent);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, hs);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    if (rq->progress) {
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, rq->progress);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    }
    if (strcmp(rq->method, "POST") == 0) {
        const char *b = rq->body ? rq->body : "";
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, b);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(b));
    } else if (strcmp(rq->method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        /* PUT and DELETE: the method word replaced, a JSON body sent like a POST's. */
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, rq->method);
        if (rq->body) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, rq->body);
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(rq->body));
        }
    }

    if (rq->progress)
        fprintf(stderr, "%s\n", rq->progress->note);
    for (attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        int retry;

        resp->len = 0;
        resp->too_big = 0;
        hs->replayed = 0;
        hs->content_type[0] = '\0';
        *status = 0;
        errbuf[0] = '\0';
        cres = curl_easy_perform(curl);
        progress_end(rq->progress);
        if (cres == CURLE_OK)
            curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, status);
        r->attempts = attempt;
        if (cres == CURLE_OK && *status < 500)
            break;
        if (cres != CURLE_OK)
            retry = !resp->too_big &&
                    (never_sent(cres) || ((rq->flags & CLI_RETRY) && transient(cres)));
        else
            retry = (rq->flags & CLI_RETRY) != 0;
        if (!retry || attempt == MAX_ATTEMPTS)
            break;
        if (cres != CURLE_OK)
            fprintf(stderr, "warning: %s %s: %s; retrying (%d of %d)\n", rq->method, rq->path,
                    errbuf[0] ? errbuf : curl_easy_strerror(cres), attempt + 1, MAX_ATTEMPTS);
        else
            fprintf(stderr, "warning: %s %s: server error (HTTP %ld); retrying (%d of %d)\n",
                    rq->method, rq->path, *status, attempt + 1, MAX_ATTEMPTS);
        backoff(attempt);
    }
    r->replayed = hs->replayed;

    if (cres != CURLE_OK) {
        if (resp->too_big || cres == CURLE_FILESIZE_EXCEEDED)
            fprintf(stderr, "error: the server's response is larger than %zu bytes\n", rq->max);
        else
            fprintf(stderr, "error: cannot reach %s: %s%s\n", cli_safe(c->server),
                    cli_safe(errbuf[0] ? errbuf : curl_easy_strerror(cres)),
                    attempt > 1 ? " (gave up after retries)" : "");
        goto out;
    }
    rc = RC_OK;
out:
    curl_slist_free_all(hdrs);
    if (curl)
        curl_easy_cleanup(curl);
    return rc;
}

/*
 * refusal - report an answer that is not 2xx. err (the parsed error body,
 * owned, may be NULL) is freed, or with CLI_KEEP_ERROR on a 4xx handed to
 * *keep. Returns RC_REFUSED for 4xx, RC_FAIL otherwise.
 */
static int refusal(const struct cli *c, const struct request *rq, long status, json_t *err,
                   int attempts, json_t **keep)
{
    int rc;

    if (status < 400 || status > 599) {
        fprintf(stderr, "error: unexpected HTTP status %ld from %s %s\n", status, rq->method,
                rq->path);
        json_decref(err);
        return RC_FAIL;
    }
    rc = status < 500 ? RC_REFUSED : RC_FAIL;
    if (rc == RC_REFUSED && (rq->flags & CLI_KEEP_ERROR)) {
        *keep = err;
        return rc;
    }
    if (c->json && err)
        cli_print_json(err);
    cli_print_api_error(err, status);
    if (rc == RC_FAIL && attempts > 1)
        fprintf(stderr, "error: HTTP %ld after %d attempts\n", status, attempts);
    json_decref(err);
    return rc;
}

int cli_call(const struct cli *c, const char *method, const char *path, const char *body,
             const char *idem_key, unsigned flags, json_t **out, struct cli_reply *meta)
{
    struct request rq = {.method = method,
                         .path = path,
                         .body = body,
                         .idem_key = idem_key,
                         .accept = "application/json",
                         .flags = flags,
                         .max = CLI_BODY_MAX,
                         .timeout_s = TOTAL_TIMEOUT_S};
    struct body resp = {NULL, 0, 0, CLI_BODY_MAX, 0};
    struct headers hs = {0, ""};
    struct cli_reply r = {0, 0, 0};
    json_t *j = NULL;
    long status = 0;
    int rc;

    *out = NULL;
    rc = exchange(c, &rq, &resp, &hs, &status, &r);
    r.status = status;
    if (meta)
        *meta = r;
    if (rc != RC_OK)
        goto out;
    j = parse_body(&resp);
    if (status >= 200 && status < 300) {
        if (!j) {
            fprintf(stderr, "error: the server's answer to %s %s is not a JSON object\n", method,
                    path);
            rc = RC_FAIL;
            goto out;
        }
        *out = j;
        j = NULL;
        goto out;
    }
    rc = refusal(c, &rq, status, j, r.attempts, out);
    j = NULL;
out:
    json_decref(j);
    free(resp.data);
    return rc;
}

/* media_type_is - does the Content-Type value ct name the media type want? */
static int media_type_is(const char *ct, const char *want)
{
    size_t n = strcspn(ct, ";");

    while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
        n--;
    return n == strlen(want) && strncasecmp(ct, want, n) == 0;
}

int cli_fetch(const struct cli *c, const char *method, const char *path, const char *body,
              const char *type, unsigned flags, const char *note, struct cli_doc *doc)
{
    struct progress pg = {.note = note, .last_pct = -1};
    char accept[160];
    struct request rq = {.method = method,
                         .path = path,
                         .body = body,
                         .accept = accept,
                         .flags = flags,
                         .max = CLI_DOC_MAX,
                         .timeout_s = DOC_TIMEOUT_S,
                         .progress = note ? &pg : NULL};
    struct body resp = {NULL, 0, 0, CLI_DOC_MAX, 0};
    struct headers hs = {0, ""};
    struct cli_reply r = {0, 0, 0};
    long status = 0;
    int rc;

    memset(doc, 0, sizeof *doc);
    /* Error answers are JSON whatever the document type. */
    snprintf(accept, sizeof accept, "%s, application/json;q=0.5", type);
    rc = exchange(c, &rq, &resp, &hs, &status, &r);
    doc->status = status;
    if (rc != RC_OK)
        goto out;
    if (status < 200 || status > 299) {
        rc = refusal(c, &rq, status, parse_body(&resp), r.attempts, &doc->error);
        goto out;
    }
    if (!media_type_is(hs.content_type, type)) {
        fprintf(stderr, "error: the server answered %s %s with %s, not %s\n", method, path,
                hs.content_type[0] ? cli_safe(hs.content_type) : "no Content-Type", type);
        rc = RC_FAIL;
        goto out;
    }
    if (resp.len == 0) {
        fprintf(stderr, "error: the server's answer to %s %s is empty\n", method, path);
        rc = RC_FAIL;
        goto out;
    }
    memcpy(doc->content_type, hs.content_type, strlen(hs.content_type) + 1);
    doc->data = resp.data;
    doc->len = resp.len;
    resp.data = NULL;
out:
    free(resp.data);
    return rc;
}

void cli_doc_free(struct cli_doc *doc)
{
    if (!doc)
        return;
    free(doc->data);
    json_decref(doc->error);
    memset(doc, 0, sizeof *doc);
}
