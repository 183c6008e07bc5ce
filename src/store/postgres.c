/*
 * postgres.c - the PostgreSQL store driver (struct pv_store_driver
 * "postgres"), through libpq.
 *
 * Driver code only: the operations are written once over store_int.h's
 * driver interface. One PGconn per handle, opened from a "postgres://" or
 * "postgresql://" DSN (libpq's URI syntax; the DSN is never printed: it may
 * hold a password). Every statement is prepared once per connection
 * (PQprepare under its sql.h name, on first use, so a handle on an empty
 * database can still migrate it) and run with PQexecPrepared: values only
 * ever travel as parameters. Integers go as decimal text; bytea and arrays
 * (journal_post's) go in binary. Results come back in binary.
 *
 * Transactions: begin() is BEGIN ISOLATION LEVEL READ COMMITTED. Outside
 * begin() autocommit makes each statement its own transaction
 * (PV_CAP_AUTOCOMMIT): the operations keep their writes one statement
 * where they can and open a transaction of their own only where they decide
 * between statements. Savepoint "p", one level. One difference PostgreSQL
 * imposes: a statement that fails inside a transaction aborts it back to
 * the open savepoint (or entirely). The handle remembers that: until
 * rollback_to() or rollback(), every other statement answers PV_ESTORE, and
 * commit() rolls back and answers PV_ESTORE. Callers already end a
 * transaction or savepoint on the first error (purchase.c).
 *
 * Pipeline (pv_store_defer, issue 15): round trips, not the server, are what a
 * purchase costs. SAVEPOINT, RELEASE and BEGIN, and the writes sent with
 * send() while the common layer defers, are queued in libpq's pipeline mode
 * instead of waited for; the next statement that needs an answer is sent
 * behind them with one Sync, and all their results are read in order (one
 * round trip for all). The first failure decides: a queued write's code is
 * kept (sent_rc, answered by flush() and sticky until rollback_to/rollback)
 * and the statement that found it answers PV_ESTORE; a failed SAVEPOINT,
 * RELEASE or BEGIN dooms the transaction (rollback_to refuses: the savepoint
 * it would return to is not the job's). A write whose "no row" matters
 * (PV_SEND_FOUND) never has a RELEASE or COMMIT queued behind it. A read
 * queued ahead (prefetch) answers the next run() of the same statement and
 * parameters once; a write of this handle or a savepoint's end drops it.
 * savepoint() sends nothing by itself: SAVEPOINT is queued ahead of the
 * job's first statement, and a job that sent none releases or rolls back
 * nothing (issue 15, session 11: a purchase in a batch locking late keeps
 * all its writes in the handle, so it costs no statement and no round trip).
 *
 * Several processors on one database (docs/internals/store-driver.md has
 * the whole list): rows read to be spent are locked with the FOR UPDATE
 * statements of sql.h; lock() takes advisory transaction locks, one key for
 * migrations and one for writers (lock_writer exclusive, purchase batches
 * shared: lock_batch); a lock wait longer
 * than 10 s (lock_timeout, unless the DSN sets one), a deadlock or a
 * serialisation failure is PV_EBUSY, and the caller may retry.
 *
 * Errors: unique violations are PV_EEXIST; text the database encoding
 * cannot hold is PV_EINVAL; out of memory PV_ENOMEM; everything else,
 * including the schema's guards (CHECK constraints - which also set
 * PV_FAULT_CHECK -, the trigger, foreign keys), PV_ESTORE with
 * PostgreSQL's primary message on stderr (never the DETAIL, which echoes
 * row values). A lost connection is PV_ESTORE with "store: ... connection
 * to PostgreSQL lost"; the next statement outside a transaction reconnects
 * (PQreset) and prepares its statements again.
 */
#include "stampd/error.h"
#include "store/store_int.h"

#include <libpq-fe.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the handle --------------------------------------------------------------------------- */

/* Statements of the driver itself: transaction control (enum pv_tx order), then the
 * advisory lock. Prepared as soon as the connection is up: they need no tables, and
 * ROLLBACK / ROLLBACK TO are the only statements an aborted transaction accepts. */
#define OWN_LOCK        (PV_TX_END_READ + 1)  /* the advisory lock, after transaction control */
#define OWN_LOCK_SHARED (OWN_LOCK + 1)        /* the writer lock shared: purchase batches */
#define OWN_BEGIN_READ  (OWN_LOCK_SHARED + 1) /* pv_store_begin_read's snapshot */

