/*
 * store_int.h - the inside of the store, private to src/store: the driver
 * interface each database implements, the base handle every driver embeds
 * first, and the helpers the operations (ledger.c, psd.c, accounts.c,
 * payments.c, indicia.c, media.c) use to run statements through a driver.
 *
 * The operations are written once, over any driver. A driver
 * (sqlite.c, postgres.c) knows its database and nothing of the tables:
 * it prepares and caches the statements the common layer hands it by id,
 * binds, steps, reads columns, runs transaction control and maps its
 * errors to PV_E* codes. docs/internals/store-driver.md has the contract.
 * Nothing outside src/store includes this header.
 */
#ifndef STAMPD_STORE_INT_H
#define STAMPD_STORE_INT_H

#include "store/sql.h"
#include "store/store.h"

#include <stddef.h>
#include <stdint.h>

/* The interface version drivers are written against; pv_store_open refuses others.
 * Version 1 was the 88-operation pv_store_ops table each backend filled. */
#define PV_STORE_DRIVER_VERSION 3 /* 3: PV_TX_BEGIN_READ, PV_TX_END_READ */

/* Which text of a statement or DDL chunk a driver takes (sql.h, schema.c). */
enum pv_dialect { PV_DIALECT_SQLITE = 0, PV_DIALECT_POSTGRES = 1, PV_DIALECTS = 2 };

/* Driver capabilities. PV_CAP_AUTOCOMMIT: one statement outside begin() is
 * atomic on its own, so a write of one statement needs no transaction of its own. */
#define PV_CAP_AUTOCOMMIT 1u
/* PV_CAP_STMT_ATOMIC: inside begin(), a statement that fails undoes its own writes only and
 * leaves the transaction going (or, rolled back whole, refused by every later write,
 * savepoint and commit: lite_tx; callers that skip a savepoint ask pv_store_alive after a
 * failure); PostgreSQL's failed statement aborts the transaction instead. */
#define PV_CAP_STMT_ATOMIC 2u
/* PV_CAP_WRITERS: transactions of several connections write side by side (row locks, not one
 * writer lock for the whole database). */
#define PV_CAP_WRITERS 4u

/* Transaction control, for pv_store_driver.tx. The common layer keeps the
 * state (in_tx, in_sp, in_read) and calls only what is legal in it. */
enum pv_tx {
    PV_TX_BEGIN,       /* open a write transaction */
    PV_TX_COMMIT,      /* commit it; on failure roll it back; either way it is over */
    PV_TX_ROLLBACK,    /* roll it back (nothing when the database already did) */
    PV_TX_SAVEPOINT,   /* open the one savepoint */
    PV_TX_RELEASE,     /* keep and end it */
    PV_TX_ROLLBACK_TO, /* undo and end it; the transaction goes on */
    PV_TX_CHECK,       /* a write is about to join the open transaction: still alive? */
    PV_TX_BEGIN_READ,  /* open a read-only snapshot (pv_store_begin_read): no writer waits */
    PV_TX_END_READ     /* end it (nothing when the database already did) */
};

/* How a sent write's outcome maps to a code (pv_store_driver.send). */
#define PV_SEND_FOUND    1u /* no row written is PV_ENOTFOUND (pv_q_write_found) */
#define PV_SEND_OVERFLOW 2u /* a CHECK constraint's refusal is PV_EOVERFLOW (journal_post) */
/* Queued, its failure dooms the transaction and answers the next statement that waits with
 * its own code (PostgreSQL: a batch's savepoint and gate, sent with its first read). */
#define PV_SEND_CTL 4u

/* Advisory locks, for pv_store_driver.lock, taken inside a transaction. */
enum pv_lock {
    PV_LOCK_MIGRATE, /* migrations of all processes, one at a time */
    PV_LOCK_WRITER,  /* lock_writer: one holder, no purchase batch at the same time */
    PV_LOCK_BATCH    /* lock_batch: purchase batches, several at once, none with a writer */
};

/* What a driver noticed about its last failure, for the few callers that care. */
enum pv_fault {
    PV_FAULT_NONE = 0,
    PV_FAULT_CHECK = 1 /* a CHECK constraint (or a numeric range) refused a value */
};

/* One statement parameter. Text and blobs are borrowed until the statement is reset. */
enum pv_param_kind {
    PV_P_NULL,
    PV_P_INT,
    PV_P_TEXT,
    PV_P_BLOB,
    PV_P_TEXT_ARRAY,
    PV_P_INT_ARRAY,
    PV_P_BLOB_ARRAY /* elements: struct pv_blob_ref (a batch's rows, PostgreSQL only) */
};

