"""test_payment_intents.py - a crash between the card's approval and the
commit charges no card twice and leaves no approved charge behind
(issue 12, finding 2; docs/payments.md, "Payment intents").

The sandbox gateway keeps its own journal beside the database
(stampd.db.gateway.jsonl, one JSON object per event); these tests read it
as the card network's record. STAMPD_CRASH_POINT (a test hook,
docs/internals/purchase-path.md) makes stampd _exit(137) at a point of the
card path, as SIGKILL would:

1. after_authorize, then a retry with the same Idempotency-Key: the retry
   gets the hold the crashed attempt made (one authorization), it is
   captured once and belongs to the indicium.
2. after_authorize and the client never retries: the recovery voids the
   hold; a later retry with the key opens a second attempt.
3. after_commit (the purchase committed, not yet captured): the recovery
   at start captures it; a retry replays the indicium.
4. A top-up crashed after its authorization, then retried: one hold,
   captured once, the balance credited once.
5. An auto-refill crashed after its authorization, the purchase retried:
   the refill's hold is found again and credited once.
6. A refund to a card crashed after its decision committed: the recovery
   pays it at the gateway, once.
Every run ends with the journal's invariant: each approved authorization
is captured or voided exactly once, each captured one is a charge stampd
recorded, and no client key was captured twice.
"""

import hashlib
import json
import os
import sqlite3
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

from cardjournal import CARD, LETTER, PAY, CardJournal  # noqa: E402