static const char *const own_sql[] = {
    [PV_TX_BEGIN] = "BEGIN ISOLATION LEVEL READ COMMITTED",
    [PV_TX_COMMIT] = "COMMIT",
    [PV_TX_ROLLBACK] = "ROLLBACK",
    [PV_TX_SAVEPOINT] = "SAVEPOINT p",
    [PV_TX_RELEASE] = "RELEASE p",
    [PV_TX_ROLLBACK_TO] = "ROLLBACK TO p",
    [OWN_LOCK] = "SELECT pg_advisory_xact_lock($1)",
    [OWN_LOCK_SHARED] = "SELECT pg_advisory_xact_lock_shared($1)",
    [OWN_BEGIN_READ] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
};

#define NOWN    ((int) (sizeof own_sql / sizeof own_sql[0]))
#define OWN_PFX "tx" /* own statements are prepared as tx0, tx1, ... */

/* A statement queued in the pipeline, waiting for its result (drain). */
enum { Q_CTL, Q_SENT, Q_CUR, Q_READ }; /* control; a send(); the one that waits; prefetch() */
#define PIPE_MAX 32
#define AHEAD    4 /* reads queued ahead, per savepoint */

struct pg_queued {
    const char *what; /* for messages */
    unsigned flags;   /* PV_SEND_* */
    int kind;         /* Q_* */
    int slot;         /* Q_READ: its place in ahead[] */
};

struct pg_store {
    struct pv_store base; /* first: a struct pv_store * is a struct pg_store * */
    struct pg_queued queued[PIPE_MAX];
    int nqueued;
    int doomed;  /* a queued SAVEPOINT/RELEASE/BEGIN failed: only ROLLBACK helps */
    int sp_lazy; /* savepoint() asked, SAVEPOINT not sent yet: the job sent nothing so far */
    int sent_rc; /* the first queued write's failure, until rollback_to/rollback */
    struct {
        int id; /* -1: taken */
        char key[192];
        PGresult *res; /* NULL until read */
    } ahead[AHEAD];    /* reads queued ahead (prefetch), answered once each */
    int nahead;
    PGconn *conn;
    int aborted;              /* a statement failed in the transaction: only rollback(_to) helps */
    char sqlstate[6];         /* of the last failed statement, "" if none */
    char constraint[64];      /* constraint it broke, "" if none */
    PGresult *res;            /* of the statement running (run .. reset) */
    int row;                  /* its current row */
    char ready[PV_SQL_COUNT]; /* prepared on this connection */
};

static struct pg_store *handle(struct pv_store *st)
{
    return (struct pg_store *) st;
}

/*
 * Map a failed command (res may be NULL) to a PV_E* code, logging real
 * failures (PostgreSQL's primary message only: the DETAIL echoes row
 * values). Marks an open transaction aborted.
 */
static int fail(struct pg_store *s, const PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    char line[512];
    int rc, answer, broke_check;

    pv_pg_copy_field(s->sqlstate, sizeof s->sqlstate, state);
    pv_pg_copy_field(s->constraint, sizeof s->constraint,
                     res ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL);
    if (s->base.in_tx || s->base.in_read)
        s->aborted = 1;

    if (PQstatus(s->conn) != CONNECTION_OK || strncmp(s->sqlstate, "08", 2) == 0 ||
        strncmp(s->sqlstate, "57P", 3) == 0) {
        fprintf(stderr, "store: %s: connection to PostgreSQL lost: %s\n", what,
                pv_pg_one_line(msg ? msg : PQerrorMessage(s->conn), line, sizeof line));
        return PV_ESTORE;
    }
    if (!res) {
        /* libpq could not even build the command: out of memory. */
        fprintf(stderr, "store: %s: %s\n", what,
                pv_pg_one_line(PQerrorMessage(s->conn), line, sizeof line));
        return PV_ENOMEM;
    }
    rc = pv_pg_state_code(s->sqlstate, what, &answer, &broke_check);
    if (!answer)
        fprintf(stderr, "store: %s: %s\n", what,
                pv_pg_one_line(msg ? msg : PQresultErrorMessage(res), line, sizeof line));
    if (broke_check)
        s->base.fault = PV_FAULT_CHECK;
    return rc;
}

/* PV_OK when res holds a successful command's result, else the mapped error. */
static int check(struct pg_store *s, const PGresult *res, const char *what)
{
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;

    s->sqlstate[0] = '\0';
    s->constraint[0] = '\0';
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return PV_OK;
    return fail(s, res, what);
}

