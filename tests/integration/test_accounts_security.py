"""test_accounts_security.py - sign-up and sessions against an outsider (issue 12).

Sign-up is rate-limited per source address (stampd serve --signup-limit, 5 a
minute by default) and answers an email that has an account exactly like a
refused password: same status, body and time (docs/api.md, "Sign-up and
existing accounts"). Sessions: a customer lists its web sessions and ends
any of them (GET/DELETE /v1/account/sessions).
"""

import contextlib
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


@contextlib.contextmanager
def server(name):
    """A fresh stampd serve with default limits, stopped cleanly after the block."""
    srv = harness.Stampd(name)
    srv.init(psds=1)
    srv.start(processors=1)
    try:
        yield srv
        srv.stop()
    finally:
        srv.abandon()


class SignupLimit(unittest.TestCase):
    def test_sixth_signup_a_minute_from_one_address_is_rate_limited(self):
        with server("signup-limit") as srv:
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


class SignupEnumeration(unittest.TestCase):
    def test_existing_email_answers_like_a_refused_password(self):
        with server("signup-enum") as srv:
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
                self.assertEqual((st, harness.without_request_id(j)),
                                 (weak[0][1], harness.without_request_id(weak[0][3])))
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



class Sessions(unittest.TestCase):
    def test_list_and_end_sessions(self):
        with server("sessions") as srv:
            addr = email("ses")
            st, h, j = srv.request("POST", "/v1/signup", body={
                "email": addr, "password": PASSWORD, "api_key": {"mode": "live"}})
            self.assertEqual(st, 201, j)
            live_key = j["api_key"]["key"]
            sessions = [(h["set-cookie"].split(";")[0], j["csrf_token"])]
            for _ in range(2):
                st, h, j = srv.request("POST", "/v1/login",
                                       body={"email": addr, "password": PASSWORD})
                self.assertEqual(st, 200, j)
                sessions.append((h["set-cookie"].split(";")[0], j["csrf_token"]))
            (a, _), (b, b_csrf), (c, c_csrf) = sessions

            def hdr(cookie, csrf=None):
                d = {"Cookie": cookie}
                if csrf:
                    d["X-CSRF-Token"] = csrf
                return d

            st, _, lst = srv.request("GET", "/v1/account/sessions", headers=hdr(c))
            self.assertEqual(st, 200, lst)
            self.assertEqual(lst["object"], "list")
            data = lst["data"]
            self.assertEqual(len(data), 3, data)
            self.assertEqual([d["current"] for d in data].count(True), 1, data)
            for d in data:
                self.assertEqual(set(d), {"id", "object", "created", "expires", "current"}, d)
                self.assertRegex(d["id"], r"^ses_[0-9a-f]{20}$")
                self.assertEqual(d["object"], "session")
            text = repr(lst)
            for cookie, csrf in sessions:  # no secret of any session in the list
                self.assertNotIn(cookie.split("=", 1)[1], text)
                self.assertNotIn(csrf, text)
            current = [d["id"] for d in data if d["current"]][0]

            # The other sessions, seen from b: end a's.
            st, _, lst_b = srv.request("GET", "/v1/account/sessions", headers=hdr(b))
            b_id = [d["id"] for d in lst_b["data"] if d["current"]][0]
            a_id = [d["id"] for d in data if d["id"] not in (current, b_id)][0]
            st, _, j = srv.request("DELETE", "/v1/account/sessions/" + a_id, headers=hdr(c))
            self.assertEqual((st, j["error"]["code"]), (403, "csrf_failed"), j)
            # Another customer cannot end (or find) them.
            other = srv.signup(email("other"))
            st, _, j = srv.request("DELETE", "/v1/account/sessions/" + a_id, key=other)
            self.assertEqual((st, j["error"]["code"]), (404, "not_found"), j)
            others = [d["id"] for d in srv.get_ok("/v1/account/sessions", other)["data"]]
            self.assertEqual(len(others), 1)  # its own sign-up's, none of ours
            self.assertFalse(set(others) & {d["id"] for d in data})
            st, h, j = srv.request("DELETE", "/v1/account/sessions/" + a_id,
                                   headers=hdr(c, c_csrf))
            self.assertEqual((st, j), (200, {"id": a_id, "object": "session", "ended": True}))
            self.assertNotIn("set-cookie", h)
            self.assertEqual(srv.request("GET", "/v1/session", headers=hdr(a))[0], 401)
            self.assertEqual(srv.request("GET", "/v1/session", headers=hdr(c))[0], 200)
            st, _, j = srv.request("DELETE", "/v1/account/sessions/" + a_id,
                                   headers=hdr(c, c_csrf))
            self.assertEqual((st, j["error"]["code"]), (404, "not_found"), j)

            # Ending the current one is logging out: the cookie is cleared.
            st, h, j = srv.request("DELETE", "/v1/account/sessions/" + current,
                                   headers=hdr(c, c_csrf))
            self.assertEqual(st, 200, j)
            self.assertIn("Max-Age=0", h["set-cookie"])
            self.assertEqual(srv.request("GET", "/v1/session", headers=hdr(c))[0], 401)

            # With an API key: the sessions left, none current; a key may end them too.
            left = srv.get_ok("/v1/account/sessions", live_key)["data"]
            self.assertEqual([(d["id"], d["current"]) for d in left], [(b_id, False)])
            st, _, test_key = srv.request("POST", "/v1/account/api-keys", key=live_key,
                                          body={"mode": "test"})
            self.assertEqual(st, 201, test_key)
            st, _, j = srv.request("DELETE", "/v1/account/sessions/" + b_id,
                                   key=test_key["key"])
            self.assertEqual((st, j["error"]["code"]), (403, "forbidden"), j)
            st, _, j = srv.request("DELETE", "/v1/account/sessions/" + b_id, key=live_key)
            self.assertEqual(st, 200, j)
            self.assertEqual(srv.request("GET", "/v1/session", headers=hdr(b, b_csrf))[0], 401)
            self.assertEqual(srv.get_ok("/v1/account/sessions", live_key)["data"], [])


if __name__ == "__main__":
    harness.main()
