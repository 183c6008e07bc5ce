/*
 * migrations_rows.c - issue 15's migrations that change how SQLite stores a
 * table's rows (v30). Apart from migrations.c only to keep each file
 * readable; pv_schema_migrations (migrations.c) lists them in order. Never
 * edit a released migration; add the next one.
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