/* One element of a PV_P_BLOB_ARRAY; a PV_P_TEXT_ARRAY of stride 0 is of const char *. */
struct pv_blob_ref {
    const void *p;
    size_t len;
};

struct pv_param {
    int kind;      /* enum pv_param_kind */
    int64_t i;     /* PV_P_INT */
    const void *p; /* text (NUL-terminated), blob, or the first element of an array */
    size_t len;    /* blob bytes, or array elements */
    size_t stride; /* arrays: bytes from one element to the next (char[] text, int64_t) */
};

#define PV_MAX_PARAMS 65 /* JOURNALS_ROWS16 and LINES_ROWS16 have 64 */

/*
 * The driver table: a versioned set of function pointers with designated
 * initialisers, modelled on sqlite3_io_methods. Every function borrows st.
 * A handle runs one statement at a time: run, then step/col_* as often as
 * needed, then reset.
 */
struct pv_store_driver {
    int version;      /* PV_STORE_DRIVER_VERSION */
    const char *name; /* "sqlite" */
    int dialect;      /* enum pv_dialect */
    unsigned caps;    /* PV_CAP_* */

    void (*close)(struct pv_store *st); /* rolls back an open transaction, frees st */
    int (*tx)(struct pv_store *st, int op);
    int (*lock)(struct pv_store *st, int which);
    /* One fixed DDL statement (no parameters), not cached; what names it in errors. */
    int (*ddl)(struct pv_store *st, const char *sql, const char *what);
    /* Prepare statement id (cached per handle, text sql, name for messages) on
     * first use, bind p[0..n-1] to $1..$n and start it. Errors PV_E*. */
    int (*run)(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n);
    /* The next row: PV_OK (readable with col_*), PV_ENOTFOUND past the last, or an error. */
    int (*step)(struct pv_store *st);
    /* Column col of the current row: an integer (NULL reads 0), or the bytes of a
     * text or blob (*p NULL for SQL NULL), valid until the next step or reset. */
    int (*col_int)(struct pv_store *st, int col, int64_t *v);
    int (*col_bytes)(struct pv_store *st, int col, int blob, const void **p, size_t *len);
    int64_t (*changes)(struct pv_store *st); /* rows the statement wrote */
    void (*reset)(struct pv_store *st);      /* end the statement, drop its bindings */
    /* A write whose result the caller does not read (pv_q_send), inside begin() while
     * pv_store_defer is on: the driver may queue it (PostgreSQL: libpq's pipeline) and
     * answer PV_OK, reporting a failure at the next statement (as PV_ESTORE, the
     * transaction then aborted) and its own code at flush. flags: PV_SEND_*. SQLite runs
     * it at once (pv_send_now). Then flush: wait for every queued statement, PV_OK or
     * the first failure's code (sticky until rollback_to/rollback). */
    int (*send)(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                unsigned flags);
    int (*flush)(struct pv_store *st);
    /* Optional (NULL: nothing to send): hand what is queued to the server now, without
     * waiting for its answers, which flush still reads (pv_store_push). */
    int (*push)(struct pv_store *st);
    /* Optional (NULL: nothing queued ever): wait for everything queued (pv_store_barrier). */
    int (*barrier)(struct pv_store *st);
    /* A read queued ahead (pv_q_prefetch), same rules as send: the next run() of the same
     * statement with the same parameters answers from it, once, unless this handle wrote
     * or ended a savepoint in between. SQLite: nothing (PV_OK). */
    int (*prefetch)(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n);
    /* Optional (NULL: PV_ECONFIG): a consistent copy of the whole database into
     * the new file at path (borrowed) while other handles write: stampd backup. */
    int (*backup)(struct pv_store *st, const char *path);
    /* Optional (NULL: nothing to do): let this handle keep up to bytes of the
     * database's pages in memory (a processor's writer, which touches the most). */
    void (*cache)(struct pv_store *st, size_t bytes);
    /* Optional (NULL: PV_ECONFIG): what the file's checkpointer did in this process, into
     * *out (zeroed by the caller): SQLite (sqlite_wal.h). */
    int (*checkpoints)(struct pv_store *st, struct pv_store_ckpt *out);
    /* Optional (NULL: the dialect returns ids with RETURNING): the id (rowid) the handle's
     * last insert gave its last row, read after the statement ran (SQLite; an INSERT's
     * RETURNING buffers its rows in a temporary table there). */
    int64_t (*last_id)(struct pv_store *st);
};

