"""test_pg_key_checks.py - on PostgreSQL the checks that stand for the journal lines' and the
indicia's foreign keys (schema v25, v26: one statement-level trigger each) find what they lock
by its primary key, never by reading the whole table (schema v31, issue 15, session 14).

Each check's queries are planned once a connection and the plan is kept. Planned while the
tables were small - a new vendor's first minute - they read the whole table in each batch's
statement and went on doing so as the table grew: a processor that started on a small store
read every journal for each batch (~8 ms a batch at 30,000 journals, docs/performance.md). On a
new store here, with the tables as small as they get, the same connection writes a journal and
its lines and an indicium seven times (past the five runs after which PostgreSQL may keep a
generic plan); the transaction's own counters (pg_stat_xact_user_tables) then show no
sequential scan of journals, accounts, customers, psds or keys, and index scans of them. The
checks still refuse a line or an indicium naming a row that does not exist. And eight
purchases through the server, one batch each, read none of the tables a batch looks rows up
in whole (pg_stat_user_tables): a batch's transaction plans with sequential scans off
(pv_store_plan_by_key).

Since schema v43 the checks lock no row in READ COMMITTED (two processors' batches locking the
same accounts and customers made MultiXacts); the trigger that refuses a named row's delete
locks the naming table first instead. Written beside each other through two psql sessions, a
row naming another and that row's delete still never both commit: the delete waits for the
writer and is refused, or the writer waits for the delete and is refused (a serialization
failure in REPEATABLE READ, where the check still locks); such a delete is refused outside
READ COMMITTED.

Since schema v46 the two checks keep one generic plan a connection (plan_cache_mode =
force_generic_plan on their functions): indicia_refs was planned again at every batch, its
custom plans always looking cheaper than a generic one that supposes ten names an array.
auto_explain's plans of seven rounds show their arrays as parameters, never as constants.
Skipped without PostgreSQL
(STAMPD_TEST_PG_DSN_FILE).
"""

import os
import queue
import subprocess
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
TABLES = ("journals", "accounts", "customers", "psds", "keys")
# What a purchase batch reads by key: the keys, holds, rules and endpoints of its facts, the
# balances, the PSD rows, and what its statements' key checks read.
BATCH_TABLES = ("idempotency", "authority_holds", "auto_refill", "webhook_endpoints",
                "accounts", "account_parts", "journals", "customers")

# One journal with two lines and one indicium, copied from the one the purchase made (a new
# id and serial), in the transaction the caller opened: both statement triggers run.
ROUND = """
WITH j AS (INSERT INTO journals(kind, ref, at) VALUES ('test', 'keycheck', 0) RETURNING id)
INSERT INTO journal_lines(journal_id, line, account, amount_mills)
SELECT j.id, l.line, l.account, l.amount FROM j,
  (VALUES (0, 'revenue:postage', -1), (1, 'postage_dispensed', 1)) AS l(line, account, amount);
INSERT INTO indicia OVERRIDING SYSTEM VALUE
SELECT (jsonb_populate_record(NULL::indicia, to_jsonb(i) || jsonb_build_object(
  'seq', i.seq + 1000 + {n}, 'id', i.id || '_kc{n}', 'serial', i.serial + 100000 + {n}))).*
FROM (SELECT * FROM indicia ORDER BY seq LIMIT 1) i;
"""

