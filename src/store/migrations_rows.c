/*
 * migrations_rows.c - issue 15's migrations that change how a table's rows
 * are stored (v30, v32, v35, v36: SQLite) and found (v31, PostgreSQL; v38, v39). Apart from
 * migrations.c only to keep each file readable; pv_schema_migrations (migrations.c) lists them in
 * order. Never edit a released migration; add the next one (v32 says why v24 and v27 were, once).
 */
#include "store/schema_ddl.h"
#include "store/sql.h"

/*
 * v30: journal lines without a rowid on SQLite (issue 15, session 12). A
 * line was three B-tree entries - the table's row under a rowid nobody
 * reads, its primary key's index (journal_id, line) and journal_lines_account
 * - written for each of a purchase's four lines. Keyed by (journal_id, line)
 * itself it is two: the row in its key's order (the order every batch
 * appends in) and the account index, whose entries now end in the key
 * instead of a rowid. Same columns, CHECKs and foreign keys; the rows are
 * copied in their key's order. PostgreSQL, whose tables have no rowid,
 * keeps its schema.
 */
const struct ddl pv_migration_v30[] = {
    {SQLITE, "CREATE TABLE journal_lines_v30 (\n"
             "    journal_id   {BIG} NOT NULL REFERENCES journals(id),\n"
             "    line         INTEGER NOT NULL,\n"
             "    account      TEXT NOT NULL REFERENCES accounts(name),\n"
             "    amount_mills {BIG} NOT NULL\n"
             "        CHECK (amount_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL "),\n"
             "    PRIMARY KEY (journal_id, line)\n"
             "){NOROWID}"},
    {SQLITE, "INSERT INTO journal_lines_v30 SELECT journal_id, line, account, amount_mills "
             "FROM journal_lines ORDER BY journal_id, line"},
    {SQLITE, "DROP TABLE journal_lines"},
    {SQLITE, "ALTER TABLE journal_lines_v30 RENAME TO journal_lines"},
    {SQLITE, "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id)"},
    {0, NULL},
};

/*
 * v31: the PostgreSQL checks that stand for the journal lines' and the indicia's foreign keys
 * (v25, v26) find the rows they lock by their keys, never by reading the table (issue 15,
 * session 14). Each check's queries are planned once a connection and kept; planned while a
 * table was small - a new vendor's first minute, before autovacuum's first ANALYZE - they
 * read the whole table for each batch's statement, and went on doing so as it grew: the
 * journals (every purchase adds one) read whole for each batch of a processor that started on
 * a small store, ~8 ms a batch at 30,000 journals, and the accounts and customers for each
 * batch (a few thousand compares at 512 customers). With sequential scans off inside the two
 * functions every such plan is a lookup in the primary key: a batch's cost no longer grows with
 * the store. Nothing else changes: the same rows locked, the same errors. Safe to run again.
 */
const struct ddl pv_migration_v31[] = {
    {PG, "ALTER FUNCTION journal_lines_refs() SET enable_seqscan = off"},
    {PG, "ALTER FUNCTION indicia_refs() SET enable_seqscan = off"},
    {0, NULL},
};

/*
 * v32: payment intents without a rowid on SQLite (issue 15, session 20). An
 * intent's row was four B-tree entries - the table's row under a rowid nobody
 * reads, its id's index (TEXT PRIMARY KEY on a rowid table), the (kind, owner,
 * client_key, attempt) key and pay_intents_live - and every read or move by id
 * went through the id's index to the row. Keyed by its id itself (ids begin
 * with the time: a new intent lands at the end) it is three, and a read by id
 * one lookup. A card purchase writes its intent three times (pending,
 * settling, captured) and reads it by id in its head and its claim. Same
 * columns, CHECKs and indexes; the rows are copied in their ids' order.
 * PostgreSQL, whose tables have no rowid, keeps its table.
 * On both, charges_customer goes: only pv_store_charge_count (tests) reads
 * charges by customer, and each card purchase wrote it an entry.
 * v24 and v27, which copy this table too, copied it in rowid order; a store
 * rewound to before them (the migration tests) has no rowid any more, so since
 * v32 they copy it in id order: the same rows, the same constraints.
 */
