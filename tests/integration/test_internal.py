"""test_internal.py - the front -> processor channel as an insider attacks it.

The secret: it is not in the database after `stampd init` or `stampd
migrate` (an older database's row is deleted, and migrate says so); `stampd
secret generate` writes it with mode 0600; `stampd front` and `stampd
processor` refuse to start without it, with a file group or others may read,
or with both a file and STAMPD_INTERNAL_SECRET.

The price:
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
import http.server
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_scale_out import Cluster  # noqa: E402

INTERNAL_PATH = "/internal/v1/purchase"


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


def sign(secret, data, now):
    """The front's signature (HMAC-SHA256 over METHOD\\nPATH\\nTIME\\nBODY)."""
    msg = ("POST\n%s\n%s\n" % (INTERNAL_PATH, now)).encode() + data
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def post_raw(host, port, path, data, now, sig):
    """POST data with X-Stampd-Time now and X-Stampd-Signature sig over TLS
    with the front's certificate. Returns (status, body bytes, answer's
    X-Stampd-Signature)."""
    conn = http.client.HTTPSConnection(host, port, timeout=harness.HTTP_TIMEOUT,
                                       context=harness.internal_ssl("front"))
    try:
        conn.request("POST", path, body=data, headers={
            "Content-Type": "application/json", "X-Stampd-Time": now,
            "X-Stampd-Signature": sig})
        resp = conn.getresponse()
        return resp.status, resp.read(), resp.getheader("X-Stampd-Signature")
    finally:
        conn.close()


def post_signed(host, port, secret, body, signed=None):
    """POST body to a processor, signed as a front signs (or with signed, a
    (time, signature) pair to send again), over TLS with the front's
    certificate: an insider holding both. Returns (status, parsed JSON)."""
    data = json.dumps(body).encode()
    now, sig = signed or (None, None)
    if not signed:
        now = str(int(time.time() * 1000))
        sig = sign(secret, data, now)
    status, payload, _ = post_raw(host, port, INTERNAL_PATH, data, now, sig)
    return status, (json.loads(payload) if payload else None)


def customer_and_processor(c, email):
    """A new customer with $100 on Cluster c, and where c's processor p1 listens:
    (key, customer id, host, port)."""
    key = c.srv.customer(email, 100)
    _, _, host, port = c.procs["p1"]
    return key, c.srv.get_ok("/v1/account", key)["id"], host, port


def config_keys(srv):
    """The keys of the config table of srv's SQLite database."""
    db = sqlite3.connect(srv.db[len("sqlite:"):])
    try:
        return {k for (k,) in db.execute("SELECT key FROM config")}
    finally:
        db.close()


def run_server(srv, mode, extra=(), env_secret=None, timeout=20):
    """`stampd MODE` that must refuse to start: (exit status, stderr). A server
    that starts anyway is killed and reported as None."""
    env = harness.stampd_env()
    env.pop("STAMPD_INTERNAL_SECRET", None)
    if env_secret is not None:
        env["STAMPD_INTERNAL_SECRET"] = env_secret
    p = subprocess.Popen([harness.STAMPD_BIN, mode, "--db", srv.db, "--listen", "127.0.0.1:0"]
                         + list(extra), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, env=env)
    try:
        _, err = p.communicate(timeout=timeout)
        return p.returncode, err.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        p.terminate()
        _, err = p.communicate()
        return None, err.decode("utf-8", "replace")