# Schema v43: a row that names another, written beside that row's delete. The writer's check
# locks no row (READ COMMITTED), so the deleting side waits for the writer, or the writer for
# it: each kind is (what deletes the named row, what writes a row naming it, what counts those).
NAMED = {
    "indicium": (
        "INSERT INTO customers SELECT (jsonb_populate_record(NULL::customers, to_jsonb(c) || "
        "jsonb_build_object('id', '{name}', 'email', '{name}@example.com'))).* "
        "FROM (SELECT * FROM customers LIMIT 1) c",
        "DELETE FROM customers WHERE id = '{name}'",
        "INSERT INTO indicia OVERRIDING SYSTEM VALUE "
        "SELECT (jsonb_populate_record(NULL::indicia, to_jsonb(i) || jsonb_build_object("
        "'seq', i.seq + 2000 + {n}, 'id', i.id || '_nm{n}', 'serial', i.serial + 200000 + {n}, "
        "'customer_id', '{name}'))).* FROM (SELECT * FROM indicia ORDER BY seq LIMIT 1) i",
        "SELECT count(*) FROM indicia WHERE customer_id = '{name}'"),
    "line": (
        "INSERT INTO accounts(name, balance_mills) VALUES ('{name}', 0)",
        "DELETE FROM accounts WHERE name = '{name}'",
        "WITH j AS (INSERT INTO journals(kind, ref, at) VALUES ('test', 'nm{n}', 0) RETURNING id) "
        "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
        "SELECT j.id, 0, '{name}', 0 FROM j",
        "SELECT count(*) FROM journal_lines WHERE account = '{name}'"),
}


class Session:
    """A psql of its own, sent one statement at a time, so that a transaction stays open
    between them; result() waits for the last one's SQLSTATE ('00000' when it succeeded)."""

    def __init__(self, db, name):
        self.name, self.n, self.lines = name, 0, queue.Queue()
        self.p = subprocess.Popen([harness.psql(), "-X", "-q", "-At", "-d", db],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True,
                                  env=dict(os.environ, PGAPPNAME=name))
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())

    def send(self, sql):
        self.n += 1
        self.p.stdin.write("%s;\n\\echo done%d :SQLSTATE\n" % (sql, self.n))
        self.p.stdin.flush()

    def result(self, timeout=30):
        while True:
            line = self.lines.get(timeout=timeout)
            if line.startswith("done%d " % self.n):
                return line.split()[1]

    def run(self, sql):
        self.send(sql)
        return self.result()

    def close(self):
        self.p.stdin.close()
        self.p.wait(timeout=30)


