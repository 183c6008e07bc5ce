"""test_threat_model.py - two promises of docs/security.md that no other test
checked: what a reader of the database finds of credentials, and what a
processor does with a request that is not signed right.

* An insider with the database (or a backup of it) finds no usable API key and
  no session cookie: the tables hold their SHA-256 hashes only. The test makes
  keys (stampd init, sign-up, POST /v1/account/api-keys) and a web session,
  stops the server, and searches the SQLite files byte for byte for each
  secret, and finds each one's hash (so the search looked in the right place).
* A `stampd processor` refuses a purchase that is unsigned, signed under
  another secret, signed over another body, or timed outside its 30 s window,
  with 401 and nothing written (docs/operations.md "Internal protocol"); a
  copy of a request it served is refused too (test_internal.py).

Environment: STAMPD_BIN, STAMPD_TEST_TMP. Standard library only.
"""

import glob
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
from test_internal import INTERNAL_PATH, customer_and_processor, forged  # noqa: E402
from test_scale_out import Cluster  # noqa: E402


class SecretsAtRest(unittest.TestCase):
    def test_tables_hold_only_hashes_of_keys_and_sessions(self):
        srv = harness.Stampd("at-rest").init(psds=1)
        srv.start()
        try:
            secrets = {"init's customer key": srv.customer_key,
                       "init's operator key": srv.operator_key}
            password = "correct horse battery"
            secrets["sign-up key"] = srv.signup("rest@example.com", password=password)
            st, _, j = srv.request("POST", "/v1/account/api-keys", key=srv.customer_key,
                                   body={"mode": "test", "name": "ci"})
            self.assertEqual(st, 201, j)
            secrets["minted test key"] = j["key"]
            st, hdrs, j = srv.request("POST", "/v1/login",
                                      body={"email": "rest@example.com", "password": password})
            self.assertEqual(st, 200, j)
            cookie = hdrs.get("set-cookie", "").split(";")[0]
            name, _, value = cookie.partition("=")
            self.assertEqual(name, "stampd_session", hdrs)
            self.assertGreaterEqual(len(value), 20, cookie)
            secrets["session cookie"] = value
            st, _, _ = srv.request("GET", "/v1/session", headers={"Cookie": cookie})
            self.assertEqual(st, 200)
        finally:
            srv.stop()
        path = srv.db[len("sqlite:"):]
        blob = b""
        for f in sorted(glob.glob(path + "*")):   # the database and its -wal / -shm
            with open(f, "rb") as fh:
                blob += fh.read()
        for what, secret in secrets.items():
            with self.subTest(what=what):
                self.assertNotIn(secret.encode(), blob, "the database holds the %s" % what)
                digest = hashlib.sha256(secret.encode()).hexdigest().encode()
                self.assertIn(digest, blob, "no SHA-256 hash of the %s either" % what)


def post(host, port, body, headers):
    # Over TLS with a front's certificate: what is tested here is the signature.
    conn = http.client.HTTPSConnection(host, port, timeout=harness.HTTP_TIMEOUT,
                                       context=harness.internal_ssl("front"))
    try:
        conn.request("POST", INTERNAL_PATH, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def signed(secret, data, at_ms, signed_data=None):
    msg = ("POST\n%s\n%d\n" % (INTERNAL_PATH, at_ms)).encode() + (signed_data or data)
    return {"Content-Type": "application/json", "X-Stampd-Time": str(at_ms),
            "X-Stampd-Signature": hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()}


class InternalRequests(unittest.TestCase):
    def test_unsigned_foreign_altered_and_stale_requests_refused(self):
        c = Cluster("unsigned", processors=1, psds=1)
        try:
            srv = c.srv
            key, cid, host, port = customer_and_processor(c, "target@example.com")
            before, psds_before = srv.balance(key), srv.psds()["psds"]
            data = json.dumps(forged(cid, "unsigned-1", 1, 10, 740)).encode()
            other = json.dumps(forged(cid, "unsigned-1", 1, 10, 1030)).encode()
            now = int(time.time() * 1000)
            cases = {
                "no signature": {"Content-Type": "application/json",
                                 "X-Stampd-Time": str(now)},
                "no time": {"Content-Type": "application/json",
                            "X-Stampd-Signature": signed(c.secret, data, now)
                            ["X-Stampd-Signature"]},
                "another secret": signed("0" * 64, data, now),
                "another body": signed(c.secret, data, now, signed_data=other),
                "60 s old": signed(c.secret, data, now - 60000),
                "60 s ahead": signed(c.secret, data, now + 60000),
            }
            for what, hdrs in cases.items():
                with self.subTest(what=what):
                    self.assertEqual(post(host, port, data, hdrs), 401, what)
            self.assertEqual(srv.balance(key), before)
            self.assertEqual(srv.list_all(key), [])
            self.assertEqual(srv.psds()["psds"], psds_before)
            # The same request signed right is taken: the refusals were the signature's.
            self.assertEqual(post(host, port, data, signed(c.secret, data,
                                                           int(time.time() * 1000))), 200)
            self.assertEqual(srv.balance(key), before - 740)
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