/* The base of every driver's handle, embedded first. */
struct pv_store {
    const struct pv_store_driver *drv;
    int in_tx;            /* begin() succeeded and neither commit() nor rollback() followed */
    int in_sp;            /* the savepoint is open */
    int in_read;          /* begin_read() succeeded and end_read() did not follow */
    int fault;            /* enum pv_fault of the last failure, set by the driver */
    uint64_t statements;  /* statements run (pv_store_statements) */
    uint64_t waits;       /* answers waited for, set by the driver (pv_store_waits) */
    int defer;            /* pv_store_defer: writes sent with pv_q_send may be queued */
    int64_t part;         /* pv_store_set_part: where shared ledger lines go (0: the row) */
    struct pv_jbuf *jbuf; /* pv_store_journal_batch: journals kept for one statement (ledger.c) */
    uint64_t reprepares;  /* statements prepared again to run (SQLite; pv_store_reprepares) */
};

/* The journals a purchase batch keeps (ledger.c): mark at a savepoint, undo at its
 * rollback_to, write (one statement, queued like a send) and drop (rollback, begin, close). */
void pv_jbuf_mark(struct pv_store *st);
void pv_jbuf_undo(struct pv_store *st);
int pv_jbuf_write(struct pv_store *st);
/* The kept lines' sum an account (ledger_rows.c): add (PV_EOVERFLOW past the money range,
 * nothing changed; *name the account's name, owned by the table until reset), sub (a line
 * added before), get (1 while the account has kept lines; *sum 0 otherwise), reset (every
 * account forgotten; free_it: the table too). */
struct pv_jsums;
int pv_jsums_add(struct pv_jsums **s, const char *account, pv_mills amount, char **name);
void pv_jsums_sub(struct pv_jsums *s, const char *account, pv_mills amount);
int pv_jsums_get(const struct pv_jsums *s, const char *account, pv_mills *sum);
void pv_jsums_reset(struct pv_jsums *s, int free_it);
/* pv_jbuf_write without arrays (SQLite, ledger_rows.c): the kept journals (kind, ref, at; nj),
 * their lines (jord: the journal's place from 1, line, acct, amount; nl) and the accounts'
 * sums of them (sums), all borrowed. */
int pv_jbuf_write_rows(struct pv_store *st, size_t nj, char **kind, char **ref, const int64_t *at,
                       size_t nl, const int64_t *jord, const int64_t *line, char **acct,
                       const int64_t *amount, const struct pv_jsums *sums);
void pv_jbuf_drop(struct pv_store *st, int free_it);
/* A balance the batch holds locked (lock_batch): account_balance answers it (plus the kept
 * lines) until a journal written at once moves the account. known: 1 when kept. */
int pv_jbuf_know(struct pv_store *st, const char *account, pv_mills balance);
/* The balances statement id (ACCOUNTS_LOCK, ACCOUNTS_READ: name, balance) reads of accounts[n],
 * each known from then on (pv_jbuf_know); a missing account is skipped. */
int pv_jbuf_read(struct pv_store *st, int id, const char (*accounts)[PV_ACCOUNT_MAX], size_t n);
int pv_jbuf_known(const struct pv_store *st, const char *account);
/* idem_put in a batch locking late (PostgreSQL): the row kept (*kept 1), written by
 * batch_settle in one statement; a savepoint's rollback_to forgets it. Else *kept 0. */
int pv_jbuf_idem_keep(struct pv_store *st, const char *owner_id, const char *key,
                      const char *req_hash, const char *indicium_id, int64_t at, int *kept);

/*
 * Driver constructors, called by store.c. Each returns an owned handle in
 * *out (pv_store_close() releases it) and sets *out to NULL on failure.
 * pv_sqlite_open: the database file at the borrowed path, created when
 * missing. pv_postgres_open: the database of the borrowed libpq DSN (never
 * logged), one connection. Neither migrates. Errors: PV_ESTORE, PV_ENOMEM.
 */
int pv_sqlite_open(const char *path, struct pv_store **out);
int pv_postgres_open(const char *dsn, struct pv_store **out);

/* The postgres driver's libpq-free helpers (pg_util.c). A one-dimensional array parameter
 * (PV_P_INT_ARRAY, PV_P_TEXT_ARRAY, PV_P_BLOB_ARRAY) in PostgreSQL's binary format: owned (free()),
 * *len its bytes; NULL when out of memory or too big. For the postgres driver. */
unsigned char *pv_pg_array(const struct pv_param *p, int *len);
/* Parameters p[0..n-1] as PQexecPrepared takes them (val, len, fmt; integers printed into
 * num, arrays owned in owned[i] - free() each). PV_EINVAL, PV_ENOMEM. */
int pv_pg_bind(const struct pv_param *p, int n, const char **val, int *len, int *fmt,
               char (*num)[24], unsigned char **owned);
