/*
 * log.h - the servers' log (src/core/log.c; docs/operations.md, "Logs"):
 * one line per event on stderr, each with a level and - unless journald
 * reads it - a timestamp; plain text or JSON lines; and the access line of
 * every request. A line is written with one write(2), so the lines of
 * several threads never interleave.
 */
#ifndef STAMPD_LOG_H
#define STAMPD_LOG_H

#include <stdint.h>

/* The levels, numbered as syslog(3) and sd-daemon(3) number them. */
enum pv_log_level {
    PV_LOG_ERROR = 3,
    PV_LOG_WARNING = 4,
    PV_LOG_INFO = 6,
    PV_LOG_DEBUG = 7,
};

/*
 * pv_log_setup - choose the format: format (borrowed) "text" (also NULL)
 * or "json". Under systemd - JOURNAL_STREAM names the device and inode of
 * stderr - every line starts with journald's "<N>" level prefix instead of
 * a timestamp. Call once, before any thread logs. PV_OK or PV_EINVAL
 * (another format; nothing changed).
 */
int pv_log_setup(const char *format);

/*
 * pv_log_set_level - the least severe level written: name (borrowed)
 * "error", "warning", "info" (the default; also NULL) or "debug". Lines of a
 * less severe level are dropped before they are built; access lines are
 * "info", so "warning" silences them. Call once, before any thread logs.
 * PV_OK or PV_EINVAL (another name; nothing changed).
 */
int pv_log_set_level(const char *name);

/* pv_log_json - 1 when the lines are JSON (pv_log_setup("json")). */
int pv_log_json(void);

/*
 * pv_log - one line at level: the printf-style message (at most about 1 KiB;
 * longer is cut). Control characters become '?' in text, so a line stays
 * one line; JSON escapes them.
 */
void pv_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* What the access line of one request says (every string borrowed; NULL or
 * "" = not known). Never a body, a query string or a secret. */
struct pv_log_access {
    const char *request_id;
    const char *method;
    const char *path;  /* without the query string */
    const char *route; /* the route table's pattern ("/v1/indicia/{id}"), or NULL */
    int status;
    int64_t duration_us;
    const char *auth;   /* an API key's public prefix ("sk_live_AB12") or "session" */
    const char *owner;  /* the authenticated account ("cus_..."), or NULL */
    const char *remote; /* the client's address */
    const char *error;  /* the error code of an error answer, or NULL */
};

/* pv_log_access - the access line of one answered request (a borrowed). */
void pv_log_access(const struct pv_log_access *a);

#endif