static int prepare(struct pg_store *s, const char *name, const char *sql)
{
    PGresult *res;
    int rc;

    s->base.waits++;
    res = PQprepare(s->conn, name, sql, 0, NULL);
    rc = check(s, res, name);

    PQclear(res);
    return rc;
}

#define own_name(buf, cap, i) snprintf((buf), (cap), OWN_PFX "%d", (i))

/*
 * What every new (or reset) connection needs: UTF-8, a lock timeout like
 * SQLite's busy timeout unless the DSN chose one, and the driver's own
 * statements prepared. Runs outside any transaction.
 */
static int session_setup(struct pg_store *s)
{
    static const char set_timeout[] = "SELECT set_config('lock_timeout', '10s', false) "
                                      "WHERE current_setting('lock_timeout') = '0'";
    PGresult *res;
    char name[16];
    int rc, i;

    memset(s->ready, 0, sizeof s->ready);
    if (PQserverVersion(s->conn) < 110000) {
        fprintf(stderr, "store: PostgreSQL %d is too old (11 or newer needed)\n",
                PQserverVersion(s->conn) / 10000);
        return PV_ESTORE;
    }
    if (PQsetClientEncoding(s->conn, "UTF8") != 0) {
        fprintf(stderr, "store: cannot set the client encoding to UTF8\n");
        return PV_ESTORE;
    }
    res = PQexecParams(s->conn, set_timeout, 0, NULL, NULL, NULL, NULL, 0);
    rc = check(s, res, "lock_timeout");
    PQclear(res);
    for (i = 0; rc == PV_OK && i < NOWN; i++) {
        own_name(name, sizeof name, i);
        if (own_sql[i]) /* not the operations that run no statement of their own */
            rc = prepare(s, name, own_sql[i]);
    }
    return rc;
}

/* Can a statement run now? Outside a transaction a lost connection is reset
 * (PQreset) and set up again; in an aborted one only rollback(_to) may run. */
static int usable(struct pg_store *s, const char *what, int rolls_back)
{
    char line[512];

    if (PQstatus(s->conn) != CONNECTION_OK) {
        if (s->base.in_tx || s->base.in_read) { /* a new connection would lose the snapshot */
            s->aborted = 1;
            fprintf(stderr, "store: %s: the connection to PostgreSQL was lost in a transaction\n",
                    what);
            return PV_ESTORE;
        }
        PQreset(s->conn);
        if (PQstatus(s->conn) != CONNECTION_OK) {
            fprintf(stderr, "store: cannot reconnect to PostgreSQL: %s\n",
                    pv_pg_one_line(PQerrorMessage(s->conn), line, sizeof line));
            return PV_ESTORE;
        }
        if (PQpipelineStatus(s->conn) != PQ_PIPELINE_OFF)
            PQexitPipelineMode(s->conn); /* a pipeline the lost connection left open */
        fprintf(stderr, "store: reconnected to PostgreSQL\n");
        return session_setup(s);
    }
    if (s->aborted && !rolls_back) {
        fprintf(stderr, "store: %s: an earlier statement failed; roll the transaction back\n",
                what);
        return PV_ESTORE;
    }
    return PV_OK;
}

/* Sync the pipeline, read every queued result in order, leave pipeline mode. The first
 * failure decides (file comment): Q_SENT/Q_READ keep their code in sent_rc and answer
 * PV_ESTORE, Q_CTL dooms the transaction, Q_CUR answers its own. *last: the last one's
 * result when it succeeded (the caller's), else NULL. */
