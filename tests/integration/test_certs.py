"""test_certs.py - the vendor CA, PSD key certificates, rotation and revocation.

Issue 14: `stampd init` makes the vendor CA in the crypto module; every PSD
key gets an X.509 certificate (serial = the indicium's key_id) that GET
/v1/keys publishes with the CA certificate and the CRL. Checked with tools
that are not stampd's: the `openssl` command line verifies each certificate
against the CA (`openssl verify -CAfile`, and `-crl_check -CRLfile` with the
published CRL), and the real `stamp` binary verifies pieces offline with a
key list saved by `stamp keys --out`. Then `stampd psd rotate-key` (old and
new pieces verify, the running server signs with the new key) and `stampd
key revoke` (the CRL lists the key, openssl refuses it, pieces on or after
the revocation day are refused online and offline with key_revoked, the PSD
stops signing until its key is rotated).

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
"""

import datetime
import glob
import http.client
import json
import os
import sqlite3
import subprocess
import sys
import time
import unittest

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hsm  # noqa: E402

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
PIECE = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
         "to_zip": "10001"}


def stamp(srv, *args):
    env = harness.stampd_env()
    env.pop("STAMP_KEY", None)
    env["STAMP_SERVER"] = "http://%s:%d" % (srv.host, srv.port)
    p = subprocess.run([STAMP_BIN] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=120)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    harness.assert_no_sanitizer(err, "stamp " + " ".join(map(str, args)))
    return p.returncode, out, err


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    return p.returncode, p.stdout.decode("utf-8", "replace")


