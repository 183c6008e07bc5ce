/*
 * cmd.c - what every `stampd` subcommand shares: its options, the error
 * line it prints, and the checks on the database it is pointed at.
 */
#include "server/cmd.h"

#include "stampd/card.h"
#include "stampd/error.h"
#include "stampd/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Set by pv_cmd_server_log: the lines go through the server's log. */
static int server_log;

void pv_cmd_server_log(void)
{
    server_log = 1;
}

void pv_cmd_err(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (server_log)
        pv_log(PV_LOG_ERROR, "%s", msg);
    else
        fprintf(stderr, "stampd: %s", msg);
}

int pv_cmd_fail(const char *what, int rc)
{
    pv_cmd_err("%s: %s (%s)\n", what, pv_strerror(rc), pv_error_code(rc));
    return 1;
}

const char *pv_cmd_sqlite_path(const char *dsn)
{
    if (strncmp(dsn, "sqlite:", 7) == 0)
        return dsn + 7;
    return strstr(dsn, "://") ? NULL : dsn;
}

/* A DSN fit for a log line: a PostgreSQL DSN may hold a password. */
const char *pv_cmd_db_name(const char *dsn)
{
    return pv_cmd_sqlite_path(dsn) ? dsn : "the PostgreSQL database";
}

int pv_cmd_dsn_has_password(const char *dsn)
{
    const char *auth = strstr(dsn, "://"), *end, *at = NULL, *p;

    if (pv_cmd_sqlite_path(dsn) || !auth)
        return 0;
    auth += 3;
    end = auth + strcspn(auth, "/?#");
    for (p = auth; p < end; p++) /* the last '@' ends the user information */
        if (*p == '@')
            at = p;
    if (at && memchr(auth, ':', (size_t) (at - auth)))
        return 1;
    for (p = end; *p; p++) /* ?password=... or &password=... */
        if ((*p == '?' || *p == '&') && strncasecmp(p + 1, "password=", 9) == 0)
            return 1;
    return 0;
}

/* Only init creates a database: elsewhere a mistyped path is an error, not a new file. */
int pv_cmd_db_exists(const char *dsn)
{
    const char *path = pv_cmd_sqlite_path(dsn);

    if (path && access(path, F_OK) != 0) {
        pv_cmd_err("no database at %s (run stampd init first)\n", path);
        return 0;
    }
    return 1;
}

int pv_cmd_read_private(const char *option, const char *path, char *buf, size_t cap, size_t *len)
{
    struct stat sb;
    ssize_t got;
    int fd;

    *len = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        pv_cmd_err("%s %s: %s\n", option, path, strerror(errno));
        return PV_EIO;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        pv_cmd_err("%s %s is not a regular file\n", option, path);
        close(fd);
        return PV_ECONFIG;
    }
    if (sb.st_mode & (S_IRWXG | S_IRWXO)) {
        pv_cmd_err("%s %s has mode %04o: group or others may read it (chmod 600 %s)\n", option,
                   path, (unsigned) (sb.st_mode & 07777), path);
        close(fd);
        return PV_ECONFIG;
    }
    while (*len < cap && (got = read(fd, buf + *len, cap - *len)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            pv_cmd_err("%s %s: %s\n", option, path, strerror(errno));
            close(fd);
            pv_card_wipe(buf, cap);
            return PV_EIO;
        }
        *len += (size_t) got;
    }
    close(fd);
    if (*len == cap) {
        pv_cmd_err("%s %s is too long (%zu bytes at most)\n", option, path, cap - 1);
        pv_card_wipe(buf, cap);
        return PV_ECONFIG;
    }
    return PV_OK;
}
