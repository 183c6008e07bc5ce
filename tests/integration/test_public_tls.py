"""test_public_tls.py - HTTPS on stampd's own public listener (issue 16,
"TLS in stampd itself"; docs/operations.md, "HTTPS").

A CA and server certificates made with the openssl command line; `stampd
serve --tls-cert --tls-key`: curl --cacert buys a stamp over HTTPS; TLS 1.1
is refused and TLS 1.2 / 1.3 handshake (openssl s_client); plain HTTP to
the port gets no answer; every answer has Strict-Transport-Security and the
session cookie is Secure; a key
file of mode 0644 is refused at start; SIGHUP with a new certificate: new
connections see the new serial while an open connection goes on; a broken
new pair keeps the old one.
"""

import http.client
import json
import datetime
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}


def sh(*args, **kw):
    return subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=30, check=True, **kw)


def make_ca(d):
    ca_key, ca_pem = os.path.join(d, "ca.key"), os.path.join(d, "ca.pem")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-keyout", ca_key, "-out", ca_pem, "-days", "2", "-subj", "/CN=test ca")
    return ca_key, ca_pem


def issue(d, ca_key, ca_pem, name, serial):
    """A server certificate for 127.0.0.1 with the given serial: (cert, key) paths."""
    key, csr = os.path.join(d, name + ".key"), os.path.join(d, name + ".csr")
    crt, ext = os.path.join(d, name + ".pem"), os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "extendedKeyUsage=serverAuth\n")
    sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
       "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    sh("openssl", "x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
       "-set_serial", str(serial), "-days", "1", "-out", crt, "-extfile", ext)
    os.chmod(key, 0o600)
    return crt, key


def s_client(port, *flags):
    """openssl s_client against 127.0.0.1:port: (exit status, output)."""
    p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
                        "-servername", "localhost", "-showcerts"] + list(flags),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def served_serial(port, ca_pem):
    """The serial of the certificate a new connection gets (decimal)."""
    code, out = s_client(port, "-CAfile", ca_pem)
    assert code == 0, out
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    assert m, out
    p = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=m.group(0).encode(),
                       stdout=subprocess.PIPE, check=True, timeout=30)
    return int(p.stdout.decode().strip().split("=")[1], 16)