class TamperProxy:
    """Between a front and a processor (the processor advertises the proxy's
    address): forwards each post, then answers per mode - "pass": the
    processor's answer as is; "forge": its body with balance_mills changed,
    its signature kept; "strip": that forged body with no signature;
    "error": a made-up 402 insufficient_funds error, unsigned; "restatus":
    the processor's body and signature under status 400.

    It speaks TLS on both sides with certificates of the internal CA (an
    insider on the network who stole a processor's and a front's keys, but
    not the internal secret); server_ssl lets it present another one."""

    def __init__(self, server_ssl=None):
        self.mode = "pass"
        self.target = None
        self.posts = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                proxy.posts += 1
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hdrs = {k: self.headers[k] for k in ("Content-Type", "X-Stampd-Time",
                                                     "X-Stampd-Signature") if k in self.headers}
                conn = http.client.HTTPSConnection(*proxy.target, timeout=harness.HTTP_TIMEOUT,
                                                   context=harness.internal_ssl("front"))
                try:
                    conn.request("POST", self.path, body=data, headers=hdrs)
                    resp = conn.getresponse()
                    status, body = resp.status, resp.read()
                    sig = resp.getheader("X-Stampd-Signature")
                finally:
                    conn.close()
                if proxy.mode in ("forge", "strip") and status == 200:
                    j = json.loads(body)
                    j["balance_mills"] = 987654321
                    body = json.dumps(j).encode()
                    if proxy.mode == "strip":
                        sig = None
                elif proxy.mode == "error":
                    status, sig = 402, None
                    body = json.dumps({"error": {"code": "insufficient_funds",
                                                 "message": "forged by the proxy 987654321"}}
                                      ).encode()
                elif proxy.mode == "restatus":
                    status = 400
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if sig:
                    self.send_header("X-Stampd-Signature", sig)
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = server_ssl or harness.internal_ssl("processor", server=True)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class ProxiedCluster(Cluster):
    """A Cluster whose processors are reached through one TamperProxy."""

    def __init__(self, name, proxy, **kw):
        self.proxy = proxy
        super().__init__(name, **kw)

    def start_processor(self, pid):
        args = ["processor", "--db", self.srv.db, "--listen", "127.0.0.1:0", "--id", pid,
                "--internal-secret-file", self.secret_file,
                "--advertise", "https://127.0.0.1:%d" % self.proxy.port] + self.processor_tls(pid)
        self.procs[pid] = self._spawn(pid, args)
        self.proxy.target = self.procs[pid][2:4]


