"""test_internal_tls.py - the front <-> processor channel is mutual TLS.

Issue 12, finding 6 (a): the channel was plain HTTP, readable and writable by
anyone on the network between a front and its processors. Now:
  * `stampd tls init` makes an internal CA, a front (client) certificate and
    processor (server) certificates that `openssl verify` accepts; keys 0600.
  * a processor speaks only TLS and serves only clients with a certificate
    of the internal CA for clientAuth: plain HTTP, TLS without a
    certificate, a certificate of another CA and a processor's certificate
    are all refused (openssl s_client with the front's succeeds);
  * a front with a certificate of another CA gets nothing from a processor,
    and a processor (here: a machine in the middle) with a certificate of
    another CA gets no purchase from the front: the customer gets 503
    unavailable, nothing is written;
  * front and processor refuse to start without certificates unless given
    the development flag --internal-plaintext (which warns), and refuse a key
    file group or others may read.
"""

import http.client
import json
import os
import shutil
import ssl
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from test_internal import ProxiedCluster, TamperProxy, run_server  # noqa: E402
from test_scale_out import Cluster  # noqa: E402


def healthz(host, port, ctx):
    """GET /healthz over TLS with ctx (or plain HTTP when ctx is None): the
    status, or None when the processor answered nothing (refused)."""
    try:
        if ctx is None:
            conn = http.client.HTTPConnection(host, port, timeout=harness.HTTP_TIMEOUT)
        else:
            conn = http.client.HTTPSConnection(host, port, timeout=harness.HTTP_TIMEOUT,
                                               context=ctx)
        try:
            conn.request("GET", "/healthz")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()
    except (http.client.HTTPException, OSError):
        return None