def curl(port, ca_pem, *args):
    p = subprocess.run(["curl", "-sS", "--cacert", ca_pem, "-D", "-",
                        "https://localhost:%d%s" % (port, args[0])] + list(args[1:]),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode()


class PublicTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("pubtls").init(psds=2)
        cls.d = cls.srv.dir
        cls.ca_key, cls.ca_pem = make_ca(cls.d)
        cls.crt, cls.key = issue(cls.d, cls.ca_key, cls.ca_pem, "one", 1001)
        cls.live_crt = os.path.join(cls.d, "https.pem")
        cls.live_key = os.path.join(cls.d, "https.key")
        shutil.copy(cls.crt, cls.live_crt)
        shutil.copy(cls.key, cls.live_key)
        os.chmod(cls.live_key, 0o600)
        try:
            cls.srv.start(processors=1, extra=("--tls-cert", cls.live_crt,
                                               "--tls-key", cls.live_key))
        except Exception:
            cls.srv.abandon()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            cls.srv.stop()
        finally:
            cls.srv.abandon()

    def test_a_buy_over_https_with_hsts(self):
        code, out, err = curl(self.srv.port, self.ca_pem, "/v1/indicia", "-X", "POST",
                              "-H", "Authorization: Bearer " + self.srv.customer_key,
                              "-H", "Idempotency-Key: tls-1", "-H",
                              "Content-Type: application/json", "--data", json.dumps(LETTER))
        self.assertEqual(code, 0, err)
        head, _, body = out.partition("\r\n\r\n")
        self.assertRegex(head, r"^HTTP/1\.1 201")
        self.assertIn("strict-transport-security: max-age=31536000", head.lower())
        self.assertIn("postage_mills", body)
        self.assertRegex(self.srv.stderr_text(), r"listening on https://")

    def test_a_session_cookie_secure(self):
        code, out, err = curl(self.srv.port, self.ca_pem, "/v1/signup", "-X", "POST", "-H",
                              "Content-Type: application/json", "--data",
                              json.dumps({"email": "tls@example.com",
                                          "password": "correct horse battery"}))
        self.assertEqual(code, 0, err)
        head = out.partition("\r\n\r\n")[0]
        self.assertRegex(head, r"^HTTP/1\.1 201")
        cookie = [ln for ln in head.split("\r\n") if ln.lower().startswith("set-cookie:")]
        self.assertEqual(len(cookie), 1, head)
        self.assertIn("; Secure", cookie[0])

    def test_b_versions(self):
        for flag in ("-tls1_2", "-tls1_3"):
            code, out = s_client(self.srv.port, flag, "-CAfile", self.ca_pem)
            self.assertEqual(code, 0, flag + "\n" + out)
            self.assertIn("Verify return code: 0", out)
        code, out = s_client(self.srv.port, "-tls1_1", "-CAfile", self.ca_pem)
        self.assertNotEqual(code, 0, out)

    def test_c_plain_http_fails(self):
        try:
            st, _, _ = self.srv.request("GET", "/healthz", timeout=5)
        except (OSError, http.client.HTTPException):
            return
        self.fail("plain HTTP to the HTTPS port answered %r" % st)

    def test_d_key_mode_0644_refused(self):
        other = harness.Stampd("pubtls-0644").init(psds=1)
        os.chmod(self.key, 0o644)
        try:
            with self.assertRaises(AssertionError) as cm:
                other.start(processors=1, extra=("--tls-cert", self.crt, "--tls-key", self.key))
            self.assertIn("mode 0644", str(cm.exception))
        finally:
            os.chmod(self.key, 0o600)
            other.abandon()
        code, _, err = other.run("serve", "--db", other.db, "--tls-cert", self.crt,
                                 check=False)
        self.assertEqual(code, 2, err)
        self.assertIn("--tls-key", err)

    def test_e_sighup_reload(self):
        port = self.srv.port
        self.assertEqual(served_serial(port, self.ca_pem), 1001)
        # An open connection made before the reload goes on after it.
        ctx = __import__("ssl").create_default_context(cafile=self.ca_pem)
        held = socket.create_connection(("127.0.0.1", port), timeout=10)
        held = ctx.wrap_socket(held, server_hostname="localhost")
        crt2, key2 = issue(self.d, self.ca_key, self.ca_pem, "two", 2002)
        shutil.copy(crt2, self.live_crt)
        shutil.copy(key2, self.live_key)
        self.hup("tls: reloaded")
        self.assertEqual(served_serial(port, self.ca_pem), 2002)
        held.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        got = b""
        while True:
            chunk = held.recv(4096)
            if not chunk:
                break
            got += chunk
        held.close()
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:200])
        # A broken pair (a key that is not the certificate's) keeps the old one.
        shutil.copy(self.key, self.live_key)
        self.hup("keeping the certificate in use")
        self.assertEqual(served_serial(port, self.ca_pem), 2002)
        # Garbage for a certificate: the same.
        with open(self.live_crt, "w") as f:
            f.write("not a certificate\n")
        self.hup("keeping the certificate in use")
        self.assertEqual(served_serial(port, self.ca_pem), 2002)

    def test_f_expiry_warned_and_exported(self):
        # The test certificates live a day: stampd warns at start and exports the date.
        self.assertRegex(self.srv.stderr_text(),
                         r"warning tls: the certificate expires at \S+Z \(within [12] days\): renew")
        code, out, err = curl(self.srv.port, self.ca_pem, "/metrics", "-H",
                              "Authorization: Bearer " + self.srv.operator_key)
        self.assertEqual(code, 0, err)
        m = re.search(r"(?m)^stampd_tls_cert_not_after_seconds (\d+)$", out)
        self.assertTrue(m, out[-2000:])
        # The date of the certificate a connection gets now (test_e replaced the first).
        code, out = s_client(self.srv.port, "-CAfile", self.ca_pem)
        self.assertEqual(code, 0, out)
        pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
        p = subprocess.run(["openssl", "x509", "-noout", "-enddate"], input=pem.group(0).encode(),
                           stdout=subprocess.PIPE, check=True, timeout=30)
        end = p.stdout.decode().strip().split("=", 1)[1]
        when = datetime.datetime.strptime(end, "%b %d %H:%M:%S %Y GMT").replace(
            tzinfo=datetime.timezone.utc)
        self.assertEqual(int(m.group(1)), int(when.timestamp()))

    def hup(self, needle):
        """SIGHUP the server and wait for one more log line with needle."""
        before = self.srv.stderr_text().count(needle)
        self.srv.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while (time.monotonic() < deadline
               and self.srv.stderr_text().count(needle) == before):
            time.sleep(0.05)
        self.assertEqual(self.srv.stderr_text().count(needle), before + 1, self.srv.stderr_text())

if __name__ == "__main__":
    harness.main()
