"""cardjournal.py - what the card-payment crash tests share (test_payment_intents,
test_payment_groups): a first-class letter paid by the sandbox's test card, starting
the server at a crash point, reading the sandbox gateway's journal, and the journal's
invariant - each approved hold captured or voided exactly once, each capture a charge
stampd recorded (a purchase's with its indicium), no client key captured twice.

A mixin for unittest.TestCase: the test's setUp sets self.srv (harness.Stampd) and
self.journal (the gateway journal's path); LATENCY_MS, when set, is passed as
--gateway-latency.
"""

import collections
import json
import os
import sqlite3
import time

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}
PAY = {"method": "card", "card": CARD}


class CardJournal:
    LATENCY_MS = None

    def start(self, crash=None, extra=()):
        if crash:
            os.environ["STAMPD_CRASH_POINT"] = crash
        lat = ["--gateway-latency", str(self.LATENCY_MS)] if self.LATENCY_MS else []
        try:
            self.srv.start(processors=1, extra=lat + list(extra))
        finally:
            os.environ.pop("STAMPD_CRASH_POINT", None)

    def events(self):
        with open(self.journal) as f:
            text = f.read()
        # The sandbox may be appending (captures follow the answers): a last line without
        # its newline is not whole yet.
        return [json.loads(line) for line in text.split("\n")[:-1] if line.strip()]

    def wait_for(self, pred, what, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred():
                return
            time.sleep(0.2)
        self.fail("not within %ds: %s\njournal:\n%s" % (timeout, what, self.events()))

    def check_invariant(self):
        """Each approved hold captured or voided exactly once; each capture a recorded
        charge (a purchase's with its indicium); each client key captured at most once.
        Returns the approved holds and the recorded charges."""
        ev = self.events()
        approved = {e["id"]: e for e in ev if e["op"] == "authorize" and e["result"] == "approved"}
        ends = collections.Counter((e["op"], e["id"]) for e in ev if e["op"] in ("capture", "void"))
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        try:
            charges = dict(db.execute("SELECT id, ref FROM charges").fetchall())
            indicia = {r[0] for r in db.execute("SELECT id FROM indicia")}
        finally:
            db.close()
        captured_per_key = collections.Counter()
        for cid, a in approved.items():
            cap, void = ends[("capture", cid)], ends[("void", cid)]
            self.assertIn((cap, void), ((1, 0), (0, 1)),
                          "hold %s: %d captures, %d voids" % (cid, cap, void))
            if cap:
                self.assertIn(cid, charges, "captured %s without its charge" % cid)
                if a["key"].startswith("purchase:"):
                    self.assertIn(charges[cid], indicia, "charge %s without its indicium" % cid)
                client = a["key"].rsplit(":", 1)[0]  # kind:owner:client key, no attempt
                captured_per_key[client] += 1
        for client, n in captured_per_key.items():
            self.assertEqual(n, 1, "%s captured %d times" % (client, n))
        for cid in charges:
            self.assertIn(cid, approved, "charge %s the gateway never approved" % cid)
        return approved, charges, ends