class Secret(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("secret")
        cls.srv.init(psds=1)

    def test_not_in_database_after_init_and_migrate(self):
        srv = self.srv
        self.assertNotIn("internal_secret", config_keys(srv))
        # A database of an older stampd kept it in plain text: migrate deletes it.
        db = sqlite3.connect(srv.db[len("sqlite:"):])
        db.execute("INSERT INTO config(key, value) VALUES ('internal_secret', 'ab' || hex(randomblob(31)))")
        db.commit()
        db.close()
        _, _, err = srv.run("migrate", "--db", srv.db)
        self.assertIn("deleted the internal secret", err)
        self.assertNotIn("internal_secret", config_keys(srv))
        _, _, err = srv.run("migrate", "--db", srv.db)
        self.assertNotIn("internal secret", err)

    def test_generate_writes_0600_and_never_overwrites(self):
        path, secret = self.srv.internal_secret()
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertRegex(secret, r"^[0-9a-f]{64}$")
        rc, _, err = self.srv.run("secret", "generate", "--internal-secret-file", path,
                                  check=False)
        self.assertNotEqual(rc, 0)
        self.assertIn("exists", err)
        with open(path) as f:
            self.assertEqual(f.read().strip(), secret)

    def test_front_and_processor_refuse_to_start_without_it(self):
        for mode in ("processor", "front"):
            rc, err = run_server(self.srv, mode)
            self.assertIsNotNone(rc, "%s started without an internal secret:\n%s" % (mode, err))
            self.assertNotEqual(rc, 0)
            self.assertIn("--internal-secret-file", err)
            self.assertIn("STAMPD_INTERNAL_SECRET", err)

    def test_loose_file_short_secret_and_two_sources_refused(self):
        path, secret = self.srv.internal_secret()
        loose = os.path.join(self.srv.dir, "loose.secret")
        with open(loose, "w") as f:
            f.write(secret + "\n")
        os.chmod(loose, 0o640)
        rc, err = run_server(self.srv, "processor", ["--internal-secret-file", loose])
        self.assertIsNotNone(rc, err)
        self.assertNotEqual(rc, 0)
        self.assertIn("group or others", err)
        rc, err = run_server(self.srv, "processor", env_secret="short")
        self.assertIsNotNone(rc, err)
        self.assertIn("32", err)
        rc, err = run_server(self.srv, "front", ["--internal-secret-file", path],
                             env_secret=secret)
        self.assertIsNotNone(rc, err)
        self.assertIn("not both", err)
        # serve runs front and processors in one process: it takes no secret.
        rc, err = run_server(self.srv, "serve", ["--internal-secret-file", path])
        self.assertEqual(rc, 2, err)


class InternalChannel(unittest.TestCase):
    def test_processor_prices_forged_purchase(self):
        c = Cluster("forge", processors=1, psds=2)
        try:
            srv = c.srv
            key, cid, host, port = customer_and_processor(c, "victim@example.com")
            secret = c.secret
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

    def test_replayed_request_refused(self):
        """Issue 12, finding 6: a signed request copied off the wire could be
        sent again within its 30 s window. The processor serves it once; the
        copy is refused 401 and writes nothing."""
        c = Cluster("replay", processors=1, psds=2)
        try:
            srv = c.srv
            key, cid, host, port = customer_and_processor(c, "replayed@example.com")
            body = forged(cid, "replay-1", 1, 10, 740)
            now = str(int(time.time() * 1000))
            signed = (now, sign(c.secret, json.dumps(body).encode(), now))
            before = srv.balance(key)
            st, j = post_signed(host, port, c.secret, body, signed)
            self.assertEqual((st, j["code"]), (200, "ok"), j)
            self.assertEqual(srv.balance(key), before - 740)
            psds_after = srv.psds()["psds"]
            for _ in range(2):
                st, j = post_signed(host, port, c.secret, body, signed)
                code = (j or {}).get("error", {}).get("code")
                self.assertEqual((st, code), (401, "unauthorized"), j)
            self.assertEqual(srv.balance(key), before - 740)
            self.assertEqual(len(srv.list_all(key)), 1)
            self.assertEqual(srv.psds()["psds"], psds_after)
            # A new signature over the same body is served: the same key
            # replays the same piece (idempotency), not a second one.
            st, j2 = post_signed(host, port, c.secret, body)
            self.assertEqual((st, j2["code"], j2["replayed"]), (200, "ok", True), j2)
            self.assertEqual(srv.balance(key), before - 740)
        finally:
            c.stop()

    def tampered_then_genuine(self, name, modes, refused):
        """Through a TamperProxy: for each mode, a purchase the proxy tampers
        with (refused(status, body) checks what the customer got), then the
        same key with genuine answers: 201, the piece the first attempt wrote.
        Returns (cluster's Stampd, customer key, balance before); stops all."""
        proxy = TamperProxy()
        c = None
        try:
            c = ProxiedCluster(name, proxy, processors=1, psds=1)
            srv = c.srv
            key = srv.customer(name + "@example.com", 100)
            before = srv.balance(key)
            for i, mode in enumerate(modes):
                with self.subTest(mode=mode):
                    proxy.mode = mode
                    st, _, b = c.buy(key, "%s-%d" % (name, i))
                    refused(st, b)
                    self.assertNotIn("987654321", json.dumps(b))
                    proxy.mode = "pass"
                    st, _, b = c.buy(key, "%s-%d" % (name, i))
                    self.assertEqual(st, 201, b)
                    self.assertEqual(b.get("balance_mills"), srv.balance(key), b)
            # One piece each, charged once: each retry replayed what the refused attempt wrote.
            self.assertEqual(len(srv.list_all(key)), len(modes))
            spent = before - srv.balance(key)
            self.assertEqual(spent % len(modes), 0)
            self.assertGreater(spent, 0)
            return srv, c.front[1]
        finally:
            if c:
                c.stop()
            proxy.close()

    def test_forged_answer_refused(self):
        """Issue 12, finding 6: the front believed whatever came back from a
        processor's address. A proxy in between changes the answer: kept
        signature or none, the front refuses it (503, not the forged body);
        the customer's retry with the same key, once the answers are genuine,
        gets the one piece the processor wrote, charged once."""
        self.tampered_then_genuine("forged-answer", ("forge", "strip"),
                                   lambda st, b: self.assertEqual(st, 503, b))

    def test_forged_error_answer_refused(self):
        """Issue 12, finding 6 (b): the front checked the processor's signature
        on 200 answers only, so whoever sat on the wire could turn any purchase
        into an error (an unsigned 402, or the processor's own answer under
        another status): the customer got a final 500. Now every answer is
        signed and checked: such an answer counts as no answer - the purchase
        gets 503 unavailable after the front's patience, never the forged
        error - and the customer's retry gets the piece the processor wrote."""
        def refused(st, b):
            self.assertEqual((st, (b or {}).get("error", {}).get("code")),
                             (503, "unavailable"), b)

        srv, front_log = self.tampered_then_genuine("forged-error", ("error", "restatus"),
                                                    refused)
        self.assertIn("without a valid signature", srv.stderr_text(front_log))

    def test_processor_errors_are_signed(self):
        """A processor signs its error answers too (401 for a bad signature,
        404 for another path), for the request they answer."""
        c = Cluster("signed-errors", processors=1, psds=1)
        try:
            _, _, host, port = c.procs["p1"]
            data = json.dumps({"x": 1}).encode()
            now = str(int(time.time() * 1000))
            bad_sig = "ab" * 32
            for path, want in ((INTERNAL_PATH, 401), ("/nowhere", 404)):
                status, body, sig = post_raw(host, port, path, data, now, bad_sig)
                self.assertEqual(status, want, body)
                msg = ("ANSWER\n%s\n%d\n" % (bad_sig, want)).encode() + body
                self.assertEqual(sig, hmac.new(c.secret.encode(), msg, hashlib.sha256).hexdigest())
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
