"""test_gateway_warning.py - a server whose live gateway is the sandbox says so
(issue 12 finding 7; docs/operations.md "What to watch").

`stampd init --demo` sets the database's gateway setting to sandbox, so live
card payments move no real money. `stampd serve`, `front` and `processor`
must each print a WARNING line on stderr before their listening line, and
GET /metrics must carry stampd_live_gateway_sandbox 1. Without a live
gateway there is no warning and the gauge is 0.

Environment: STAMPD_BIN, STAMPD_TEST_TMP. Standard library only.
"""

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

WARNING = re.compile(r"^\S+ warning live card payments go to the sandbox gateway", re.M)
LISTENING = re.compile(r"listening on https?://([0-9.]+):([0-9]+)(?![0-9])")


def run_mode(srv, mode, secret_path):
    """Start `stampd MODE` on srv's database, wait for its listening line, read
    GET /metrics with the operator key, stop it with SIGTERM. Returns (stderr up
    to and with the listening line, metrics text)."""
    args = [harness.STAMPD_BIN, mode, "--db", srv.db, "--listen", "127.0.0.1:0"]
    if mode != "serve":
        args += ["--internal-secret-file", secret_path]
        args += harness.internal_tls_args("front" if mode == "front" else "processor")
    errpath = os.path.join(srv.dir, "%s-%d.stderr" % (mode, time.monotonic_ns()))
    env = harness.stampd_env()
    env.pop("STAMPD_INTERNAL_SECRET", None)
    with open(errpath, "wb") as errf:
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=errf, env=env)
    try:
        deadline = time.monotonic() + harness.START_TIMEOUT
        m = None
        while m is None and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
            m = LISTENING.search(srv.stderr_text(errpath))
        text = srv.stderr_text(errpath)
        if m is None:
            raise AssertionError("stampd %s did not listen:\n%s" % (mode, text))
        srv.host, srv.port = m.group(1), int(m.group(2))
        # A processor speaks only mutual TLS, to a front's certificate.
        st, _, _ = srv.request("GET", "/healthz",
                               tls=harness.internal_ssl() if mode == "processor" else None)
        metrics = ""
        if mode != "processor":   # a processor answers only the internal channel
            conn_st, metrics = get_text(srv, "/metrics", srv.operator_key)
            if conn_st != 200:
                raise AssertionError("GET /metrics on %s: %d %s" % (mode, conn_st, metrics[:200]))
        return text[:m.end()], metrics
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=harness.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            code = None
        harness.assert_no_sanitizer(srv.stderr_text(errpath), "stampd " + mode)
        if code != 0:
            raise AssertionError("stampd %s exited %r after SIGTERM" % (mode, code))


def get_text(srv, path, key):
    import http.client
    conn = http.client.HTTPConnection(srv.host, srv.port, timeout=harness.HTTP_TIMEOUT)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + key})
        resp = conn.getresponse()
        return resp.status, resp.read().decode("utf-8", "replace")
    finally:
        conn.close()


class SandboxWarning(unittest.TestCase):
    def test_every_mode_warns_when_live_goes_to_the_sandbox(self):
        srv = harness.Stampd("gw-sandbox").init(psds=1)
        secret, _ = srv.internal_secret()
        for mode in ("serve", "front", "processor"):
            with self.subTest(mode=mode):
                err, metrics = run_mode(srv, mode, secret)
                self.assertRegex(err, WARNING, "stampd %s printed no sandbox warning" % mode)
                if mode != "processor":
                    self.assertRegex(metrics, r"(?m)^stampd_live_gateway_sandbox 1$")

    def test_no_warning_without_a_live_gateway(self):
        srv = harness.Stampd("gw-none").init(psds=1)
        db = sqlite3.connect(srv.db[len("sqlite:"):])
        db.execute("DELETE FROM config WHERE key = 'gateway'")
        db.commit()
        db.close()
        err, metrics = run_mode(srv, "serve", None)
        self.assertNotRegex(err, WARNING)
        self.assertRegex(metrics, r"(?m)^stampd_live_gateway_sandbox 0$")


if __name__ == "__main__":
    harness.main()