/* Statement id with integer and text parameters as one string (a read-ahead's key): 0, or
 * -1 when another kind or a longer key than cap. */
int pv_pg_key(int id, const struct pv_param *p, int n, char *key, size_t cap);
/* A multi-line libpq message folded into buf as one line; a field copied, cut to cap. */
const char *pv_pg_one_line(const char *m, char *buf, size_t cap);
void pv_pg_copy_field(char *dst, size_t cap, const char *src);
/* What a failed statement's SQLSTATE (state, borrowed; "" when none) means to the store:
 * PV_EEXIST (a unique key taken), PV_EBUSY (serialization, deadlock, a lock or statement
 * timeout; a lock busy for a statement named "..._NOWAIT", what borrowed, may be NULL),
 * PV_ENOMEM, PV_EINVAL (text the database's encoding cannot hold) or PV_ESTORE. *answer: 1 for
 * an answer the caller expects (the key taken, the lock busy), not a failure to log; *check: 1
 * for a CHECK broken or a number out of range (PV_FAULT_CHECK). */
int pv_pg_state_code(const char *state, const char *what, int *answer, int *check);
/* A binary integer column's len (2, 4 or 8) big-endian bytes at p (borrowed), sign-extended. */
int64_t pv_pg_int_be(const void *p, int len);

/* ---- running statements (query.c) ---------------------------------------------------------- */

/*
 * One use of a statement: pv_q_start (a NULL st makes it PV_EINVAL), bind
 * its parameters in order (pv_q_int/text/blob/array), then pv_q_exec (no
 * rows wanted), pv_q_found (an UPDATE/DELETE of one keyed row: PV_ENOTFOUND
 * when none matched), pv_q_get (one row into a record), pv_q_list (every
 * row into an owned array) or pv_q_row + pv_row_of + pv_r_* + pv_q_done.
 * The first failure sticks in rc and turns the rest into no-ops. Bound text
 * and blobs are borrowed. Every pv_q_* that runs the statement counts it in
 * st->statements.
 */
struct pv_q {
    struct pv_store *st;
    int id;      /* enum pv_sql */
    int n;       /* parameters bound so far */
    int rc;      /* PV_E* */
    int started; /* run() succeeded: reset() is owed */
    struct pv_param p[PV_MAX_PARAMS];
};

/* Reading the current row column by column, in SELECT order; the first failure sticks. */
struct pv_row {
    struct pv_store *st;
    int id; /* the statement, for messages */
    int i;  /* next column */
    int rc;
};

typedef int (*pv_reader)(struct pv_row *r, void *rec);

void pv_q_start(struct pv_q *q, struct pv_store *st, int id);
void pv_q_int(struct pv_q *q, int64_t v);
void pv_q_text(struct pv_q *q, const char *v); /* NULL binds SQL NULL */
void pv_q_blob(struct pv_q *q, const void *v, size_t len);
void pv_q_array(struct pv_q *q, int kind, const void *first, size_t n, size_t stride);
int pv_q_exec(struct pv_q *q);
int pv_q_changed(struct pv_q *q, int64_t *changed);
int pv_q_found(struct pv_q *q);
/* pv_q_exec and pv_q_found for a write of one statement: in a transaction of its
 * own outside begin() where the driver needs one (pv_write_enter). */
int pv_q_write(struct pv_q *q);
int pv_q_write_found(struct pv_q *q);
/* pv_q_write / pv_q_write_found (flags PV_SEND_*) for a write whose caller needs
 * nothing back but success: inside begin() with pv_store_defer on, the driver may
 * queue it (send) and its failure is answered by pv_store_defer(st, 0). */
int pv_q_send(struct pv_q *q, unsigned flags);
/* pv_q_send with defer on for the call, whatever the caller's: queued inside begin() where
 * the driver pipelines (a batch's own statements, outside any job's scope). */
int pv_q_queue(struct pv_q *q, unsigned flags);
/* Statement id, of no parameter, queued inside begin() (pv_q_queue with PV_SEND_CTL): its
 * failure answers the next statement that waits, with its own code. */
int pv_ctl_queue(struct pv_store *st, int id);
/* Queue a read whose answer a later pv_q_* of the same statement and parameters takes
 * (inside begin(), pv_store_defer on or off; otherwise nothing). Ends q. */
int pv_q_prefetch(struct pv_q *q);
/* send of a driver that runs the statement at once (run, step, changes, reset). */
int pv_send_now(struct pv_store *st, int id, const char *sql, const struct pv_param *p, int n,
                unsigned flags);