static int drain(struct pg_store *s, PGresult **last)
{
    int i, n = s->nqueued, rc = PV_OK, one;
    PGresult *res, *extra;
    ExecStatusType st;

    if (last)
        *last = NULL;
    s->nqueued = 0;
    s->base.waits++;
    if (!PQpipelineSync(s->conn)) {
        rc = fail(s, NULL, "pipeline sync");
        s->doomed = 1;
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct pg_queued *q = &s->queued[i];

        if (!(res = PQgetResult(s->conn))) {
            one = fail(s, NULL, q->what);
            s->doomed = 1;
            rc = rc != PV_OK ? rc : one; /* the connection is gone: nothing more to read */
            goto out;
        }
        st = PQresultStatus(res);
        if (st == PGRES_PIPELINE_ABORTED) {
            one = PV_ESTORE; /* skipped by the server after an earlier failure */
        } else if ((one = check(s, res, q->what)) == PV_OK) {
            if ((q->flags & PV_SEND_FOUND) && strtoll(PQcmdTuples(res), NULL, 10) == 0)
                one = PV_ENOTFOUND, s->aborted = 1; /* the server goes on; this handle not */
        } else if (one == PV_ESTORE && (q->flags & PV_SEND_OVERFLOW) &&
                   s->base.fault == PV_FAULT_CHECK) {
            one = PV_EOVERFLOW;
        }
        if (rc == PV_OK && one != PV_OK) {
            rc = one;
            if (q->kind == Q_SENT || q->kind == Q_READ) {
                s->sent_rc = one;
                rc = PV_ESTORE;
            } else if (q->kind == Q_CTL) {
                s->doomed = 1;
            }
        }
        /* A result only when all before it stood: else the call fails without one. */
        if (last && i == n - 1 && one == PV_OK && rc == PV_OK)
            *last = res;
        else if (q->kind == Q_READ && one == PV_OK)
            s->ahead[q->slot].res = res;
        else
            PQclear(res);
        if ((extra = PQgetResult(s->conn))) { /* each result is followed by a NULL */
            PQclear(extra);
            s->doomed = 1;
            rc = rc != PV_OK ? rc : PV_ESTORE;
        }
    }
    res = PQgetResult(s->conn);
    if (!res || PQresultStatus(res) != PGRES_PIPELINE_SYNC) {
        fprintf(stderr, "store: the pipeline lost its sync with PostgreSQL\n");
        s->doomed = 1;
        rc = rc != PV_OK ? rc : PV_ESTORE;
    }
    PQclear(res);
out:
    if (!PQexitPipelineMode(s->conn) && PQstatus(s->conn) == CONNECTION_OK) {
        s->doomed = 1;
        rc = rc != PV_OK ? rc : PV_ESTORE;
    }
    if (s->doomed && (s->base.in_tx || s->base.in_read))
        s->aborted = 1;
    return rc;
}

/* Queue the statement just sent (or fail, then read what was queued before it). */
static int queued(struct pg_store *s, int sent, const char *what, unsigned flags, int kind)
{
    int rc;

    if (!sent) {
        rc = fail(s, NULL, what);
        if (s->nqueued)
            drain(s, NULL);
        return rc;
    }
    s->queued[s->nqueued].what = what;
    s->queued[s->nqueued].flags = flags;
    s->queued[s->nqueued].kind = kind;
    s->nqueued++;
    return PV_OK;
}

/* Ready to queue one more: pipeline mode on, room in the queue. */
static int pipe_ready(struct pg_store *s, const char *what)
{
    int rc;

    if (s->nqueued == PIPE_MAX && (rc = drain(s, NULL)) != PV_OK)
        return rc;
    if (PQpipelineStatus(s->conn) == PQ_PIPELINE_OFF && !PQenterPipelineMode(s->conn))
        return fail(s, NULL, what);
    return PV_OK;
}

/* Queue own statement i (param NULL: none): its result is read with the next one that
 * waits, and its failure dooms the transaction. */
static int own_queue_with(struct pg_store *s, int i, const char *param)
{
    char name[16];
    int rc = usable(s, own_sql[i], 0);

    if (rc != PV_OK || (rc = pipe_ready(s, own_sql[i])) != PV_OK)
        return rc;
    own_name(name, sizeof name, i);
    return queued(s, PQsendQueryPrepared(s->conn, name, param ? 1 : 0, &param, NULL, NULL, 0),
                  own_sql[i], 0, Q_CTL);
}

static int own_queue(struct pg_store *s, int i)
{
    return own_queue_with(s, i, NULL);
}

/* The job's SAVEPOINT, queued ahead of its first statement (savepoint() only marks it:
 * a job that sends nothing has nothing to undo in the database, and no round trip). */
static int sp_send(struct pg_store *s)
{
    if (!s->sp_lazy)
        return PV_OK;
    s->sp_lazy = 0;
    return own_queue(s, PV_TX_SAVEPOINT);
}

/* Is a write whose "no row" matters queued? Then nothing that keeps it may follow unread. */
static int found_queued(const struct pg_store *s)
{
    int i;

    for (i = 0; i < s->nqueued; i++)
        if (s->queued[i].flags & PV_SEND_FOUND)
            return 1;
    return 0;
}

