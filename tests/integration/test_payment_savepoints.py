"""test_payment_savepoints.py - one card's store error fails that card only
(issue 15; docs/internals/purchase-path.md, "Group commits of the intents").

A processor writes many cards' payment intents in one transaction. A trigger
in the database refuses one card's writes (as a constraint or a lock error on
one intent row would): recording its hold's answer (a decline), or its end
state. Every other card bought at the same moment - in the same round - must
go through: answered 201, its intent ended "captured" in the database. The
refused card alone is answered 502 (its hold's answer not recorded: the
intent stays pending for the recovery; or its intent could not be written:
nothing held), or, when its end state is what failed, is still answered 201
(its purchase committed; since session 17 the answer does not wait for the
capture) with the end state left to the recovery.
Before each card had its own savepoint, the one error rolled back the whole
round and every card in it was refused or left unfinished.

On PostgreSQL too (PgPaymentSavepoints, with STAMPD_TEST_PG_DSN_FILE): there a
failed statement spoils the transaction, so each card's write - and since
issue 15's session 14 each statement of eight end states - has a savepoint of
its own, and a statement of eight that fails is undone and its cards written
one by one. Since session 15 a batch claims its card holds before its jobs, in
one statement: one refused falls back to each card's own move, and a card
claimed and then refused (its key stored meanwhile by another transaction)
gives its hold up in the same transaction.
"""

import os
import sqlite3
import sys
import threading
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from cardjournal import CARD, LETTER, PAY  # noqa: E402

LATENCY_MS = 400
GOOD = 24
PG_DSN_FILE = os.environ.get("STAMPD_TEST_PG_DSN_FILE")

TRIGGERS = """
CREATE TRIGGER refuse_answer BEFORE UPDATE OF state ON pay_intents
WHEN NEW.state = 'declined' AND NEW.client_key LIKE 'bad-hold-%'
BEGIN SELECT RAISE(ABORT, 'injected: this intent cannot take its answer'); END;
CREATE TRIGGER refuse_end BEFORE UPDATE OF state ON pay_intents
WHEN NEW.state = 'captured' AND NEW.client_key LIKE 'bad-end-%'
BEGIN SELECT RAISE(ABORT, 'injected: this intent cannot end'); END;
CREATE TRIGGER refuse_open BEFORE INSERT ON pay_intents
WHEN NEW.client_key LIKE 'bad-open-%'
BEGIN SELECT RAISE(ABORT, 'injected: this intent cannot be written'); END;
CREATE TRIGGER refuse_settle BEFORE UPDATE OF state ON pay_intents
WHEN NEW.state = 'settling' AND NEW.client_key LIKE 'bad-settle-%'
BEGIN SELECT RAISE(ABORT, 'injected: this intent cannot settle'); END;
"""


