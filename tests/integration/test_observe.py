"""test_observe.py - logs and request ids (issue 16, "Observe"; docs/operations.md, "Logs").

A run of requests - API calls with keys, a sign-up and a login with a
password, purchases paid by card, errors, 404s, web files - against a server
started with --log-format json: every line of its log is JSON, with a time
and a level; there is one access line per request, carrying the request's
X-Request-Id; and no API key, password or card number is anywhere in it.
In text, every line starts with a timestamp and a level; under systemd
(JOURNAL_STREAM names stderr) with journald's "<N>" level prefix instead.
Every answer - JSON, a web file, an error, a 404 - has an X-Request-Id: the
proxy's when it is sane, else a new one; error bodies carry it as
error.request_id; a purchase through `stampd front` reaches the processor
with the same id, so both logs name it.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

PASSWORD = "correct horse battery staple"
CARD = "4242424242424242"
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107", "to_zip": "10001"}
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warning|info|debug) \S")
REQUEST_ID = re.compile(r"^req_[a-z0-9]{20}$")


def card(number=CARD):
    return {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123", "zip": "94107"}


def access_lines(text):
    """The JSON access lines of a log, in order."""
    out = []
    for line in text.splitlines():
        j = json.loads(line)
        if j.get("msg") == "access":
            out.append(j)
    return out


class Session:
    """Requests that remember what they sent: (method, path, request id)."""

    def __init__(self, srv):
        self.srv = srv
        self.sent = []

    def req(self, method, path, **kw):
        st, h, j = self.srv.request(method, path, **kw)
        self.sent.append((method, path.split("?")[0], h.get("x-request-id"), st, j))
        return st, h, j


class JsonLog(unittest.TestCase):
    def test_every_line_json_one_access_line_per_request_no_secret(self):
        srv = harness.Stampd("obs-json").init(psds=2)
        srv.start(processors=1, extra=["--log-format", "json"])
        try:
            s = Session(srv)
            ck, ok = srv.customer_key, srv.operator_key
            st, _, j = s.req("POST", "/v1/signup", body={
                "email": "log@example.com", "password": PASSWORD, "api_key": {"mode": "test"}})
            self.assertEqual(st, 201, j)
            test_key = j["api_key"]["key"]
            st, _, j = s.req("POST", "/v1/login",
                             body={"email": "log@example.com", "password": PASSWORD})
            self.assertEqual(st, 200, j)
            st, _, j = s.req("POST", "/v1/login",
                             body={"email": "log@example.com", "password": PASSWORD + "x"})
            self.assertEqual(st, 401, j)
            for i in range(3):
                st, _, j = s.req("POST", "/v1/indicia?token=query-secret", key=ck, body=LETTER,
                                 headers={"Idempotency-Key": "obs-%d" % i})
                self.assertEqual(st, 201, j)
            st, _, j = s.req("POST", "/v1/indicia", key=test_key,
                             body=dict(LETTER, payment={"method": "card", "card": card()}),
                             headers={"Idempotency-Key": "obs-card"})
            self.assertEqual(st, 201, j)
            st, _, j = s.req("POST", "/v1/indicia", key=test_key,
                             body=dict(LETTER, payment={"method": "card",
                                                        "card": card("4242424242424241")}),
                             headers={"Idempotency-Key": "obs-bad-card"})
            self.assertEqual(st, 400, j)
            s.req("GET", "/v1/account", key=ck)
            s.req("GET", "/v1/admin/affiliates", key=ok)
            s.req("GET", "/v1/account", key="sk_live_" + "x" * 32)   # a wrong key
            s.req("GET", "/v1/no-such-thing", key=ck)
            s.req("GET", "/no-such-file")
            s.req("GET", "/")
            s.req("GET", "/healthz")
            s.req("DELETE", "/healthz")
            s.req("POST", "/v1/indicia", key=ck, raw="{not json")
            err = srv.stop()
        finally:
            srv.abandon()
        lines = err.splitlines()
        self.assertTrue(lines)
        for line in lines:
            j = json.loads(line)   # every line parses
            self.assertRegex(j["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
            self.assertIn(j["level"], ("error", "warning", "info", "debug"))
            self.assertIsInstance(j["msg"], str)
        acc = access_lines(err)
        self.assertEqual(len(acc), len(s.sent), "\n".join(map(str, acc)))
        by_id = {a["request_id"]: a for a in acc}
        self.assertEqual(len(by_id), len(acc), "request ids repeat")
        for method, path, rid, status, _ in s.sent:
            self.assertRegex(rid or "", REQUEST_ID)
            a = by_id[rid]
            self.assertEqual((a["method"], a["path"], a["status"]), (method, path, status), a)
            self.assertGreaterEqual(a["duration_ms"], 0)
            self.assertEqual(a["remote"], "127.0.0.1")
        # Who called: a key's public prefix and its account, never the key.
        buys = [a for a in acc if a["path"] == "/v1/indicia" and a["status"] == 201]
        self.assertEqual(len(buys), 4)
        self.assertEqual(buys[0]["auth"], srv.customer_key[:12])
        self.assertTrue(buys[0]["owner"].startswith("cus_"), buys[0])
        self.assertEqual(buys[0]["route"], "/v1/indicia")
        self.assertEqual([a.get("error") for a in acc if a["status"] == 404],
                         ["not_found", "not_found"])
        for secret in (srv.customer_key, srv.operator_key, test_key, PASSWORD, CARD,
                       "4242424242424241", "query-secret", "x" * 32, srv.customer_key[12:]):
            self.assertNotIn(secret, err)


class TextLog(unittest.TestCase):
    def test_text_lines_have_time_and_level(self):
        srv = harness.Stampd("obs-text").init(psds=1)
        srv.start(processors=1)
        try:
            st, h, _ = srv.request("GET", "/v1/account", key=srv.customer_key)
            self.assertEqual(st, 200)
            err = srv.stop()
        finally:
            srv.abandon()
        lines = err.splitlines()
        for line in lines:
            self.assertRegex(line, TEXT_LINE)
        acc = [x for x in lines if " info access " in x]
        self.assertEqual(len(acc), 1, err)
        self.assertIn(" request_id=%s " % h["x-request-id"], acc[0])
        self.assertIn(" method=GET path=/v1/account route=/v1/account status=200 ", acc[0])
        self.assertNotIn(srv.customer_key, err)

    def test_under_systemd_lines_carry_journald_levels(self):
        srv = harness.Stampd("obs-journal").init(psds=1)
        path = os.path.join(srv.dir, "journal.stderr")
        with open(path, "wb") as errf:
            st = os.fstat(errf.fileno())
            env = harness.stampd_env()
            env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            p = subprocess.Popen([harness.STAMPD_BIN, "serve", "--db", srv.db, "--listen",
                                  "127.0.0.1:0", "--processors", "1"], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.DEVNULL, stderr=errf, env=env)
        try:
            deadline = time.monotonic() + harness.START_TIMEOUT
            m = None
            while m is None and time.monotonic() < deadline and p.poll() is None:
                time.sleep(0.05)
                m = harness.LISTENING.search(srv.stderr_text(path))
            self.assertIsNotNone(m, srv.stderr_text(path))
            srv.host, srv.port = m.group(2), int(m.group(3))
            srv.request("GET", "/healthz")
        finally:
            p.terminate()
            self.assertEqual(p.wait(timeout=harness.STOP_TIMEOUT), 0)
        err = srv.stderr_text(path)
        harness.assert_no_sanitizer(err, "stampd serve")
        lines = err.splitlines()
        for line in lines:
            self.assertRegex(line, r"^<[3467]>\S")
            self.assertNotRegex(line, r"^<\d>\d{4}-")
        self.assertIn("<4>live card payments go to the sandbox gateway", err)
        self.assertRegex(err, r"(?m)^<6>listening on http://")
        self.assertRegex(err, r"(?m)^<6>access request_id=req_\S+ method=GET path=/healthz ")


    def test_log_level_warning_drops_access_lines_and_bad_level_refused(self):
        srv = harness.Stampd("obs-level").init(psds=1)
        url = harness.closed_port_url()
        p = subprocess.Popen([harness.STAMPD_BIN, "serve", "--db", srv.db, "--listen",
                              url[len("http://"):], "--processors", "1",
                              "--log-level", "warning"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env=harness.stampd_env())
        try:
            st = None
            for _ in range(300):
                try:
                    c = http.client.HTTPConnection(url[len("http://"):], timeout=10)
                    c.request("GET", "/v1/account",
                              headers={"Authorization": "Bearer " + srv.customer_key})
                    st = c.getresponse().status
                    c.close()
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertEqual(st, 200)
        finally:
            p.terminate()
            err = p.communicate(timeout=60)[1].decode()
        self.assertEqual(p.returncode, 0, err)
        self.assertNotIn(" info ", err)
        self.assertNotIn("access", err)
        p = subprocess.run([harness.STAMPD_BIN, "serve", "--db", "sqlite::memory:", "--log-level",
                            "chatty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=harness.stampd_env(), timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--log-level takes error, warning, info or debug", p.stderr.decode())


class RequestId(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("obs-rid").init(psds=1)
        cls.srv.start(processors=1)

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.abandon()

    def test_every_answer_has_one_and_errors_name_it(self):
        srv = self.srv
        cases = [("GET", "/v1/account", srv.customer_key, 200),
                 ("GET", "/", None, 200),
                 ("GET", "/healthz", None, 200),
                 ("GET", "/no-such-file", None, 404),
                 ("GET", "/v1/no-such-thing", srv.customer_key, 404),
                 ("GET", "/v1/account", None, 401),
                 ("DELETE", "/healthz", None, 405),
                 ("GET", "/v1/admin/affiliates", srv.customer_key, 403)]
        seen = set()
        for method, path, key, status in cases:
            with self.subTest(path=path, method=method):
                st, h, j = srv.request(method, path, key=key)
                self.assertEqual(st, status, j)
                rid = h.get("x-request-id")
                self.assertRegex(rid or "", REQUEST_ID)
                self.assertNotIn(rid, seen)
                seen.add(rid)
                if status >= 400:
                    self.assertEqual(j["error"]["request_id"], rid, j)

    def test_a_proxys_sane_id_is_kept_an_insane_one_replaced(self):
        srv = self.srv
        for given, kept in (("abc-123", True), ("0f8c2e1a-4d5b-4c7e-9a3b-2f6e8d1c0b9a", True),
                            ("x" * 64, True), ("x" * 65, False), ("has space", False),
                            ('quo"te', False), ("back\\slash", False)):
            with self.subTest(given=given):
                st, h, j = srv.request("GET", "/v1/no-such-thing", key=srv.customer_key,
                                       headers={"X-Request-Id": given})
                self.assertEqual(st, 404)
                if kept:
                    self.assertEqual(h["x-request-id"], given)
                else:
                    self.assertRegex(h["x-request-id"], REQUEST_ID)
                self.assertEqual(j["error"]["request_id"], h["x-request-id"])
        text = srv.stderr_text()
        self.assertIn(" request_id=abc-123 method=GET path=/v1/no-such-thing ", text)
        self.assertNotIn("has space", text)


class FrontToProcessor(unittest.TestCase):
    def test_b_a_processor_serves_its_own_counters_to_the_metrics_token(self):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import test_scale_out
        token = "prom-" + "p0c3ss" * 5
        holder = {}

        class Metered(test_scale_out.Cluster):
            def processor_tls(self, pid):
                path = os.path.join(self.srv.dir, "metrics.token")
                with open(path, "w") as f:
                    f.write(token + "\n")
                os.chmod(path, 0o600)
                holder["path"] = path
                return super().processor_tls(pid) + ["--metrics-token-file", path]

        c = Metered("obs-procmetrics", processors=1, psds=2)
        try:
            for i in range(3):
                st, _, j = c.srv.buy(c.srv.customer_key, "obs-pm-%d" % i, LETTER)
                self.assertEqual(st, 201, j)
            _, path, host, port = c.procs["p1"]
            text = c.srv.stderr_text(path)
            # Prometheus holds a certificate of the internal CA (here the front's) and the token.
            ctx = harness.internal_ssl("front")

            def get(auth):
                conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=30)
                conn.request("GET", "/metrics", headers={"Authorization": auth} if auth else {})
                r = conn.getresponse()
                body = r.read().decode()
                conn.close()
                return r.status, body
            st, body = get("Bearer " + token)
            self.assertEqual(st, 200, body)
            self.assertRegex(body, r'(?m)^stampd_process_purchases_total\{processor="p1"\} 3$')
            self.assertRegex(body, r"(?m)^stampd_batch_size_count [1-3]$")
            self.assertRegex(body, r'(?m)^stampd_build_info\{version="[^"]+"\} 1$')
            self.assertNotIn("stampd_postal_deposit_mills", body)   # the front's, from the DB
            # The processor's own checkpointer on SQLite (its writers' holds); PostgreSQL's
            # server checkpoints, so none there.
            if c.srv.db.startswith("sqlite:"):
                self.assertRegex(body, r"(?m)^stampd_store_checkpoint_hold_seconds_count 0$")
                self.assertRegex(body, r"(?m)^stampd_store_checkpoints_total 0$")
            else:
                self.assertNotIn("stampd_store_checkpoint", body)
            for auth in (None, "Bearer " + token + "x", "Bearer " + c.srv.operator_key):
                st, body = get(auth)
                self.assertEqual(st, 401, body)
            self.assertNotIn(token, c.srv.stderr_text(path)[len(text):])
        finally:
            c.stop()

    def test_a_purchase_has_the_same_id_in_the_front_and_the_processor(self):
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import test_scale_out
        c = test_scale_out.Cluster("obs-cluster", processors=1, psds=2)
        try:
            st, h, j = c.srv.buy(c.srv.customer_key, "obs-front-1",
                                 dict(LETTER, mail_class="postcard"))
            self.assertEqual(st, 201, j)
            rid = h["x-request-id"]
            st, h2, j = c.srv.request("POST", "/v1/indicia", key=c.srv.customer_key,
                                      body=dict(LETTER, mail_class="postcard"),
                                      headers={"Idempotency-Key": "obs-front-2",
                                               "X-Request-Id": "proxy-rid-42"})
            self.assertEqual(st, 201, j)
            self.assertEqual(h2["x-request-id"], "proxy-rid-42")
            front = c.srv.stderr_text(c.front[1])
            proc = c.srv.stderr_text(c.procs["p1"][1])
            for r in (rid, "proxy-rid-42"):
                self.assertRegex(front, r"(?m) access request_id=%s method=POST path=/v1/indicia "
                                 % re.escape(r))
                self.assertRegex(proc, r"(?m) access request_id=%s method=POST "
                                 r"path=/internal/" % re.escape(r))
        finally:
            c.stop()


class Metrics(unittest.TestCase):
    """GET /metrics: the process's own counters, and Prometheus's own token."""

    TOKEN = "prom-" + "t0k3n" * 6

    def start(self, name, token=TOKEN, mode=0o600):
        srv = harness.Stampd(name).init(psds=2)
        path = os.path.join(srv.dir, "metrics.token")
        with open(path, "w") as f:
            f.write(token + "\n")
        os.chmod(path, mode)
        return srv, path

    def test_counters_by_route_pattern_and_the_metrics_token(self):
        srv, path = self.start("obs-metrics")
        srv.start(processors=1, extra=["--metrics-token-file", path])
        try:
            ck = srv.customer_key
            st, _, j = srv.buy(ck, "m-1", LETTER)
            self.assertEqual(st, 201, j)
            st, _, _ = srv.request("GET", "/v1/indicia/" + j["id"], key=ck)
            self.assertEqual(st, 200)
            srv.request("GET", "/v1/no-such-thing", key=ck)
            st, _, j = srv.request("POST", "/v1/signup", body={
                "email": "m@example.com", "password": PASSWORD, "api_key": {"mode": "test"}})
            test_key = j["api_key"]["key"]
            st, _, j = srv.buy(test_key, "m-declined", dict(LETTER, payment={
                "method": "card", "card": card("4000000000000002")}))
            self.assertEqual((st, j["error"]["code"]), (402, "card_declined"), j)
            # The token reaches /metrics and nothing else; keys work as before.
            st, _, j = srv.request("GET", "/v1/account", key=self.TOKEN)
            self.assertEqual(st, 401, j)
            st, _, j = srv.request("GET", "/v1/admin/servers", key=self.TOKEN)
            self.assertEqual(st, 401, j)
            st, _, j = srv.request("GET", "/metrics", key=self.TOKEN[:-1] + "x")
            self.assertEqual(st, 401, j)
            st, _, j = srv.request("GET", "/metrics", key=ck)
            self.assertEqual(st, 403, j)
            st, text = self.scrape(srv, srv.operator_key)
            self.assertEqual(st, 200, text)
            st, text = self.scrape(srv, self.TOKEN)
            self.assertEqual(st, 200, text)
            log = srv.stop()
        finally:
            srv.abandon()
        self.assertNotIn(self.TOKEN, log)
        self.assertIn(" auth=metrics-token ", log)
        self.assertRegex(text, r'(?m)^stampd_build_info\{version="[^"]+"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_http_requests_total\{route="/v1/indicia",'
                               r'method="POST",status="2xx"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_http_requests_total\{route="/v1/indicia/\{any\}",'
                               r'method="GET",status="2xx"\} 1$')
        self.assertNotRegex(text, r"ind_[a-z0-9]{10}")   # patterns, never raw paths
        self.assertRegex(text, r'(?m)^stampd_http_request_duration_seconds_bucket\{route='
                               r'"/v1/indicia",method="POST",status="2xx",le="\+Inf"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_purchase_duration_seconds_count 2$')
        self.assertRegex(text, r'(?m)^stampd_batch_size_count [1-9]')
        self.assertRegex(text, r'(?m)^stampd_errors_total\{code="not_found"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_errors_total\{code="card_declined"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_card_declines_total\{decline_code="[a-z_]+"\} 1$')
        self.assertRegex(text, r'(?m)^stampd_ratelimit_lockouts_total 0$')
        # The SQLite file's checkpointer: its runs, inline catch-ups, holds on the writers
        # (none yet: it starts once the log passes 16 MB).
        self.assertRegex(text, r'(?m)^stampd_store_checkpoints_total 0$')
        self.assertRegex(text, r'(?m)^stampd_store_checkpoints_inline_total 0$')
        self.assertRegex(text, r'(?m)^stampd_store_checkpoint_hold_seconds_bucket'
                               r'\{le="0\.01"\} 0$')
        self.assertRegex(text, r'(?m)^stampd_store_checkpoint_hold_seconds_bucket'
                               r'\{le="\+Inf"\} 0$')
        self.assertRegex(text, r'(?m)^stampd_store_checkpoint_hold_seconds_count 0$')
        # Every sample line is name{labels} value.
        for line in text.splitlines():
            if line and not line.startswith("#"):
                self.assertRegex(line, r'^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? '
                                       r'-?[0-9.e+-]+$')

    def scrape(self, srv, key):
        import http.client
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=harness.HTTP_TIMEOUT)
        try:
            conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + key})
            resp = conn.getresponse()
            return resp.status, resp.read().decode()
        finally:
            conn.close()

    def test_a_loose_or_short_token_file_is_refused(self):
        for name, token, mode in (("obs-mt-loose", self.TOKEN, 0o644),
                                  ("obs-mt-short", "short", 0o600)):
            with self.subTest(name=name):
                srv, path = self.start(name, token, mode)
                p = subprocess.run([harness.STAMPD_BIN, "serve", "--db", srv.db, "--listen",
                                    "127.0.0.1:0", "--metrics-token-file", path],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, env=harness.stampd_env(),
                                   timeout=60)
                self.assertNotEqual(p.returncode, 0)
                self.assertIn("--metrics-token-file", p.stderr.decode())
                self.assertNotIn(token, p.stderr.decode())


if __name__ == "__main__":
    harness.main()