def anonymous_tls():
    """A TLS client that trusts the internal CA but has no certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(harness.internal_tls(), "ca.pem"))
    return ctx


def bundle_dir(label, certs_from, also_trust):
    """A copy of the directory certs_from (its certificates and keys) whose
    ca.pem holds its CA and also_trust's: a host while one CA replaces the
    other. Made once per label."""
    d = os.path.join(os.path.dirname(certs_from), "bundle-" + label)
    if not os.path.isdir(d):
        os.makedirs(d, mode=0o700)
        for f in os.listdir(certs_from):
            if f.endswith((".pem", ".key")) and not f.startswith("ca."):
                shutil.copy(os.path.join(certs_from, f), os.path.join(d, f))
                if f.endswith(".key"):
                    os.chmod(os.path.join(d, f), 0o600)
        with open(os.path.join(d, "ca.pem"), "w") as out:
            for ca in (certs_from, also_trust):
                with open(os.path.join(ca, "ca.pem")) as f:
                    out.write(f.read())
    return d


def foreign_front_dir():
    """A front's directory whose certificate comes from another CA, while it
    trusts both CAs (so the front itself would talk to the real processors)."""
    return bundle_dir("foreign", harness.internal_tls("other"), harness.internal_tls())


class Certificates(unittest.TestCase):
    def test_tls_init_makes_a_ca_and_certificates_openssl_accepts(self):
        d = harness.internal_tls()
        for name in ["ca", "front"] + harness.TLS_NAMES:
            self.assertEqual(os.stat(os.path.join(d, name + ".key")).st_mode & 0o777, 0o600)
        certs = [os.path.join(d, n + ".pem") for n in ["front", "p1", "processor"]]
        p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem")] + certs,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        # Purpose and names: the front's is a client certificate, p1's a server one.
        for name, purpose in (("front", "sslclient"), ("p1", "sslserver")):
            p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
                                "-purpose", purpose, os.path.join(d, name + ".pem")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            self.assertEqual(p.returncode, 0, p.stdout)
        p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
                            "-purpose", "sslserver", os.path.join(d, "front.pem")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in",
                               os.path.join(d, "p1.pem")], stdout=subprocess.PIPE).stdout
        self.assertIn(b"IP Address:127.0.0.1", text)
        self.assertIn(b"DNS:localhost", text)
        self.assertIn(b"prime256v1", text)
        # Another CA's certificate does not verify under this CA.
        other = harness.internal_tls("other")
        p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
                            os.path.join(other, "p1.pem")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertNotEqual(p.returncode, 0, p.stdout)

    def test_init_never_overwrites_and_issue_adds_one(self):
        d = harness.make_tls_dir("issue", names=["p1"])
        with open(os.path.join(d, "p1.pem")) as f:
            p1 = f.read()
        srv = harness.Stampd("tls-cmd")
        rc, _, err = srv.run("tls", "init", "--dir", d, "--processor", "p1=127.0.0.1",
                             check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("exists", err)
        with open(os.path.join(d, "p1.pem")) as f:
            self.assertEqual(f.read(), p1)
        rc, _, err = srv.run("tls", "issue", "--dir", d, "--processor", "p9=10.1.2.3,proc9.lan")
        self.assertTrue(os.path.exists(os.path.join(d, "p9.key")), err)
        p = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(d, "ca.pem"),
                            "-purpose", "sslserver", os.path.join(d, "p9.pem")],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(p.returncode, 0, p.stdout)
        # Bad names and hosts are refused, and nothing is left behind.
        for args in (["--processor", "P1=127.0.0.1"], ["--processor", "ca=127.0.0.1"],
                     ["--processor", "p10=bad host"], ["--processor", "p10"],
                     ["--front", "x", "--processor", "p11=127.0.0.1"]):
            rc, _, err = srv.run("tls", "issue", "--dir", d, *args, check=False)
            self.assertNotEqual(rc, 0, args)
        self.assertFalse([f for f in os.listdir(d) if f.startswith(("p10", "p11", "x."))])


class ProcessorRefuses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster("tls-refuse", processors=1, psds=1)
        _, _, cls.host, cls.port = cls.c.procs["p1"]

    @classmethod
    def tearDownClass(cls):
        cls.c.stop()

    def test_front_certificate_served(self):
        self.assertEqual(healthz(self.host, self.port, harness.internal_ssl("front")), 200)

    def test_plain_http_refused(self):
        self.assertIsNone(healthz(self.host, self.port, None))

    def test_tls_without_client_certificate_refused(self):
        self.assertIsNone(healthz(self.host, self.port, anonymous_tls()))

    def test_other_ca_and_processor_certificates_refused(self):
        other = harness.internal_tls("other")
        ctx = harness.internal_ssl("front", tls_dir=other)
        ctx.load_verify_locations(os.path.join(harness.internal_tls(), "ca.pem"))
        self.assertIsNone(healthz(self.host, self.port, ctx))
        # A processor's certificate is for serving, not for posting purchases.
        self.assertIsNone(healthz(self.host, self.port, harness.internal_ssl("p2")))
        err = self.c.srv.stderr_text(self.c.procs["p1"][1])
        self.assertIn("no client certificate of the internal CA", err)

    def test_openssl_s_client(self):
        """The port speaks TLS (1.2 at least) with the right certificates."""
        d = harness.internal_tls()
        req = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        base = ["openssl", "s_client", "-connect", "%s:%d" % (self.host, self.port),
                "-CAfile", os.path.join(d, "ca.pem"), "-verify_return_error",
                "-verify_ip", self.host, "-ign_eof"]
        p = subprocess.run(base + ["-cert", os.path.join(d, "front.pem"),
                                   "-key", os.path.join(d, "front.key")],
                           input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        self.assertIn("HTTP/1.1 200", out)
        self.assertRegex(out, r"New, TLSv1\.[23], Cipher")
        # TLS 1.1 is refused.
        p = subprocess.run(base + ["-tls1_1", "-cert", os.path.join(d, "front.pem"),
                                   "-key", os.path.join(d, "front.key")],
                           input=req, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=60)
        self.assertNotIn("HTTP/1.1 200", p.stdout.decode("utf-8", "replace"))


class FrontTLS(unittest.TestCase):
    def test_front_with_another_ca_certificate_gets_nothing(self):
        class ForeignFront(Cluster):
            def front_tls(self):
                return ["--internal-tls-dir", foreign_front_dir()]

        c = ForeignFront("tls-foreign-front", processors=1, psds=1)
        try:
            key = c.srv.customer("foreign@example.com", 100)
            before = c.srv.balance(key)
            st, _, b = c.buy(key, "foreign-1")
            self.assertEqual((st, (b or {}).get("error", {}).get("code")), (503, "unavailable"), b)
            self.assertEqual(c.srv.balance(key), before)
            self.assertEqual(c.srv.list_all(key), [])
            err = c.srv.stderr_text(c.procs["p1"][1])
            self.assertIn("no client certificate of the internal CA", err)
        finally:
            c.stop()

    def test_ca_replaced_host_by_host_with_a_bundle(self):
        """Replacing the internal CA without stopping everything at once: while
        every host trusts both CAs (ca.pem holds both), processors with
        certificates of the new CA serve a front that still has the old one's."""
        new_ca, old_ca = harness.internal_tls("other"), harness.internal_tls()

        class Rollover(Cluster):
            def processor_tls(self, pid):
                return ["--internal-tls-dir", bundle_dir("new", new_ca, old_ca),
                        "--internal-tls-name", pid]

            def front_tls(self):
                return ["--internal-tls-dir", bundle_dir("old", old_ca, new_ca)]

        c = Rollover("tls-rollover", processors=1, psds=1)
        try:
            key = c.srv.customer("rollover@example.com", 100)
            st, _, b = c.buy(key, "rollover-1")
            self.assertEqual(st, 201, b)
        finally:
            c.stop()

    def test_processor_with_another_ca_certificate_gets_no_purchase(self):
        """A machine in the middle (or a rogue processor) with a certificate of
        another CA: the front refuses the handshake, so not one byte of the
        purchase reaches it, and the customer gets 503, never its answer."""
        other = harness.internal_tls("other")
        proxy = TamperProxy(server_ssl=harness.internal_ssl("processor", tls_dir=other,
                                                            server=True))
        c = None
        try:
            c = ProxiedCluster("tls-rogue", proxy, processors=1, psds=1)
            key = c.srv.customer("rogue@example.com", 100)
            before = c.srv.balance(key)
            st, _, b = c.buy(key, "rogue-1")
            self.assertEqual((st, (b or {}).get("error", {}).get("code")), (503, "unavailable"), b)
            self.assertEqual(proxy.posts, 0)
            self.assertEqual(c.srv.balance(key), before)
            self.assertEqual(c.srv.list_all(key), [])
            self.assertIn("TLS refused", c.srv.stderr_text(c.front[1]))
        finally:
            if c:
                c.stop()
            proxy.close()