class PaymentIntents(CardJournal, unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("intents")
        self.srv.init(psds=2)
        self.journal = os.path.join(self.srv.dir, "stampd.db.gateway.jsonl")

    def tearDown(self):
        self.srv.abandon()

    # -- helpers --

    def crashed(self, send):
        """send() a request the server dies in; asserts the exit was the crash point's."""
        try:
            st, _, j = send()
        except OSError:
            st, j = None, None
        self.assertIsNone(st, "answered %s %s instead of crashing" % (st, j))
        p, self.srv.proc = self.srv.proc, None
        self.assertEqual(p.wait(timeout=30), 137, self.srv.stderr_text())

    def auths(self, client_key):
        return [e for e in self.events() if e["op"] == "authorize" and client_key in e["key"]]

    # -- the cases --

    def test_crash_after_authorize_then_retry(self):
        key = "retry-after-crash"
        self.start(crash="after_authorize")
        self.crashed(lambda: self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY)))
        first = self.auths(key)
        self.assertEqual([a["result"] for a in first], ["approved"], first)

        self.start()
        st, _, j = self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY))
        self.assertEqual(st, 201, j)
        self.assertEqual(j["payment"]["charge_id"], first[0]["id"],
                         "the retry was charged anew instead of taking the first hold")
        self.assertEqual(len(self.auths(key)), 1)
        # And again: a replay, nothing at the gateway.
        st, h, again = self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY))
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), again)
        self.assertEqual(again["id"], j["id"])
        self.wait_for(lambda: any(e["op"] == "capture" for e in self.events()), "the capture")
        self.srv.stop()
        self.check_invariant()

    def test_fingerprint_of_a_card_body(self):
        """The intent keeps the request's fingerprint: SHA-256 of the route and the body as
        sorted, compact JSON, the card's number cut to its last four digits and its CVC
        gone. A retry after an upgrade is matched against it, so it never changes (issue
        15 computes it without copying the whole body)."""
        self.start()
        body = dict(LETTER, payment=PAY)
        st, _, j = self.srv.buy(self.srv.customer_key, "fingerprint", body)
        self.assertEqual(st, 201, j)
        scrubbed = json.loads(json.dumps(body))
        scrubbed["payment"]["card"]["number"] = CARD["number"][-4:]
        del scrubbed["payment"]["card"]["cvc"]
        canon = json.dumps(scrubbed, sort_keys=True, separators=(",", ":"))
        want = hashlib.sha256(("POST /v1/indicia\n" + canon).encode()).hexdigest()
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        try:
            got = db.execute("SELECT req_hash FROM pay_intents WHERE client_key = ?",
                             ("fingerprint",)).fetchall()
        finally:
            db.close()
        self.assertEqual(got, [(want,)])
        # The same body again is a replay; one with another card number is not the same
        # request.
        st, h, again = self.srv.buy(self.srv.customer_key, "fingerprint", body)
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), again)
        other = dict(LETTER, payment=dict(PAY, card=dict(CARD, number="5555555555554444")))
        st, _, j = self.srv.buy(self.srv.customer_key, "fingerprint", other)
        self.assertNotEqual(st, 201, j)
        self.srv.stop()

    def test_crash_after_authorize_never_retried(self):
        key = "never-retried"
        self.start(crash="after_authorize")
        self.crashed(lambda: self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY)))
        hold = self.auths(key)[0]["id"]
        self.start(extra=["--payment-recovery-after", "1"])
        self.wait_for(lambda: any(e["op"] == "void" and e["id"] == hold for e in self.events()),
                      "the abandoned hold voided")
        self.check_invariant()
        # The key is free again: a second attempt, a new hold, captured.
        st, _, j = self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY))
        self.assertEqual(st, 201, j)
        self.assertNotEqual(j["payment"]["charge_id"], hold)
        self.assertEqual([a["key"].rsplit(":", 1)[1] for a in self.auths(key)], ["1", "2"])
        self.wait_for(lambda: any(e["op"] == "capture" for e in self.events()), "the capture")
        self.srv.stop()
        self.check_invariant()

    def test_crash_after_commit(self):
        key = "after-commit"
        self.start(crash="after_commit")
        self.crashed(lambda: self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY)))
        hold = self.auths(key)[0]["id"]
        self.assertFalse([e for e in self.events() if e["op"] != "authorize"])
        self.start()
        self.wait_for(lambda: any(e["op"] == "capture" and e["id"] == hold
                                  for e in self.events()), "the recovery's capture")
        st, h, j = self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY))
        self.assertEqual((st, h.get("idempotent-replayed")), (201, "true"), j)
        self.assertEqual(len(self.auths(key)), 1)
        self.srv.stop()
        self.check_invariant()

    def test_top_up_crash_after_authorize_then_retry(self):
        key = "top-up-crash"
        body = {"amount": "25.00", "payment": PAY}
        hdr = {"Idempotency-Key": key}
        self.start(crash="after_authorize")
        before = self.srv.balance(self.srv.customer_key)
        self.crashed(lambda: self.srv.request("POST", "/v1/account/funds",
                                              key=self.srv.customer_key, body=body, headers=hdr))
        self.start()
        st, _, j = self.srv.request("POST", "/v1/account/funds", key=self.srv.customer_key,
                                    body=body, headers=hdr)
        self.assertEqual(st, 201, j)
        self.assertEqual(j["charge"]["id"], self.auths(key)[0]["id"])
        self.assertEqual(len(self.auths(key)), 1)
        self.assertEqual(self.srv.balance(self.srv.customer_key), before + 25000)
        self.srv.stop()
        self.check_invariant()

    def test_auto_refill_crash_after_authorize_then_retry(self):
        key = "refill-crash"
        cust = self.srv.customer("refill@example.com", "1.00")
        self.start()
        st, _, pm = self.srv.request("POST", "/v1/payment-methods", key=cust, body={"card": CARD})
        self.assertEqual(st, 201, pm)
        st, _, j = self.srv.request("PUT", "/v1/account/auto-refill", key=cust,
                                    body={"enabled": True, "trigger": "5.00", "amount": "20.00",
                                          "payment_method_id": pm["id"]})
        self.assertEqual(st, 200, j)
        self.srv.stop()
        self.start(crash="after_authorize")
        self.crashed(lambda: self.srv.buy(cust, key, LETTER))
        first = self.auths(key)
        self.assertEqual([a["key"].split(":")[0] for a in first], ["auto_refill"], first)
        self.start()
        st, _, j = self.srv.buy(cust, key, LETTER)
        self.assertEqual(st, 201, j)
        self.assertEqual(j["payment"]["auto_refill"]["charge_id"], first[0]["id"])
        self.assertEqual(len(self.auths(key)), 1)
        self.assertEqual(self.srv.balance(cust), 1000 + 20000 - j["postage_mills"])
        self.srv.stop()
        self.check_invariant()

    def test_refund_crash_after_commit(self):
        key = "refund-crash"
        self.start()
        st, _, ind = self.srv.buy(self.srv.customer_key, key, dict(LETTER, payment=PAY))
        self.assertEqual(st, 201, ind)
        self.srv.stop()
        self.start(crash="refund_after_commit")
        self.crashed(lambda: self.srv.request("POST", "/v1/indicia/%s/refund" % ind["id"],
                                              key=self.srv.customer_key))
        self.assertFalse([e for e in self.events() if e["op"] == "refund"])
        self.start(extra=["--payment-recovery-after", "1"])
        self.wait_for(lambda: [e for e in self.events() if e["op"] == "refund"], "the refund")
        refunds = [e for e in self.events() if e["op"] == "refund"]
        self.assertEqual([(e["id"], e["amount"]) for e in refunds],
                         [(ind["payment"]["charge_id"], ind["postage_mills"])])
        st, _, again = self.srv.request("POST", "/v1/indicia/%s/refund" % ind["id"],
                                        key=self.srv.customer_key)
        self.assertEqual((st, again["status"]), (201, "approved"), again)
        time.sleep(1.5)  # a recovery round more pays nothing again
        self.assertEqual(len([e for e in self.events() if e["op"] == "refund"]), 1)
        self.srv.stop()
        self.check_invariant()


if __name__ == "__main__":
    harness.main()
