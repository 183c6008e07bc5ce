/*
 * migrations_refs.c - v43 (issue 15, session 35; schema_ddl.h): PostgreSQL's checks that stand
 * for the journal lines' and the indicia's foreign keys lock no row in READ COMMITTED. Apart
 * from migrations.c only to keep each file readable; pv_schema_migrations (migrations.c) lists
 * it in order. Never edit a released migration; add the next one.
 */
#include "store/schema_ddl.h"

/* The writers' side. Each check is written once; lock(alias) is how it reads a named row: as
 * it is (UNLOCKED, READ COMMITTED) or locked as a foreign key locks it (KEY_SHARE, the other
 * levels). */
#define UNLOCKED(a)                 ""
#define KEY_SHARE(a)                " FOR KEY SHARE OF " a
#define NAMED(table, a, cond, lock) "SELECT 1 FROM " table " " a " WHERE " cond lock(a)
#define ANY_OF(a, col, v)           a "." col " = ANY (" v ")"
/* How many of the distinct names in array v exist, against how many v holds. */
#define ALL_NAMED(table, a, col, v, lock)                                                          \
    "(SELECT count(*) FROM (" NAMED(table, a, ANY_OF(a, col, v), lock) ") n) <> cardinality(" v ")"
#define MISSING(table, a, cond, lock) "NOT EXISTS (" NAMED(table, a, cond, lock) ")"
#define OR                            " OR "
#define LINES_NAME_NONE(lock)                                                                      \
    ALL_NAMED("accounts", "a", "name", "accts", lock)                                              \
    OR ALL_NAMED("journals", "j", "id", "ids", lock)
#define INDICIA_NAME_NONE(lock)                                                                    \
    ALL_NAMED("customers", "c", "id", "cs", lock)                                                  \
    OR ALL_NAMED("psds", "p", "id", "ps", lock)                                                    \
    OR ALL_NAMED("keys", "k", "key_id", "ks", lock)
#define INDICIUM_NAMES_NONE(lock)                                                                  \
    MISSING("customers", "c", "c.id = NEW.customer_id", lock)                                      \
    OR MISSING("psds", "p", "p.id = NEW.psd_id", lock)                                             \
    OR MISSING("keys", "k", "k.key_id = NEW.key_id", lock)
/* none(lock) at the transaction's level (see above); refused when true. */
#define IF_RC(none, refused)    "    IF " none(UNLOCKED) " THEN\n" refused "    END IF;\n"
#define ELSIF_RR(none, refused) "  ELSIF " none(KEY_SHARE) " THEN\n" refused "  END IF;\n"
#define BY_LEVEL(none, refused)                                                                    \
    "  IF current_setting('transaction_isolation') = 'read committed' THEN\n" IF_RC(none, refused) \
        ELSIF_RR(none, refused)
/* A writers' check: the names its new rows use (arrays), then BY_LEVEL. */
#define REFS_FN(name, set, decl, arrays, none, refused, ret)                                       \
    "CREATE OR REPLACE FUNCTION " name "() RETURNS trigger LANGUAGE plpgsql" set " AS $$\n" decl   \
    "BEGIN\n" arrays                                                                               \
    BY_LEVEL(none, refused) "  RETURN " ret ";\nEND $$"
#define NO_SEQSCAN "\nSET enable_seqscan = off" /* v31 */
#define LINES_ARRAYS                                                                               \
    "  SELECT array_agg(DISTINCT account), array_agg(DISTINCT journal_id)\n"                       \
    "    INTO accts, ids FROM journal_lines_new;\n"
#define INDICIA_ARRAYS                                                                             \
    "  SELECT array_agg(DISTINCT customer_id), array_agg(DISTINCT psd_id),\n"                      \
    "         array_agg(DISTINCT key_id) INTO cs, ps, ks FROM indicia_new;\n"
