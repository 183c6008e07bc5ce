"""test_payment_threads.py - a card's gateway round trip never holds the writer
(issue 15; docs/internals/purchase-path.md, docs/payments.md).

With the sandbox gateway taking 1.5 s a call (--gateway-latency) and one
processor, four card purchases are started at once; a balance purchase made
while their cards are being held is answered before any of them (before,
it queued behind their holds on the processor's writer thread). Each card
purchase is answered once its purchase committed - after one gateway call, its
hold, and before its capture, which follows (issue 15, session 17). Then more
card purchases are started and stampd gets SIGTERM while they are in flight:
every one is answered 201, stampd exits 0, and each charge was captured once
at the gateway (its journal) and every PSD balances.
"""

import os
import sqlite3
import threading
import time
import unittest

import harness
from cardjournal import CardJournal

PASSWORD = "correct horse battery staple"
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}
LATENCY_MS = 1500


class PaymentThreads(CardJournal, unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("paythreads").init(psds=2)
        self.journal = os.path.join(self.srv.dir, "stampd.db.gateway.jsonl")  # CardJournal's
        self.srv.start(processors=1, extra=["--gateway-latency", str(LATENCY_MS),
                                            "--payment-threads", "8"])
        st, _, j = self.srv.request("POST", "/v1/signup", body={
            "email": "cards@example.com", "password": PASSWORD, "api_key": {"mode": "test"}})
        self.assertEqual(st, 201, j)
        self.test_key = j["api_key"]["key"]

    def tearDown(self):
        self.srv.abandon()

    def card_buys(self, tag, n, out, key=None):
        """n card purchases on threads; out gets (tag, i, status, time answered, answer,
        the wall clock's ms when it was answered, to compare with the journal's "t")."""
        def one(i):
            st, _, j = self.srv.request(
                "POST", "/v1/indicia", key=key or self.test_key,
                body=dict(LETTER, payment={"method": "card", "card": CARD}),
                headers={"Idempotency-Key": "%s-%d" % (tag, i)})
            out.append((tag, i, st, time.monotonic(), j, time.time() * 1000))
        ts = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in ts:
            t.start()
        return ts

    def assert_answered_before_capture(self, answers):
        """Each answer came before the gateway recorded its charge's capture (the journal's
        "t", the ms it applied the call) - and every capture comes."""
        answered = {a[4]["payment"]["charge_id"]: a[5] for a in answers}
        deadline = time.monotonic() + 30
        while True:
            done = {e["id"]: e["t"] for e in self.events() if e["op"] == "capture"}
            if set(answered) <= set(done) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(set(answered) - set(done), set(), "not captured")
        late = {c: (at, done[c]) for c, at in answered.items() if at >= done[c]}
        self.assertEqual(late, {}, "answered after the capture (answer ms, capture ms)")

    def test_refund_right_after_the_answer(self):
        """A piece refunded as soon as it is answered - before its capture has reached the
        gateway - goes back to the card: the refund captures it first (under the capture's
        own key, which the capture on its way shares), then refunds it; never a refund of a
        charge only held, which the gateway would refuse. (The sandbox applies the capture
        submitted first before a refund asked later, so it is test_refund's
        test_refund_before_the_capture that fails without the ordering; this is the
        customer's view of it.)"""
        out = []
        for t in self.card_buys("refund", 1, out, self.srv.customer_key):  # a live piece
            t.join(60)
        (_, _, st, _, j, _), = out
        self.assertEqual(st, 201, j)
        cid = j["payment"]["charge_id"]
        self.assertNotIn(("capture", cid), [(e["op"], e["id"]) for e in self.events()])
        st, _, r = self.srv.request("POST", "/v1/indicia/%s/refund" % j["id"],
                                    key=self.srv.customer_key, body={})
        self.assertEqual((st, r.get("status"), r.get("destination")), (201, "approved", "card"), r)
        ops = [(e["op"], e["result"]) for e in self.events() if e["id"] == cid]
        self.assertEqual(ops, [("authorize", "approved"), ("capture", "approved"),
                               ("refund", "approved")], ops)
        self.srv.stop()
        self.assertNotIn("reconcile by hand", self.srv.stderr_text())

    def test_a_card_on_its_way_holds_its_key(self):
        """SQLite (schema v34, issue 15 session 26): from the moment a card purchase's hold is
        asked for, its Idempotency-Key is in use - a purchase from the balance under it is
        refused 409 idempotency_key_reused while the card is held at the gateway, and the card
        purchase is sold once; its retry replays it, and the balance purchase under the key
        is refused again after."""
        st, _, j = self.srv.request("POST", "/v1/account/funds", key=self.test_key,
                                    body={"amount": "10.00",
                                          "payment": {"method": "card", "card": CARD}},
                                    headers={"Idempotency-Key": "funds-1"})
        self.assertEqual(st, 201, j)
        answers = []
        ts = self.card_buys("inuse", 1, answers)
        # Its intent committed (the card round), its hold at the gateway for 1.5 s.
        db = sqlite3.connect("file:%s?mode=ro" % self.srv.db[len("sqlite:"):], uri=True)
        try:
            deadline = time.monotonic() + 10
            while not db.execute("SELECT 1 FROM pay_intents WHERE client_key = 'inuse-0'"
                                 ).fetchone() and time.monotonic() < deadline:
                time.sleep(0.02)
        finally:
            db.close()
        self.assertEqual(answers, [], "answered before its hold came back")
        st, _, j = self.srv.buy(self.test_key, "inuse-0", LETTER)
        self.assertEqual((st, j["error"]["code"]), (409, "idempotency_key_reused"), j)
        for t in ts:
            t.join(60)
        self.assertEqual([a[2] for a in answers], [201], answers)
        piece = answers[0][4]["id"]
        st, hdrs, j = self.srv.request(
            "POST", "/v1/indicia", key=self.test_key,
            body=dict(LETTER, payment={"method": "card", "card": CARD}),
            headers={"Idempotency-Key": "inuse-0"})
        self.assertEqual((st, j["id"]), (201, piece), j)
        st, _, j = self.srv.buy(self.test_key, "inuse-0", LETTER)
        self.assertEqual((st, j["error"]["code"]), (409, "idempotency_key_reused"), j)
        st, _, j = self.srv.request("GET", "/v1/account/transactions", key=self.test_key)
        self.assertEqual(st, 200, j)
        sales = [t for t in j["data"] if t["kind"] == "postage_sale"]
        self.assertEqual([t["ref"] for t in sales], [piece], j)

    def test_balance_purchases_do_not_wait_for_card_calls_and_sigterm_answers_all(self):
        answers = []
        started = time.monotonic()
        ts = self.card_buys("card", 4, answers)
        time.sleep(0.3)   # the cards are being held now (1.5 s each)
        st, _, j = self.srv.buy(self.srv.customer_key, "balance-1", LETTER)
        balance_at = time.monotonic()
        self.assertEqual(st, 201, j)
        for t in ts:
            t.join(60)
        self.assertEqual(sorted(a[2] for a in answers), [201] * 4, answers)
        # Answered before any card purchase: it did not queue behind their holds.
        self.assertLess(balance_at, min(a[3] for a in answers))
        # A card purchase is answered after its hold (one gateway call) and before its
        # capture (1.5 s more at the gateway): its purchase and its intent "settling" are
        # durable, and the capture follows.
        self.assertGreaterEqual(min(a[3] for a in answers) - started, LATENCY_MS / 1000.0)
        self.assert_answered_before_capture(answers)

        # SIGTERM while cards are held: every purchase is answered, then stampd exits 0.
        late = []
        ts = self.card_buys("late", 6, late)
        time.sleep(0.3)
        err = self.srv.stop()
        for t in ts:
            t.join(60)
        self.assertEqual(sorted(a[2] for a in late), [201] * 6, [a[4] for a in late])
        self.assertNotIn("settling card payments", err)

        # The gateway captured each charge exactly once (those in flight at SIGTERM before
        # stampd exited); the books balance.
        events = self.events()
        ids = {a[4]["payment"]["charge_id"] for a in answers + late}
        self.assertEqual(len(ids), 10)
        captured = [e["id"] for e in events if e["op"] == "capture" and e["result"] == "approved"]
        for cid in ids:
            self.assertEqual(captured.count(cid), 1, cid)
        self.srv.start(processors=1)
        for p in self.srv.psds()["psds"]:
            self.assertEqual(p["ascending_mills"] + p["descending_mills"],
                             p["control_total_mills"], p)
        self.srv.stop()


if __name__ == "__main__":
    harness.main()