int pv_q_row(struct pv_q *q); /* PV_OK: a row to read with pv_row_of; then pv_q_done */
void pv_q_done(struct pv_q *q);
struct pv_row pv_row_of(struct pv_q *q);
/* One row into rec (size bytes, zeroed first and again on failure): PV_ENOTFOUND without. */
int pv_q_get(struct pv_q *q, pv_reader reader, void *rec, size_t size);
/* One integer column of one row. */
int pv_q_int64(struct pv_q *q, int64_t *v);
/* Every row into an owned array of size-byte records (*out NULL when none). */
int pv_q_list(struct pv_q *q, size_t size, pv_reader reader, void **out, size_t *n);
/* pv_q_list of records that own memory: on failure, release (borrows the record)
 * frees what each record read so far holds before the array goes. */
int pv_q_list_owned(struct pv_q *q, size_t size, pv_reader reader, void (*release)(void *rec),
                    void **out, size_t *n);
/* pv_q_get / pv_q_list of a statement keyed by one text (NULL key: PV_EINVAL) or by nothing. */
int pv_get_by_text(struct pv_store *st, int id, const char *key, pv_reader reader, void *rec,
                   size_t size);
int pv_list_all(struct pv_store *st, int id, size_t size, pv_reader reader, void **out, size_t *n);

int64_t pv_r_int(struct pv_row *r);
void pv_r_text(struct pv_row *r, char *dst, size_t cap);
/* The text as an owned string (free(); "" for SQL NULL); NULL on failure (r->rc says why). */
char *pv_r_dup(struct pv_row *r);
/* An optional text (store_indicium.h) as an owned string: NULL, with no
 * allocation, when empty (or SQL NULL); PV_ESTORE in r->rc when it would not fit
 * a field of cap bytes, as pv_r_text. */
char *pv_r_text_opt(struct pv_row *r, size_t cap);
/* A blob of between min and cap bytes into dst; *len its length. */
void pv_r_blob(struct pv_row *r, void *dst, size_t min, size_t cap, size_t *len);

/* Does the driver's dialect have statement id (a NULL text means "compose it")? */
int pv_sql_has(const struct pv_store *st, int id);
/* The statement that reads a row: locked, inside a transaction where the dialect can
 * lock rows (FOR UPDATE; SQLite's single writer needs none), else plain. */
int pv_locking(const struct pv_store *st, int plain, int locked);

/*
 * Writes. pv_write_enter before, pv_write_leave after (it passes rc
 * through). Inside begin() they only check the transaction is alive;
 * outside, they wrap the write in its own transaction - unless it is one
 * statement (multi 0) and the driver makes single statements atomic.
 */
int pv_write_enter(struct pv_store *st, int multi, int *own);
int pv_write_leave(struct pv_store *st, int own, int rc);

/* NUL-terminated within cap bytes (a borrowed string that fits a record field). */
int pv_fits(const char *v, size_t cap);
#define PV_FITS(field) pv_fits((field), sizeof(field))

/* A money amount handed in: PV_EINVAL below min, PV_EOVERFLOW past PV_MILLS_MAX. */
int pv_check_mills(pv_mills v, pv_mills min);

/* pv_jlines_listed - whether journal_lines_account holds account's lines (v41, v42,
 * LINES_LISTED_AS in sql_ledger.h): a customer's or the postal deposit's. account borrowed. */
int pv_jlines_listed(const char *account);

/* A page of an account's journals (statement id binds account, the journal id
 * before - 0: from the newest - and the limit): newest first into an owned
 * array of size-byte records (account_lines, deposit_history). */
int pv_account_page(struct pv_store *st, int id, const char *account, int64_t before, size_t limit,
                    size_t size, pv_reader reader, void **out, size_t *n);

/* A size_t limit as a SQL LIMIT. */
#define PV_LIMIT(limit) ((limit) > (size_t) INT64_MAX ? INT64_MAX : (int64_t) (limit))

/* ---- a watch (store_watch.h) ---- */

/* A backend's watch: its functions first, then whatever it keeps. */
struct pv_watch_ops {
    int (*wait)(struct pv_watch *w, int timeout_ms);
    void (*close)(struct pv_watch *w);
};
struct pv_watch {
    const struct pv_watch_ops *ops;
};

/* pv_pg_watch_open - pv_watch_open for a "postgres://" DSN (pg_watch.c). */
int pv_pg_watch_open(const char *dsn, const char *channel, struct pv_watch **out);
/* pv_poll_watch_open - pv_watch_open for the others (SQLite; watch_poll.c): PV_ECONFIG
 * when the database has no such channel (an older schema). */
int pv_poll_watch_open(const char *dsn, const char *channel, struct pv_watch **out);

#endif
