"""test_internal.py - the front -> processor channel as an insider attacks it.

Issue 12, finding 1: a holder of the internal secret could post a signed
POST /internal/v1/purchase with postage_mills 1 for a 13 oz large envelope
straight to a `stampd processor`, and it was signed. Here a real processor
(with a real front beside it, over one database) gets exactly that forged
request and must refuse it with postage_mismatch, writing nothing; the same
forged request priced right is signed, which shows the refusal is the
price's and not the signature's.
"""

import datetime
import hashlib
import hmac
import http.client
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_scale_out import Cluster  # noqa: E402

INTERNAL_PATH = "/internal/v1/purchase"


def internal_secret(c):
    """The secret the cluster's front and processors share: today in the
    config table, where every database reader finds it."""
    import sqlite3
    db = sqlite3.connect(c.srv.db[len("sqlite:"):])
    try:
        return db.execute("SELECT value FROM config WHERE key = 'internal_secret'").fetchone()[0]
    finally:
        db.close()


def forged(customer_id, idem, mail_class, weight_tenth_oz, postage_mills, mail_date=None):
    """A purchase as the front would send it (internal.c pv_req_to_json)."""
    day = mail_date or int(datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d"))
    return {"customer_id": customer_id, "idem_key": idem, "req_hash": "f" * 64,
            "mail_class": mail_class, "weight_tenth_oz": weight_tenth_oz, "mail_date": day,
            "from_zip": "94107", "to_zip": "10001", "medium_serial": "", "from_address": "",
            "to_address": "", "flags": 0, "postage_mills": postage_mills, "test": False,
            "commit_medium": False,
            "pay": {"method": 0, "source": "", "payment_method_id": "", "brand": "",
                    "last4": ""}}


def post_signed(host, port, secret, body):
    """POST body to a processor, signed as a front signs (HMAC-SHA256 over
    METHOD\\nPATH\\nTIME\\nBODY). Returns (status, parsed JSON)."""
    data = json.dumps(body).encode()
    now = str(int(time.time() * 1000))
    msg = ("POST\n%s\n%s\n" % (INTERNAL_PATH, now)).encode() + data
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    conn = http.client.HTTPConnection(host, port, timeout=harness.HTTP_TIMEOUT)
    try:
        conn.request("POST", INTERNAL_PATH, body=data, headers={
            "Content-Type": "application/json", "X-Stampd-Time": now,
            "X-Stampd-Signature": sig})
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, (json.loads(payload) if payload else None)
    finally:
        conn.close()


class InternalChannel(unittest.TestCase):
    def test_processor_prices_forged_purchase(self):
        c = Cluster("forge", processors=1, psds=2)
        try:
            srv = c.srv
            key = srv.customer("victim@example.com", 100)
            cid = srv.get_ok("/v1/account", key)["id"]
            _, _, host, port = c.procs["p1"]
            secret = internal_secret(c)
            before = srv.balance(key)
            psds_before = srv.psds()["psds"]

            # A 13 oz large envelope (4.870) at 0.001: refused, nothing written.
            st, j = post_signed(host, port, secret, forged(cid, "forge-1", 3, 130, 1))
            self.assertEqual(st, 200, j)
            self.assertEqual(j["code"], "postage_mismatch", j)
            self.assertNotIn("indicium", j)
            # A mail date outside the window the front allows: refused too.
            st, j = post_signed(host, port, secret,
                                forged(cid, "forge-2", 1, 10, 740, mail_date=20250801))
            self.assertEqual((st, j["code"]), (200, "invalid_mail_date"), j)
            self.assertEqual(srv.balance(key), before)
            self.assertEqual(srv.list_all(key), [])
            self.assertEqual(srv.psds()["psds"], psds_before)
            # The key was not burnt: the same key, priced right, is signed and verifies.
            st, j = post_signed(host, port, secret, forged(cid, "forge-1", 3, 130, 4870))
            self.assertEqual((st, j["code"]), (200, "ok"), j)
            self.assertEqual(srv.balance(key), before - 4870)
            s, _, v = srv.request("POST", "/v1/verify", {"data": j["indicium"]["data"]},
                                  key=srv.operator_key)
            self.assertTrue(s == 200 and v["valid"], v)
            self.assertEqual(v["fields"]["postage_mills"], 4870, v)
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