class PaymentSavepoints(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("paysavepoints")
        self.srv.init(psds=2)
        self.path = self.srv.db[len("sqlite:"):]
        db = sqlite3.connect(self.path)
        try:
            db.executescript(TRIGGERS)
        finally:
            db.close()
        self.srv.start(processors=1, extra=["--gateway-latency", str(LATENCY_MS)])

    def tearDown(self):
        self.srv.abandon()

    def buys(self, keys):
        """All keys bought by card at once; {key: (status, body)}."""
        out = {}
        go = threading.Event()

        def one(k):
            go.wait()
            pay = PAY
            if k.startswith("bad-hold-"):   # declined: its answer is written in the round
                pay = {"method": "card", "card": dict(CARD, number="4000000000000002")}
            st, _, j = self.srv.buy(self.srv.customer_key, k, dict(LETTER, payment=pay))
            out[k] = (st, j)
        ts = [threading.Thread(target=one, args=(k,)) for k in keys]
        for t in ts:
            t.start()
        go.set()
        for t in ts:
            t.join(60)
        return out

    def states(self):
        db = sqlite3.connect(self.path)
        try:
            return dict(db.execute("SELECT client_key, state FROM pay_intents").fetchall())
        finally:
            db.close()

    def check(self, bad, bad_status, bad_state):
        good = ["good-%s-%d" % (bad, i) for i in range(GOOD)]
        keys = good[:GOOD // 2] + [bad] + good[GOOD // 2:]
        out = self.buys(keys)
        self.assertEqual(len(out), len(keys), out)
        refused = {k: v for k, v in out.items() if k in good and v[0] != 201}
        self.assertEqual(refused, {}, "cards refused with the one whose write failed")
        self.assertEqual(out[bad][0], bad_status, out[bad])
        # Answered once its purchase committed, its capture after: every good card ends
        # captured.
        deadline = time.monotonic() + 5
        while True:
            st = self.states()
            unfinished = {k: st.get(k) for k in good if st.get(k) != "captured"}
            if not unfinished or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(unfinished, {}, "cards not finished with the one whose write failed")
        self.assertIn(st.get(bad), bad_state if isinstance(bad_state, tuple) else (bad_state,))

    def test_a_hold_answer_that_cannot_be_recorded_fails_its_card_only(self):
        self.check("bad-hold-1", 502, "pending")

    def test_an_end_state_that_cannot_be_recorded_fails_its_card_only(self):
        self.check("bad-end-1", 201, "settling")

    def test_an_intent_that_cannot_be_written_fails_its_card_only(self):
        # On PostgreSQL the round's new intents are one statement (issue 15, session 14):
        # when it fails, each of its cards is opened alone after the commit.
        self.check("bad-open-1", 502, None)

    def test_a_hold_that_cannot_settle_fails_its_card_only(self):
        # A batch's card holds settle before its jobs, in one statement on PostgreSQL (issue
        # 15, session 15): when it fails, each card job moves its own, as before; the one
        # refused is given up (voiding, then voided), never captured. On SQLite each claim is
        # a statement of its own that fails alone: this checks that the job then refused is
        # that card only.
        self.check("bad-settle-1", 500, ("voiding", "voided"))


PG_TRIGGERS = """
CREATE FUNCTION refuse_injected() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.state = 'declined' AND NEW.client_key LIKE 'bad-hold-%')
     OR (NEW.state = 'captured' AND NEW.client_key LIKE 'bad-end-%')
     OR (TG_OP = 'INSERT' AND NEW.client_key LIKE 'bad-open-%')
     OR (NEW.state = 'settling' AND NEW.client_key LIKE 'bad-settle-%') THEN
    RAISE EXCEPTION 'injected: this intent cannot take this state';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER refuse_injected BEFORE INSERT OR UPDATE OF state ON pay_intents
  FOR EACH ROW EXECUTE FUNCTION refuse_injected();
"""


@unittest.skipUnless(PG_DSN_FILE, "needs PostgreSQL (STAMPD_TEST_PG_DSN_FILE)")
class PgPaymentSavepoints(PaymentSavepoints):
    def setUp(self):
        self.srv = harness.Stampd("paysavepoints-pg")
        self.srv.db = harness.pg_createdb(PG_DSN_FILE)
        self.srv.init(psds=2, keys_dir=os.path.join(self.srv.dir, "keys"))
        self.psql(PG_TRIGGERS)
        self.srv.start(processors=1, extra=["--gateway-latency", str(LATENCY_MS)])

    def psql(self, sql):
        return harness.pg_text(self.srv.db, sql)

    def states(self):
        rows = self.psql("SELECT client_key, state FROM pay_intents").split()
        return dict(zip(rows[0::2], rows[1::2]))

    def test_a_claimed_card_whose_key_is_stored_meanwhile(self):
        """A batch claims a card's hold before its jobs (issue 15, session 15), then finds
        the card's key stored by another transaction meanwhile, for another request: the
        card is refused (409 idempotency_key_reused), its intent is given up in the same
        transaction - voiding, then voided, never settling, so the recovery cannot capture
        it - and no charge is recorded for it; the card bought beside it goes through. A
        trigger holds the claim of the first card 1.5 s; the key is stored in that while."""
        st, _, seed = self.srv.buy(self.srv.customer_key, "seed-1", LETTER)
        self.assertEqual(st, 201, seed)
        self.psql(SLOW_CLAIM)
        out = {}

        def one(k):
            out[k] = self.srv.buy(self.srv.customer_key, k, dict(LETTER, payment=PAY))
        ts = [threading.Thread(target=one, args=(k,)) for k in ("slow-1", "fast-1")]
        for t in ts:
            t.start()
        deadline = time.monotonic() + 30
        while self.psql("SELECT count(*) FROM pg_stat_activity "
                        "WHERE wait_event = 'PgSleep'").strip() == "0":
            self.assertLess(time.monotonic(), deadline, "the claim never ran")
            time.sleep(0.02)
        owner = self.psql("SELECT owner FROM pay_intents WHERE client_key = 'slow-1'").strip()
        self.psql("INSERT INTO idempotency(owner_id, key, req_hash, indicium_id, created) "
                  "VALUES ('%s', 'slow-1', 'another request', '%s', 1)" % (owner, seed["id"]))
        for t in ts:
            t.join(60)
        st, _, j = out["slow-1"]
        self.assertEqual((st, j["error"]["code"]), (409, "idempotency_key_reused"), j)
        self.assertEqual(out["fast-1"][0], 201, out["fast-1"])
        deadline = time.monotonic() + 10
        while self.states().get("slow-1") != "voided" or self.states().get("fast-1") != "captured":
            self.assertLess(time.monotonic(), deadline, self.states())
            time.sleep(0.1)
        self.assertEqual(self.psql("SELECT count(*) FROM charges c JOIN pay_intents p ON "
                                   "c.id = p.charge_id WHERE p.client_key = 'slow-1'").strip(),
                         "0")
        self.assertEqual(self.psql("SELECT count(*) FROM charges WHERE ref = '%s'" %
                                   out["fast-1"][2]["id"]).strip(), "1")


# The claim of a 'slow-' card's intent sleeps 1.5 s (pg_stat_activity shows PgSleep).
SLOW_CLAIM = """
CREATE FUNCTION slow_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state = 'settling' AND NEW.client_key LIKE 'slow-%' THEN
    PERFORM pg_sleep(1.5);
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER slow_claim BEFORE UPDATE OF state ON pay_intents
  FOR EACH ROW EXECUTE FUNCTION slow_claim();
"""


if __name__ == "__main__":
    unittest.main()
