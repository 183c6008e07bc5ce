/*
 * pg_watch.c - store_watch.h on PostgreSQL: a libpq connection of its own
 * that runs LISTEN and then waits on its socket. Each wait also asks the
 * server whether this session still listens on the channel and waits for
 * the answer, so a connection that died without a word (a host gone, a
 * proxy's idle timeout) is found within PV_WATCH_ANSWER_MS and never taken
 * for one where nothing changed, and neither is a session that no longer
 * listens (a pooler that handed the statement to another server
 * connection: stampd needs session pooling anyway, for its prepared
 * statements).
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct pg_watch {
    struct pv_watch base; /* first */
    PGconn *conn;
    char ping[160]; /* one row while this session listens on the channel */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void lost(PGconn *conn, const char *what)
{
    char line[512];

    fprintf(stderr, "store: watch: %s: %s\n", what,
            pv_pg_one_line(PQerrorMessage(conn), line, sizeof line));
}

static int pg_watch_wait(struct pv_watch *w, int timeout_ms)
{
    struct pg_watch *pw = (struct pg_watch *) w;
    PGconn *conn = pw->conn;
    int64_t now = mono_ms(), deadline = now + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t give_up = now + PV_WATCH_ANSWER_MS, until;
    int got = 0, answered = 0, failed = 0;
    PGnotify *n;
    PGresult *res;
    struct pollfd pfd;

    /* The round trip that proves the connection alive and listening. */
    if (PQsendQuery(conn, pw->ping) != 1) {
        lost(conn, "send");
        return PV_ESTORE;
    }
    if (PQflush(conn) != 0) {
        lost(conn, "send");
        return PV_ESTORE;
    }
    for (;;) {
        if (PQconsumeInput(conn) != 1) {
            lost(conn, "read");
            return PV_ESTORE;
        }
        while ((n = PQnotifies(conn)) != NULL) {
            got = 1;
            PQfreemem(n);
        }
        while (!answered && !PQisBusy(conn)) {
            if ((res = PQgetResult(conn)) == NULL) {
                answered = 1;
                break;
            }
            if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
                failed = 1;
            PQclear(res);
        }
        if (answered && failed) {
            lost(conn, "the session no longer listens, or the check failed");
            return PV_ESTORE;
        }
        now = mono_ms();
        if (answered && (got || now >= deadline))
            return got;
        if (!answered && now >= give_up) {
            fprintf(stderr, "store: watch: no answer from PostgreSQL in %d ms\n",
                    PV_WATCH_ANSWER_MS);
            return PV_ESTORE;
        }
        until = answered ? deadline : give_up; /* poll wakes up as soon as bytes come */
        pfd.fd = PQsocket(conn);
        pfd.events = POLLIN;
        pfd.revents = 0;
        if (pfd.fd < 0) {
            lost(conn, "socket");
            return PV_ESTORE;
        }
        (void) poll(&pfd, 1, (int) (until - now));
    }
}

static void pg_watch_close(struct pv_watch *w)
{
    struct pg_watch *pw = (struct pg_watch *) w;

    if (pw->conn)
        PQfinish(pw->conn);
    free(pw);
}

static const struct pv_watch_ops pg_watch_ops = {
    .wait = pg_watch_wait,
    .close = pg_watch_close,
};

int pv_pg_watch_open(const char *dsn, const char *channel, struct pv_watch **out)
{
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {dsn, "stampd-watch", NULL};
    struct pg_watch *pw;
    PGresult *res;
    char sql[96];
    int ok;

    if (snprintf(sql, sizeof sql, "LISTEN %s", channel) >= (int) sizeof sql)
        return PV_ECONFIG;
    if (!(pw = calloc(1, sizeof *pw)))
        return PV_ENOMEM;
    /* channel: [a-z_] only (pv_watch_open), so it may stand in the text. */
    if (snprintf(pw->ping, sizeof pw->ping,
                 "SELECT 1 FROM pg_listening_channels() c WHERE c = '%s'",
                 channel) >= (int) sizeof pw->ping) {
        free(pw);
        return PV_ECONFIG;
    }
    pw->base.ops = &pg_watch_ops;
    if (!(pw->conn = PQconnectdbParams(keys, values, 1))) {
        free(pw);
        return PV_ENOMEM;
    }
    if (PQstatus(pw->conn) != CONNECTION_OK) {
        lost(pw->conn, "cannot connect to PostgreSQL");
        pg_watch_close(&pw->base);
        return PV_ESTORE;
    }
    res = PQexec(pw->conn, sql);
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
    if (!ok || PQsetnonblocking(pw->conn, 1) != 0) {
        lost(pw->conn, "LISTEN");
        pg_watch_close(&pw->base);
        return PV_ESTORE;
    }
    *out = &pw->base;
    return PV_OK;
}
