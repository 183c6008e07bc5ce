"""test_install.py - `make install` (cmake --install) into a throwaway root
(issue 16, "Install and run"; docs/operations.md, "Installing").

Installs the build under test with DESTDIR and checks what lands: both
programs (the installed stampd answers --version), both man pages, the
default configuration at /etc/stampd/stampd.conf (mode 0640, and kept, not
overwritten, by a second install), the systemd unit naming the installed
binary with its hardening, which `systemd-analyze verify` accepts when it is
available; no web files (the UI is compiled in). The man pages name every
subcommand of both programs (the lists of test_help.py).

Environment: STAMPD_BIN, STAMP_BIN (in the build directory), STAMPD_SOURCE_DIR,
STAMPD_TEST_TMP. Standard library only; run as `python3 test_install.py`.
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_help  # noqa: E402

BUILD = os.path.dirname(os.path.abspath(harness.STAMPD_BIN))
ROOT = None
FILES = []


def cache(name):
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        m = re.search(r"^%s:[A-Z]+=(.*)$" % re.escape(name), f.read(), re.M)
    return m.group(1) if m else None


def installed(rel):
    return os.path.join(ROOT, rel.lstrip("/"))


def roff_text(path):
    with open(path) as f:
        t = f.read()
    t = re.sub(r"\\f[BIRP]", "", t)
    return t.replace("\\-", "-").replace("\\&", "")


class Install(unittest.TestCase):
    def test_programs(self):
        prefix = cache("CMAKE_INSTALL_PREFIX")
        for prog in ("stampd", "stamp"):
            path = installed(prefix + "/bin/" + prog)
            self.assertTrue(os.access(path, os.X_OK), path)
        p = subprocess.run([installed(prefix + "/bin/stampd"), "--version"], capture_output=True,
                           text=True, timeout=60, env=harness.stampd_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"^stampd \S+\n$")

    def test_config(self):
        conf = installed("/etc/stampd/stampd.conf")
        st = os.stat(conf)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o640)
        with open(os.path.join(harness.SOURCE_DIR, "packaging", "stampd.conf")) as f:
            shipped = f.read()
        with open(conf) as f:
            self.assertEqual(f.read(), shipped)
        # An operator's edits survive the next make install.
        with open(conf, "a") as f:
            f.write("threads = 3\n")
        run_install()
        with open(conf) as f:
            self.assertTrue(f.read().endswith("threads = 3\n"))

    def test_unit(self):
        prefix = cache("CMAKE_INSTALL_PREFIX")
        texts = {}
        for name, cmd in (("stampd.service", "serve"), ("stampd-front.service", "front"),
                          ("stampd-processor@.service", "processor --id %i")):
            with open(installed(prefix + "/lib/systemd/system/" + name)) as f:
                texts[name] = text = f.read()
            with self.subTest(unit=name):
                self.assertIn("ExecStart=%s/bin/stampd %s --config /etc/stampd/stampd.conf\n"
                              % (prefix, cmd), text)
                for line in ("Type=notify", "User=stampd", "StateDirectory=stampd",
                             "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                             "NoNewPrivileges=yes",
                             "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                             "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
                             "ExecReload=/bin/kill -HUP $MAINPID"):
                    self.assertIn(line, text)
        self.assertIn("Description=stampd processor %i", texts["stampd-processor@.service"])
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            self.skipTest("no systemd-analyze")
        # verify checks that ExecStart exists: point it at the installed copy.
        d = tempfile.mkdtemp(dir=ROOT)
        paths = []
        for name, text in texts.items():
            path = os.path.join(d, name.replace("@.", "@proc-a."))
            with open(path, "w") as f:
                f.write(text.replace("ExecStart=%s/bin/stampd" % prefix,
                                     "ExecStart=" + installed(prefix + "/bin/stampd")))
            paths.append(path)
        p = subprocess.run([analyze, "verify", "--man=no"] + paths,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "")

    def test_no_web_files(self):
        self.assertEqual([f for f in FILES if "/web/" in f or f.endswith((".html", ".js"))], [])

    def test_man_pages_name_every_subcommand(self):
        prefix = cache("CMAKE_INSTALL_PREFIX")
        mandir = installed(prefix + "/share/man")
        stampd8 = roff_text(os.path.join(mandir, "man8", "stampd.8"))
        stamp1 = roff_text(os.path.join(mandir, "man1", "stamp.1"))
        listed, table = test_help.stampd_subcommands()
        for name in sorted(listed | table):
            with self.subTest(program="stampd", name=name):
                self.assertIn("stampd " + name, stampd8)
        listed, table = test_help.stamp_commands()
        for name in sorted(listed | table):
            with self.subTest(program="stamp", name=name):
                self.assertIn("stamp " + name, stamp1)
        self.assertIn(".TH \"stampd\" \"8\"", stampd8)
        self.assertIn(".TH \"stamp\" \"1\"", stamp1)


def run_install():
    env = dict(os.environ, DESTDIR=ROOT)
    p = subprocess.run(["cmake", "--install", BUILD], capture_output=True, text=True, env=env,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError("cmake --install failed:\n" + p.stdout + p.stderr)
    return p.stdout


def setUpModule():
    global ROOT
    os.makedirs(harness.TEST_TMP, exist_ok=True)
    ROOT = tempfile.mkdtemp(prefix="install-", dir=harness.TEST_TMP)
    run_install()
    for dirpath, _, names in os.walk(ROOT):
        FILES.extend(os.path.join(dirpath, n)[len(ROOT):] for n in names)


def tearDownModule():
    if ROOT and not harness.KEEP_TMP:
        shutil.rmtree(ROOT, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