class StartUp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.Stampd("tls-start")
        cls.srv.init(psds=1)
        cls.secret, _ = cls.srv.internal_secret()

    def test_no_certificates_no_start(self):
        for mode in ("front", "processor"):
            rc, err = run_server(self.srv, mode, ["--internal-secret-file", self.secret])
            self.assertIsNotNone(rc, "%s started without TLS:\n%s" % (mode, err))
            self.assertNotEqual(rc, 0)
            self.assertIn("--internal-tls-dir", err)
            self.assertIn("--internal-plaintext", err)

    def test_loose_key_wrong_role_and_serve_refused(self):
        d = os.path.join(self.srv.dir, "loose")
        shutil.copytree(harness.internal_tls(), d)
        os.chmod(os.path.join(d, "p1.key"), 0o640)
        rc, err = run_server(self.srv, "processor", ["--internal-secret-file", self.secret,
                                                     "--internal-tls-dir", d, "--id", "p1"])
        self.assertIsNotNone(rc, err)
        self.assertNotEqual(rc, 0)
        self.assertIn("group or others", err)
        # A front with a processor's certificate (serverAuth only) is refused at start.
        rc, err = run_server(self.srv, "front", ["--internal-secret-file", self.secret]
                             + harness.internal_tls_args("p2"))
        self.assertIsNotNone(rc, err)
        self.assertNotEqual(rc, 0)
        self.assertIn("not a usable client (front) certificate", err)
        # serve has no network channel: no TLS options; plaintext and TLS not both.
        rc, err = run_server(self.srv, "serve", harness.internal_tls_args("front"))
        self.assertEqual(rc, 2, err)
        rc, err = run_server(self.srv, "front", ["--internal-secret-file", self.secret,
                                                 "--internal-plaintext"]
                             + harness.internal_tls_args("front"))
        self.assertEqual(rc, 2, err)

    def test_plaintext_development_mode_warns_and_works(self):
        class Plain(Cluster):
            def processor_tls(self, pid):
                return ["--internal-plaintext"]

            def front_tls(self):
                return ["--internal-plaintext"]

        c = Plain("tls-plain", processors=1, psds=1)
        try:
            key = c.srv.customer("plain@example.com", 100)
            st, _, b = c.buy(key, "plain-1")
            self.assertEqual(st, 201, b)
            for path in (c.front[1], c.procs["p1"][1]):
                self.assertIn("warning --internal-plaintext", c.srv.stderr_text(path))
            self.assertRegex(c.srv.stderr_text(c.procs["p1"][1]), r"listening on http://")
        finally:
            c.stop()


if __name__ == "__main__":
    harness.main()
