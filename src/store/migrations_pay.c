/*
 * migrations_pay.c - migrations of issue 15 (v24, v27, v29: the payment intents; v26: the
 * indicia's foreign keys on PostgreSQL; schema_ddl.h) and v37 (the top-ups' idempotency keys):
 * apart from migrations.c only to keep each file readable;
 * pv_schema_migrations (migrations.c) lists them in order. Never edit a
 * released migration; add the next one. One exception: v24 and v27 copy
 * pay_intents in id order, not rowid order, since v32 took its rowid away (a
 * store rewound to before them migrates again; the same rows: see v32).
 */
#include "store/schema_ddl.h"
#include "store/sql.h"

/*
 * v24: an intent's gateway key is unique where it has to be, not everywhere
 * (issue 15, docs/performance.md). The key is kind:owner:client key:attempt
 * (domain/intent.c, pv_intent_key): the intents' own UNIQUE (kind, owner,
 * client_key, attempt) makes it unique already, since a customer id holds no
 * ':' - except where a long client key was replaced by "sha256:<hex>", which
 * a client could also send as a key of its own. So only the keys that carry
 * "sha256:" keep a unique index (a partial one); the others, the client's
 * random Idempotency-Keys, no longer write an entry at a random place of an
 * index with every card. And the index by state, which only the recovery
 * reads (INTENT_DUE, for the four states an intent is still moving in),
 * keeps only those: an intent that ends (captured, voided, declined, paid)
 * leaves it instead of moving inside it, and it stays as small as what is
 * in flight. SQLite cannot drop a column's UNIQUE: the table is made again,
 * its rows copied (in their order) and its indexes remade. Running it again
 * (a store rewound to an earlier version) does the same.
 */
const struct ddl pv_migration_v24[] = {
    {SQLITE,
     "CREATE TABLE pay_intents_v24 (\n"
     "    id                TEXT PRIMARY KEY,\n"
     "    kind              TEXT NOT NULL\n"
     "        CHECK (kind IN ('purchase', 'auto_refill', 'funds', 'refund')),\n"
     "    owner             TEXT NOT NULL,\n"
     "    customer_id       TEXT NOT NULL,\n"
     "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
     "    client_key        TEXT NOT NULL,\n"
     "    attempt           {BIG} NOT NULL CHECK (attempt >= 1),\n"
     "    req_hash          TEXT NOT NULL DEFAULT '',\n"
     "    gateway_key       TEXT NOT NULL,\n"
     "    source            TEXT NOT NULL DEFAULT '',\n"
     "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
     "    brand             TEXT NOT NULL DEFAULT '',\n"
     "    last4             TEXT NOT NULL DEFAULT '',\n"
     "    amount_mills      {BIG} NOT NULL\n"
     "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
     "    state             TEXT NOT NULL CHECK (state IN ('pending', 'authorized', 'settling',\n"
     "        'captured', 'voiding', 'voided', 'declined', 'paid')),\n"
     "    charge_id         TEXT NOT NULL DEFAULT '',\n"
     "    ref               TEXT NOT NULL DEFAULT '',\n"
     "    server_id         TEXT NOT NULL DEFAULT '',\n"
     "    created           {BIG} NOT NULL,\n"
     "    updated           {BIG} NOT NULL,\n"
     "    UNIQUE (kind, owner, client_key, attempt)\n"
     ")"},
    {SQLITE, "INSERT INTO pay_intents_v24 SELECT id, kind, owner, customer_id, test, client_key, "
             "attempt, req_hash, gateway_key, source, payment_method_id, brand, last4, "
             "amount_mills, state, charge_id, ref, server_id, created, updated "
             "FROM pay_intents ORDER BY id"}, /* a rowid but v32-v34 (see v32) */
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v24 RENAME TO pay_intents"},
    {PG, "ALTER TABLE pay_intents DROP CONSTRAINT IF EXISTS pay_intents_gateway_key_key"},
    {PG, "DROP INDEX IF EXISTS pay_intents_state"},
    {ALL, "CREATE INDEX IF NOT EXISTS pay_intents_live ON pay_intents(state, updated) "
          "WHERE state IN ('pending', 'authorized', 'settling', 'voiding')"},
    {ALL, "CREATE UNIQUE INDEX IF NOT EXISTS pay_intents_hashed_key ON pay_intents(gateway_key) "
          "WHERE gateway_key LIKE '%sha256:%'"},
    {0, NULL},
};

