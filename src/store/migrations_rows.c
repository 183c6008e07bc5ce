/*
 * migrations_rows.c - issue 15's migrations that change how a table's rows
 * are stored (v30, SQLite) and found (v31, PostgreSQL). Apart from migrations.c only to keep each
 * file readable; pv_schema_migrations (migrations.c) lists them in order. Never edit a released
 * migration; add the next one.
 */
#include "store/schema_ddl.h"

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
