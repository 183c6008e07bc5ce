"""harness.py - start a real `stampd` on a fresh SQLite database and talk to it.

Shared by the tests/integration/test_*.py files (standard library only).
Each test creates a Stampd(), which owns a fresh directory under
$STAMPD_TEST_TMP; init() runs `stampd init --demo`, customer() creates a
customer with a balance, start() runs `stampd serve` on 127.0.0.1:0 and
waits for its "listening on http://HOST:PORT" line, stop() sends SIGTERM and
checks that the server exited 0 with no sanitizer report on stderr, and
request() sends one HTTP request and returns (status, headers, json).

The front <-> processor channel is mutual TLS: internal_tls() makes the
certificates once per test process with `stampd tls init` (a front
certificate "front", processor certificates "processor" and p1..p8 for
127.0.0.1 and localhost), internal_tls_args(NAME) are the options a `stampd
front` or `stampd processor` takes for them, and internal_ssl(NAME) is a
Python client context holding NAME's certificate (an insider's).

Environment: STAMPD_BIN (the stampd binary; default build/stampd under
STAMPD_SOURCE_DIR or the repository root), STAMPD_TEST_TMP (scratch dir,
created when missing), STAMPD_KEEP_TMP=1 (keep the scratch directories of a
successful run; a failed run always keeps them).
"""

