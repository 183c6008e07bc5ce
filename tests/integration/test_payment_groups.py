"""test_payment_groups.py - card payments written in group commits survive a
crash in the middle of a group (issue 15; docs/internals/purchase-path.md,
"Group commits of the intents"; docs/payments.md, "Payment intents").

A processor's payment threads write many cards' intents, hold answers and end
states in one transaction per round, and the gateway's calls are asynchronous.
Each case starts a group of card purchases at once, crashes stampd in the
middle of them, restarts it and checks from the sandbox's journal (the card
network's record) that every approved hold was captured exactly once or voided
exactly once, every capture is a charge of a committed indicium, and no
client key was captured twice - also after every client retried its key:

1. SIGKILL with one group of cards in capture flight (their batch committed)
   and another in hold flight (their intents committed, the answers not).
2. STAMPD_CRASH_POINT=after_authorize: the process dies while a round records
   the approved holds that came back together (none of them committed; how
   many are in the round depends on timing): the recovery voids every hold,
   the retries open second attempts, captured once each.
3. STAMPD_CRASH_POINT=after_commit: a group's batch committed, no capture
   made: the recovery at start captures every one; the retries replay.
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

from cardjournal import LETTER, PAY, CardJournal  # noqa: E402

LATENCY_MS = 700


class PaymentGroups(CardJournal, unittest.TestCase):
    LATENCY_MS = LATENCY_MS

    def setUp(self):
        self.srv = harness.Stampd("paygroups")
        self.srv.init(psds=2)
        self.journal = os.path.join(self.srv.dir, "stampd.db.gateway.jsonl")

    def tearDown(self):
        self.srv.abandon()

    # -- helpers --

    def buys(self, keys, out):
        """A card purchase per key, each on a thread; out gets (key, status, body)."""
        def one(k):
            try:
                st, _, j = self.srv.buy(self.srv.customer_key, k, dict(LETTER, payment=PAY))
            except OSError:
                st, j = None, None
            out.append((k, st, j))
        ts = [threading.Thread(target=one, args=(k,)) for k in keys]
        for t in ts:
            t.start()
        return ts

    def approved(self):
        return {e["id"]: e for e in self.events()
                if e["op"] == "authorize" and e["result"] == "approved"}

    def unsettled(self):
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        try:
            return db.execute("SELECT count(*) FROM pay_intents WHERE state NOT IN "
                              "('captured', 'voided', 'declined')").fetchone()[0]
        finally:
            db.close()

    def all_finished(self):
        """Every approved hold captured or voided, and every intent at its end."""
        ev = self.events()
        ends = {e["id"] for e in ev if e["op"] in ("capture", "void")}
        return all(cid in ends for cid in self.approved()) and self.unsettled() == 0

    def check_invariant(self):
        """cardjournal's, and every recorded charge captured once, every intent ended."""
        approved, charges, ends = super().check_invariant()
        for cid, a in approved.items():
            if ends[("capture", cid)]:
                self.assertIn(charges[cid], self.indicia(), "charge %s without its indicium" % cid)
        for cid in charges:
            self.assertEqual(ends[("capture", cid)], 1, "charge %s not captured once" % cid)
        self.assertEqual(self.unsettled(), 0, "intents left unfinished")

    def indicia(self):
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        try:
            return {r[0] for r in db.execute("SELECT id FROM indicia")}
        finally:
            db.close()

    def retry_all(self, keys):
        """Every client retries its key: each gets its indicium (replayed or paid anew)."""
        out = []
        for t in self.buys(keys, out):
            t.join(60)
        self.assertEqual(sorted(st for _, st, _ in out), [201] * len(keys),
                         [(k, st, j) for k, st, j in out if st != 201])
        return {k: j for k, _, j in out}

    def recovered(self, keys):
        """Restart with a fast recovery, wait until every hold is finished, retry, check."""
        self.start(extra=["--payment-recovery-after", "1"])
        self.wait_for(self.all_finished, "every approved hold captured or voided")
        self.check_invariant()
        answers = self.retry_all(keys)
        self.wait_for(self.all_finished, "the retries' holds captured")
        self.srv.stop()
        self.check_invariant()
        # One indicium per key, whatever happened to its first attempt.
        self.assertEqual(len({j["id"] for j in answers.values()}), len(keys))

    # -- the cases --

    def test_kill9_with_groups_in_flight(self):
        self.start()
        first = ["g1-%d" % i for i in range(12)]
        second = ["g2-%d" % i for i in range(12)]
        out = []
        ts = self.buys(first, out)
        time.sleep(LATENCY_MS / 1000.0 * 1.4)  # the first group's captures in flight
        ts += self.buys(second, out)
        time.sleep(LATENCY_MS / 1000.0 * 0.5)  # the second group's holds in flight
        self.srv.kill9()
        for t in ts:
            t.join(30)
        holds = self.approved()
        self.assertGreaterEqual(len(holds), 12, "the first group was not held")
        ends = {e["id"] for e in self.events() if e["op"] in ("capture", "void")}
        self.assertTrue(set(holds) - ends, "nothing was in flight at the kill")
        self.recovered(first + second)

    def crash_group(self, crash, prefix):
        """A group of card purchases that stampd dies in at the crash point; their keys."""
        keys = ["%s-%d" % (prefix, i) for i in range(10)]
        self.start(crash=crash)
        out = []
        for t in self.buys(keys, out):
            t.join(30)
        p, self.srv.proc = self.srv.proc, None
        self.assertEqual(p.wait(timeout=30), 137, self.srv.stderr_text())
        self.assertEqual([st for _, st, _ in out], [None] * len(keys), out)
        return keys

    def test_crash_recording_a_group_of_holds(self):
        keys = self.crash_group("after_authorize", "auth")
        # Holds approved at the gateway and never recorded: at least the one that crashed.
        self.assertGreaterEqual(len(self.approved()), 1)
        self.recovered(keys)

    def test_crash_after_a_group_committed(self):
        keys = self.crash_group("after_commit", "commit")
        self.assertFalse([e for e in self.events() if e["op"] != "authorize"])
        self.recovered(keys)


if __name__ == "__main__":
    harness.main()