/*
 * v26 (issue 15, session 11, docs/performance.md): on PostgreSQL the indicia's three
 * foreign keys (to customers, psds and keys) become one statement-level check, as v25 did
 * for the journal lines. The keys' triggers ran three queries a piece in the statement that
 * writes a batch's indicia; the check reads the statement's new rows once: every customer,
 * PSD and key named exists, each locked FOR KEY SHARE as the keys locked them. Changing an
 * indicium's customer, PSD or key to one that does not exist, and deleting a customer, PSD
 * or key that indicia name or changing its id, are refused as the keys refused them.
 * SQLite keeps its foreign keys. And the purchase batches' gate, batch_gate: a table with no
 * row whose two lock modes let batches locking late run beside each other and batches
 * locking first beside each other, never one kind beside the other (sql.h, GATE_LATE and
 * GATE_FIRST; before, an advisory lock whose whole mode made lock-first batches run one at
 * a time).
 * Safe to run again (a store rewound to an earlier version).
 */
const struct ddl pv_migration_v26[] = {
    {PG, "CREATE OR REPLACE FUNCTION indicia_refs() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "DECLARE cs text[]; ps bigint[]; ks bigint[];\n"
         "BEGIN\n"
         "  SELECT array_agg(DISTINCT customer_id), array_agg(DISTINCT psd_id),\n"
         "         array_agg(DISTINCT key_id) INTO cs, ps, ks FROM indicia_new;\n"
         "  IF (SELECT count(*) FROM (SELECT 1 FROM customers c WHERE c.id = ANY (cs)\n"
         "        FOR KEY SHARE OF c) x) <> cardinality(cs)\n"
         "     OR (SELECT count(*) FROM (SELECT 1 FROM psds p WHERE p.id = ANY (ps)\n"
         "        FOR KEY SHARE OF p) y) <> cardinality(ps)\n"
         "     OR (SELECT count(*) FROM (SELECT 1 FROM keys k WHERE k.key_id = ANY (ks)\n"
         "        FOR KEY SHARE OF k) z) <> cardinality(ks)\n"
         "  THEN\n"
         "    RAISE foreign_key_violation\n"
         "      USING MESSAGE = 'an indicium names no customer, PSD or key';\n"
         "  END IF;\n"
         "  RETURN NULL;\n"
         "END $$"},
    {PG, "DROP TRIGGER IF EXISTS indicia_refs ON indicia"},
    {PG, "CREATE TRIGGER indicia_refs AFTER INSERT ON indicia\n"
         "  REFERENCING NEW TABLE AS indicia_new\n"
         "  FOR EACH STATEMENT EXECUTE FUNCTION indicia_refs()"},
    /* An indicium whose customer, PSD or key changes (stampd never does): checked a row. */
    {PG, "CREATE OR REPLACE FUNCTION indicia_refs_moved() RETURNS trigger LANGUAGE plpgsql AS "
         "$$\n"
         "BEGIN\n"
         "  IF NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = NEW.customer_id\n"
         "                 FOR KEY SHARE OF c)\n"
         "     OR NOT EXISTS (SELECT 1 FROM psds p WHERE p.id = NEW.psd_id FOR KEY SHARE OF p)\n"
         "     OR NOT EXISTS (SELECT 1 FROM keys k WHERE k.key_id = NEW.key_id\n"
         "                    FOR KEY SHARE OF k) THEN\n"
         "    RAISE foreign_key_violation\n"
         "      USING MESSAGE = 'an indicium names no customer, PSD or key';\n"
         "  END IF;\n"
         "  RETURN NEW;\n"
         "END $$"},
    {PG, "DROP TRIGGER IF EXISTS indicia_refs_update ON indicia"},
    {PG, "CREATE TRIGGER indicia_refs_update BEFORE UPDATE OF customer_id, psd_id, key_id\n"
         "  ON indicia FOR EACH ROW\n"
         "  WHEN (OLD.customer_id IS DISTINCT FROM NEW.customer_id\n"
         "        OR OLD.psd_id IS DISTINCT FROM NEW.psd_id OR OLD.key_id IS DISTINCT FROM "
         "NEW.key_id)\n"
         "  EXECUTE FUNCTION indicia_refs_moved()"},
    /* What indicia name stays: one function for the three tables (TG_TABLE_NAME). */
    {PG, "CREATE OR REPLACE FUNCTION indicia_refs_kept() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "DECLARE named boolean;\n"
         "BEGIN\n"
         "  IF TG_TABLE_NAME = 'customers' THEN\n"
         "    named := EXISTS (SELECT 1 FROM indicia WHERE customer_id = OLD.id);\n"
         "  ELSIF TG_TABLE_NAME = 'psds' THEN\n"
         "    named := EXISTS (SELECT 1 FROM indicia WHERE psd_id = OLD.id);\n"
         "  ELSE\n"
         "    named := EXISTS (SELECT 1 FROM indicia WHERE key_id = OLD.key_id);\n"
         "  END IF;\n"
         "  IF named THEN\n"
         "    RAISE foreign_key_violation USING MESSAGE = 'indicia name this ' || TG_TABLE_NAME;\n"
         "  END IF;\n"
         "  RETURN OLD;\n"
         "END $$"},
    {PG, "DROP TRIGGER IF EXISTS customers_indicia_delete ON customers"},
    {PG, "CREATE TRIGGER customers_indicia_delete BEFORE DELETE ON customers\n"
         "  FOR EACH ROW EXECUTE FUNCTION indicia_refs_kept()"},
    {PG, "DROP TRIGGER IF EXISTS customers_indicia_rename ON customers"},
    {PG, "CREATE TRIGGER customers_indicia_rename BEFORE UPDATE OF id ON customers\n"
         "  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)\n"
         "  EXECUTE FUNCTION indicia_refs_kept()"},
    {PG, "DROP TRIGGER IF EXISTS psds_indicia_delete ON psds"},
    {PG, "CREATE TRIGGER psds_indicia_delete BEFORE DELETE ON psds\n"
         "  FOR EACH ROW EXECUTE FUNCTION indicia_refs_kept()"},
    {PG, "DROP TRIGGER IF EXISTS psds_indicia_rename ON psds"},
    {PG, "CREATE TRIGGER psds_indicia_rename BEFORE UPDATE OF id ON psds\n"
         "  FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id)\n"
         "  EXECUTE FUNCTION indicia_refs_kept()"},
    {PG, "DROP TRIGGER IF EXISTS keys_indicia_delete ON keys"},
    {PG, "CREATE TRIGGER keys_indicia_delete BEFORE DELETE ON keys\n"
         "  FOR EACH ROW EXECUTE FUNCTION indicia_refs_kept()"},
    {PG, "DROP TRIGGER IF EXISTS keys_indicia_rename ON keys"},
    {PG, "CREATE TRIGGER keys_indicia_rename BEFORE UPDATE OF key_id ON keys\n"
         "  FOR EACH ROW WHEN (OLD.key_id IS DISTINCT FROM NEW.key_id)\n"
         "  EXECUTE FUNCTION indicia_refs_kept()"},
    /* The batches' gate (sql.h, GATE_LATE, GATE_FIRST): never a row, only its table locks. */
    {PG, "CREATE TABLE IF NOT EXISTS batch_gate (gate INTEGER)"},
    {PG, "ALTER TABLE indicia DROP CONSTRAINT IF EXISTS indicia_customer_id_fkey, "
         "DROP CONSTRAINT IF EXISTS indicia_psd_id_fkey, "
         "DROP CONSTRAINT IF EXISTS indicia_key_id_fkey"},
    {0, NULL},
};

