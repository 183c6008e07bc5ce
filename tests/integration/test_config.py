"""test_config.py - the configuration file of stampd serve, front and
processor (issue 16, "Install and run"; docs/operations.md, "Configuration
file"; packaging/stampd.conf).

A file of `key = value` lines runs a server with no flags but --config;
flags override it; [serve]/[front]/[processor] sections apply to their mode
only. Every mistake is one "FILE:LINE: ..." line and exit 2: an unknown key,
a bad value, a duplicate key, an unknown section, a line without '=', a key
the mode does not take; a file group or others may write is refused, and so
is a secret value (internal-secret, crypto-pin) in a file others may read,
while a 0600 file may hold one (a front starts with it); a PostgreSQL
password in db is refused the same way, and on the command line always. packaging/stampd.conf
documents every option of the three servers (compared with their --help).

Environment: STAMPD_BIN, STAMPD_SOURCE_DIR, STAMPD_TEST_TMP.
Standard library only; run as `python3 test_config.py`.
"""

import os
import tempfile
import stat
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

SRV = None


def write(name, text, mode=0o600):
    path = os.path.join(SRV.dir, name)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def stampd(*args, env=None):
    p = subprocess.run([harness.STAMPD_BIN] + list(args), capture_output=True, text=True,
                       timeout=harness.CMD_TIMEOUT, env=env or harness.stampd_env())
    harness.assert_no_sanitizer(p.stderr, " ".join(args))
    return p