class Certs(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("certs")
        self.srv.init(psds=1)
        self.srv.start(processors=1)
        self.n = 0

    def tearDown(self):
        self.srv.stop()

    def buy(self):
        self.n += 1
        s, _, j = self.srv.buy(self.srv.customer_key, "certs-%d" % self.n, PIECE)
        self.assertEqual(s, 201, j)
        return j

    def write(self, name, text):
        path = os.path.join(self.srv.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def keys(self):
        doc = self.srv.get_ok("/v1/keys")
        self.assertIn("ca_certificate_pem", doc)
        self.assertIn("crl_pem", doc)
        by_id = {k["key_id"]: k for k in doc["keys"]}
        return doc, by_id

    def cert_file(self, key):
        return self.write("key-%d.pem" % key["key_id"], key["certificate_pem"])

    def offline(self, piece, keys_file):
        return stamp(self.srv, "verify", "--offline", "--keys", keys_file, "--data",
                     piece["data"])

    def test_published_certificates_check_with_openssl(self):
        piece = self.buy()
        doc, by_id = self.keys()
        ca = self.write("ca.pem", doc["ca_certificate_pem"])
        crl = self.write("crl.pem", doc["crl_pem"])
        self.assertEqual(len(by_id), 2)  # the live PSD and the test PSD
        for key in by_id.values():
            self.assertEqual(key["status"], "current")
            path = self.cert_file(key)
            rc, out = openssl("verify", "-CAfile", ca, path)
            self.assertEqual(rc, 0, out)
            rc, out = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca, path)
            self.assertEqual(rc, 0, out)
            # The serial is the indicium's key_id; the subject names license and PSD.
            rc, out = openssl("x509", "-in", path, "-noout", "-serial", "-subject",
                              "-nameopt", "RFC2253")
            self.assertEqual(rc, 0, out)
            self.assertIn("serial=%02X" % key["key_id"], out)
            self.assertIn("CN=PSD %d,O=Postage vendor %s" % (key["psd_id"], harness.LICENSE),
                          out)
            # The certified key is the published key.
            rc, pub = openssl("x509", "-in", path, "-noout", "-pubkey")
            self.assertEqual(pub.strip(), key["public_key_pem"].strip())
        # The CA signs certificates and CRLs only.
        rc, out = openssl("x509", "-in", ca, "-noout", "-ext", "basicConstraints,keyUsage")
        self.assertIn("CA:TRUE", out)
        self.assertIn("Certificate Sign, CRL Sign", out)
        # stamp keys --out keeps the CA and the certificates; offline checks the chain.
        keys_file = os.path.join(self.srv.dir, "keys.json")
        rc, out, err = stamp(self.srv, "keys", "--out", keys_file)
        self.assertEqual(rc, 0, err)
        with open(keys_file) as f:
            saved = json.load(f)
        self.assertEqual(saved["ca_certificate_pem"], doc["ca_certificate_pem"])
        rc, out, err = self.offline(piece, keys_file)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("chains to the vendor CA", out)
        # --export-dir: everything a third party needs for openssl alone.
        exp = os.path.join(self.srv.dir, "export")
        rc, out, err = stamp(self.srv, "verify", "--offline", "--keys", keys_file, "--data",
                             piece["data"], "--export-dir", exp)
        self.assertEqual(rc, 0, out + err)
        self.assertIn("openssl verify -CAfile %s/ca.pem -crl_check" % exp, out)
        rc, out = openssl("verify", "-crl_check", "-CRLfile", os.path.join(exp, "crl.pem"),
                          "-CAfile", os.path.join(exp, "ca.pem"), os.path.join(exp, "cert.pem"))
        self.assertEqual(rc, 0, out)
        rc, out = openssl("x509", "-in", os.path.join(exp, "cert.pem"), "-noout", "-pubkey")
        self.write("export/cert-pub.pem", out)
        rc, out = openssl("dgst", "-sha256", "-verify", os.path.join(exp, "cert-pub.pem"),
                          "-signature", os.path.join(exp, "sig.der"),
                          os.path.join(exp, "body.bin"))
        self.assertEqual(rc, 0, out)
        self.assertIn("Verified OK", out)
        # A key list whose CA is another vendor's: the chain fails, exit 4.
        other = harness.Stampd("certs-other")
        other.init(psds=1)
        con = sqlite3.connect(other.db[len("sqlite:"):])
        other_ca = con.execute("SELECT value FROM config WHERE key = 'ca_cert'").fetchone()[0]
        con.close()
        saved["ca_certificate_pem"] = other_ca
        forged = self.write("forged.json", json.dumps(saved))
        rc, out, err = self.offline(piece, forged)
        self.assertEqual(rc, 4, out + err)
        self.assertIn("certificate_invalid", out)
        # A bare PEM key (the key files from before certificates) still verifies.
        pem = self.write("one.pem", by_id[piece["key_id"]]["public_key_pem"])
        rc, out, err = self.offline(piece, pem)
        self.assertEqual(rc, 0, out + err)

    def test_rotation_and_revocation(self):
        old_piece = self.buy()
        old_id = old_piece["key_id"]
        rc, out, err = self.srv.run("psd", "rotate-key", "--db", self.srv.db, "--psd",
                                    str(old_piece["psd_id"]))
        self.assertEqual(rc, 0, err)
        new_id = int(out.strip().split("=")[1])
        self.assertNotEqual(new_id, old_id)
        # The running server signs with the new key at once.
        new_piece = self.buy()
        self.assertEqual(new_piece["psd_id"], old_piece["psd_id"])
        self.assertEqual(new_piece["key_id"], new_id)
        doc, by_id = self.keys()
        self.assertEqual(by_id[old_id]["status"], "retired")
        self.assertEqual(by_id[new_id]["status"], "current")
        ca = self.write("ca.pem", doc["ca_certificate_pem"])
        for k in (old_id, new_id):
            rc, out = openssl("verify", "-CAfile", ca, self.cert_file(by_id[k]))
            self.assertEqual(rc, 0, out)
        keys_file = os.path.join(self.srv.dir, "keys-rotated.json")
        self.assertEqual(stamp(self.srv, "keys", "--out", keys_file)[0], 0)
        for piece in (old_piece, new_piece):
            rc, out, err = self.offline(piece, keys_file)
            self.assertEqual(rc, 0, out + err)
            s, _, v = self.srv.request("POST", "/v1/verify", {"data": piece["data"]},
                                       key=self.srv.customer_key)
            self.assertEqual(s, 200, v)
            self.assertTrue(v["valid"], v)

        # Revocation of the current key: today's pieces are refused everywhere.
        rc, out, err = self.srv.run("key", "revoke", "--db", self.srv.db, "--key-id",
                                    str(new_id), "--reason", "key_compromise")
        self.assertEqual(rc, 0, err)
        rc, _, err = self.srv.run("key", "revoke", "--db", self.srv.db, "--key-id",
                                  str(new_id), check=False)
        self.assertEqual(rc, 1)
        self.assertIn("already_exists", err)
        rc, _, err = self.srv.run("key", "revoke", "--db", self.srv.db, "--key-id", "1",
                                  "--reason", "lost", check=False)
        self.assertEqual(rc, 2)
        doc, by_id = self.keys()
        self.assertEqual(by_id[new_id]["status"], "revoked")
        self.assertEqual(by_id[new_id]["revocation_reason"], "key_compromise")
        self.assertIn("revoked_at", by_id[new_id])
        crl = self.write("crl.pem", doc["crl_pem"])
        # GET /v1/keys/crl: the same CRL as a PEM file.
        conn = http.client.HTTPConnection(self.srv.host, self.srv.port,
                                          timeout=harness.HTTP_TIMEOUT)
        try:
            conn.request("GET", "/v1/keys/crl")
            resp = conn.getresponse()
            body = resp.read().decode()
            self.assertEqual(resp.status, 200)
            self.assertEqual(resp.getheader("Content-Type"), "application/x-pem-file")
        finally:
            conn.close()
        self.assertEqual(body, doc["crl_pem"])
        rc, out = openssl("crl", "-in", crl, "-CAfile", ca, "-noout", "-text")
        self.assertEqual(rc, 0, out)
        self.assertIn("Key Compromise", out)
        rc, out = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca,
                          self.cert_file(by_id[new_id]))
        self.assertNotEqual(rc, 0, out)
        self.assertIn("certificate revoked", out)
        rc, out = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca,
                          self.cert_file(by_id[old_id]))
        self.assertEqual(rc, 0, out)
        keys_file = os.path.join(self.srv.dir, "keys-revoked.json")
        self.assertEqual(stamp(self.srv, "keys", "--out", keys_file)[0], 0)
        rc, out, err = self.offline(new_piece, keys_file)
        self.assertEqual(rc, 4, out + err)
        self.assertIn("key_revoked", out)
        rc, out, err = self.offline(old_piece, keys_file)
        self.assertEqual(rc, 0, out + err)
        s, _, v = self.srv.request("POST", "/v1/verify", {"data": new_piece["data"]},
                                   key=self.srv.customer_key)
        self.assertEqual(s, 200, v)
        self.assertFalse(v["valid"], v)
        self.assertEqual(v["reason"], "key_revoked")
        # The revoked key never signs again: its PSD is suspended.
        s, _, j = self.srv.buy(self.srv.customer_key, "certs-after-revoke", PIECE)
        self.assertNotEqual(s, 201, j)
        psd = [p for p in self.srv.psds()["psds"] if p["id"] == new_piece["psd_id"]][0]
        self.assertEqual(psd["status"], "suspended")
        # A new key gives it back to the running server.
        rc, out, err = self.srv.run("psd", "rotate-key", "--db", self.srv.db, "--psd",
                                    str(new_piece["psd_id"]))
        third_id = int(out.strip().split("=")[1])
        deadline = time.time() + 30
        while True:
            s, _, j = self.srv.buy(self.srv.customer_key, "certs-rotated-%d" % self.n, PIECE)
            self.n += 1
            if s == 201 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertEqual(s, 201, j)
        self.assertEqual(j["key_id"], third_id)
        s, _, v = self.srv.request("POST", "/v1/verify", {"data": j["data"]},
                                   key=self.srv.customer_key)
        self.assertTrue(v["valid"], v)
        rc, out, err = stamp(self.srv, "keys")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"\s%d\s+%d\s+revoked\s" % (new_id, new_piece["psd_id"]))
        self.assertRegex(out, r"\s%d\s+%d\s+retired\s" % (old_id, old_piece["psd_id"]))

        # The issue's spelling: revoke a PSD's current key by the PSD.
        rc, _, err = self.srv.run("psd", "revoke-key", "--db", self.srv.db, check=False)
        self.assertEqual(rc, 2, err)
        rc, _, err = self.srv.run("psd", "revoke-key", "--db", self.srv.db, "--psd",
                                  str(new_piece["psd_id"]), "--reason", "compromised")
        self.assertEqual(rc, 0, err)
        self.assertIn("key %d revoked (key_compromise)" % third_id, err)
        _, by_id = self.keys()
        self.assertEqual(by_id[third_id]["status"], "revoked")
        self.assertEqual(by_id[third_id]["revocation_reason"], "key_compromise")

    def test_issue_forms_and_revocation_since(self):
        """The issue's spellings: `stampd psd rotate-key ID` and `stampd psd
        revoke-key ID --reason compromised --since TIME`. Pieces mail-dated
        before the day of TIME still verify, online and offline; pieces on or
        after it are refused with key_revoked and a reason that names the day."""
        first = self.buy()
        psd = str(first["psd_id"])
        # The positional PSD id; both it and --psd is one too many; no id at all.
        rc, out, err = self.srv.run("psd", "rotate-key", psd, "--db", self.srv.db)
        self.assertEqual(rc, 0, err)
        key = int(out.strip().split("=")[1])
        self.assertIn("PSD %s signs with key %d now" % (psd, key), err)
        rc, out, err = self.srv.run("psd", "rotate-key", "--db", self.srv.db, psd)
        self.assertEqual(rc, 0, err)
        key = int(out.strip().split("=")[1])
        rc, _, err = self.srv.run("psd", "rotate-key", psd, "--db", self.srv.db, "--psd", psd,
                                  check=False)
        self.assertEqual(rc, 2, err)
        self.assertIn("give one", err)
        rc, _, err = self.srv.run("psd", "rotate-key", psd, "7", "--db", self.srv.db,
                                  check=False)
        self.assertEqual(rc, 2, err)
        rc, _, err = self.srv.run("psd", "rotate-key", "--db", self.srv.db, check=False)
        self.assertEqual(rc, 2, err)
        self.assertIn("stampd psd rotate-key ID", err)
        rc, _, err = self.srv.run("psd", "rotate-key", "x1", "--db", self.srv.db, check=False)
        self.assertEqual(rc, 2, err)
        # Two pieces with the new key: mailed yesterday (accepted for US time zones)
        # and today.
        today = harness.today_utc()
        yesterday = today - datetime.timedelta(days=1)
        pieces = {}
        for name, day in (("before", yesterday), ("after", today)):
            self.n += 1
            s, _, j = self.srv.buy(self.srv.customer_key, "since-%d" % self.n,
                                   dict(PIECE, mail_date=day.isoformat()))
            self.assertEqual(s, 201, j)
            self.assertEqual(j["key_id"], key)
            pieces[name] = j
        # --since must be a past UTC time.
        future = (datetime.datetime.now(datetime.timezone.utc) +
                  datetime.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for bad in (future, "yesterday", "2026-13-01T00:00:00Z"):
            rc, _, err = self.srv.run("psd", "revoke-key", psd, "--db", self.srv.db,
                                      "--reason", "compromised", "--since", bad, check=False)
            self.assertEqual(rc, 2, bad + ": " + err)
            self.assertIn("--since must be a past UTC time", err)
        since = today.isoformat() + "T00:00:00Z"
        rc, _, err = self.srv.run("psd", "revoke-key", psd, "--db", self.srv.db, "--reason",
                                  "compromised", "--since", since)
        self.assertEqual(rc, 0, err)
        self.assertIn("key %d revoked (key_compromise)" % key, err)
        self.assertIn(since, err)
        doc, by_id = self.keys()
        self.assertEqual(by_id[key]["status"], "revoked")
        self.assertTrue(by_id[key]["revoked_at"].startswith(today.isoformat()), by_id[key])
        # openssl: the CRL (from the CA) lists the key from the time given.
        ca, crl = self.write("ca.pem", doc["ca_certificate_pem"]), self.write("crl.pem",
                                                                              doc["crl_pem"])
        rc, out = openssl("crl", "-in", crl, "-CAfile", ca, "-noout", "-text")
        self.assertEqual(rc, 0, out)
        self.assertIn("Key Compromise", out)
        self.assertIn(today.strftime("%b %e").replace("  ", " "),
                      out.replace("  ", " "))
        keys_file = os.path.join(self.srv.dir, "keys-since.json")
        self.assertEqual(stamp(self.srv, "keys", "--out", keys_file)[0], 0)
        # Before the day of --since: valid, online and offline.
        s, _, v = self.srv.request("POST", "/v1/verify", {"data": pieces["before"]["data"]},
                                   key=self.srv.customer_key)
        self.assertEqual(s, 200, v)
        self.assertTrue(v["valid"], v)
        rc, out, err = self.offline(pieces["before"], keys_file)
        self.assertEqual(rc, 0, out + err)
        # On or after it: invalid, key_revoked, and the reason says why.
        s, _, v = self.srv.request("POST", "/v1/verify", {"data": pieces["after"]["data"]},
                                   key=self.srv.customer_key)
        self.assertEqual(s, 200, v)
        self.assertFalse(v["valid"], v)
        self.assertEqual((v["status"], v["reason"]), ("invalid", "key_revoked"), v)
        rc, out, err = self.offline(pieces["after"], keys_file)
        self.assertEqual(rc, 4, out + err)
        self.assertIn("key_revoked", out)
        self.assertIn("key %d was revoked on %s, on or before the mail date %s"
                      % (key, today.isoformat(), today.isoformat()), out)
        # The online answer of stamp verify says the same.
        env = dict(harness.stampd_env(), STAMP_SERVER="http://%s:%d" % (self.srv.host,
                                                                       self.srv.port),
                   STAMP_KEY=self.srv.customer_key)
        for name, want in (("before", 0), ("after", 4)):
            p = subprocess.run([STAMP_BIN, "verify", "--data", pieces[name]["data"]], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
            out = p.stdout.decode() + p.stderr.decode()
            harness.assert_no_sanitizer(out, "stamp verify")
            self.assertEqual(p.returncode, want, out)
            if want:
                self.assertIn("key_revoked", out)


class ExistingDatabase(unittest.TestCase):
    """A database from before the CA (its keys without certificates): stampd
    ca init makes the CA and certifies every key; psd add certifies new keys."""

    def test_ca_init_certifies_existing_keys(self):
        srv = harness.Stampd("certs-old")
        srv.init(psds=2)
        path = srv.db[len("sqlite:"):]
        con = sqlite3.connect(path)
        con.execute("DELETE FROM config WHERE key LIKE 'ca_%'")
        con.execute("UPDATE keys SET cert_pem = ''")
        con.commit()
        con.close()
        rc, _, err = srv.run("psd", "add", "--db", srv.db)
        self.assertIn("no vendor CA yet", err)
        rc, _, err = srv.run("ca", "issue", "--db", srv.db, check=False)
        self.assertEqual(rc, 1)
        self.assertIn("stampd ca init", err)
        rc, ca_pem, err = srv.run("ca", "init", "--db", srv.db)
        self.assertIn("4 key certificates issued", err)
        self.assertTrue(ca_pem.startswith("-----BEGIN CERTIFICATE-----"))
        rc, _, err = srv.run("ca", "init", "--db", srv.db, check=False)
        self.assertEqual(rc, 1)
        self.assertIn("already", err)
        rc, _, err = srv.run("psd", "add", "--db", srv.db)
        srv.start(processors=1)
        try:
            doc = srv.get_ok("/v1/keys")
        finally:
            srv.stop()
        self.assertEqual(doc["ca_certificate_pem"], ca_pem)
        ca = os.path.join(srv.dir, "ca.pem")
        with open(ca, "w") as f:
            f.write(ca_pem)
        self.assertEqual(len(doc["keys"]), 5)
        for key in doc["keys"]:
            cert = os.path.join(srv.dir, "k%d.pem" % key["key_id"])
            with open(cert, "w") as f:
                f.write(key["certificate_pem"])
            rc, out = openssl("verify", "-CAfile", ca, cert)
            self.assertEqual(rc, 0, out)


class Pkcs11Ca(unittest.TestCase):
    """The CA key in a SoftHSM2 token: certificates and CRLs signed by the token."""

    def test_ca_in_the_token(self):
        import test_pkcs11  # noqa: E402 (SoftHSM2 tokens and the PKCS#11 spec)
        srv = harness.Stampd("certs-p11")
        tokens = test_pkcs11.Tokens(srv, "vendor")
        spec = test_pkcs11.spec("vendor")
        _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "1",
                            "--demo", "--crypto", spec, "--crypto-pin-file", tokens.pin_file)
        srv.customer_key = harness.Stampd._keys(out)["STAMP_KEY"]
        srv.operator_key = harness.Stampd._keys(out)["STAMP_OPERATOR_KEY"]
        # No private key of the vendor outside the token, the CA's included. authority/
        # holds the postal authority's reset signer, not the vendor's (in a real
        # deployment the authority's own system: docs/authority.md).
        for path in glob.glob(os.path.join(srv.dir, "**"), recursive=True):
            if os.path.isfile(path) and "/tokens/" not in path \
                    and not path.startswith(os.path.join(srv.dir, "authority") + os.sep):
                with open(path, "rb") as f:
                    self.assertNotIn(b"PRIVATE KEY", f.read(), path)
        con = sqlite3.connect(srv.db[len("sqlite:"):])
        ca_ref, = con.execute("SELECT value FROM config WHERE key = 'ca_key_ref'").fetchone()
        con.close()
        self.assertTrue(ca_ref.startswith("p11:id="), ca_ref)
        # Rotation and revocation sign through the token too; a wrong PIN changes nothing.
        bad = os.path.join(srv.dir, "bad.pin")
        fd = os.open(bad, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, b"0000\n")
        os.close(fd)
        rc, _, err = srv.run("key", "revoke", "--db", srv.db, "--key-id", "1",
                             "--crypto-pin-file", bad, check=False)
        self.assertEqual(rc, 1)
        self.assertIn("crypto_pin_incorrect", err)
        rc, out, err = srv.run("psd", "rotate-key", "--db", srv.db, "--psd", "1",
                               "--crypto-pin-file", tokens.pin_file)
        new_id = int(out.strip().split("=")[1])
        srv.run("key", "revoke", "--db", srv.db, "--key-id", "1", "--reason", "superseded",
                "--crypto-pin-file", tokens.pin_file)
        srv.start(processors=1, extra=("--crypto-pin-file", tokens.pin_file))
        try:
            s, _, piece = srv.buy(srv.customer_key, "p11-ca", PIECE)
            self.assertEqual(s, 201, piece)
            self.assertEqual(piece["key_id"], new_id)
            doc = srv.get_ok("/v1/keys")
        finally:
            srv.stop()
        ca = os.path.join(srv.dir, "ca.pem")
        crl = os.path.join(srv.dir, "crl.pem")
        with open(ca, "w") as f:
            f.write(doc["ca_certificate_pem"])
        with open(crl, "w") as f:
            f.write(doc["crl_pem"])
        by_id = {k["key_id"]: k for k in doc["keys"]}
        for key_id, good in ((1, False), (new_id, True)):
            cert = os.path.join(srv.dir, "k%d.pem" % key_id)
            with open(cert, "w") as f:
                f.write(by_id[key_id]["certificate_pem"])
            rc, out = openssl("verify", "-CAfile", ca, cert)
            self.assertEqual(rc, 0, out)
            rc, out = openssl("verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca, cert)
            self.assertEqual(rc == 0, good, out)
        # The piece verifies with the openssl command line against its certificate's key.
        d = harness.decode_indicium(harness.unb64(piece["data"]))
        ok, out = harness.openssl_verify(srv.dir, by_id[new_id]["public_key_pem"], d["body"],
                                         d["signature"])
        self.assertTrue(ok, out)


def write(srv, name, text):
    path = os.path.join(srv.dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


class CaRotation(unittest.TestCase):
    """`stampd ca rotate`: a new CA key and certificate, every key certified by
    it; the old CA and its last CRL stay published (previous_cas) so that the
    certificates it issued still verify; pieces of both generations verify
    online, with `stamp verify --offline` and with openssl; each CRL comes from
    its own CA."""

    def setUp(self):
        self.srv = harness.Stampd("ca-rotate")
        self.srv.init(psds=1)
        self.srv.start(processors=1)
        self.n = 0

    def tearDown(self):
        self.srv.stop()

    def buy(self, day=None):
        self.n += 1
        body = dict(PIECE, mail_date=day.isoformat()) if day else PIECE
        s, _, j = self.srv.buy(self.srv.customer_key, "car-%d" % self.n, body)
        self.assertEqual(s, 201, j)
        return j

    def verify_online(self, piece):
        s, _, v = self.srv.request("POST", "/v1/verify", {"data": piece["data"]},
                                   key=self.srv.customer_key)
        self.assertEqual(s, 200, v)
        return v

    def offline(self, piece, keys_file):
        return stamp(self.srv, "verify", "--offline", "--keys", keys_file, "--data",
                     piece["data"])

    def test_rotate_ca(self):
        srv = self.srv
        today = harness.today_utc()
        yesterday = today - datetime.timedelta(days=1)
        # Generation 1: key 1 signs a piece mailed yesterday and one today, then is
        # rotated out and revoked from today on; key k2 signs a piece.
        old_y, old_t = self.buy(yesterday), self.buy()
        k1 = old_t["key_id"]
        rc, out, err = srv.run("psd", "rotate-key", str(old_t["psd_id"]), "--db", srv.db)
        k2 = int(out.strip().split("=")[1])
        gen1 = self.buy()
        self.assertEqual(gen1["key_id"], k2)
        srv.run("key", "revoke", "--db", srv.db, "--key-id", str(k1), "--reason", "superseded",
                "--since", today.isoformat() + "T00:00:00Z")
        before = srv.get_ok("/v1/keys")
        self.assertNotIn("previous_cas", before)
        keys_before = os.path.join(srv.dir, "keys-before.json")
        self.assertEqual(stamp(srv, "keys", "--out", keys_before)[0], 0)

        rc, new_ca_pem, err = srv.run("ca", "rotate", "--db", srv.db)
        self.assertEqual(rc, 0, err)
        self.assertIn("key certificates issued by it", err)
        self.assertTrue(new_ca_pem.startswith("-----BEGIN CERTIFICATE-----"), new_ca_pem)
        self.assertNotEqual(new_ca_pem, before["ca_certificate_pem"])

        # Generation 2: the running server signs on; a key rotated now is certified
        # by the new CA.
        gen2 = self.buy()
        self.assertEqual(gen2["key_id"], k2)
        rc, out, err = srv.run("psd", "rotate-key", str(gen2["psd_id"]), "--db", srv.db)
        k3 = int(out.strip().split("=")[1])
        gen3 = self.buy()
        self.assertEqual(gen3["key_id"], k3)

        doc = srv.get_ok("/v1/keys")
        self.assertEqual(doc["ca_certificate_pem"], new_ca_pem)
        self.assertEqual([p["certificate_pem"] for p in doc["previous_cas"]],
                         [before["ca_certificate_pem"]])
        new_ca = write(srv, "new-ca.pem", doc["ca_certificate_pem"])
        new_crl = write(srv, "new-crl.pem", doc["crl_pem"])
        old_ca = write(srv, "old-ca.pem", doc["previous_cas"][0]["certificate_pem"])
        old_crl = write(srv, "old-crl.pem", doc["previous_cas"][0]["crl_pem"])
        # Each CRL comes from its own CA, and both list the revoked key.
        for crl, ca, other in ((new_crl, new_ca, old_ca), (old_crl, old_ca, new_ca)):
            rc, out = openssl("crl", "-in", crl, "-CAfile", ca, "-noout", "-text")
            self.assertEqual(rc, 0, out)
            self.assertIn("verify OK", out)
            self.assertIn("Serial Number: %02X" % k1, out)
            rc, out = openssl("crl", "-in", crl, "-CAfile", other, "-noout")
            self.assertIn("verify failure", out)   # (openssl crl exits 0 all the same)
            self.assertNotIn("verify OK", out)
        # GET /v1/keys/crl is the new CA's.
        conn = http.client.HTTPConnection(srv.host, srv.port, timeout=harness.HTTP_TIMEOUT)
        try:
            conn.request("GET", "/v1/keys/crl")
            self.assertEqual(conn.getresponse().read().decode(), doc["crl_pem"])
        finally:
            conn.close()
        by_id = {k["key_id"]: k for k in doc["keys"]}
        old_by_id = {k["key_id"]: k for k in before["keys"]}
        for key_id, key in by_id.items():
            cert = write(srv, "new-%d.pem" % key_id, key["certificate_pem"])
            rc, out = openssl("verify", "-CAfile", new_ca, cert)
            self.assertEqual(rc, 0, out)
            rc, out = openssl("verify", "-crl_check", "-CRLfile", new_crl, "-CAfile", new_ca,
                              cert)
            self.assertEqual(rc == 0, key_id != k1, out)
            # Not the old CA's any more...
            rc, out = openssl("verify", "-CAfile", old_ca, cert)
            self.assertNotEqual(rc, 0, out)
            # ...but the certificates the old CA issued still verify against it, as
            # published in previous_cas, with its last CRL.
            if key_id in old_by_id:
                self.assertNotEqual(old_by_id[key_id]["certificate_pem"], key["certificate_pem"])
                old = write(srv, "old-%d.pem" % key_id, old_by_id[key_id]["certificate_pem"])
                rc, out = openssl("verify", "-crl_check", "-CRLfile", old_crl, "-CAfile",
                                  old_ca, old)
                self.assertEqual(rc == 0, key_id != k1, out)
        # Every piece of both generations: online, offline with the new key list,
        # offline with the list saved before the rotation (old CA), openssl.
        keys_after = os.path.join(srv.dir, "keys-after.json")
        self.assertEqual(stamp(srv, "keys", "--out", keys_after)[0], 0)
        cases = [(old_y, True), (old_t, False), (gen1, True), (gen2, True), (gen3, True)]
        for piece, good in cases:
            v = self.verify_online(piece)
            self.assertEqual(v["valid"], good, v)
            if not good:
                self.assertEqual(v["reason"], "key_revoked", v)
            rc, out, err = self.offline(piece, keys_after)
            self.assertEqual(rc, 0 if good else 4, out + err)
            if good:
                self.assertIn("chains to the vendor CA", out)
            else:
                self.assertIn("key_revoked", out)
            if piece is not gen3:   # k3 came after that list was saved
                rc, out, err = self.offline(piece, keys_before)
                self.assertEqual(rc, 0 if good else 4, out + err)
        hsm.check_openssl(self, srv, [gen1, gen2, gen3])
        # A later revocation goes into the new CA's CRL.
        srv.run("key", "revoke", "--db", srv.db, "--key-id", str(k2), "--reason",
                "key_compromise")
        doc2 = srv.get_ok("/v1/keys")
        crl2 = write(srv, "new-crl2.pem", doc2["crl_pem"])
        rc, out = openssl("crl", "-in", crl2, "-CAfile", new_ca, "-noout", "-text")
        self.assertEqual(rc, 0, out)
        self.assertIn("Serial Number: %02X" % k2, out)
        self.assertEqual(doc2["previous_cas"], doc["previous_cas"])


class CaToken(unittest.TestCase):
    """The vendor CA in a SoftHSM2 token of its own, with its own PIN, apart from
    the PSD token: init, psd add, psd rotate-key, key revoke and ca rotate take
    the CA's PIN from --ca-pin-file (or STAMPD_CA_PIN); the PSD token's PIN
    does not open it, and a processor never needs it."""

    def test_ca_in_its_own_token(self):
        srv = harness.Stampd("ca-token")
        tokens = hsm.Tokens(srv, "psd")
        tokens.add("ca", pin="24680")
        tokens.add("ca-2", pin="13579")
        ca_pin = hsm.Tokens.write_pin(srv, "ca.pin", "24680")
        ca2_pin = hsm.Tokens.write_pin(srv, "ca2.pin", "13579")
        psd = ["--crypto", hsm.spec("psd"), "--crypto-pin-file", tokens.pin_file]
        # The CA's token refuses the PSD token's PIN: init says so and makes nothing.
        rc, _, err = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "1",
                             "--demo", "--ca-crypto", hsm.spec("ca"), *psd, check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("crypto_pin_incorrect", err)
        self.assertFalse(os.path.exists(srv.db[len("sqlite:"):]) and
                         sqlite3.connect(srv.db[len("sqlite:"):]).execute(
                             "SELECT count(*) FROM sqlite_master WHERE name = 'psds'").fetchone()[0]
                         and sqlite3.connect(srv.db[len("sqlite:"):]).execute(
                             "SELECT count(*) FROM psds").fetchone()[0])
        _, out, err = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds", "1",
                              "--demo", "--ca-crypto", hsm.spec("ca"), "--ca-pin-file", ca_pin,
                              *psd)
        keys = harness.Stampd._keys(out)
        srv.customer_key, srv.operator_key = keys["STAMP_KEY"], keys["STAMP_OPERATOR_KEY"]
        con = sqlite3.connect(srv.db[len("sqlite:"):])
        ca_module, = con.execute("SELECT value FROM config WHERE key = 'ca_module'").fetchone()
        con.close()
        self.assertEqual(ca_module, hsm.spec("ca"))
        # psd add and rotate-key: the PSD token's PIN alone does not open the CA.
        rc, _, err = srv.run("psd", "add", "--db", srv.db, *psd, check=False)
        self.assertEqual(rc, 1, err)
        self.assertIn("crypto_pin_incorrect", err)
        _, _, err = srv.run("psd", "add", "--db", srv.db, "--ca-pin-file", ca_pin, *psd)
        self.assertIn("PSDs 3-3 bound to crypto module", err)
        rc, _, err = srv.run("psd", "rotate-key", "1", "--db", srv.db, *psd, check=False)
        self.assertEqual(rc, 1, err)
        os.environ["STAMPD_CA_PIN"] = "24680"   # the environment works too (then unset)
        try:
            _, out, _ = srv.run("psd", "rotate-key", "1", "--db", srv.db, *psd)
        finally:
            del os.environ["STAMPD_CA_PIN"]
        k_new = int(out.strip().split("=")[1])
        # Revocation opens only the CA's token.
        srv.run("key", "revoke", "--db", srv.db, "--key-id", "1", "--reason", "superseded",
                "--ca-pin-file", ca_pin)
        # A processor signs with the PSD token alone; it never opens the CA's.
        srv.start(processors=1, extra=psd)
        try:
            s, _, piece = srv.buy(srv.customer_key, "ca-token-1", PIECE)
            self.assertEqual(s, 201, piece)
            self.assertEqual(piece["key_id"], k_new)
            # The CA moves to another token of its own (new PIN for the new token,
            # the current CA's PIN to sign its last CRL).
            rc, new_ca, err = srv.run("ca", "rotate", "--db", srv.db, "--crypto",
                                      hsm.spec("ca-2"), "--crypto-pin-file", ca2_pin,
                                      "--ca-pin-file", ca_pin)
            self.assertEqual(rc, 0, err)
            s, _, piece2 = srv.buy(srv.customer_key, "ca-token-2", PIECE)
            self.assertEqual(s, 201, piece2)
            doc = srv.get_ok("/v1/keys")
            self.assertEqual(doc["ca_certificate_pem"], new_ca)
            hsm.check_openssl(self, srv, [piece, piece2])
            keys_file = os.path.join(srv.dir, "keys.json")
            self.assertEqual(stamp(srv, "keys", "--out", keys_file)[0], 0)
            for p in (piece, piece2):
                rc, out, err = stamp(srv, "verify", "--offline", "--keys", keys_file, "--data",
                                     p["data"])
                self.assertEqual(rc, 0, out + err)
        finally:
            srv.stop()
        con = sqlite3.connect(srv.db[len("sqlite:"):])
        ca_module, = con.execute("SELECT value FROM config WHERE key = 'ca_module'").fetchone()
        con.close()
        self.assertEqual(ca_module, hsm.spec("ca-2"))
        # No private key of the vendor outside the tokens.
        for path in glob.glob(os.path.join(srv.dir, "**"), recursive=True):
            if os.path.isfile(path) and "/tokens/" not in path \
                    and not path.startswith(os.path.join(srv.dir, "authority") + os.sep):
                with open(path, "rb") as f:
                    self.assertNotIn(b"PRIVATE KEY", f.read(), path)


if __name__ == "__main__":
    harness.main()