/*
 * v27: no lists in the intents' CHECKs on SQLite (issue 15, session 11).
 * SQLite evaluates `x IN (three or more constants)` through a temporary
 * B-tree it builds for the statement (OpenEphemeral: its pages allocated and
 * zeroed), so each intent insert built three (the kind's and the state's
 * CHECK, pay_intents_live's WHERE) and each move three (the state's CHECK,
 * the index's WHERE for the old row and the new one): most of those
 * statements' time. The CHECKs written as ORs of equalities are compared in
 * place; pay_intents_live keeps its list (its WHERE is the one INTENT_DUE
 * names). The table is made again (SQLite cannot alter a CHECK), its rows
 * copied in their order, its indexes remade. PostgreSQL, which compares a
 * list in place, keeps its schema.
 */
const struct ddl pv_migration_v27[] = {
    {SQLITE, "CREATE TABLE pay_intents_v27 (\n" PV_INTENTS_V27_BODY ")"},
    {SQLITE, "INSERT INTO pay_intents_v27 " PV_INTENTS_V27_COPY
             "FROM pay_intents ORDER BY id"}, /* a rowid but v32-v34 (see v32) */
    {SQLITE, "DROP TABLE pay_intents"},
    {SQLITE, "ALTER TABLE pay_intents_v27 RENAME TO pay_intents"},
    {SQLITE, "CREATE INDEX pay_intents_live ON pay_intents(state, updated) "
             "WHERE state IN ('pending', 'authorized', 'settling', 'voiding')"},
    {SQLITE, "CREATE UNIQUE INDEX pay_intents_hashed_key ON pay_intents(gateway_key) "
             "WHERE gateway_key LIKE '%sha256:%'"},
    {0, NULL},
};

