/*
 * pg_watch.c - store_watch.h on PostgreSQL: a libpq connection of its own
 * that runs LISTEN and then waits on its socket. Each wait also asks the
 * server whether this very session (the server's pid, read after LISTEN)
 * still listens on the channel, so a connection that died without a word (a
 * host gone, a proxy's idle timeout) is found within PV_WATCH_ANSWER_MS and
 * never taken for one where nothing changed, and neither is a statement a
 * pooler gave another server session (stampd needs session pooling anyway,
 * for its prepared statements). A notification is answered at once.
 */
#include "stampd/error.h"
#include "stampd/timeutil.h"
#include "store/store_int.h"

#include <libpq-fe.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pg_watch {
    struct pv_watch base; /* first */
    PGconn *conn;
    char ping[192]; /* one row while this very session listens on the channel */
    int pending;    /* a ping sent, its answer not read yet */
    int failed;     /* that answer, so far: not the one row it must be */
    int64_t sent;   /* when (monotonic ms) */
};

static void lost(PGconn *conn, const char *what)
{
    char line[512];

    fprintf(stderr, "store: watch: %s: %s\n", what,
            pv_pg_one_line(PQerrorMessage(conn), line, sizeof line));
}

/* Waits up to ms for conn's socket to be readable (events POLLIN) or writable. */
static void await_socket(PGconn *conn, short events, int64_t ms)
{
    struct pollfd pfd = {.fd = PQsocket(conn), .events = events, .revents = 0};

    if (pfd.fd >= 0 && ms > 0)
        (void) poll(&pfd, 1, (int) ms);
}

/* The ping out (PQsendQuery, then the rest of it while the socket takes it). */
static int ping(struct pg_watch *pw)
{
    int f;

    if (PQsendQuery(pw->conn, pw->ping) != 1) {
        lost(pw->conn, "send");
        return PV_ESTORE;
    }
    pw->pending = 1;
    pw->failed = 0;
    pw->sent = pv_mono_ms();
    while ((f = PQflush(pw->conn)) == 1 && pv_mono_ms() - pw->sent < PV_WATCH_ANSWER_MS)
        await_socket(pw->conn, POLLOUT, 100);
    if (f != 0) {
        lost(pw->conn, "send");
        return PV_ESTORE;
    }
    return PV_OK;
}

/*
 * A notification is answered at once (1), even with the ping's answer still to come: the
 * next wait reads it. 0 only once this wait read a ping's answer (the session alive and
 * listening) and the time ran out.
 */
static int pg_watch_wait(struct pv_watch *w, int timeout_ms)
{
    struct pg_watch *pw = (struct pg_watch *) w;
    PGconn *conn = pw->conn;
    int64_t now = pv_mono_ms(), deadline = now + (timeout_ms > 0 ? timeout_ms : 0);
    int got = 0, alive = 0;
    PGnotify *n;
    PGresult *res;

    if (!pw->pending && ping(pw) != PV_OK)
        return PV_ESTORE;
    for (;;) {
        if (PQconsumeInput(conn) != 1) {
            lost(conn, "read");
            return PV_ESTORE;
        }
        while ((n = PQnotifies(conn)) != NULL) {
            got = 1;
            PQfreemem(n);
        }
        while (pw->pending && !PQisBusy(conn)) {
            if ((res = PQgetResult(conn)) == NULL) {
                pw->pending = 0;
                alive = 1;
                break;
            }
            if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
                pw->failed = 1; /* its end may come in the next wait */
            PQclear(res);
        }
        if (alive && pw->failed) {
            lost(conn, "the session no longer listens, or the check failed");
            return PV_ESTORE;
        }
        if (got)
            return 1;
        now = pv_mono_ms();
        if (alive && now >= deadline)
            return 0;
        if (pw->pending && now - pw->sent >= PV_WATCH_ANSWER_MS) {
            fprintf(stderr, "store: watch: no answer from PostgreSQL in %d ms\n",
                    PV_WATCH_ANSWER_MS);
            return PV_ESTORE;
        }
        /* poll wakes up as soon as bytes come */
        await_socket(conn, POLLIN,
                     pw->pending ? pw->sent + PV_WATCH_ANSWER_MS - now : deadline - now);
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
    /* connect_timeout first: one in the DSN overrides it (libpq: the later wins). Without
     * one a host that drops packets holds the reconnecting thread, and a stop, for minutes. */
    static const char *const keys[] = {"connect_timeout", "dbname", "fallback_application_name",
                                       NULL};
    const char *values[] = {"5", dsn, "stampd-watch", NULL};
    struct pg_watch *pw;
    PGresult *res;
    char sql[96];
    long pid = 0;
    int ok;

    if (snprintf(sql, sizeof sql, "LISTEN %s", channel) >= (int) sizeof sql)
        return PV_ECONFIG;
    if (!(pw = calloc(1, sizeof *pw)))
        return PV_ENOMEM;
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
    /* The server's own pid (not libpq's, which a pooler makes up): each ping asks that this
     * very session listens, so a statement a pooler gave another session is a lost watch. */
    res = ok ? PQexec(pw->conn, "SELECT pg_backend_pid()") : NULL;
    ok = ok && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
         (pid = strtol(PQgetvalue(res, 0, 0), NULL, 10)) > 0;
    PQclear(res);
    /* channel: [a-z_] only (pv_watch_open), so it may stand in the text. */
    ok = ok && snprintf(pw->ping, sizeof pw->ping,
                        "SELECT 1 FROM pg_listening_channels() c WHERE c = '%s' "
                        "AND pg_backend_pid() = %ld",
                        channel, pid) < (int) sizeof pw->ping;
    if (!ok || PQsetnonblocking(pw->conn, 1) != 0) {
        lost(pw->conn, "LISTEN");
        pg_watch_close(&pw->base);
        return PV_ESTORE;
    }
    *out = &pw->base;
    return PV_OK;
}