const struct ddl pv_migration_v32[] = {
    {SQLITE, "CREATE TABLE pay_intents_v32 (\n" PV_INTENTS_V27_BODY "){NOROWID}"},
    {SQLITE, "INSERT INTO pay_intents_v32 " PV_INTENTS_V27_COPY "FROM pay_intents ORDER BY id"},
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v32 RENAME TO pay_intents"},
    {SQLITE, "CREATE INDEX pay_intents_live ON pay_intents(state, updated) "
             "WHERE " PV_INTENT_LIVE_OR},
    {SQLITE, "CREATE UNIQUE INDEX pay_intents_hashed_key ON pay_intents(gateway_key) "
             "WHERE gateway_key LIKE '%sha256:%'"},
    {ALL, "DROP INDEX IF EXISTS charges_customer"},
    {0, NULL},
};

/*
 * v33: a card purchase's idempotency record is its intent on SQLite (issue 15,
 * session 25; store_payments.h, card_key_put): from here on such a purchase
 * writes no idempotency row, and its key is read through purchase_key, which
 * finds the intent that committed with its indicium. No table changes; the
 * version is what stops an older binary, which reads the idempotency rows
 * alone, from opening a store where a card's retry would find no record and
 * sell again. PostgreSQL still writes the row (its writers go side by side).
 */
const struct ddl pv_migration_v33[] = {
    {0, NULL},
};

/*
 * v34: on SQLite a card purchase on its way holds its key (issue 15, session 26;
 * store_payments.h, purchase_key): a purchase of another request under the key of a card whose
 * hold is taken is refused, and a card job its batch claimed reads its key no more. No table
 * changes; the version is what stops an older binary, whose purchases would not see the card on
 * its way and could sell under its key beside it, from writing to such a store. PostgreSQL,
 * whose path is unchanged, takes the version too.
 */
const struct ddl pv_migration_v34[] = {
    {0, NULL},
};

/*
 * v35: payment intents in a rowid table again on SQLite (issue 15, session 29), v32 undone. A
 * table without rowid keeps whole rows in its interior pages too, and an intent is ~410 bytes
 * (its request's hash, gateway key, card source, charge and ref): a 2 KiB page held ~4, so the
 * tree fanned out ~4.7 ways and was 8 levels deep at 221,000 intents (a bench's card run; 13,143
 * interior pages, ~26 MB, more than a writer's page cache), where the indicia, a rowid table,
 * were 3. Each read and move by id (the card's head, its claim, its end state) went down every
 * level, and the table was a third of what a card wrote. A rowid table keeps rows in its leaves
 * only (interior cells hold rowids, ~200 to a page), and its id's index (~35 bytes an entry)
 * fans out ~50 ways: an entry more an insert, two searches of 4 levels a read or a move through
 * a few hundred interior pages, and none of a row on overflow pages whatever its key's length
 * (docs/performance.md). Same columns, CHECKs, keys and indexes; the rows copied in their ids'
 * order, so rowids and ids sort alike. PostgreSQL keeps its table.
 */
const struct ddl pv_migration_v35[] = {
    {SQLITE, "CREATE TABLE pay_intents_v35 (\n" PV_INTENTS_V27_BODY ")"},
    {SQLITE, "INSERT INTO pay_intents_v35 " PV_INTENTS_V27_COPY "FROM pay_intents ORDER BY id"},
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v35 RENAME TO pay_intents"},
    {SQLITE, "CREATE INDEX pay_intents_live ON pay_intents(state, updated) "
             "WHERE " PV_INTENT_LIVE_OR},
    {SQLITE, "CREATE UNIQUE INDEX pay_intents_hashed_key ON pay_intents(gateway_key) "
             "WHERE gateway_key LIKE '%sha256:%'"},
    {0, NULL},
};

/*
 * v36: idempotency rows in a rowid table on SQLite (issue 15, session 30). Keyed by (owner, the
 * client's key) without a rowid, the table kept whole rows (~170 bytes: the key, its request's
 * hash, the indicium) at random places in leaves of ~10, and in its interior pages too: 6
 * levels at ~250,000 keys, and a split every few inserts. A rowid table appends each row at its
 * end, and the key's index (~70 bytes an entry: the owner, the key, the rowid) is the random
 * leaf a purchase, ~25 entries a leaf. A read by key is a search of the index and one of the
 * table; the count that asks only whether a key is taken (a card's head) reads the index alone.
 * Same columns and key; the rows copied in their key's order, which the old table reads
 * without a sort (a sort of the whole table would be held in memory: temp_store is MEMORY)
 * and in which the key's index is built by appending. PostgreSQL keeps its table.
 */