/* Drop the reads queued ahead: a write, or a savepoint's end, may have made them stale. */
static void forget(struct pg_store *s)
{
    int i;

    for (i = 0; i < s->nqueued; i++)
        if (s->queued[i].kind == Q_READ) {
            drain(s, NULL); /* not on the purchase path: a read always takes them first */
            break;
        }
    while (s->nahead > 0)
        PQclear(s->ahead[--s->nahead].res);
}

/* Run own statement i (with at most one text parameter) to completion, behind whatever is
 * queued (one round trip for all); res kept if wanted. */
static int own_run(struct pg_store *s, int i, const char *param, PGresult **keep)
{
    char name[16];
    PGresult *res = NULL;
    int rc = usable(s, own_sql[i], i == PV_TX_ROLLBACK || i == PV_TX_ROLLBACK_TO);

    if (rc != PV_OK)
        return rc;
    own_name(name, sizeof name, i);
    if (s->nqueued) {
        rc = queued(s, PQsendQueryPrepared(s->conn, name, param ? 1 : 0, &param, NULL, NULL, 0),
                    own_sql[i], 0, Q_CUR);
        if (rc == PV_OK)
            rc = drain(s, &res);
        if (keep && rc == PV_OK)
            *keep = res;
        else
            PQclear(res);
        return rc;
    }
    s->base.waits++;
    res = PQexecPrepared(s->conn, name, param ? 1 : 0, &param, NULL, NULL, 0);
    rc = check(s, res, own_sql[i]);
    if (keep && rc == PV_OK)
        *keep = res;
    else
        PQclear(res);
    return rc;
}

/* rc, or the own code of the queued write whose failure made a statement behind it answer
 * PV_ESTORE (sent_rc). */
static int own_code(const struct pg_store *s, int rc)
{
    return rc == PV_ESTORE && s->sent_rc != PV_OK ? s->sent_rc : rc;
}

/* ROLLBACK unless the server is already outside a transaction (or gone). */
static int abort_tx(struct pg_store *s)
{
    int rc = PV_OK;

    if (s->nqueued)
        drain(s, NULL); /* whatever they answer, all of it is rolled back */
    s->aborted = 0;
    s->doomed = 0;
    s->sent_rc = PV_OK;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        rc = own_run(s, PV_TX_ROLLBACK, NULL, NULL);
    s->aborted = 0;
    return rc;
}

static int pg_tx(struct pv_store *st, int op)
{
    struct pg_store *s = handle(st);
    PGresult *res = NULL;
    int rc;

    if (op != PV_TX_CHECK)
        forget(s);
    if (op == PV_TX_BEGIN || op == PV_TX_COMMIT || op == PV_TX_ROLLBACK)
        s->sp_lazy = 0; /* the transaction's end ends its savepoint */
    switch (op) {
    case PV_TX_BEGIN:
    case PV_TX_BEGIN_READ:
        if (s->nqueued)
            drain(s, NULL); /* cannot happen: commit and rollback read everything */
        s->aborted = s->doomed = 0;
        s->sent_rc = PV_OK;
        /* read with the first statement (the writer's lock; the snapshot's first read) */
        return own_queue(s, op == PV_TX_BEGIN ? op : OWN_BEGIN_READ);
    case PV_TX_SAVEPOINT:
        s->sp_lazy = 1; /* sent ahead of the job's first statement (sp_send), if any */
        return PV_OK;
    case PV_TX_RELEASE:
        if (s->sp_lazy) { /* the job sent nothing: nothing to release */
            s->sp_lazy = 0;
            return s->sent_rc;
        }
        /* Read with the next job's first statement, or the COMMIT - unless a write
         * whose "no row" matters is still unread (then it decides first). */
        if (found_queued(s) && (rc = drain(s, NULL)) != PV_OK)
            return s->sent_rc != PV_OK ? s->sent_rc : rc;
        if (s->sent_rc != PV_OK)
            return s->sent_rc;
        return own_queue(s, op);
    case PV_TX_COMMIT:
        if (found_queued(s))
            drain(s, NULL);
        if (s->aborted || s->sent_rc != PV_OK) {
            rc = own_code(s, PV_ESTORE);
            fprintf(stderr, "store: commit: an earlier statement failed; rolled back\n");
            abort_tx(s);
            return rc;
        }
        /* Behind what is queued (a batch's tails): one round trip for all; a queued write
         * that failed answers with its own code (the server skipped the COMMIT). */
        rc = own_code(s, own_run(s, op, NULL, &res));
        /* COMMIT of a transaction the server had aborted answers "ROLLBACK", not an error. */
        if (rc == PV_OK && strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            fprintf(stderr, "store: commit: the server rolled the transaction back\n");
            rc = PV_ESTORE;
        }
        PQclear(res);
        /* A lost connection leaves the outcome unknown to us; the server rolls back
         * unless the COMMIT got through. Either way this handle's transaction is over. */
        if (rc != PV_OK)
            abort_tx(s);
        return rc;
    case PV_TX_ROLLBACK:
    case PV_TX_END_READ: /* a read-only snapshot has nothing to commit */
        return abort_tx(s);
    case PV_TX_ROLLBACK_TO:
        if (s->sp_lazy) { /* the job sent nothing: nothing to undo */
            s->sp_lazy = 0;
            return PV_OK;
        }
        /* What was queued belongs to the job being undone: read it, whatever it says -
         * unless the savepoint itself (or a RELEASE before it) failed: then the "p" to
         * return to is not this job's, and only ROLLBACK is safe. */
        if (s->nqueued)
            drain(s, NULL);
        if (s->doomed) {
            fprintf(stderr, "store: rollback_to: the savepoint was not set; roll back\n");
            return PV_ESTORE;
        }
        /* ROLLBACK TO keeps the savepoint open (and clears an abort); release it so
         * the next savepoint() does not nest one level deeper per failed purchase. */
        rc = own_run(s, op, NULL, NULL);
        if (rc == PV_OK) {
            s->aborted = 0;
            s->sent_rc = PV_OK;
            rc = own_queue(s, PV_TX_RELEASE);
        }
        return rc;
    case PV_TX_CHECK:
        return PV_OK; /* an aborted transaction refuses the statement itself (usable) */
    default:
        return own_run(s, op, NULL, NULL);
    }
}

