"""hsm.py - SoftHSM2 tokens for the integration tests, and the openssl-CLI check
of every piece (issue 14). Standard library only; not a test file itself.

* Tokens(srv, *labels): a SoftHSM2 token directory under srv.dir with
  SOFTHSM2_CONF pointing at it, a token per label (user PIN PIN) and a 0600
  PIN file; spec(label) is the `--crypto` of a token.
* provision(srv, tokens, per_token, ...): `stampd init` into the first
  token, `stampd psd add` into each other one (each token gets per_token PSDs
  and a test PSD); returns {label: [live PSD ids]}.
* MODE: the suites that run in two modes (test_purchase_e2e, test_scale_out)
  run with every processor on its own token when STAMPD_TEST_CRYPTO=pkcs11
  (CTest's integration/<name>_pkcs11 entries set it).
* check_openssl(tc, srv, pieces): for every piece, with the openssl command
  line only: the certificate of its key from GET /v1/keys (`openssl x509`),
  `openssl verify -CAfile` against the CA of /v1/keys (with the CRL), and the
  indicium's signature with `openssl dgst -sha256 -verify` against the key
  taken out of that certificate.
"""

import concurrent.futures
import os
import subprocess
import tempfile

import harness

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"
MODE = os.environ.get("STAMPD_TEST_CRYPTO", "") == "pkcs11"


def spec(token, module=SOFTHSM):
    return "pkcs11:module=%s;token=%s" % (module, token)


class Tokens:
    """A SoftHSM2 token directory in srv.dir, with SOFTHSM2_CONF pointing at it."""

    def __init__(self, srv, *labels):
        tokdir = os.path.join(srv.dir, "tokens")
        os.makedirs(tokdir)
        self.conf = os.path.join(srv.dir, "softhsm2.conf")
        with open(self.conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
                    % tokdir)
        os.environ["SOFTHSM2_CONF"] = self.conf
        for label in labels:
            self.add(label)
        self.pin_file = self.write_pin(srv, "token.pin", PIN)

    @staticmethod
    def write_pin(srv, name, pin):
        path = os.path.join(srv.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (pin + "\n").encode())
        os.close(fd)
        return path

    def add(self, label, pin=PIN):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin,
                        "--so-pin", "87654321"], check=True, stdout=subprocess.DEVNULL,
                       timeout=60)


def provision(srv, labels, per_token, deposit="10000", refill="50", tc=None):
    """srv's database (srv.db: SQLite or PostgreSQL) with per_token PSDs in each
    token of labels (made here); sets srv's keys. Returns (Tokens, {label: [ids]})."""
    tokens = Tokens(srv, *labels)
    _, out, _ = srv.run("init", "--db", srv.db, "--license", harness.LICENSE, "--psds",
                        str(per_token), "--deposit", str(deposit), "--refill", str(refill),
                        "--demo", "--crypto", spec(labels[0]), "--crypto-pin-file",
                        tokens.pin_file, "--authority-dir", os.path.join(srv.dir, "authority"))
    keys = harness.Stampd._keys(out)
    srv.customer_key = keys["STAMP_KEY"]
    srv.operator_key = keys["STAMP_OPERATOR_KEY"]
    srv.postal_key = keys.get("STAMP_POSTAL_KEY")
    owned = {labels[0]: list(range(1, per_token + 1))}
    nxt = per_token + 2   # the test PSD of each token follows its live ones
    for label in labels[1:]:
        _, _, err = srv.run("psd", "add", "--db", srv.db, "--psds", str(per_token), "--crypto",
                            spec(label), "--crypto-pin-file", tokens.pin_file)
        want = "PSDs %d-%d bound to crypto module pkcs11:" % (nxt, nxt + per_token - 1)
        if want not in err:
            raise AssertionError("psd add into %s: %r not in %r" % (label, want, err))
        owned[label] = list(range(nxt, nxt + per_token))
        nxt += per_token + 1
    return tokens, owned


def crypto_args(tokens, label):
    """The options a `stampd processor` takes to sign with token label."""
    return ["--crypto", spec(label), "--crypto-pin-file", tokens.pin_file]


def _openssl(workdir, *args):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=harness.CMD_TIMEOUT, cwd=workdir)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def check_openssl(tc, srv, pieces, workers=4):
    """Every piece's signature with the openssl command line against its key's
    certificate, and that certificate against the CA (and CRL) of GET /v1/keys."""
    doc = srv.get_ok("/v1/keys")
    by_id = {k["key_id"]: k for k in doc["keys"]}
    work = tempfile.mkdtemp(prefix="openssl-", dir=srv.dir)
    ca = os.path.join(work, "ca.pem")
    crl = os.path.join(work, "crl.pem")
    with open(ca, "w") as f:
        f.write(doc["ca_certificate_pem"])
    with open(crl, "w") as f:
        f.write(doc["crl_pem"])
    pubs = {}
    # Each certificate once: openssl x509 takes the key out of it, openssl verify
    # chains it to the CA (and the CRL, none of these keys being revoked).
    for key_id in sorted({harness.decode_indicium(harness.unb64(p["data"]))["key_id"]
                          for p in pieces}):
        tc.assertIn(key_id, by_id, "key %d not published in /v1/keys" % key_id)
        cert = os.path.join(work, "cert-%d.pem" % key_id)
        with open(cert, "w") as f:
            f.write(by_id[key_id]["certificate_pem"])
        rc, out = _openssl(work, "verify", "-crl_check", "-CRLfile", crl, "-CAfile", ca, cert)
        tc.assertEqual(rc, 0, "key %d: %s" % (key_id, out))
        tc.assertIn("OK", out)
        rc, out = _openssl(work, "x509", "-in", cert, "-noout", "-serial")
        tc.assertEqual((rc, out.strip().split("=")[1].lstrip("0") or "0"),
                       (0, "%X" % key_id), out)
        pub = os.path.join(work, "pub-%d.pem" % key_id)
        rc, out = _openssl(work, "x509", "-in", cert, "-noout", "-pubkey", "-out", pub)
        tc.assertEqual(rc, 0, out)
        pubs[key_id] = pub

    def one(n_piece):
        n, piece = n_piece
        d = harness.decode_indicium(harness.unb64(piece["data"]))
        body, sig = os.path.join(work, "b%d.bin" % n), os.path.join(work, "s%d.der" % n)
        with open(body, "wb") as f:
            f.write(d["body"])
        with open(sig, "wb") as f:
            f.write(harness.ecdsa_raw_to_der(d["signature"]))
        rc, out = _openssl(work, "dgst", "-sha256", "-verify", pubs[d["key_id"]], "-signature",
                           sig, body)
        os.unlink(body)
        os.unlink(sig)
        return piece.get("id"), rc == 0 and "Verified OK" in out, out

    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as ex:
        results = list(ex.map(one, enumerate(pieces)))
    bad = [(i, out) for i, ok, out in results if not ok]
    tc.assertEqual(bad, [], "openssl does not verify these pieces against their certificates")
    tc.assertEqual(len(results), len(pieces))
    return len(pubs)