const struct ddl pv_migration_v36[] = {
    {SQLITE, "CREATE TABLE idempotency_v36 (\n"
             "    owner_id    TEXT NOT NULL,\n"
             "    key         TEXT NOT NULL,\n"
             "    req_hash    TEXT NOT NULL,\n"
             "    indicium_id TEXT NOT NULL,\n"
             "    created     {BIG} NOT NULL,\n"
             "    PRIMARY KEY (owner_id, key)\n"
             ")"},
    {SQLITE, "INSERT INTO idempotency_v36 SELECT owner_id, key, req_hash, indicium_id, created "
             "FROM idempotency ORDER BY owner_id, key"},
    {SQLITE, "DROP TABLE idempotency"},
    {SQLITE, "ALTER TABLE idempotency_v36 RENAME TO idempotency"},
    {0, NULL},
};

/*
 * v38: each server's count of the indicia it signed kept in a row of its own (issue 15, session
 * 30). GET /metrics (stampd_indicia_total) and the admin's servers counted every indicium of
 * the store on each request, through indicia_server (created, server_id): ~0.2 s at a million
 * indicia, a read transaction as long, and growing with the history - and every purchase wrote
 * an entry into that index for it. Now server_pieces holds the count, filled from the indicia
 * once here and kept by a trigger on every insert of an indicium, whoever inserts it: on
 * SQLite a row's upsert; on PostgreSQL once a statement (a batch's indicia), from its new rows.
 * Indicia are never deleted, and their server never changes. The trigger is made before the
 * counts are filled: its lock on indicia, held to the upgrade's commit, keeps any insert from
 * falling between the two. indicia_server goes; the admin's count of the last hour and its
 * daily sales (SALES_DAILY) find their rows through indicia_psd_created instead. Safe to run
 * again (a store rewound to an earlier version): the counts are made again from the indicia.
 */
const struct ddl pv_migration_v38[] = {
    {ALL, "CREATE TABLE IF NOT EXISTS server_pieces (\n"
          "    server_id TEXT PRIMARY KEY,\n"
          "    pieces    {BIG} NOT NULL CHECK (pieces >= 0)\n"
          ")"},
    {SQLITE, "CREATE TRIGGER IF NOT EXISTS indicia_pieces AFTER INSERT ON indicia BEGIN "
             "INSERT INTO server_pieces(server_id, pieces) VALUES (NEW.server_id, 1) "
             "ON CONFLICT (server_id) DO UPDATE SET pieces = pieces + 1; END"},
    {PG,
     "CREATE OR REPLACE FUNCTION indicia_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN\n"
     "  INSERT INTO server_pieces(server_id, pieces)\n"
     "    SELECT server_id, count(*) FROM indicia_new GROUP BY server_id ORDER BY server_id\n"
     "    ON CONFLICT (server_id) DO UPDATE SET pieces = server_pieces.pieces + excluded.pieces;\n"
     "  RETURN NULL;\n"
     "END $$"},
    {PG, "DROP TRIGGER IF EXISTS indicia_pieces ON indicia"},
    {PG, "CREATE TRIGGER indicia_pieces AFTER INSERT ON indicia\n"
         "  REFERENCING NEW TABLE AS indicia_new\n"
         "  FOR EACH STATEMENT EXECUTE FUNCTION indicia_pieces()"},
    {ALL, "DELETE FROM server_pieces"},
    {ALL, "INSERT INTO server_pieces(server_id, pieces) "
          "SELECT server_id, count(*) FROM indicia GROUP BY server_id"},
    {ALL, "DROP INDEX IF EXISTS indicia_server"},
    {0, NULL},
};

/*
 * v39: indicia_psd_created holds each indicium's server too (issue 15, session 31). Since v38
 * the admin's count of the last hour (SERVER_TRAFFIC) found that hour's indicia through this
 * index and looked up each one's row for its server: on SQLite 0.56-0.76 s for a busy hour of
 * 500,000 indicia in a store of a million, against 0.13 s through v37's indicia_server. With the
 * server in the index the count reads the index alone (0.10 s warm, 0.26 s cold). The index is made
 * again under its name, about a fifth larger (the server's id in each entry); the daily sales and
 * the authority's reports find their rows through it as before. SQLite only: PostgreSQL reads an
 * index alone only on pages its visibility map marks all-visible, which the last hour's
 * indicia, just written, are not until a vacuum - it would look up their rows all the same
 * (as it did through indicia_server) and pay for the wider entries. Safe to run again.
 */
const struct ddl pv_migration_v39[] = {
    {SQLITE, "DROP INDEX IF EXISTS indicia_psd_created"},
    {SQLITE, "CREATE INDEX indicia_psd_created ON indicia(psd_id, created, server_id)"},
    {0, NULL},
};