import base64
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("STAMPD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
STAMPD_BIN = os.environ.get("STAMPD_BIN") or os.path.join(SOURCE_DIR, "build", "stampd")
TEST_TMP = os.environ.get("STAMPD_TEST_TMP") or os.path.join(tempfile.gettempdir(), "stampd-test")
KEEP_TMP = os.environ.get("STAMPD_KEEP_TMP", "") not in ("", "0")

_dirs = []   # every Stampd directory of this process, removed by main() after a clean run

LICENSE = "PV1000001"
# The listening line, in text ("TIME info listening on URL") or JSON lines.
LISTENING = re.compile(r"listening on (https?)://([0-9.]+):([0-9]+)(?![0-9])")
START_TIMEOUT = 60.0    # seconds for `stampd serve` to print its listening line
STOP_TIMEOUT = 60.0     # seconds for a SIGTERM'd server to exit
HTTP_TIMEOUT = 60.0     # seconds per HTTP request (ASan builds are slow)
CMD_TIMEOUT = 120.0     # seconds per `stampd init` / `customer create`

# Lines a sanitizer prints when it finds something.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                      "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

# Prices in mills (docs/api.md: USPS metered prices effective 2025-07-13).
LETTER_STEPS = [(10, 740), (20, 1030), (30, 1320), (35, 1610)]
POSTCARD_STEPS = [(10, 610)]
FLAT_STEPS = [(10 * i, 1630 + 270 * (i - 1)) for i in range(1, 14)]
MAIL_CLASSES = {"first_class_letter": (1, LETTER_STEPS), "postcard": (2, POSTCARD_STEPS),
                "large_envelope": (3, FLAT_STEPS)}


def price_mills(mail_class, weight_oz):
    """The documented price of a piece, in mills."""
    tenths = int(round(weight_oz * 10))
    for max_tenths, mills in MAIL_CLASSES[mail_class][1]:
        if tenths <= max_tenths:
            return mills
    raise ValueError("weight out of range")


def today_utc():
    return datetime.datetime.now(datetime.timezone.utc).date()


# Every time in an answer is RFC 3339 UTC ("2026-12-04T21:30:22Z", or with
# milliseconds "...22.123Z"; docs/api.md, "Conventions").
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


def time_ms(text):
    """An answer's RFC 3339 UTC time as unix milliseconds."""
    if not isinstance(text, str) or not RFC3339_UTC.match(text):
        raise ValueError("not an RFC 3339 UTC time: %r" % (text,))
    d = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(round(d.timestamp() * 1000))


def check_against_openapi(method, path, status, body, content_type="application/json"):
    """Raise AssertionError unless the live answer (status, parsed JSON body)
    of method + path is what docs/openapi.yaml says that operation answers:
    a documented status, a body valid against its schema with no property
    the schema does not name, times as RFC 3339 (openapi_check.py)."""
    import openapi_check
    problems = openapi_check.check(method, path, status, body, content_type)
    if problems:
        raise AssertionError("\n".join(problems))


def stampd_env():
    env = dict(os.environ)
    # Keep going after a UBSan report only if the build says so; always get a stack.
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    return env


# ---- the indicium (include/stampd/indicium.h, docs/indicium.md) ----

INDICIUM_FIXED = 73
SIG_LEN = 64


def indicium_length(buf):
    """The length of the indicium (version 1 or 2) that starts buf."""
    if buf[:1] == b"\2":
        at = IND2_FIXED
        for packed in (True, True, True, False):
            if len(buf) <= at:
                raise ValueError("indicium too short: %d bytes" % len(buf))
            n = buf[at]
            at += 1 + ((n + 2) // 3 * 2 if packed else n)
        return at + SIG_LEN
    if len(buf) < INDICIUM_FIXED + SIG_LEN:
        raise ValueError("indicium too short: %d bytes" % len(buf))
    return INDICIUM_FIXED + buf[72] + SIG_LEN


IND2_FIXED = 44
B40 = "\0ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
IND_SERVICES = ["certified_mail", "return_receipt", "non_machinable"]


def _unpack_text(raw, at):
    n = raw[at]
    chars = ""
    for g in range((n + 2) // 3):
        v = int.from_bytes(raw[at + 1 + 2 * g:at + 3 + 2 * g], "big")
        chars += B40[v // 1600] + B40[v // 40 % 40] + B40[v % 40]
    return chars[:n], at + 1 + (n + 2) // 3 * 2


def decode_indicium_v2(raw):
    """Parse version 2 indicium bytes (docs/indicium.md) into the same dict
    as version 1, plus the version 2 fields; raises ValueError."""
    n = indicium_length(raw)
    if len(raw) != n:
        raise ValueError("indicium length %d, its fields say %d" % (len(raw), n))
    flags = raw[2]
    device_id, key_id, serial = struct.unpack(">III", raw[5:17])
    days, mail_class, services, weight = struct.unpack(">HBBH", raw[31:37])
    date = datetime.date(2000, 1, 1) + datetime.timedelta(days=days)
    to = int.from_bytes(raw[40:44], "big")
    license_, at = _unpack_text(raw, IND2_FIXED)
    software_id, at = _unpack_text(raw, at)
    medium, at = _unpack_text(raw, at)
    piece = raw[at + 1:at + 1 + raw[at]]
    body = raw[:n - SIG_LEN]
    return {"version": 2, "sig_alg": raw[1], "flags": flags & 1, "license": license_,
            "vendor_id": raw[3], "model_id": raw[4], "psd_id": device_id, "key_id": key_id,
            "serial": serial, "ascending_mills": int.from_bytes(raw[17:23], "big"),
            "descending_mills": int.from_bytes(raw[23:28], "big"),
            "postage_mills": int.from_bytes(raw[28:31], "big"),
            "mail_date": int(date.strftime("%Y%m%d")), "mail_class": mail_class,
            "services": [IND_SERVICES[b] for b in range(3) if services >> b & 1],
            "weight_tenths": weight,
            "from_zip": "%05d" % int.from_bytes(raw[37:40], "big"),
            "to_zip": ("%09d" if flags & 2 else "%05d") % to, "software_id": software_id,
            "medium_serial": medium, "piece_id": piece.hex(), "body": body,
            "signature": raw[len(body):]}


def decode_indicium(raw):
    """Parse indicium bytes (version 1 or 2) into a dict; raises ValueError."""
    if raw[:1] == b"\2":
        return decode_indicium_v2(raw)
    if len(raw) < INDICIUM_FIXED + SIG_LEN:
        raise ValueError("indicium too short: %d bytes" % len(raw))
    m = raw[72]
    if len(raw) != INDICIUM_FIXED + m + SIG_LEN:
        raise ValueError("indicium length %d does not match medium length %d" % (len(raw), m))
    version, alg, flags = raw[0], raw[1], raw[2]
    license_ = raw[3:19].rstrip(b"\0").decode("ascii")
    device_id, key_id, serial = struct.unpack(">III", raw[19:31])
    (ascending,) = struct.unpack(">Q", raw[31:39])
    postage, mail_date = struct.unpack(">II", raw[39:47])
    mail_class = raw[47]
    (weight_tenths,) = struct.unpack(">H", raw[48:50])
    from_zip = raw[50:55].decode("ascii")
    to_zip = raw[55:64].rstrip(b"\0").decode("ascii")
    software_id = raw[64:72].rstrip(b"\0").decode("ascii")
    medium = raw[73:73 + m].decode("ascii")
    return {"version": version, "sig_alg": alg, "flags": flags, "license": license_,
            "psd_id": device_id, "key_id": key_id, "serial": serial,
            "ascending_mills": ascending, "postage_mills": postage, "mail_date": mail_date,
            "mail_class": mail_class, "weight_tenths": weight_tenths, "from_zip": from_zip,
            "to_zip": to_zip, "software_id": software_id, "medium_serial": medium,
            "body": raw[:INDICIUM_FIXED + m], "signature": raw[INDICIUM_FIXED + m:]}


def der_integer(b):
    """DER INTEGER for the unsigned big-endian number b."""
    b = b.lstrip(b"\0") or b"\0"
    if b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + der_len(len(b)) + b


def der_len(n):
    if n < 0x80:
        return bytes([n])
    out = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(out)]) + out


def ecdsa_raw_to_der(sig):
    """Raw r||s (64 bytes) to the DER ECDSA-Sig-Value that openssl dgst wants."""
    if len(sig) != 64:
        raise ValueError("raw signature must be 64 bytes")
    seq = der_integer(sig[:32]) + der_integer(sig[32:])
    return b"\x30" + der_len(len(seq)) + seq


def openssl_verify(workdir, public_pem, body, raw_sig):
    """Verify body against raw r||s with the openssl command line. Returns (ok, output)."""
    fd, prefix = tempfile.mkstemp(prefix="osv-", dir=workdir)
    os.close(fd)
    pub, sig, data = prefix + ".pem", prefix + ".sig.der", prefix + ".body.bin"
    try:
        with open(pub, "w") as f:
            f.write(public_pem)
        with open(sig, "wb") as f:
            f.write(ecdsa_raw_to_der(raw_sig))
        with open(data, "wb") as f:
            f.write(body)
        p = subprocess.run(["openssl", "dgst", "-sha256", "-verify", pub, "-signature", sig, data],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=CMD_TIMEOUT)
        out = p.stdout.decode("utf-8", "replace")
        return p.returncode == 0 and "Verified OK" in out, out
    finally:
        for path in (prefix, pub, sig, data):
            try:
                os.unlink(path)
            except OSError:
                pass


# ---- the internal channel's certificates ----

TLS_NAMES = ["processor"] + ["p%d" % i for i in range(1, 9)]
_tls_dirs = {}


def make_tls_dir(label, names=TLS_NAMES, hosts="127.0.0.1,localhost"):
    """A new directory with `stampd tls init`: ca.pem/.key, front.pem/.key and a
    server certificate for each of names. Returns its path."""
    os.makedirs(TEST_TMP, exist_ok=True)
    d = tempfile.mkdtemp(prefix="tls-" + label + "-", dir=TEST_TMP)
    _dirs.append(d)
    certs = os.path.join(d, "certs")
    args = [STAMPD_BIN, "tls", "init", "--dir", certs]
    for n in names:
        args += ["--processor", "%s=%s" % (n, hosts)]
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=CMD_TIMEOUT, env=stampd_env())
    err = p.stderr.decode("utf-8", "replace")
    assert_no_sanitizer(err, "stampd tls init")
    if p.returncode != 0:
        raise AssertionError("stampd tls init exited %d:\n%s" % (p.returncode, err))
    return certs


def internal_tls(label="run"):
    """The internal CA and certificates of this test process (made once per label)."""
    if label not in _tls_dirs:
        _tls_dirs[label] = make_tls_dir(label)
    return _tls_dirs[label]


def internal_tls_args(name, tls_dir=None):
    """The options that give `stampd front` (name "front") or `stampd processor`
    (name p1..p8 or "processor") its certificate."""
    return ["--internal-tls-dir", tls_dir or internal_tls(), "--internal-tls-name", name]


def internal_ssl(name="front", tls_dir=None, server=False):
    """An ssl.SSLContext with name's certificate and only the internal CA:
    a client (a front, checking the processor's name) or, server=True, a
    server that demands a client certificate of the CA."""
    d = tls_dir or internal_tls()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(os.path.join(d, "ca.pem"))
    if name:
        ctx.load_cert_chain(os.path.join(d, name + ".pem"), os.path.join(d, name + ".key"))
    if server:
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


# ---- the server ----

class Stampd:
    """One database directory and (at most) one running `stampd serve`."""

    def __init__(self, name="stampd"):
        os.makedirs(TEST_TMP, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=TEST_TMP)
        _dirs.append(self.dir)
        self.db = "sqlite:" + os.path.join(self.dir, "stampd.db")
        self.proc = None
        self.host = self.port = None
        self.customer_key = self.operator_key = self.postal_key = None
        self.runs = 0
        self.stderr_path = None
        self.stderr_paths = []

    # -- commands --

    def run(self, *args, check=True):
        p = subprocess.run([STAMPD_BIN] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=CMD_TIMEOUT, env=stampd_env())
        out, err = p.stdout.decode(), p.stderr.decode("utf-8", "replace")
        assert_no_sanitizer(err, "stampd " + " ".join(args))
        if check and p.returncode != 0:
            raise AssertionError("stampd %s exited %d\nstdout:\n%s\nstderr:\n%s"
                                 % (" ".join(args), p.returncode, out, err))
        return p.returncode, out, err

    @staticmethod
    def _keys(out):
        keys = {}
        for line in out.splitlines():
            k, sep, v = line.partition("=")
            if sep and k in ("STAMP_KEY", "STAMP_OPERATOR_KEY", "STAMP_POSTAL_KEY"):
                keys[k] = v.strip()
        return keys

    def init(self, psds=4, deposit="10000", refill=None, keys_dir=None):
        """stampd init --demo on self.db; keys_dir: --keys-dir (a PostgreSQL database needs
        one: the PSD keys' files are not in it)."""
        args = ["init", "--db", self.db, "--license", LICENSE, "--psds", str(psds),
                "--deposit", str(deposit), "--demo"]
        if refill is not None:
            args += ["--refill", str(refill)]
        if keys_dir is not None:
            args += ["--keys-dir", keys_dir]
        _, out, _ = self.run(*args)
        keys = self._keys(out)
        if "STAMP_KEY" not in keys or "STAMP_OPERATOR_KEY" not in keys:
            raise AssertionError("stampd init printed no keys:\n" + out)
        self.customer_key = keys["STAMP_KEY"]
        self.operator_key = keys["STAMP_OPERATOR_KEY"]
        self.postal_key = keys.get("STAMP_POSTAL_KEY")
        return self

    def internal_secret(self):
        """`stampd secret generate` into this directory (once): returns (path, secret),
        the file `stampd front` and `stampd processor` take with --internal-secret-file."""
        path = os.path.join(self.dir, "internal.secret")
        if not os.path.exists(path):
            self.run("secret", "generate", "--internal-secret-file", path)
        with open(path) as f:
            return path, f.read().strip()

    def customer(self, email, balance):
        """Create a customer with a balance in dollars; returns its API key."""
        _, out, _ = self.run("customer", "create", "--db", self.db, "--email", email,
                             "--balance", str(balance))
        keys = self._keys(out)
        if "STAMP_KEY" not in keys:
            raise AssertionError("customer create printed no key:\n" + out)
        return keys["STAMP_KEY"]

    # -- serve --

    def start(self, processors=2, threads=None, extra=()):
        assert self.proc is None, "server already running"
        self.runs += 1
        self.stderr_path = os.path.join(self.dir, "serve-%d.stderr" % self.runs)
        self.stderr_paths.append(self.stderr_path)
        args = [STAMPD_BIN, "serve", "--db", self.db, "--listen", "127.0.0.1:0",
                "--processors", str(processors)]
        if threads is not None:
            args += ["--threads", str(threads)]
        args += list(extra)
        with open(self.stderr_path, "wb") as errf:
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=errf,
                                         env=stampd_env())
        deadline = time.monotonic() + START_TIMEOUT
        pat = LISTENING
        while time.monotonic() < deadline:
            text = self.stderr_text()
            m = pat.search(text)
            if m:
                self.host, self.port = m.group(2), int(m.group(3))
                return self
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self.proc = None
                raise AssertionError("stampd serve exited %d before listening:\n%s"
                                     % (code, self.stderr_text()))
            time.sleep(0.05)
        self.proc.kill()
        self.proc.wait()
        self.proc = None
        raise AssertionError("stampd serve did not listen within %ds:\n%s"
                             % (START_TIMEOUT, self.stderr_text()))

    def stderr_text(self, path=None):
        path = path or self.stderr_path
        try:
            with open(path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; asserts exit status 0 and a sanitizer-clean stderr. Returns stderr."""
        if self.proc is None:
            return ""
        p, self.proc = self.proc, None
        p.send_signal(signal.SIGTERM)
        try:
            code = p.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            raise AssertionError("stampd serve did not exit within %ds of SIGTERM:\n%s"
                                 % (STOP_TIMEOUT, self.stderr_text()))
        err = self.stderr_text()
        assert_no_sanitizer(err, "stampd serve")
        if code != 0:
            raise AssertionError("stampd serve exited %d after SIGTERM:\n%s" % (code, err))
        return err

    def kill9(self):
        """SIGKILL (a crash); asserts only that nothing was reported before it."""
        if self.proc is None:
            return
        p, self.proc = self.proc, None
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=STOP_TIMEOUT)
        assert_no_sanitizer(self.stderr_text(), "stampd serve (killed)")

    def abandon(self):
        """Best-effort cleanup after a failure: never leaves a server behind."""
        if self.proc is not None:
            p, self.proc = self.proc, None
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=STOP_TIMEOUT)
            except Exception:
                p.kill()
                p.wait()

    # -- HTTP --

    def request(self, method, path, body=None, key=None, headers=None, raw=None,
                timeout=HTTP_TIMEOUT, tls=None):
        """One request on a fresh connection. body is JSON-encoded unless raw
        (bytes/str) is given; tls: an ssl.SSLContext to speak HTTPS with (a
        processor: internal_ssl()). Returns (status, headers with lower-case
        names, parsed JSON or None when the body is empty or not JSON)."""
        h = {}
        if key is not None:
            h["Authorization"] = "Bearer " + key
        if headers:
            h.update(headers)
        data = None
        if raw is not None:
            data = raw.encode() if isinstance(raw, str) else raw
        elif body is not None:
            data = json.dumps(body).encode()
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        if tls is not None:
            conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout,
                                               context=tls)
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            payload = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            status = resp.status
        finally:
            conn.close()
        try:
            j = json.loads(payload) if payload else None
        except ValueError:
            j = None
        return status, hdrs, j

    # -- conveniences --

    def buy(self, key, idem, body):
        hdrs = {"Idempotency-Key": idem} if idem is not None else None
        return self.request("POST", "/v1/indicia", body=body, key=key, headers=hdrs)

    def media(self, product="avery-5160", sheets=1, payment="free", price=None,
              customer_id=None, threshold=0, target_days=0, name="Reseller"):
        """A new affiliate (its own customer's when customer_id is given) and a
        batch of media for it (operator key, docs/media.md). Returns (affiliate
        id, batch JSON with its "serials": sheet serial, then its labels')."""
        body = {"name": name, "threshold_labels": threshold, "target_days": target_days}
        if customer_id:
            body["customer_id"] = customer_id
        status, _, aff = self.request("POST", "/v1/admin/affiliates", body, key=self.operator_key)
        if status != 201:
            raise AssertionError("create affiliate: %d %r" % (status, aff))
        body = {"product": product, "sheets": sheets, "affiliate_id": aff["id"],
                "payment": payment}
        if price is not None:
            body["price"] = price
        status, _, batch = self.request("POST", "/v1/admin/media/batches", body,
                                        key=self.operator_key)
        if status != 201:
            raise AssertionError("create batch: %d %r" % (status, batch))
        return aff["id"], batch

    def signup(self, email, mode="live", password="correct horse battery"):
        """A new customer through POST /v1/signup, with an API key of mode
        (live or test) minted with it; returns the key."""
        status, _, me = self.request("POST", "/v1/signup", body={
            "email": email, "password": password, "api_key": {"mode": mode}})
        if status != 201:
            raise AssertionError("sign-up %s: %d %r" % (email, status, me))
        return me["api_key"]["key"]

    def get_ok(self, path, key=None):
        status, _, j = self.request("GET", path, key=key)
        if status != 200:
            raise AssertionError("GET %s: %d %r" % (path, status, j))
        return j

    def balance(self, key):
        return self.get_ok("/v1/account", key)["balance_mills"]

    def psds(self):
        """GET /v1/psds, without lease expiry times (renewed every second, so
        they are not state to compare)."""
        d = self.get_ok("/v1/psds", self.operator_key)
        for p in d.get("psds", []):
            p.pop("lease_expires_at", None)
        return d

    def keys(self):
        return {k["key_id"]: k for k in self.get_ok("/v1/keys")["keys"]}

    def list_all(self, key, limit=100):
        """Every indicium of the customer, newest first, through the cursor."""
        out, cursor, pages = [], None, 0
        while True:
            path = "/v1/indicia?limit=%d" % limit
            if cursor:
                path += "&cursor=" + cursor
            page = self.get_ok(path, key)
            pages += 1
            out.extend(page["data"])
            if not page["has_more"]:
                if page["next_cursor"] is not None:
                    raise AssertionError("last page has next_cursor %r" % page["next_cursor"])
                return out
            cursor = page["next_cursor"]
            if not cursor or pages > 10000:
                raise AssertionError("has_more without a usable next_cursor: %r" % page)


# The sandbox's always-approved Visa, as a card object of the API.
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123",
        "zip": "94107"}


def without_request_id(j):
    """An error body without its error.request_id (each answer has its own), for
    comparing two answers."""
    if isinstance(j, dict) and isinstance(j.get("error"), dict):
        j = dict(j, error={k: v for k, v in j["error"].items() if k != "request_id"})
    return j


def strip_volatile(ind):
    """An indicium as lists and replays show it: without what only the first
    answer carries ("balance_mills", how it was paid, the medium used) or what
    changes with every look ("presentations")."""
    return {k: v for k, v in ind.items()
            if k not in ("balance_mills", "presentations", "medium", "resupply", "payment")}


def pg_createdb(dsn_file):
    """A fresh database on the test cluster (scripts/pg-test.sh createdb): its DSN."""
    return subprocess.run(["sh", os.path.join(SOURCE_DIR, "scripts", "pg-test.sh"), "createdb",
                           dsn_file], stdout=subprocess.PIPE, check=True,
                          timeout=60).stdout.decode().strip()


def psql():
    """The cluster's psql (scripts/pg-test.sh finds the same)."""
    for d in sorted(os.listdir("/usr/lib/postgresql"), reverse=True):
        path = os.path.join("/usr/lib/postgresql", d, "bin", "psql")
        if os.access(path, os.X_OK):
            return path
    return "psql"


def store_sql(db, statements):
    """Run statements on a store's database (a "sqlite:" path or a PostgreSQL DSN) with the
    server stopped, in one session: the first column of the last one's first row (an int on
    PostgreSQL), or None."""
    if not db.startswith("sqlite:"):
        out = subprocess.run([psql(), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
                              "-d", db, "-c", "; ".join(statements)],
                             stdout=subprocess.PIPE, check=True, timeout=60)
        lines = out.stdout.decode().split()
        return int(lines[-1]) if lines else None
    conn = sqlite3.connect(db[len("sqlite:"):])
    try:
        row = None
        for s in statements:
            row = conn.execute(s).fetchone()
        conn.commit()
        return row[0] if row else None
    finally:
        conn.close()


def pg_text(db, sql):
    """What psql prints for sql on the PostgreSQL database db (a DSN): unaligned rows, fields
    separated by a space, no headers; raises when psql fails."""
    return subprocess.run([psql(), "-X", "-q", "-At", "-F", " ", "-v", "ON_ERROR_STOP=1",
                           "-d", db, "-c", sql], stdout=subprocess.PIPE, check=True,
                          timeout=60).stdout.decode()


def pg_alone(db, timeout=30):
    """Waits (at most timeout seconds) until no other client is connected to the PostgreSQL
    database db: a backend adds its statistics (pg_stat_user_tables, ..._indexes) as it exits,
    after its client has gone, so counters read before then can miss them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and pg_text(
            db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").strip() != "0":
        time.sleep(0.1)


def sqlite_plan(db, sql, args=()):
    """SQLite's plan of sql on the connection db, its steps joined by " | "."""
    return " | ".join(r[-1] for r in db.execute("EXPLAIN QUERY PLAN " + sql, args))


def closed_port_url():
    """A loopback URL nobody listens on: bind a port, then let it go."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return "http://127.0.0.1:%d" % port


def assert_no_sanitizer(text, what):
    bad = [line for line in text.splitlines() if any(p in line for p in SANITIZER_PATTERNS)]
    if bad:
        raise AssertionError("%s: sanitizer report:\n%s" % (what, text[-20000:]))


def b64(raw):
    return base64.b64encode(raw).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


def check_registers(tc, psd_list, indicia):
    """Register invariants over every PSD and every indicium of the database:
    asc + desc == control_total; sum of postage == sum of ascending; per PSD
    the serials are exactly 1..piece_count and each piece's ascending value is
    the running sum of postage in serial order."""
    by_psd = {}
    for ind in indicia:
        by_psd.setdefault(ind["psd_id"], []).append(ind)
    ids = {p["id"] for p in psd_list}
    tc.assertTrue(set(by_psd) <= ids, "indicia name unknown PSDs %r" % (set(by_psd) - ids))
    for p in psd_list:
        tc.assertEqual(p["ascending_mills"] + p["descending_mills"], p["control_total_mills"],
                       "PSD %d: ascending + descending != control_total: %r" % (p["id"], p))
        tc.assertTrue(p["balanced"], "PSD %d not balanced: %r" % (p["id"], p))
        tc.assertGreaterEqual(p["descending_mills"], 0, "PSD %d: %r" % (p["id"], p))
        pieces = sorted(by_psd.get(p["id"], []), key=lambda i: i["serial"])
        serials = [i["serial"] for i in pieces]
        tc.assertEqual(serials, list(range(1, p["piece_count"] + 1)),
                       "PSD %d: serials are not exactly 1..piece_count (%d)"
                       % (p["id"], p["piece_count"]))
        run = 0
        for i in pieces:
            run += i["postage_mills"]
            tc.assertEqual(i["ascending_mills"], run,
                           "PSD %d serial %d: ascending %d != running sum %d"
                           % (p["id"], i["serial"], i["ascending_mills"], run))
        tc.assertEqual(p["ascending_mills"], run, "PSD %d: ascending register != sum of its "
                       "postage" % p["id"])
    tc.assertEqual(sum(i["postage_mills"] for i in indicia),
                   sum(p["ascending_mills"] for p in psd_list),
                   "sum of postage != sum of ascending registers")


def main():
    """unittest.main; after a successful run the scratch directories are removed
    (set STAMPD_KEEP_TMP=1 to keep them). A failed run keeps them for a look."""
    prog = unittest.main(verbosity=2, exit=False)
    ok = prog.result.wasSuccessful()
    if ok and not KEEP_TMP:
        for d in _dirs:
            shutil.rmtree(d, ignore_errors=True)
    elif _dirs:
        sys.stderr.write("scratch directories kept:\n  %s\n" % "\n  ".join(_dirs))
    sys.exit(0 if ok else 1)