/* What the checks raise when a row names nothing (v25, v26: the same words). */
#define LINES_REFUSED                                                                              \
    "    RAISE foreign_key_violation\n"                                                            \
    "      USING MESSAGE = 'a journal line names no account or journal';\n"
#define INDICIA_REFUSED                                                                            \
    "    RAISE foreign_key_violation\n"                                                            \
    "      USING MESSAGE = 'an indicium names no customer, PSD or key';\n"

/* The deleting side (v25's accounts_lines_kept and journals_lines_kept, v26's indicia_refs_kept):
 * refused outside READ COMMITTED, whose next look is a new snapshot taken after the lock (a look
 * at REPEATABLE READ reads the snapshot taken before the wait); the naming table locked; then the
 * look, the same as v25's and v26's. */
#define KEPT_FN(name, decl, table, look)                                                           \
    "CREATE OR REPLACE FUNCTION " name "() RETURNS trigger LANGUAGE plpgsql AS $$\n" decl          \
    "BEGIN\n"                                                                                      \
    "  IF current_setting('transaction_isolation') <> 'read committed' THEN\n"                     \
    "    RAISE object_not_in_prerequisite_state USING MESSAGE =\n"                                 \
    "      'delete or rename what " table " may name in a READ COMMITTED transaction';\n"          \
    "  END IF;\n"                                                                                  \
    "  LOCK TABLE " table " IN SHARE MODE;\n" look "  RETURN OLD;\n"                               \
    "END $$"
#define LOOK_ACCOUNT                                                                               \
    "  IF EXISTS (SELECT 1 FROM journal_lines WHERE account = OLD.name) THEN\n"                    \
    "    RAISE foreign_key_violation USING MESSAGE = 'journal lines name ' || OLD.name;\n"         \
    "  END IF;\n"
#define LOOK_JOURNAL                                                                               \
    "  IF EXISTS (SELECT 1 FROM journal_lines WHERE journal_id = OLD.id) THEN\n"                   \
    "    RAISE foreign_key_violation USING MESSAGE = 'journal lines name journal ' || OLD.id;\n"   \
    "  END IF;\n"
#define LOOK_INDICIA                                                                               \
    "  IF TG_TABLE_NAME = 'customers' THEN\n"                                                      \
    "    named := EXISTS (SELECT 1 FROM indicia WHERE customer_id = OLD.id);\n"                    \
    "  ELSIF TG_TABLE_NAME = 'psds' THEN\n"                                                        \
    "    named := EXISTS (SELECT 1 FROM indicia WHERE psd_id = OLD.id);\n"                         \
    "  ELSE\n"                                                                                     \
    "    named := EXISTS (SELECT 1 FROM indicia WHERE key_id = OLD.key_id);\n"                     \
    "  END IF;\n"                                                                                  \
    "  IF named THEN\n"                                                                            \
    "    RAISE foreign_key_violation USING MESSAGE = 'indicia name this ' || TG_TABLE_NAME;\n"     \
    "  END IF;\n"

