/*
 * log.c - the servers' log (stampd/log.h; docs/operations.md, "Logs").
 *
 * Text lines are "TIME LEVEL MESSAGE" (TIME: RFC 3339 UTC with
 * milliseconds); JSON lines are objects with time, level and msg, and the
 * access line's fields. When JOURNAL_STREAM names stderr's device and inode
 * (systemd connected it to the journal), the timestamp gives way to the
 * "<N>" prefix journald reads the level from (sd-daemon(3)): the journal
 * has its own clock. Every line is built whole and written with one
 * write(2) under a mutex, so threads never interleave their lines.
 */
#include "stampd/log.h"

#include "stampd/error.h"

#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 2048

static struct {
    int json;    /* JSON lines, not text */
    int journal; /* "<N>" prefixes instead of timestamps */
    int level;   /* the least severe level written (enum pv_log_level) */
    pthread_mutex_t mu;
} cfg = {0, 0, PV_LOG_INFO, PTHREAD_MUTEX_INITIALIZER};

/* 1 when JOURNAL_STREAM ("DEV:INODE") is stderr: systemd gave it to journald. */
static int journal_stream(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat sb;

    if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &sb) != 0)
        return 0;
    return (unsigned long long) sb.st_dev == dev && (unsigned long long) sb.st_ino == ino;
}

int pv_log_setup(const char *format)
{
    if (format && strcmp(format, "json") != 0 && strcmp(format, "text") != 0)
        return PV_EINVAL;
    cfg.json = format && strcmp(format, "json") == 0;
    cfg.journal = journal_stream();
    return PV_OK;
}

int pv_log_set_level(const char *name)
{
    static const struct {
        const char *name;
        int level;
    } levels[] = {{"error", PV_LOG_ERROR},
                  {"warning", PV_LOG_WARNING},
                  {"info", PV_LOG_INFO},
                  {"debug", PV_LOG_DEBUG}};
    size_t i;

    if (!name) {
        cfg.level = PV_LOG_INFO;
        return PV_OK;
    }
    for (i = 0; i < sizeof levels / sizeof levels[0]; i++)
        if (strcmp(name, levels[i].name) == 0) {
            cfg.level = levels[i].level;
            return PV_OK;
        }
    return PV_EINVAL;
}

int pv_log_json(void)
{
    return cfg.json;
}

static const char *level_name(int level)
{
    switch (level) {
    case PV_LOG_ERROR:
        return "error";
    case PV_LOG_WARNING:
        return "warning";
    case PV_LOG_DEBUG:
        return "debug";
    default:
        return "info";
    }
}

/* "2026-12-04T19:40:00.123Z" into buf (>= 48 bytes). */
static void now_text(char *buf, size_t n)
{
    struct timespec ts;
    struct tm tm;
    char date[32];

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    /* strftime, not one snprintf: the compiler cannot bound tm's fields. */
    if (strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        date[0] = '\0';
    snprintf(buf, n, "%.24s.%03dZ", date, (int) (ts.tv_nsec / 1000000) % 1000);
}

static void emit(const char *line, size_t len)
{
    size_t off = 0;

    pthread_mutex_lock(&cfg.mu);
    while (off < len) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w <= 0)
            break;
        off += (size_t) w;
    }
    pthread_mutex_unlock(&cfg.mu);
}

/* Control characters (and DEL) of s become '?': one line stays one line. */
static void flatten(char *s)
{
    for (; *s; s++)
        if ((unsigned char) *s < 0x20 || (unsigned char) *s == 0x7f)
            *s = '?';
}

/* The line's head: "<N>" under journald, else "TIME LEVEL " (text). */
static size_t text_head(int level, char *out, size_t n)
{
    char t[48];

    if (cfg.journal)
        return (size_t) snprintf(out, n, "<%d>", level);
    now_text(t, sizeof t);
    return (size_t) snprintf(out, n, "%s %s ", t, level_name(level));
}

/* A JSON line's object, owned, with its time and level first; NULL = no memory. */
static json_t *line_object(int level)
{
    char t[48];

    now_text(t, sizeof t);
    return json_pack("{s:s, s:s}", "time", t, "level", level_name(level));
}

/* Write obj (taken) as one JSON line. */
static void emit_json(int level, json_t *obj)
{
    char head[8] = "";
    char *text;
    size_t hl = 0;

    if (!obj)
        return;
    text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER |
                               JSON_REAL_PRECISION(10));
    json_decref(obj);
    if (!text)
        return;
    if (cfg.journal)
        hl = (size_t) snprintf(head, sizeof head, "<%d>", level);
    {
        size_t tl = strlen(text);
        char *line = malloc(hl + tl + 2);
        if (line) {
            memcpy(line, head, hl);
            memcpy(line + hl, text, tl);
            line[hl + tl] = '\n';
            emit(line, hl + tl + 1);
            free(line);
        }
    }
    free(text);
}