/*
 * v40: each server's count kept by the store's code on SQLite, not by v38's trigger (issue 15,
 * session 33). SQLite's triggers run once a row, and indicia_pieces ran a program of its own
 * for each indicium: ~20,400 instructions of the writer's ~188,000 a purchase (callgrind,
 * bench/writer_bench.c; signing left out), more than the rest of the indicium's insert. Now
 * indicia.c adds a batch's indicia to their server's row with one upsert a server
 * (SERVER_PIECES_ADD), in the same write as the rows: every insert of an indicium goes through
 * it.
 * The counts stay as they are. PostgreSQL keeps its trigger, which runs once a statement (a
 * batch's indicia), and takes the version number only. Safe to run again.
 */
const struct ddl pv_migration_v40[] = {
    {SQLITE, "DROP TRIGGER IF EXISTS indicia_pieces"},
    {0, NULL},
};

/*
 * v41: journal_lines_account holds only the lines of the accounts read a page at a time by
 * account on SQLite (issue 15, session 33): a customer's and the postal deposit's
 * (LISTED_ACCOUNT_LITE). A balance purchase writes four lines, three of them to accounts every
 * purchase moves - revenue:postage, postage_dispensed, its PSD's - whose entries cost the
 * writer ~15,700 instructions a purchase of ~188,000 (callgrind, bench/writer_bench.c): an
 * index B-tree of SQLite splits a full leaf with its siblings wherever the entry lands. Those
 * accounts' lines are only ever summed (the ledger check, one pass for all of them) or looked
 * at by a test (ACCOUNT_LINES_ANY, in the journals' order). The index is made again under its
 * name: one read of the lines. PostgreSQL took the version number only (its turn came in v42).
 * Safe to run again.
 */
const struct ddl pv_migration_v41[] = {
    {SQLITE, "DROP INDEX IF EXISTS journal_lines_account"},
    {SQLITE, "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id) "
             "WHERE " LISTED_ACCOUNT_LITE},
    {0, NULL},
};

/*
 * v42: PostgreSQL's journal_lines_account holds the same lines as SQLite's since v41 (issue 15,
 * session 34): a customer's and the postal deposit's (LISTED_ACCOUNT_PG). The entries of the
 * three accounts every purchase moves cost the statement that writes a batch's journals 14 % of
 * its time and 20 % of its WAL (1.34 -> 1.15 ms and 52 -> 41 kB for 36 journals, pgbench on a
 * 2-core machine). The ledger check sums the other accounts' lines in one pass (since session 35
 * every account's: ACCOUNTS_SUMMED_PG); deleting or renaming an account, which only tests do,
 * reads the lines whole to refuse it (accounts_lines_kept names no predicate). The index is made
 * again under its name, in the upgrade's transaction, which locks the lines' table (servers are
 * stopped for an upgrade). SQLite takes the version number only. Safe to run again.
 */
const struct ddl pv_migration_v42[] = {
    {PG, "DROP INDEX IF EXISTS journal_lines_account"},
    {PG, "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id) "
         "WHERE " LISTED_ACCOUNT_PG},
    {0, NULL},
};

/* What v38's trigger (PostgreSQL) adds a statement's new indicia to, each in key order: their
 * servers' counts (server_pieces, v38), their PSDs' days (psd_days, v44) and their servers'
 * minutes (server_minutes, v45: the latest minute of a slot only, so no row is updated twice). */
#define PIECES_SERVERS                                                                             \
    "  INSERT INTO server_pieces(server_id, pieces)\n"                                             \
    "    SELECT server_id, count(*) FROM indicia_new GROUP BY server_id ORDER BY server_id\n"      \
    "   " SERVERS_UPSERT ";\n"
#define PIECES_DAYS                                                                                \
    "  INSERT INTO psd_days(day, psd_id, pieces, postage_mills)\n"                                 \
    "    SELECT created / 86400, psd_id, count(*), sum(postage_mills) FROM indicia_new\n"          \
    "    GROUP BY 1, 2 ORDER BY 1, 2\n"                                                            \
    "   " DAYS_UPSERT ";\n"
/* An indicium's minute's slot in server_minutes (v45). */
#define CREATED_SLOT MINUTE_SLOT("created / 60")
#define PIECES_MINUTES                                                                             \
    "  INSERT INTO server_minutes(server_id, slot, minute, pieces)\n"                              \
    "    SELECT DISTINCT ON (server_id, slot) server_id, slot, minute, n FROM (\n"                 \
    "      SELECT server_id, " CREATED_SLOT " AS slot, created / 60 AS minute,\n"                  \
    "        count(*) AS n FROM indicia_new GROUP BY 1, 2, 3) m\n"                                 \
    "    ORDER BY server_id, slot, minute DESC\n" MINUTES_UPSERT ";\n"