/*
 * v29: pay_intents_live's WHERE without a list on SQLite (issue 15, session
 * 12). As v27 found for the CHECKs, SQLite evaluates `state IN (four
 * constants)` through a temporary B-tree it builds for each statement; the
 * index's WHERE is evaluated by every write of an intent (an insert once, a
 * move for the old row and the new one), so it was the last list an intent's
 * insert and moves built a table for. The same four states as ORs of
 * equalities are compared in place; INTENT_DUE names them the same way on
 * SQLite, which is what lets it use the partial index (test_intent_plans).
 * PostgreSQL compares a list in place and keeps its index.
 */
const struct ddl pv_migration_v29[] = {
    {SQLITE, "DROP INDEX IF EXISTS pay_intents_live"},
    {SQLITE, "CREATE INDEX pay_intents_live ON pay_intents(state, updated) "
             "WHERE " PV_INTENT_LIVE_OR},
    {0, NULL},
};

/*
 * v37: a top-up's idempotency record in a namespace of its own (domain/funds.c). A top-up
 * under the Idempotency-Key K was recorded in its customer's purchase namespace as
 * "funds:" + K, so a purchase under the key "funds:K" and a top-up under K refused each other
 * as one key's reuse (409 idempotency_key_reused; nothing moved). Since v37 the record's owner
 * is "funds:" + the customer's (live or test) namespace and its key the client's own, as the
 * postal account's credits have "dep:" + the account (v8). The records moved are the top-ups'
 * only: a key that begins "funds:" whose record names a top-up's charge (purpose "funds", ref
 * "top_..."); a purchase the client sent under such a key names an indicium and stays. No
 * record is lost or doubled: no owner began "funds:" before, and each record keeps its hash
 * and its charge, so a retry of a top-up made before the upgrade still finds it. A record
 * moved already is left as it is (a store rewound and migrated again: a top-up's own key may
 * begin "funds:"). Both databases.
 */
const struct ddl pv_migration_v37[] = {
    {ALL, "UPDATE idempotency SET owner_id = 'funds:' || owner_id, key = substr(key, 7) "
          "WHERE substr(key, 1, 6) = 'funds:' AND substr(owner_id, 1, 6) <> 'funds:' AND "
          "EXISTS (SELECT 1 FROM charges c WHERE c.purpose = 'funds' AND "
          "c.ref = idempotency.indicium_id)"},
    {0, NULL},
};
