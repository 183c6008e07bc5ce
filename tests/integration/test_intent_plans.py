"""test_intent_plans.py - the payment intents' reads by owner are served by the intents'
key (kind, owner, client_key, attempt), so schema v23 dropped pay_intents_owner, an index
that only cost each card purchase a page written (issue 15, docs/performance.md). On a
migrated SQLite store: the index is gone, and SQLite plans each read by owner as a search
of that key, never a scan of the table (the WHERE and ORDER BY of INTENT_LATEST and
INTENT_ACTIVE, and PURCHASE_KEY's read of the intents, in src/store/sql.h, copied: the
statements themselves are the store's private business; CARD_HEAD's intent is
INTENT_LATEST's). And schema v24's indexes, with
v29's WHERE of pay_intents_live (its states as ORs: the plan of the recovery's read is the same
search of the index, and no write of an intent builds a temporary table for it any more).
"""

import os
import sqlite3
import sys
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

COLS = "id, state, attempt, created"
READS = {
    "INTENT_LATEST": "SELECT " + COLS + " FROM pay_intents WHERE kind = ? AND owner = ? AND "
                     "client_key = ? ORDER BY attempt DESC LIMIT 1",
    "INTENT_ACTIVE": "SELECT " + COLS + " FROM pay_intents WHERE kind = ? AND owner = ? AND "
                     "state IN ('pending', 'authorized', 'settling') "
                     "ORDER BY created DESC, id DESC LIMIT 1",
    # PURCHASE_KEY's second arm (schema v33: a card purchase's key is its intent on SQLite;
    # v34: one on its way too, read with no indicium).
    "PURCHASE_KEY": "SELECT p.req_hash, CASE WHEN EXISTS (SELECT 1 FROM indicia i "
                    "WHERE i.id = p.ref) THEN p.ref ELSE '' END FROM pay_intents p "
                    "WHERE p.kind = ? AND p.owner = ? AND p.client_key = ? AND "
                    "(+p.state = 'pending' OR +p.state = 'authorized' OR "
                    "+p.state = 'settling' OR +p.state = 'captured') LIMIT 1",
}