#define PIECES_FN(body)                                                                            \
    "CREATE OR REPLACE FUNCTION indicia_pieces() RETURNS trigger LANGUAGE plpgsql AS $$\n"         \
    "BEGIN\n" body "  RETURN NULL;\n"                                                              \
    "END $$"

/*
 * v44: each PSD's pieces and postage a UTC day kept in a row of their own (psd_days; issue 15,
 * session 36). GET /v1/admin/stats - the operators' charts, which the web UI asks for every
 * 10 s while its page is open - read every indicium of its window (30 days by default, up to
 * 366) through indicia_psd_created, grouped by day (created / 86400) and PSD: a read
 * transaction growing with the sales of the window. Now it reads a row a PSD and day. The rows
 * are kept in the same write as the indicia, whoever inserts them: on SQLite by the store's
 * code (indicia.c: one upsert a PSD and day of a batch's indicia, as v40 counts a server's);
 * on PostgreSQL by v38's trigger, whose function now adds a statement's new rows to both. An
 * indicium is never deleted, and its PSD, time and postage never change (its signed bytes
 * hold them). On PostgreSQL indicia is locked before the function is replaced and the rows are
 * filled from the indicia, so no insert falls between the two (SQLite's upgrade holds the
 * write lock). Safe to run again: the rows are made again from the indicia.
 */
const struct ddl pv_migration_v44[] = {
    {PG, "LOCK TABLE indicia IN SHARE ROW EXCLUSIVE MODE"},
    {ALL, "CREATE TABLE IF NOT EXISTS psd_days (\n"
          "    day           {BIG} NOT NULL,\n"
          "    psd_id        {BIG} NOT NULL,\n"
          "    pieces        {BIG} NOT NULL CHECK (pieces >= 0),\n"
          "    postage_mills {BIG} NOT NULL CHECK (postage_mills >= 0),\n"
          "    PRIMARY KEY (day, psd_id)\n"
          "){NOROWID}"},
    {PG, PIECES_FN(PIECES_SERVERS PIECES_DAYS)},
    {ALL, "DELETE FROM psd_days"},
    {ALL, "INSERT INTO psd_days(day, psd_id, pieces, postage_mills) "
          "SELECT created / 86400, psd_id, count(*), sum(postage_mills) FROM indicia "
          "GROUP BY 1, 2"},
    {0, NULL},
};

/*
 * v45: each server's indicia a minute kept in a ring of sixty rows (server_minutes; issue 15,
 * session 36). GET /v1/admin/servers' count of the last hour (SERVER_TRAFFIC) read every
 * indicium of that hour through indicia_psd_created - at the bench's 12,000 purchases a second
 * 43 million index entries, seconds of a read on each request (on PostgreSQL a row each too).
 * Now a server's row of slot minute % 60 holds its indicia of that minute; an insert of
 * another minute takes the slot over (a clock put back refills the slots within the hour), so
 * the count reads at most sixty rows a server: the current minute and the 59 before it (the
 * hour by whole minutes, no longer to the second; minutes ahead of the clock not counted). Kept in
 * the same write as the indicia, as psd_days (v44): on SQLite by indicia.c, on PostgreSQL by v38's
 * trigger. The slots are filled from the last hour's indicia; safe to run again.
 */
const struct ddl pv_migration_v45[] = {
    {PG, "LOCK TABLE indicia IN SHARE ROW EXCLUSIVE MODE"},
    {ALL, "CREATE TABLE IF NOT EXISTS server_minutes (\n"
          "    server_id TEXT NOT NULL,\n"
          "    slot      INTEGER NOT NULL CHECK (slot >= 0 AND slot < 60),\n"
          "    minute    {BIG} NOT NULL,\n"
          "    pieces    {BIG} NOT NULL CHECK (pieces >= 0),\n"
          "    PRIMARY KEY (server_id, slot)\n"
          "){NOROWID}"},
    {PG, PIECES_FN(PIECES_SERVERS PIECES_DAYS PIECES_MINUTES)},
    {ALL, "DELETE FROM server_minutes"},
    {ALL, "INSERT INTO server_minutes(server_id, slot, minute, pieces) "
          "SELECT server_id, " CREATED_SLOT ", created / 60, count(*) FROM indicia "
          "WHERE psd_id IN (SELECT id FROM psds) AND created >= ({NOW} / 60 - 59) * 60 "
          "GROUP BY server_id, created / 60"},
    {0, NULL},
};