def serve_until_listening(args, env=None):
    """Start stampd with args; returns (stderr text once it listens, after SIGTERM)."""
    errpath = os.path.join(SRV.dir, "run-%d.stderr" % time.monotonic_ns())
    with open(errpath, "wb") as errf:
        proc = subprocess.Popen([harness.STAMPD_BIN] + args, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=errf,
                                env=env or harness.stampd_env())
    deadline = time.monotonic() + harness.START_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        with open(errpath, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if "listening on " in text or proc.poll() is not None:
            break
        time.sleep(0.05)
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=harness.STOP_TIMEOUT)
    with open(errpath, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    harness.assert_no_sanitizer(text, " ".join(args))
    return proc.returncode, text


class Errors(unittest.TestCase):
    CASES = [
        ("unknown-key", "db = x\nlisen = 127.0.0.1:1\n", "serve", 2, "unknown key 'lisen'"),
        ("bad-number", "# comment\n\nthreads = many\n", "serve", 3,
         "threads must be a whole number from 1 to 256"),
        ("bad-range", "processors = 17\n", "serve", 1, "processors must be"),
        ("bad-listen", "listen = 8080\n", "serve", 1, "listen must be HOST:PORT"),
        ("bad-bool", "internal-plaintext = maybe\n", "front", 1, "must be yes or no"),
        ("duplicate", "threads = 2\nthreads = 3\n", "serve", 2,
         "duplicate key threads (first on line 1)"),
        ("duplicate-in-section", "[front]\nthreads = 2\n\n[front]\nthreads = 3\n", "serve", 5,
         "duplicate key threads"),
        ("section", "[server]\n", "serve", 1, "unknown section [server]"),
        ("no-equals", "threads 4\n", "serve", 1, "expected key = value"),
        ("empty-value", "threads =\n", "serve", 1, "threads needs a value"),
        ("wrong-mode", "processors = 2\n", "front", 1, "processors is not an option of front"),
        ("wrong-section", "[front]\ncrypto = openssl:/x\n", "serve", 2,
         "crypto is not an option of front"),
        ("both-secrets", "internal-secret = %s\ninternal-secret-file = /x\n" % ("a" * 40),
         "front", 1, "internal-secret and internal-secret-file: one or the other"),
    ]

    def test_each_mistake_names_file_and_line(self):
        for name, text, mode, line, what in self.CASES:
            with self.subTest(name=name):
                path = write(name + ".conf", text)
                p = stampd(mode, "--config", path)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertIn("stampd: %s:%d: " % (path, line), p.stderr)
                self.assertIn(what, p.stderr)
                self.assertNotIn("listening", p.stderr)

    def test_secret_in_readable_file(self):
        path = write("pin.conf", "crypto-pin = 1234\n", 0o644)
        p = stampd("serve", "--config", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("%s:1: crypto-pin: a secret value in a file others can read" % path,
                      p.stderr)
        path = write("secret.conf", "[front]\ninternal-secret = %s\n" % ("b" * 40), 0o604)
        p = stampd("front", "--config", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("%s:2: internal-secret: a secret value" % path, p.stderr)

    def test_password_in_db(self):
        dsn = "postgres://stampd:hunter2@127.0.0.1:5432/stampd"
        path = write("pgpass.conf", "db = %s\n" % dsn, 0o644)
        p = stampd("serve", "--config", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("%s:1: db holds a password and others can read this file" % path,
                      p.stderr)
        self.assertNotIn("hunter2", p.stderr)
        # Never in argv, for any command.
        for args in (["serve", "--db", dsn], ["migrate", "--db", dsn],
                     ["ledger", "check", "--db", "postgresql://h/db?sslmode=require&password=x"]):
            p = stampd(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn("--db holds a password", p.stderr)
        # A user without a password is fine as far as this check goes.
        p = stampd("serve", "--config", write("nopass.conf", "db = %s\n" % SRV.db, 0o644),
                   "--listen", "bad")
        self.assertNotIn("password", p.stderr)

    def test_writable_file_refused(self):
        path = write("loose.conf", "threads = 2\n", 0o620)
        p = stampd("serve", "--config", path)
        self.assertEqual(p.returncode, 2)
        self.assertIn("group or others may write it", p.stderr)

    def test_missing_file(self):
        p = stampd("serve", "--config", os.path.join(SRV.dir, "nope.conf"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("No such file", p.stderr)

    def test_config_only_for_servers(self):
        p = stampd("migrate", "--db", SRV.db, "--config", "/dev/null")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--config is an option of serve, front, processor and backup", p.stderr)



class InitMakesTheDatabaseDirectory(unittest.TestCase):
    """`stampd init` before the unit's first start: /var/lib/stampd may not exist yet."""

    def test_missing_parents_made_0700(self):
        root = tempfile.mkdtemp(dir=SRV.dir)
        db = os.path.join(root, "state", "stampd", "stampd.db")
        p = stampd("init", "--db", "sqlite:" + db, "--license", "PV1000001", "--psds", "1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertTrue(os.path.exists(db))
        for d in (os.path.join(root, "state"), os.path.dirname(db)):
            self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700, d)


class Running(unittest.TestCase):
    def test_file_alone_and_flags_override(self):
        path = write("serve.conf", "# every option here\ndb = %s\nlisten = 127.0.0.1:0\n"
                     "threads = 2\n\n[serve]\nprocessors = 1\n\n[processor]\nid = p9\n"
                     % SRV.db, 0o644)
        rc, text = serve_until_listening(["serve", "--config", path])
        self.assertIn("license %s, 1 processors" % harness.LICENSE, text)
        self.assertEqual(rc, 0, text)
        rc, text = serve_until_listening(["serve", "--config", path, "--processors", "3"])
        self.assertIn("license %s, 3 processors" % harness.LICENSE, text)
        self.assertEqual(rc, 0, text)

    def test_front_secret_from_private_file(self):
        path = write("front.conf", "db = %s\nlisten = 127.0.0.1:0\n[front]\n"
                     "internal-secret = %s\ninternal-plaintext = yes\n" % (SRV.db, "c" * 40))
        env = dict(harness.stampd_env())
        env.pop("STAMPD_INTERNAL_SECRET", None)
        rc, text = serve_until_listening(["front", "--config", path], env=env)
        self.assertIn("listening on http://127.0.0.1:", text)
        self.assertEqual(rc, 0, text)
        # Without it, the front says what it needs.
        path = write("front2.conf", "db = %s\nlisten = 127.0.0.1:0\ninternal-plaintext = yes\n"
                     "[serve]\nprocessors = 1\n" % SRV.db)
        p = stampd("front", "--config", path, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("needs the front-processor secret", p.stderr)


def help_options(mode):
    out = stampd(mode, "--help").stdout
    return set(re.findall(r"--([a-z][a-z-]+)", out.split("\n\n", 1)[0])) - {"config"}


class Documented(unittest.TestCase):
    def test_default_file_holds_every_option(self):
        with open(os.path.join(harness.SOURCE_DIR, "packaging", "stampd.conf")) as f:
            text = f.read()
        documented = set(re.findall(r"^#\s*([a-z][a-z-]+)\s*=", text, re.M))
        options = help_options("serve") | help_options("front") | help_options("processor")
        self.assertGreater(len(options), 20)
        self.assertEqual(options - documented, set(), "options not in packaging/stampd.conf")
        self.assertEqual(documented - options - {"internal-secret", "crypto-pin"}, set(),
                         "keys in packaging/stampd.conf that no server takes")
        # As shipped (everything commented) it is a valid file for every mode.
        path = write("shipped.conf", text, 0o644)
        for mode in ("serve", "front", "processor"):
            p = stampd(mode, "--config", path)
            self.assertNotIn(path + ":", p.stderr)
            self.assertIn("--db DSN is required", p.stderr)


def setUpModule():
    global SRV
    SRV = harness.Stampd("config").init(psds=2)


if __name__ == "__main__":
    unittest.main(verbosity=2)
