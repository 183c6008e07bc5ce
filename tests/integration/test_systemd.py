"""test_systemd.py - stampd under a service manager (issue 16, "Install and
run"; packaging/stampd.service, docs/operations.md "Running under systemd").

A datagram socket stands in for systemd's $NOTIFY_SOCKET. stampd serve sends
READY=1 only once it listens (the API answers by then); SIGHUP sends
RELOADING=1 then READY=1 and re-reads the configuration file:
refund-window-days takes effect (a refund the old window allowed is then
refused: window_expired), another changed key is reported as needing a
restart, and an invalid file changes nothing and keeps the server running;
SIGTERM sends STOPPING=1 and exits 0. A purchase in flight at SIGTERM is
answered or never charged: card purchases here (the sandbox gateway's
journal holds a captured charge exactly for each purchase answered 201),
balance purchases in test_restart_durability.py's SIGTERM case.

Environment: STAMPD_BIN, STAMPD_TEST_TMP. Standard library only.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BODY = {"mail_class": "postcard", "weight_oz": 0.3, "from_zip": "94107", "to_zip": "10001"}


class Notify(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("systemd").init(psds=2)
        # AF_UNIX paths are short: a fresh directory under /tmp.
        self.sockdir = tempfile.mkdtemp(prefix="sd-")
        self.sockpath = os.path.join(self.sockdir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sockpath)
        self.sock.settimeout(harness.START_TIMEOUT)

    def tearDown(self):
        self.srv.abandon()
        self.sock.close()
        os.unlink(self.sockpath)
        os.rmdir(self.sockdir)

    def message(self):
        return self.sock.recv(4096).decode()

    def write_conf(self, text):
        path = os.path.join(self.srv.dir, "stampd.conf")
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o640)
        return path

    def wait_stderr(self, needle):
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline:
            if needle in self.srv.stderr_text():
                return
            time.sleep(0.05)
        self.fail("no %r in stderr:\n%s" % (needle, self.srv.stderr_text()))

    def test_ready_reload_stopping(self):
        conf = self.write_conf("refund-window-days = 30\n")
        env = dict(harness.stampd_env(), NOTIFY_SOCKET=self.sockpath)
        os.environ["NOTIFY_SOCKET"] = self.sockpath  # harness.stampd_env() copies os.environ
        try:
            self.srv.start(processors=1, extra=["--config", conf])
        finally:
            del os.environ["NOTIFY_SOCKET"]
        self.assertEqual(env["NOTIFY_SOCKET"], self.sockpath)
        self.assertIn("READY=1", self.message())
        status, _, ind = self.srv.buy(self.srv.customer_key, "sd-1", BODY)
        self.assertEqual(status, 201, ind)

        # A shorter window (none): the same refund is now refused.
        time.sleep(1.5)  # older than 0 days by whole seconds
        self.write_conf("refund-window-days = 0\nthreads = 7\n")
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", self.message())
        self.assertIn("READY=1", self.message())
        self.wait_stderr("configuration file read again, 2 changes")
        err = self.srv.stderr_text()
        self.assertIn("SIGHUP: refund-window-days is now 0", err)
        self.assertIn("SIGHUP: threads changed: takes effect at the next restart", err)
        status, _, body = self.srv.request("POST", "/v1/indicia/%s/refund" % ind["id"], {},
                                           key=self.srv.customer_key)
        self.assertEqual(status, 200, body)
        self.assertEqual(body.get("status"), "denied", body)
        self.assertEqual(body.get("reason"), "window_expired", body)

        # An invalid file changes nothing; the server keeps serving.
        self.write_conf("refund-window-days = many\n")
        self.srv.proc.send_signal(signal.SIGHUP)
        self.assertIn("RELOADING=1", self.message())
        self.assertIn("READY=1", self.message())
        self.wait_stderr("still running as before")
        self.assertIn("stampd.conf:1: refund-window-days must be", self.srv.stderr_text())
        status, _, _ = self.srv.request("GET", "/healthz")
        self.assertEqual(status, 200)

        self.srv.stop()  # SIGTERM; asserts exit 0
        self.assertIn("STOPPING=1", self.message())

    def test_sigterm_card_purchases_answered_or_not_charged(self):
        """Card purchases in flight at SIGTERM: each is answered 201 with its
        captured charge, or it holds no captured charge (the sandbox
        gateway's journal is its own record of what was charged)."""
        journal = os.path.join(self.srv.dir, "gw.jsonl")
        self.srv.start(processors=2, extra=["--gateway-latency", "150",
                                            "--gateway-journal", journal])
        body = dict(BODY, payment={"method": "card", "card": harness.CARD})
        status, _, first = self.srv.buy(self.srv.customer_key, "card-0", body)
        self.assertEqual(status, 201, first)
        answers = {}

        def buy(i):
            try:
                answers[i] = self.srv.buy(self.srv.customer_key, "card-%d" % i, body)[::2]
            except OSError as e:  # no answer: the server went away
                answers[i] = (None, str(e))

        threads = [threading.Thread(target=buy, args=(i,)) for i in range(1, 25)]
        for t in threads:
            t.start()
        time.sleep(0.4)
        self.srv.stop()  # SIGTERM; asserts exit 0
        for t in threads:
            t.join(timeout=harness.HTTP_TIMEOUT)
        answered = {j["payment"]["charge_id"] for s, j in answers.values() if s == 201}
        answered.add(first["payment"]["charge_id"])
        for s, j in answers.values():
            self.assertIn(s, (201, 503, None), j)
        captured = set()
        with open(journal) as f:
            for line in f:
                ev = json.loads(line)
                if ev["op"] == "capture" and ev["result"] == "approved":
                    captured.add(ev["id"])
                elif ev["op"] in ("void", "refund"):
                    captured.discard(ev["id"])
        self.assertEqual(captured - answered, set(), "charged but not answered")
        self.assertEqual(answered - captured, set(), "answered but not charged")
        self.assertGreater(len(answered), 1, answers)
        print("SIGTERM with 24 card purchases in flight: %d answered 201, %d refused or "
              "unanswered" % (len(answered) - 1, 25 - len(answered)), file=sys.stderr)

    def test_no_notify_socket(self):
        env = harness.stampd_env()
        self.assertNotIn("NOTIFY_SOCKET", env)
        self.srv.start(processors=1)
        self.srv.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