/*
 * v43: the statement-level checks of v25 (journal lines -> accounts, journals) and v26 (indicia
 * -> customers, PSDs, keys) no longer lock the rows they find in a READ COMMITTED transaction,
 * where every stampd write runs (issue 15, session 35, docs/performance.md). They locked each
 * row FOR KEY SHARE, as a foreign key does; two processors' batches name the same shared
 * accounts (revenue:postage, postage_dispensed) and the same customers, and a row locked by two
 * transactions at once becomes a MultiXact: its members written to pg_multixact, the row's
 * page and the WAL written again. With two processors PostgreSQL spent ~15 % more CPU a
 * purchase on it.
 *
 * What those locks kept out - the named row deleted or renamed between the check and the
 * commit, leaving a line or an indicium naming nothing - the other side now keeps out: the
 * triggers that refuse a delete or rename of a named row (v25's accounts_lines_kept and
 * journals_lines_kept, v26's indicia_refs_kept) first lock the naming table IN SHARE MODE.
 * That waits for every transaction that has written the table to end, and keeps every new
 * writer out until the deleting one ends; the look that follows (a new snapshot a statement
 * in READ COMMITTED) sees every row that could name the one going, and a writer let in after
 * it commits finds the row gone. stampd never deletes or renames those rows (only tests and an
 * operator's psql do); such a statement now holds every purchase back until its transaction
 * ends, its look included (which reads journal_lines whole for an account that
 * journal_lines_account does not list, and indicia whole for a key), and can deadlock with a
 * batch writing to the account it deletes (PostgreSQL fails one after deadlock_timeout).
 *
 * A transaction at REPEATABLE READ or SERIALIZABLE reads its first snapshot to its end, so a
 * look there would not see what committed while it waited: there the writers' checks still lock
 * FOR KEY SHARE, which refuses a row deleted since (a serialization failure), as before, and a
 * delete or rename of a row lines or indicia may name is refused (it would not see a naming row
 * committed during its wait; before v43 such a delete could leave one naming nothing too).
 * Sequential scans stay off inside the two checks (v31). Safe to run again.
 */
const struct ddl pv_migration_v43[] = {
    {PG, REFS_FN("journal_lines_refs", NO_SEQSCAN, "DECLARE accts text[]; ids bigint[];\n",
                 LINES_ARRAYS, LINES_NAME_NONE, LINES_REFUSED, "NULL")},
    {PG, REFS_FN("indicia_refs", NO_SEQSCAN, "DECLARE cs text[]; ps bigint[]; ks bigint[];\n",
                 INDICIA_ARRAYS, INDICIA_NAME_NONE, INDICIA_REFUSED, "NULL")},
    /* An indicium whose customer, PSD or key changes (stampd never does): checked a row. */
    {PG, REFS_FN("indicia_refs_moved", "", "", "", INDICIUM_NAMES_NONE, INDICIA_REFUSED, "NEW")},
    /* The deleting side: the naming table locked before the look (see above). */
    {PG, KEPT_FN("accounts_lines_kept", "", "journal_lines", LOOK_ACCOUNT)},
    {PG, KEPT_FN("journals_lines_kept", "", "journal_lines", LOOK_JOURNAL)},
    {PG, KEPT_FN("indicia_refs_kept", "DECLARE named boolean;\n", "indicia", LOOK_INDICIA)},
    {0, NULL},
};

/*
 * v46: the two writers' checks keep one plan for each of their queries (issue 15, session 37).
 * A query of a PL/pgSQL function that names the function's variables is planned again at each
 * call (a custom plan) until PostgreSQL finds its generic plan no dearer than the custom ones
 * were; v43's indicia_refs looks up its statement's customers, PSDs and keys with = ANY of
 * three arrays, and a generic plan supposes ten names each where a batch names one or two PSDs
 * and keys - so it never looked cheaper, and the check was planned at every batch: ~120 us of
 * PostgreSQL's CPU a batch, nearly three times the check itself (pg_stat_statements with
 * track = all and track_planning: 1,947 plans in 1,946 calls). journal_lines_refs kept its
 * generic plan under load but a server selling one piece a batch plans it at each. Both now
 * run with plan_cache_mode = force_generic_plan (their plans are the same index lookups; each
 * function's SET enable_seqscan = off stays). PostgreSQL 11 has no plan_cache_mode and keeps
 * planning; the version number only there. A later CREATE OR REPLACE of either function must
 * give both settings again. Safe to run again.
 */
#define GENERIC_PLANS(fn)                                                                          \
    "DO $$ BEGIN IF current_setting('server_version_num')::integer >= 120000 THEN "                \
    "EXECUTE 'ALTER FUNCTION " fn "() SET plan_cache_mode = force_generic_plan'; END IF; END $$"
const struct ddl pv_migration_v46[] = {
    {PG, GENERIC_PLANS("journal_lines_refs")},
    {PG, GENERIC_PLANS("indicia_refs")},
    {0, NULL},
};