void pv_log(int level, const char *fmt, ...)
{
    char msg[LINE_MAX_BYTES / 2], line[LINE_MAX_BYTES];
    size_t n;
    va_list ap;

    if (level > cfg.level)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    if (cfg.json) {
        json_t *o = line_object(level), *m = json_string(msg);
        char *t;
        if (!m) { /* not UTF-8 (a client's bytes quoted): jansson takes only UTF-8 */
            for (t = msg; *t; t++)
                if ((unsigned char) *t >= 0x80)
                    *t = '?';
            m = json_string(msg);
        }
        if (!o || !m) {
            json_decref(o);
            json_decref(m);
            return;
        }
        if (json_object_set_new(o, "msg", m) == 0) /* takes m even when it fails */
            emit_json(level, o);
        else
            json_decref(o);
        return;
    }
    flatten(msg);
    n = text_head(level, line, sizeof line);
    if (n >= sizeof line)
        n = 0;
    n += (size_t) snprintf(line + n, sizeof line - n, "%s\n", msg);
    if (n >= sizeof line) {
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    emit(line, n);
}

/* A field of the text access line: bytes outside printable ASCII, the space,
 * '"' and '%' as %XX, so the line splits on spaces. */
static size_t put_field(char *out, size_t n, const char *name, const char *v)
{
    size_t o;
    const unsigned char *p;

    if (!v || !*v)
        return 0;
    o = (size_t) snprintf(out, n, " %s=", name);
    for (p = (const unsigned char *) v; *p && o + 4 < n; p++) {
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '%')
            o += (size_t) snprintf(out + o, n - o, "%%%02X", *p);
        else
            out[o++] = (char) *p;
    }
    if (o >= n)
        o = n - 1;
    out[o] = '\0';
    return o;
}

/* A JSON string member; bytes outside printable ASCII become '?'
 * (jansson takes only UTF-8; a path may hold any byte). */
static void set_str(json_t *o, const char *name, const char *v)
{
    char buf[512];
    size_t i;

    if (!v || !*v)
        return;
    for (i = 0; v[i] && i + 1 < sizeof buf; i++)
        buf[i] = (unsigned char) v[i] < 0x20 || (unsigned char) v[i] >= 0x7f ? '?' : v[i];
    buf[i] = '\0';
    json_object_set_new(o, name, json_string(buf));
}

void pv_log_access(const struct pv_log_access *a)
{
    char line[LINE_MAX_BYTES], num[64];
    size_t n;

    if (PV_LOG_INFO > cfg.level)
        return;
    if (cfg.json) {
        json_t *o = line_object(PV_LOG_INFO);
        if (!o)
            return;
        json_object_set_new(o, "msg", json_string("access"));
        set_str(o, "request_id", a->request_id);
        set_str(o, "method", a->method);
        set_str(o, "path", a->path);
        set_str(o, "route", a->route);
        json_object_set_new(o, "status", json_integer(a->status));
        json_object_set_new(o, "duration_ms", json_real((double) a->duration_us / 1000.0));
        set_str(o, "auth", a->auth);
        set_str(o, "owner", a->owner);
        set_str(o, "remote", a->remote);
        set_str(o, "error", a->error);
        emit_json(PV_LOG_INFO, o);
        return;
    }
    n = text_head(PV_LOG_INFO, line, sizeof line);
    n += (size_t) snprintf(line + n, sizeof line - n, "access");
    n += put_field(line + n, sizeof line - n, "request_id", a->request_id);
    n += put_field(line + n, sizeof line - n, "method", a->method);
    n += put_field(line + n, sizeof line - n, "path", a->path);
    n += put_field(line + n, sizeof line - n, "route", a->route);
    snprintf(num, sizeof num, "%d", a->status);
    n += put_field(line + n, sizeof line - n, "status", num);
    snprintf(num, sizeof num, "%lld.%03lld", (long long) (a->duration_us / 1000),
             (long long) (a->duration_us % 1000));
    n += put_field(line + n, sizeof line - n, "duration_ms", num);
    n += put_field(line + n, sizeof line - n, "auth", a->auth);
    n += put_field(line + n, sizeof line - n, "owner", a->owner);
    n += put_field(line + n, sizeof line - n, "remote", a->remote);
    n += put_field(line + n, sizeof line - n, "error", a->error);
    if (n + 2 > sizeof line)
        n = sizeof line - 2;
    line[n++] = '\n';
    emit(line, n);
}
