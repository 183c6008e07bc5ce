"""test_pkcs11.py - PSD keys in PKCS#11 tokens (SoftHSM2), end to end.

* `stampd init --crypto pkcs11:...` makes the PSD keys in a token (no key file
  anywhere), `stampd serve` signs with them, and every piece verifies with
  POST /v1/verify, `stamp verify` and the openssl command line.
* Start-up refuses, with a stable code and nothing sold: a missing module, a
  missing token, a wrong PIN, no PIN, a token with no PSD bound to it, and a
  PSD bound to the token whose key the token does not hold.
* A front and two processors on two tokens: each processor signs only with
  its own token's PSDs; when one is killed -9 in the middle of a run, every
  purchase completes exactly once on the other, whose PSDs serve it, and the
  registers add up.

Each test makes its own SoftHSM2 config and token directory (SOFTHSM2_CONF)
under the test's scratch directory; the PIN is in a 0600 file, never argv.
"""

import concurrent.futures
import glob
import os
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import hsm  # noqa: E402
import test_scale_out  # noqa: E402

SOFTHSM, PIN, Tokens, spec = hsm.SOFTHSM, hsm.PIN, hsm.Tokens, hsm.spec
STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
BODY = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
        "to_zip": "10001"}


def stamp_verify(srv, data):
    env = harness.stampd_env()
    env["STAMP_SERVER"] = "http://%s:%d" % (srv.host, srv.port)
    env["STAMP_KEY"] = srv.customer_key
    p = subprocess.run([STAMP_BIN, "verify", "--data", data], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    harness.assert_no_sanitizer(p.stderr.decode(), "stamp verify")
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def check_pieces(tc, srv, pieces):
    """Every piece verifies with stamp verify, /v1/verify and openssl."""
    keys = srv.keys()
    for ind in pieces:
        # The owner's check first (it does not count as a presentation), then the
        # operator's first presentation.
        rc, out = stamp_verify(srv, ind["data"])
        tc.assertEqual(rc, 0, out)
        tc.assertIn("signature    valid", out)
        s, _, j = srv.request("POST", "/v1/verify", {"data": ind["data"]}, key=srv.operator_key)
        tc.assertEqual(s, 200, j)
        tc.assertTrue(j["valid"] and j["signature_valid"], j)
        d = harness.decode_indicium(harness.unb64(ind["data"]))
        ok, out = harness.openssl_verify(srv.dir, keys[d["key_id"]]["public_key_pem"],
                                         d["body"], d["signature"])
        tc.assertTrue(ok, out)


class TestServe(unittest.TestCase):
    def setUp(self):
        self.srv = harness.Stampd("pkcs11")
        self.tokens = Tokens(self.srv, "vendor")
        _, out, err = self.srv.run("init", "--db", self.srv.db, "--license", harness.LICENSE,
                                   "--psds", "2", "--deposit", "1000", "--refill", "50", "--demo",
                                   "--crypto", spec("vendor"),
                                   "--crypto-pin-file", self.tokens.pin_file)
        keys = harness.Stampd._keys(out)
        self.srv.customer_key = keys["STAMP_KEY"]
        self.srv.operator_key = keys["STAMP_OPERATOR_KEY"]

    def tearDown(self):
        self.srv.abandon()

    def test_sign_in_the_token(self):
        # No key file: nothing under the database's directory is a private key.
        self.assertFalse(os.path.exists(os.path.join(self.srv.dir, "keys")))
        for path in glob.glob(os.path.join(self.srv.dir, "**"), recursive=True):
            # authority/: the postal authority's reset signer, not the vendor's (it would
            # be the authority's own system in a real deployment: docs/authority.md).
            if os.path.isfile(path) and not path.startswith(os.path.join(self.srv.dir,
                                                                         "tokens")) \
                    and not path.startswith(os.path.join(self.srv.dir, "authority")):
                with open(path, "rb") as f:
                    self.assertNotIn(b"PRIVATE KEY", f.read(), path)
        # The PIN from the environment this time (then unset by stampd).
        os.environ["STAMPD_CRYPTO_PIN"] = PIN
        try:
            self.srv.start(processors=2)
        finally:
            del os.environ["STAMPD_CRYPTO_PIN"]
        pieces = []
        for n in range(6):
            s, _, j = self.srv.buy(self.srv.customer_key, "p11-%d" % n, BODY)
            self.assertEqual(s, 201, j)
            pieces.append(j)
        check_pieces(self, self.srv, pieces)
        self.assertEqual(len(self.srv.keys()), 3)  # two live PSDs and the test PSD
        self.srv.stop()

    def refused(self, extra, code, env=None):
        old = dict(os.environ)
        os.environ.update(env or {})
        try:
            with self.assertRaises(AssertionError) as cm:
                self.srv.start(extra=extra)
        finally:
            os.environ.clear()
            os.environ.update(old)
        text = str(cm.exception)
        self.assertIn("(%s)" % code, text)
        harness.assert_no_sanitizer(text, "stampd serve")
        return text

    def test_start_errors(self):
        pin = ["--crypto-pin-file", self.tokens.pin_file]
        t = self.refused(["--crypto", spec("vendor", "/nonexistent/libp11.so")] + pin,
                         "crypto_module_unavailable")
        self.assertIn("cannot load module /nonexistent/libp11.so", t)
        t = self.refused(["--crypto", spec("nosuch")] + pin, "crypto_token_not_found")
        self.assertIn("no initialised token labelled nosuch", t)
        bad = os.path.join(self.srv.dir, "bad.pin")
        fd = os.open(bad, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"0000\n")
        os.close(fd)
        t = self.refused(["--crypto-pin-file", bad], "crypto_pin_incorrect")
        self.assertIn("wrong PIN", t)
        # No PIN at all; two sources of it; a PIN file others may read.
        t = self.refused([], "config_error")
        self.assertIn("needs its user PIN", t)
        t = self.refused(pin, "config_error", env={"STAMPD_CRYPTO_PIN": PIN})
        self.assertIn("not both", t)
        os.chmod(bad, 0o644)
        t = self.refused(["--crypto-pin-file", bad], "config_error")
        self.assertIn("group or others may read it", t)
        # A token that holds no PSD's key: no PSD is bound to it.
        self.tokens.add("empty")
        t = self.refused(["--crypto", spec("empty")] + pin, "no_psd_available")
        self.assertIn("no active PSD is bound to crypto module", t)
        # A PSD bound to the token whose key is not in it.
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        db.execute("UPDATE keys SET key_ref = 'p11:id=00000000000000000000000000000000' "
                   "WHERE key_id = 2")
        db.commit()
        db.close()
        t = self.refused(pin, "psd_key_not_in_module")
        self.assertIn("PSD 2: key p11:id=00000000000000000000000000000000: not in this crypto "
                      "module", t)
        # Nothing was sold: every register is where init left it.
        for p in self.srv_psds():
            self.assertEqual(p[1], 0, p)

    def srv_psds(self):
        db = sqlite3.connect(self.srv.db[len("sqlite:"):])
        rows = db.execute("SELECT id, ascending FROM psds").fetchall()
        db.close()
        return rows


class Cluster(test_scale_out.Cluster):
    """A front and one `stampd processor` per token, over one database (PostgreSQL
    when STAMPD_TEST_PG_DSN_FILE names one, as for test_scale_out, else SQLite)
    (start-up, stop and the processes' stderr as in test_scale_out)."""

    def __init__(self, tc):  # pylint: disable=super-init-not-called
        self.srv = harness.Stampd("pkcs11-cluster")
        self.srv.db = test_scale_out.fresh_dsn(self.srv)  # PostgreSQL when the suite has one
        self.lease_ms = 1500
        self.tokens = Tokens(self.srv, "tok-a", "tok-b")
        _, out, _ = self.srv.run("init", "--db", self.srv.db, "--license", harness.LICENSE,
                                 "--psds", "2", "--deposit", "100000", "--refill", "50", "--demo",
                                 "--crypto", spec("tok-a"), "--crypto-pin-file",
                                 self.tokens.pin_file, "--authority-dir",
                                 os.path.join(self.srv.dir, "authority"))
        keys = harness.Stampd._keys(out)
        self.srv.customer_key = keys["STAMP_KEY"]
        self.srv.operator_key = keys["STAMP_OPERATOR_KEY"]
        _, _, err = self.srv.run("psd", "add", "--db", self.srv.db, "--psds", "2", "--crypto",
                                 spec("tok-b"), "--crypto-pin-file", self.tokens.pin_file)
        tc.assertIn("PSDs 4-5 bound to crypto module pkcs11:SoftHSM project/SoftHSM v2/", err)
        tc.assertIn("test PSD 6 bound to it too", err)
        self.secret_file, _ = self.srv.internal_secret()
        self.procs = {}
        self.front = None

    def start(self):
        # The internal channel is mutual TLS: pa and pb use the harness's
        # processor certificates p1 and p2 (the name is the certificate's, the id the PSDs').
        for pid, token, cert in (("pa", "tok-a", "p1"), ("pb", "tok-b", "p2")):
            self.procs[pid] = self._spawn(pid, [
                "processor", "--db", self.srv.db, "--listen", "127.0.0.1:0", "--id", pid,
                "--internal-secret-file", self.secret_file, "--lease-ms", str(self.lease_ms),
                "--crypto", spec(token), "--crypto-pin-file", self.tokens.pin_file] +
                harness.internal_tls_args(cert))
        proc, path, host, port = self._spawn("front", [
            "front", "--db", self.srv.db, "--listen", "127.0.0.1:0", "--threads", "8",
            "--internal-secret-file", self.secret_file] + harness.internal_tls_args("front"))
        self.front = (proc, path)
        self.srv.host, self.srv.port = host, port

    def leases(self):
        return {s["id"]: sorted(s["psd_leases"]) for s in
                self.srv.get_ok("/v1/admin/servers", self.srv.operator_key)["servers"]
                if s["healthy"]}

    def wait_for(self, want, timeout=30):
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            try:
                got = self.leases()
                if got == want:
                    return
            except Exception:
                pass
            time.sleep(0.1)
        raise AssertionError("leases %r, want %r" % (got, want))

    def abandon(self):
        for proc, _ in [self.front] if self.front else []:
            proc.kill()
        for v in self.procs.values():
            v[0].kill()


class TestTwoTokens(unittest.TestCase):
    def setUp(self):
        self.c = Cluster(self)

    def tearDown(self):
        self.c.abandon()

    def buy_many(self, prefix, n):
        def one(i):
            s, _, j = self.c.srv.buy(self.c.srv.customer_key, "%s-%d" % (prefix, i), BODY)
            return s, j
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            return list(ex.map(one, range(n)))

    def test_each_processor_its_own_token_and_failover(self):
        c = self.c
        c.start()
        c.wait_for({"pa": [1, 2], "pb": [4, 5]})
        sv = {s["id"]: s for s in c.servers()}
        self.assertEqual(sv["pa"]["crypto_module"], "pkcs11")
        self.assertTrue(sv["pa"]["module_id"].startswith("pkcs11:SoftHSM project/SoftHSM v2/"))
        self.assertNotEqual(sv["pa"]["module_id"], sv["pb"]["module_id"])
        first = self.buy_many("run1", 24)
        for s, j in first:
            self.assertEqual(s, 201, j)
        # Each piece came from the PSD of the processor whose token holds its key.
        by_psd = {}
        for _, j in first:
            by_psd.setdefault(j["psd_id"], 0)
            by_psd[j["psd_id"]] += 1
        self.assertTrue(set(by_psd) <= {1, 2, 4, 5}, by_psd)
        self.assertTrue(set(by_psd) & {1, 2} and set(by_psd) & {4, 5}, by_psd)

        # pb dies in the middle of a run: every purchase completes, once, on pa.
        results = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as ex:
            fut = ex.submit(self.buy_many, "run2", 30)
            time.sleep(0.2)
            c.procs.pop("pb")[0].kill()
            results = fut.result()
        for s, j in results:
            self.assertEqual(s, 201, j)
        # pa never takes pb's PSDs, even after their leases expired.
        time.sleep(2.5)
        leases = c.leases()
        self.assertEqual(leases["pa"], [1, 2])
        self.assertEqual(leases.get("pb", []), [])
        after = self.buy_many("run3", 10)
        for s, j in after:
            self.assertEqual(s, 201, j)
            self.assertIn(j["psd_id"], (1, 2), j)
        # The same idempotency keys again: replays, nothing new.
        again = self.buy_many("run2", 30)
        self.assertEqual(sorted(j["id"] for _, j in again), sorted(j["id"] for _, j in results))

        everything = c.srv.list_all(c.srv.customer_key)
        self.assertEqual(len(everything), 64)
        self.assertEqual(len({i["id"] for i in everything}), 64)
        harness.check_registers(self, c.srv.psds()["psds"], everything)
        check_pieces(self, c.srv, [j for _, j in first[:4] + results[-4:] + after[:2]])
        c.stop()
        c.procs, c.front = {}, None

    def test_a_broken_token_hands_its_pieces_over(self):
        """pb's token loses its keys while pb runs (an HSM wiped or failed): pb
        cannot sign, writes nothing, and the front sells each piece on pa."""
        c = self.c
        c.start()
        c.wait_for({"pa": [1, 2], "pb": [4, 5]})
        tokdir = os.path.join(c.srv.dir, "tokens")
        broken = None
        for d in os.listdir(tokdir):
            with open(os.path.join(tokdir, d, "token.object"), "rb") as f:
                if b"tok-b" in f.read():
                    broken = os.path.join(tokdir, d)
        self.assertIsNotNone(broken, "no SoftHSM2 directory for tok-b")
        for name in os.listdir(broken):
            if name.endswith(".object") and name != "token.object":
                os.remove(os.path.join(broken, name))
        results = self.buy_many("broken", 20)
        for s, j in results:
            self.assertEqual(s, 201, j)
            self.assertIn(j["psd_id"], (1, 2), j)
        self.assertIn("cannot sign", c.srv.stderr_text(c.procs["pb"][1]))
        everything = c.srv.list_all(c.srv.customer_key)
        self.assertEqual(len(everything), 20)
        harness.check_registers(self, c.srv.psds()["psds"], everything)
        check_pieces(self, c.srv, [j for _, j in results[:3]])
        c.stop()
        c.procs, c.front = {}, None


if __name__ == "__main__":
    harness.main()