/* Serialises migrate() across processes (pg_advisory_xact_lock is per database): "stampd". */
#define MIGRATE_LOCK_KEY "126879297577060"
/* Excludes purchase batches (lock_batch: shared) across processes while a lock_writer holder
 * writes: "stampdPB" as a big-endian int8. */
#define WRITER_LOCK_KEY "8319381534325100610"

/* An advisory lock held to the end of the transaction (see the file comment). */
static int pg_lock(struct pv_store *st, int which)
{
    int rc = sp_send(handle(st));

    if (rc != PV_OK)
        return rc;
    /* A batch's shared lock is queued, read with its first read (batch_facts): no round
     * trip of its own (issue 15, session 13); a wait past lock_timeout answers that read
     * PV_EBUSY, and the batch rolls back as when the lock itself answered. */
    if (which == PV_LOCK_BATCH && handle(st)->base.in_tx)
        return own_queue_with(handle(st), OWN_LOCK_SHARED, WRITER_LOCK_KEY);
    return own_run(handle(st), which == PV_LOCK_BATCH ? OWN_LOCK_SHARED : OWN_LOCK,
                   which == PV_LOCK_MIGRATE ? MIGRATE_LOCK_KEY : WRITER_LOCK_KEY, NULL);
}

/* One DDL statement of a migration: fixed text, no values. */
static int pg_ddl(struct pv_store *st, const char *sql, const char *what)
{
    struct pg_store *s = handle(st);
    PGresult *res;
    int rc;

    if (PQstatus(s->conn) != CONNECTION_OK)
        return fail(s, NULL, what);
    forget(s);
    if ((rc = sp_send(s)) != PV_OK || (s->nqueued && (rc = drain(s, NULL)) != PV_OK))
        return rc;
    s->base.waits++;
    res = PQexecParams(s->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
    rc = check(s, res, what);
    PQclear(res);
    return rc;
}

static void pg_close(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (!s)
        return;
    pv_store_rollback(st);
    forget(s);
    PQclear(s->res);
    PQfinish(s->conn);
    free(s);
}

/* ---- parameters ---------------------------------------------------------------------------- */

/* A statement run (mode 0), queued (1: pg_send) or read ahead (2: pg_prefetch). */
static int statement(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                     int mode, unsigned flags)
{
    struct pg_store *s = handle(st);
    const char *val[PV_MAX_PARAMS];
    int len[PV_MAX_PARAMS], fmt[PV_MAX_PARAMS], i, rc, keyed = 0, k = -1;
    char num[PV_MAX_PARAMS][24], key[sizeof s->ahead[0].key];
    unsigned char *owned[PV_MAX_PARAMS] = {NULL};
    const char *name = pv_sql[id].name;

    s->base.fault = PV_FAULT_NONE;
    s->res = NULL;
    s->row = -1;
    if ((rc = usable(s, name, 0)) != PV_OK || (rc = sp_send(s)) != PV_OK)
        return rc;
    if (mode == 2 || (mode == 0 && s->nahead))
        keyed = pv_pg_key(id, p, n, key, sizeof key) == 0;
    for (i = 0; mode == 0 && keyed && i < s->nahead && k < 0; i++)
        if (s->ahead[i].id == id && strcmp(s->ahead[i].key, key) == 0)
            k = i; /* read ahead: its answer, once (still queued: read it now) */
    if (k >= 0 && !s->ahead[k].res && s->nqueued && (rc = drain(s, NULL)) != PV_OK)
        return rc;
    if (k >= 0 && s->ahead[k].res) {
        s->res = s->ahead[k].res;
        s->ahead[k].res = NULL;
        s->ahead[k].id = -1;
        return PV_OK;
    }
    if (mode == 2 && (!keyed || s->nahead == AHEAD))
        return PV_OK; /* not read ahead: it runs when asked */
    if (mode == 1 || (mode == 0 && strncmp(sql, "SELECT", 6) != 0))
        forget(s); /* a write: what was read ahead may no longer be so */
    if (!s->ready[id]) {
        /* PQprepare waits: read what is queued first (once per statement and connection). */
        if (s->nqueued && (rc = drain(s, NULL)) != PV_OK)
            return rc;
        if ((rc = prepare(s, name, sql)) != PV_OK)
            return rc;
        s->ready[id] = 1;
    }
    rc = pv_pg_bind(p, n, val, len, fmt, num, owned);
    if (rc == PV_OK && mode) {
        /* Queued: its result is read with the next statement that waits (drain). */
        if ((rc = pipe_ready(s, name)) == PV_OK)
            rc = queued(s, PQsendQueryPrepared(s->conn, name, n, val, len, fmt, 1), name, flags,
                        mode == 2               ? Q_READ
                        : (flags & PV_SEND_CTL) ? Q_CTL
                                                : Q_SENT);
        if (rc == PV_OK && mode == 2) {
            s->queued[s->nqueued - 1].slot = s->nahead;
            s->ahead[s->nahead].id = id;
            memcpy(s->ahead[s->nahead].key, key, sizeof key);
            s->ahead[s->nahead++].res = NULL;
        }
    } else if (rc == PV_OK && s->nqueued) {
        /* Behind what is queued, one Sync and one round trip for all. */
        rc = queued(s, PQsendQueryPrepared(s->conn, name, n, val, len, fmt, 1), name, 0, Q_CUR);
        if (rc == PV_OK)
            rc = drain(s, &s->res);
    } else if (rc == PV_OK) {
        s->base.waits++;
        s->res = PQexecPrepared(s->conn, name, n, val, len, fmt, 1);
        rc = check(s, s->res, name);
        if (rc != PV_OK) {
            PQclear(s->res);
            s->res = NULL;
        }
    }
    for (i = 0; i < n; i++)
        free(owned[i]);
    return rc;
}

/*
 * Run statement id: prepared once per connection under its name, values
 * only ever as parameters. Integers go as decimal text, blobs and arrays in
 * binary; results come back in binary.
 */
static int pg_run(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n)
{
    return statement(st, id, sql, p, n, 0, 0);
}

/* Queue a write inside a transaction (pv_store_defer; file comment). */
static int pg_send(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                   unsigned flags)
{
    return statement(st, id, sql, p, n, 1, flags);
}

/* Read ahead inside a transaction (pv_q_prefetch; file comment). */
static int pg_prefetch(struct pv_store *st, int id, const char *sql, const struct pv_param *p,
                       int n)
{
    return statement(st, id, sql, p, n, 2, 0);
}

/* Wait for what is queued: PV_OK, or the first queued write's failure. Savepoints, their
 * releases and the batch's locks (Q_CTL) stay queued: their failure dooms the transaction
 * and answers the next statement that waits (a job that wrote nothing has no round trip). */
static int pg_flush(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    int i, rc = PV_OK;

    for (i = 0; i < s->nqueued; i++)
        if (s->queued[i].kind == Q_SENT) {
            rc = drain(s, NULL);
            break;
        }

    forget(s);
    return s->sent_rc != PV_OK ? s->sent_rc : rc;
}

/* Send what is queued, its answers read later by flush (pv_store_push). */
static int pg_push(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (s->nqueued && PQflush(s->conn) != 0) {
        int rc = fail(s, NULL, "pipeline flush");

        drain(s, NULL);
        return rc;
    }
    return PV_OK;
}

/* Everything queued read, the locks and savepoints too (pv_store_barrier). */
static int pg_barrier(struct pv_store *st)
{
    struct pg_store *s = handle(st);
    return own_code(s, s->nqueued ? drain(s, NULL) : PV_OK);
}

static int pg_step(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    if (s->row + 1 >= PQntuples(s->res))
        return PV_ENOTFOUND;
    s->row++;
    return PV_OK;
}

/* A binary int2, int4 or int8 (network byte order); NULL reads as 0. */
static int pg_col_int(struct pv_store *st, int col, int64_t *v)
{
    struct pg_store *s = handle(st);
    int len;

    *v = 0;
    if (PQgetisnull(s->res, s->row, col))
        return PV_OK;
    len = PQgetlength(s->res, s->row, col);
    if (len != 2 && len != 4 && len != 8) {
        fprintf(stderr, "store: column %s is not an integer (%d bytes)\n", PQfname(s->res, col),
                len);
        return PV_ESTORE;
    }
    *v = pv_pg_int_be(PQgetvalue(s->res, s->row, col), len);
    return PV_OK;
}

static int pg_col_bytes(struct pv_store *st, int col, int blob, const void **p, size_t *len)
{
    struct pg_store *s = handle(st);

    (void) blob; /* binary results: text and bytea both arrive as their bytes */
    *p = NULL;
    *len = 0;
    if (!PQgetisnull(s->res, s->row, col)) {
        *p = PQgetvalue(s->res, s->row, col);
        *len = (size_t) PQgetlength(s->res, s->row, col);
    }
    return PV_OK;
}

static int64_t pg_changes(struct pv_store *st)
{
    const char *t = PQcmdTuples(handle(st)->res);

    return t && *t ? strtoll(t, NULL, 10) : 0;
}

static void pg_reset(struct pv_store *st)
{
    struct pg_store *s = handle(st);

    PQclear(s->res);
    s->res = NULL;
}

static const struct pv_store_driver postgres_driver = {
    .version = PV_STORE_DRIVER_VERSION,
    .name = "postgres",
    .dialect = PV_DIALECT_POSTGRES,
    /* A single statement outside a transaction is one under autocommit. */
    .caps = PV_CAP_AUTOCOMMIT | PV_CAP_WRITERS,
    /* Statements: prepared once per connection, results read in binary. */
    .run = pg_run,
    .step = pg_step,
    .col_int = pg_col_int,
    .col_bytes = pg_col_bytes,
    .changes = pg_changes,
    .reset = pg_reset,
    /* Writes queued in libpq's pipeline while the common layer defers them. */
    .send = pg_send,
    .flush = pg_flush,
    .push = pg_push,
    .barrier = pg_barrier,
    .prefetch = pg_prefetch,
    /* Transactions, advisory locks, migrations, the connection. */
    .tx = pg_tx,
    .lock = pg_lock,
    .ddl = pg_ddl,
    .close = pg_close,
};

/* ---- open and close ----------------------------------------------------------------------- */

int pv_postgres_open(const char *dsn, struct pv_store **out)
{
    /* The DSN is libpq's "dbname" with expansion: a URI or key=value string. */
    static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
    const char *values[] = {dsn, "stampd", NULL};
    struct pg_store *s = NULL;
    char line[512];
    int rc;

    /* store.c hands over a valid dsn and out, *out already NULL. */
    s = calloc(1, sizeof *s);
    if (!s)
        return PV_ENOMEM;
    s->base.drv = &postgres_driver;
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn) {
        rc = PV_ENOMEM;
        goto out;
    }
    if (PQstatus(s->conn) != CONNECTION_OK) {
        /* libpq's message names host and port, never the password. */
        fprintf(stderr, "store: cannot connect to PostgreSQL: %s\n",
                pv_pg_one_line(PQerrorMessage(s->conn), line, sizeof line));
        rc = PV_ESTORE;
        goto out;
    }
    if ((rc = session_setup(s)) != PV_OK)
        goto out;
    *out = &s->base;
    s = NULL;
out:
    if (s)
        pg_close(&s->base);
    return rc;
}
