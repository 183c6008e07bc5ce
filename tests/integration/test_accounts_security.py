"""test_accounts_security.py - sign-up and sessions against an outsider (issue 12).

Sign-up is rate-limited per source address (stampd serve --signup-limit, 5 a
minute by default) and answers an email that has an account exactly like a
refused password: same status, body and time (docs/api.md, "Sign-up and
existing accounts"). Sessions: a customer lists its web sessions and ends
any of them (GET/DELETE /v1/account/sessions).
"""

import os
import statistics
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "correct horse battery"


def email(tag):
    return "%s-%d-%d@example.test" % (tag, os.getpid(), time.monotonic_ns())


class SignupLimit(unittest.TestCase):
    def test_sixth_signup_a_minute_from_one_address_is_rate_limited(self):
        srv = harness.Stampd("signup-limit")
        srv.init(psds=1)
        srv.start(processors=1)
        try:
            for i in range(5):
                st, _, j = srv.request("POST", "/v1/signup",
                                       body={"email": email("s%d" % i), "password": PASSWORD})
                self.assertEqual(st, 201, j)
            st, h, j = srv.request("POST", "/v1/signup",
                                   body={"email": email("s6"), "password": PASSWORD})
            self.assertEqual(st, 429, j)
            self.assertEqual(j["error"]["code"], "rate_limited", j)
            self.assertGreaterEqual(int(h["retry-after"]), 1, h)
            self.assertLessEqual(int(h["retry-after"]), 60, h)
            # Logins are counted apart: the budget spent on sign-ups does not lock the owner out.
            st, _, j = srv.request("POST", "/v1/login",
                                   body={"email": "demo@example.com", "password": "x" * 12})
            self.assertEqual((st, j["error"]["code"]), (401, "invalid_credentials"), j)
            srv.stop()
        finally:
            srv.abandon()


class SignupEnumeration(unittest.TestCase):
    def test_existing_email_answers_like_a_refused_password(self):
        srv = harness.Stampd("signup-enum")
        srv.init(psds=1)
        srv.start(processors=1)
        try:
            taken = email("taken")
            st, _, j = srv.request("POST", "/v1/signup", body={"email": taken, "password": PASSWORD})
            self.assertEqual(st, 201, j)

            def attempt(addr, pw):
                t0 = time.monotonic()
                st, h, j = srv.request("POST", "/v1/signup", body={"email": addr, "password": pw})
                return time.monotonic() - t0, st, h, j

            # The first refused password computes the server's dummy hash once;
            # a login (counted apart from sign-ups) does that before we time.
            srv.request("POST", "/v1/login", body={"email": email("warm"), "password": PASSWORD})
            weak, existing = [], []
            for i in range(2):  # five sign-ups in all: the default budget of a minute
                weak.append(attempt(email("new%d" % i), "short"))
                existing.append(attempt(taken.upper() if i % 2 else taken, "another long password"))
            for _, st, h, j in weak + existing:
                self.assertNotIn("set-cookie", h, j)
                self.assertEqual((st, j), (weak[0][1], weak[0][3]))
            self.assertEqual(weak[0][1], 400)
            self.assertEqual(weak[0][3]["error"]["code"], "signup_refused")
            self.assertEqual(weak[0][3]["error"]["field"], "password")
            self.assertIn("10 to 128", weak[0][3]["error"]["message"])
            # The same argon2id work either way: a refused password must not
            # answer measurably faster than a taken email.
            tw = statistics.median(t for t, *_ in weak)
            te = statistics.median(t for t, *_ in existing)
            self.assertGreater(tw, 0.5 * te, (tw, te))
            self.assertGreater(te, 0.5 * tw, (tw, te))
            srv.stop()
        finally:
            srv.abandon()


if __name__ == "__main__":
    harness.main()