class IntentPlans(unittest.TestCase):
    def test_reads_by_owner_use_the_key(self):
        srv = harness.Stampd("intent-plans").init(psds=1)
        try:
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                names = [r[0] for r in db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND "
                    "tbl_name = 'pay_intents'")]
                self.assertNotIn("pay_intents_owner", names)
                for name, sql in READS.items():
                    plan = harness.sqlite_plan(db, sql, ("purchase", "cus_x", "k")[:sql.count("?")])
                    self.assertRegex(plan, r"SEARCH (pay_intents|p) USING INDEX "
                                     r"sqlite_autoindex_pay_intents_\d \(kind=\? AND owner=\?",
                                     name + ": " + plan)
                    self.assertNotRegex(plan, r"SCAN (pay_intents|p)\b", name)
            finally:
                db.close()
        finally:
            srv.abandon()

    def test_card_head_by_rowid(self):
        """A card's head (CARD_HEAD's intent, copied) finds its key's latest intent in the
        key's index alone - its entries end in the rowid since v35 - and reads the row by
        rowid: no search of the id's index (issue 15, session 29)."""
        srv = harness.Stampd("intent-plans-head").init(psds=1)
        try:
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                sql = ("SELECT id, state FROM (SELECT 1 AS one) AS o LEFT JOIN pay_intents ON "
                       "pay_intents.rowid = (SELECT rowid FROM pay_intents WHERE kind = ? AND "
                       "owner = ? AND client_key = ? ORDER BY attempt DESC LIMIT 1)")
                plan = harness.sqlite_plan(db, sql, ("purchase", "cus_x", "k"))
                self.assertIn("SEARCH pay_intents USING INTEGER PRIMARY KEY (rowid=?)", plan)
                self.assertRegex(plan, r"SEARCH pay_intents USING COVERING INDEX "
                                 r"sqlite_autoindex_pay_intents_\d \(kind=\? AND owner=\? AND "
                                 r"client_key=\?\)")
                self.assertNotIn("(id=?)", plan)
            finally:
                db.close()
        finally:
            srv.abandon()

    def test_idempotency_by_key(self):
        """Schema v36: the idempotency rows are a rowid table (issue 15, session 30), so a
        key's read (IDEM_GET, copied) searches the key's unique index and reads the row by
        rowid, as does the first arm of a purchase's read of its key (PURCHASE_KEY), and a
        card head's question whether a key is taken (CARD_HEAD's count, copied) reads that
        index alone. Never a scan of the table."""
        srv = harness.Stampd("intent-plans-idem").init(psds=1)
        try:
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                table = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                   "name = 'idempotency'").fetchone()[0]
                self.assertNotIn("WITHOUT ROWID", table)
                key = r"sqlite_autoindex_idempotency_\d \(owner_id=\? AND key=\?\)"
                get = ("SELECT req_hash, indicium_id FROM idempotency WHERE owner_id = ? AND "
                       "key = ?")
                plan = harness.sqlite_plan(db, get, ("cus_x", "k"))
                self.assertRegex(plan, r"^SEARCH idempotency USING INDEX " + key + "$")
                # PURCHASE_KEY's first arm, a balance purchase's read of its key (copied).
                plan = harness.sqlite_plan(db, get + " UNION ALL " + READS["PURCHASE_KEY"],
                                           ("cus_x", "k", "purchase", "cus_x", "k"))
                self.assertRegex(plan, r"SEARCH idempotency USING INDEX " + key)
                taken = ("SELECT (SELECT CAST(COUNT(*) AS BIGINT) FROM idempotency WHERE "
                         "owner_id = ? AND key = ?)")
                plan = harness.sqlite_plan(db, taken, ("cus_x", "k"))
                self.assertRegex(plan, r"SEARCH idempotency USING COVERING INDEX " + key)
                self.assertNotRegex(plan, r"SCAN idempotency\b")
            finally:
                db.close()
        finally:
            srv.abandon()

    def test_v24_indexes(self):
        """Schema v24: the gateway keys are unique through a partial index of the hashed
        ones only (a random Idempotency-Key writes no entry), and the recovery's read by
        state (INTENT_DUE, copied) searches pay_intents_live, the index of the states still
        moving (and so does a refund's read of the intent whose capture is on its way)."""
        srv = harness.Stampd("intent-plans-v24").init(psds=1)
        try:
            db = sqlite3.connect(srv.db[len("sqlite:"):])
            try:
                idx = dict(db.execute("SELECT name, COALESCE(sql, '') FROM sqlite_master "
                                      "WHERE type = 'index' AND tbl_name = 'pay_intents'"))
                self.assertIn("WHERE gateway_key LIKE '%sha256:%'",
                              idx.get("pay_intents_hashed_key", ""))
                self.assertNotIn("pay_intents_state", idx)
                # v29: the index's WHERE is the four states as ORs, which SQLite compares in
                # place (an IN list built a temporary table in every write of an intent).
                live = " ".join(idx.get("pay_intents_live", "").split())
                self.assertIn("WHERE (state = 'pending' OR state = 'authorized' OR "
                              "state = 'settling' OR state = 'voiding')", live)
                self.assertNotIn(" IN ", live)
                # Only the id and the key are unique otherwise: two autoindexes. v32 keyed
                # the table by its id (WITHOUT ROWID, no index of its own); v35 made it a
                # rowid table again, whose interior pages hold no rows (issue 15, session 29).
                self.assertEqual(len([n for n in idx if n.startswith("sqlite_autoindex")]), 2)
                table = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND "
                                   "name = 'pay_intents'").fetchone()[0]
                self.assertNotIn("WITHOUT ROWID", table)
                due = ("SELECT id FROM pay_intents WHERE state = ? AND updated < ? AND "
                       "(state = 'pending' OR state = 'authorized' OR state = 'settling' OR "
                       "state = 'voiding') ORDER BY updated, id LIMIT ?")
                plan = harness.sqlite_plan(db, due, ("settling", 1, 10))
                self.assertRegex(plan, r"USING (COVERING )?INDEX pay_intents_live")
                # A refund's read of the purchase whose capture is on its way (INTENT_SETTLING,
                # copied; issue 15, session 17) searches the same index.
                settling = ("SELECT id FROM pay_intents WHERE state = 'settling' AND "
                            "charge_id = ? AND (state = 'pending' OR state = 'authorized' OR "
                            "state = 'settling' OR state = 'voiding') LIMIT 1")
                plan = harness.sqlite_plan(db, settling, ("ch_x",))
                self.assertRegex(plan, r"SEARCH pay_intents USING (COVERING )?INDEX "
                                 r"pay_intents_live \(state=\?")
            finally:
                db.close()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