@unittest.skipUnless(PG_DSN_FILE, "needs PostgreSQL (STAMPD_TEST_PG_DSN_FILE)")
class KeyChecks(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("pgkeys")
        self.srv.db = harness.pg_createdb(PG_DSN_FILE)
        self.srv.init(psds=1, keys_dir=os.path.join(self.srv.dir, "keys"))
        key = self.srv.customer("keys@example.com", 20)
        self.srv.start(processors=1)
        try:
            st, _, j = self.srv.buy(key, "kc-1", LETTER)
            self.assertEqual(st, 201, j)
        finally:
            self.srv.stop()

    def psql(self, sql, check=True):
        return subprocess.run([harness.psql(), "-X", "-q", "-At", "-F", " ", "-v",
                               "ON_ERROR_STOP=1", "-d", self.srv.db, "-c", sql],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=check,
                              timeout=60)

    def test_checks_look_rows_up_by_key(self):
        # Small and analyzed, as autovacuum leaves a new vendor's tables in its first minute.
        self.psql("ANALYZE")
        sql = ("BEGIN;" + "".join(ROUND.format(n=n) for n in range(7)) +
               "SELECT relname, seq_scan, idx_scan FROM pg_stat_xact_user_tables "
               "WHERE relname IN ('" + "', '".join(TABLES) + "') ORDER BY relname; ROLLBACK;")
        out = self.psql(sql).stdout.decode().split()
        scans = {out[i]: (int(out[i + 1]), int(out[i + 2])) for i in range(0, len(out), 3)}
        self.assertEqual(sorted(scans), sorted(TABLES), out)
        for table, (seq, idx) in scans.items():
            self.assertEqual(seq, 0, "%s read whole by a key check: %s" % (table, scans))
            self.assertGreater(idx, 0, "%s not looked up: %s" % (table, scans))

    def test_checks_keep_their_generic_plans(self):
        """Schema v46: each check's lookups are planned once a connection, not at each
        statement. indicia_refs names one customer, PSD and key here and a batch's few, where a
        generic plan supposes ten of each, so PostgreSQL found its custom plans cheaper and
        planned the check again for every batch (~120 us, three times the check itself). With
        plan_cache_mode = force_generic_plan on both checks, the plans auto_explain shows for
        seven rounds in one connection read their arrays as parameters ($n), never as the
        constants a custom plan is made with."""
        if int(self.psql("SHOW server_version_num").stdout) < 120000:
            self.skipTest("PostgreSQL 11 has no plan_cache_mode")
        sql = ("LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; "
               "SET auto_explain.log_nested_statements = on; "
               "SET auto_explain.log_level = notice; BEGIN;" +
               "".join(ROUND.format(n=n) for n in range(7)) + "ROLLBACK;")
        notices = self.psql(sql).stderr.decode().split("Query Text:")
        for check in ("= ANY (accts)", "= ANY (cs)"):
            plans = [n for n in notices if n.split("\n", 1)[0].find(check) >= 0]
            self.assertEqual(len(plans), 7, "%s: %s" % (check, notices))
            for plan in plans:
                conds = [ln for ln in plan.split("\n") if "Index Cond" in ln]
                self.assertTrue(conds, plan)
                for cond in conds:
                    self.assertRegex(cond, r"= ANY \(\$\d+\)", "a custom plan:\n" + plan)

    def seq_scans(self):
        """The cluster's counters, once every other connection to the database has closed
        (a backend adds its own as it exits, after its client has gone)."""
        harness.pg_alone(self.srv.db)
        out = self.psql("SELECT relname, seq_scan FROM pg_stat_user_tables").stdout.decode()
        return {r.split()[0]: int(r.split()[1]) for r in out.split("\n") if r.strip()}

    def test_batches_look_rows_up_by_key(self):
        """A purchase batch's own statements (its facts, its balances) find rows by key too:
        planned on small analyzed tables, they would read them whole for each batch, more as
        the tables grow (the batch's transaction plans with sequential scans off, session
        14)."""
        self.psql("ANALYZE")
        key = self.srv.customer("batches@example.com", 20)
        before = self.seq_scans()
        self.srv.start(processors=1)
        try:
            for n in range(8):  # one batch each: past the five custom plans
                st, _, j = self.srv.buy(key, "kb-%d" % n, LETTER)
                self.assertEqual(st, 201, j)
        finally:
            self.srv.stop()  # its connections' counters flushed as they close
        after = self.seq_scans()
        read_whole = {t: after[t] - before.get(t, 0) for t in BATCH_TABLES
                      if after.get(t, 0) != before.get(t, 0)}
        self.assertEqual(read_whole, {}, "read whole while stampd sold 8 pieces")

    def test_checks_still_refuse(self):
        bad_line = ("WITH j AS (INSERT INTO journals(kind, ref, at) VALUES ('test', 'x', 0) "
                    "RETURNING id) INSERT INTO journal_lines(journal_id, line, account, "
                    "amount_mills) SELECT j.id, 0, 'nobody', 0 FROM j")
        bad_indicium = ROUND.split(";\n", 1)[1].format(n=9).replace(
            "'serial', i.serial", "'customer_id', 'cus_nobody', 'serial', i.serial")
        for sql in (bad_line, bad_indicium):
            p = self.psql(sql, check=False)
            self.assertNotEqual(p.returncode, 0, sql)
            self.assertIn("names no", p.stderr.decode(), sql)

    def sessions(self):
        w, d = Session(self.srv.db, "nm_writer"), Session(self.srv.db, "nm_deleter")
        self.addCleanup(w.close)
        self.addCleanup(d.close)
        return w, d

    def wait_for_lock(self, s):
        """Until s's statement waits for a lock (pg_stat_activity)."""
        deadline = time.monotonic() + 30
        while self.psql("SELECT wait_event_type FROM pg_stat_activity WHERE application_name "
                        "= '%s' AND datname = current_database()"
                        % s.name).stdout.decode().strip() != "Lock":
            self.assertLess(time.monotonic(), deadline, "%s never waited for a lock" % s.name)
            time.sleep(0.05)

    def count(self, sql):
        return int(self.psql(sql).stdout.decode())

    def test_delete_waits_for_a_writer(self):
        """A writer's row names a row; the named row's delete waits for the writer's commit
        and is then refused (before v43 the writer's FOR KEY SHARE held it back; now the
        deleting trigger's lock on the naming table does)."""
        for n, (kind, (make, delete, write, count)) in enumerate(sorted(NAMED.items())):
            name = "nm_first_%s" % kind
            self.psql(make.format(name=name))
            w, d = self.sessions()
            self.assertEqual(w.run("BEGIN"), "00000")
            self.assertEqual(w.run(write.format(name=name, n=n)), "00000", kind)
            d.send(delete.format(name=name))
            self.wait_for_lock(d)
            self.assertEqual(w.run("COMMIT"), "00000", kind)
            self.assertEqual(d.result(), "23503", kind)  # foreign_key_violation
            self.assertEqual(self.count(count.format(name=name)), 1, kind)
            w.close()
            d.close()

    def test_writer_waits_for_a_delete(self):
        """The named row's delete first: a row naming it waits for the delete's commit and is
        then refused, in READ COMMITTED (a new snapshot) and in REPEATABLE READ (the check
        locks there, and the row deleted since its snapshot is a serialization failure)."""
        for n, (kind, (make, delete, write, count)) in enumerate(sorted(NAMED.items())):
            for level, refused in (("READ COMMITTED", "23503"), ("REPEATABLE READ", "40001")):
                name = "nm_gone_%s_%s" % (kind, level.split()[0].lower())
                self.psql(make.format(name=name))
                w, d = self.sessions()
                self.assertEqual(w.run("BEGIN ISOLATION LEVEL " + level), "00000")
                self.assertEqual(w.run("SELECT 1"), "00000")  # its snapshot, for RR
                self.assertEqual(d.run("BEGIN"), "00000")
                self.assertEqual(d.run(delete.format(name=name)), "00000", kind)
                w.send(write.format(name=name, n=n + 10))
                self.wait_for_lock(w)
                self.assertEqual(d.run("COMMIT"), "00000", kind)
                self.assertEqual(w.result(), refused, (kind, level))
                w.run("ROLLBACK")
                self.assertEqual(self.count(count.format(name=name)), 0, (kind, level))
                w.close()
                d.close()

    def test_delete_refused_at_repeatable_read(self):
        """A delete or rename of what lines or indicia may name, at REPEATABLE READ: its look
        would read the snapshot from before its wait for the writers, and miss a naming row
        committed meanwhile (v25 and v26 let that through); refused, READ COMMITTED not."""
        for kind, (make, delete, _, _) in sorted(NAMED.items()):
            name = "nm_rr_%s" % kind
            self.psql(make.format(name=name))
            for level, refused in (("REPEATABLE READ", True), ("SERIALIZABLE", True),
                                   ("READ COMMITTED", False)):
                p = self.psql("BEGIN ISOLATION LEVEL %s; %s; ROLLBACK"
                              % (level, delete.format(name=name)), check=False)
                err = p.stderr.decode()
                self.assertEqual(p.returncode != 0, refused, (kind, level, err))
                if refused:
                    self.assertIn("READ COMMITTED transaction", err, (kind, level))

    def test_v32_indexes(self):
        """Schema v32 on PostgreSQL: charges_customer is gone (only a test's count read charges
        by customer); pay_intents keeps its table and its key (the rowid change is SQLite's)."""
        out = self.psql("SELECT indexname FROM pg_indexes WHERE tablename IN "
                        "('charges', 'pay_intents') ORDER BY 1").stdout.decode().split()
        self.assertNotIn("charges_customer", out)
        self.assertIn("charges_purpose_ref", out)
        self.assertIn("pay_intents_pkey", out)
        self.assertIn("pay_intents_live", out)


if __name__ == "__main__":
    unittest.main()
