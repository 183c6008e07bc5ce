"""test_help.py - `--version` and `--help` of both programs (issue 16,
"Install and run"; docs/operations.md).

Every subcommand of `stampd` and of `stamp` answers `--help` and `-h` with its
own usage on stdout and exit 0. The lists are read from the programs
themselves (`stampd --help`, `stamp --help`, `stamp admin --help`) and from
their sources (main.c's subcommand table and any other `strcmp(argv[1], ...)`
dispatch; stamp.c's command table), so a subcommand added without help, or
dispatched outside the table, fails here. `stampd --version` and `stamp
--version` print the same build version (git describe at build time), and
cmake/version.cmake falls back to the project version outside a checkout.

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_SOURCE_DIR, STAMPD_TEST_TMP.
Standard library only; run as `python3 test_help.py`.
"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
TIMEOUT = 60.0


def run(argv):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT,
                       env=harness.stampd_env())
    harness.assert_no_sanitizer(p.stderr, " ".join(argv))
    return p


def read(path):
    with open(os.path.join(harness.SOURCE_DIR, path), encoding="utf-8") as f:
        return f.read()


def stampd_subcommands():
    """(from `stampd --help`, from main.c): sets of one- or two-word names."""
    out = run([harness.STAMPD_BIN, "--help"]).stdout
    listed = set()
    for line in out.splitlines():
        m = re.match(r"  stampd ([a-z][a-z-]*(?: [a-z][a-z-]*)?)(?: |$)", line)
        if m:
            listed.add(m.group(1))
    src = read("src/server/main.c")
    table = set(re.findall(r'\{\s*"([a-z][a-z -]*)",\s*OPTS_', src))
    # Dispatch outside the table would be a subcommand without help.
    for word in re.findall(r'strcmp\(argv\[1\],\s*"([a-z][a-z-]*)"\)', src):
        if word != "help":  # `stampd help`: the global usage
            table.add(word)
    return listed, table


class StampdHelp(unittest.TestCase):
    def test_lists_agree(self):
        listed, table = stampd_subcommands()
        self.assertGreater(len(table), 20)
        self.assertEqual(listed, table, "stampd --help and main.c's table differ")

    def test_every_subcommand_help(self):
        listed, table = stampd_subcommands()
        for name in sorted(listed | table):
            for flag in ("--help", "-h"):
                with self.subTest(name=name, flag=flag):
                    p = run([harness.STAMPD_BIN] + name.split() + [flag])
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertTrue(p.stdout.startswith("usage: stampd " + name + " "), p.stdout)
                    self.assertGreater(len(p.stdout.splitlines()), 2, p.stdout)
                    self.assertNotIn("unknown", p.stderr)
        # --help wins over missing or bad options, and it is never an option value.
        p = run([harness.STAMPD_BIN, "serve", "--no-such-option", "--help"])
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_groups_and_errors(self):
        for group in ("psd", "tls", "ca", "authority", "customer"):
            p = run([harness.STAMPD_BIN, group, "--help"])
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("stampd %s " % group, p.stdout)
        p = run([harness.STAMPD_BIN, "psd"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("psd needs a command", p.stderr)
        p = run([harness.STAMPD_BIN, "psd", "frobnicate"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command psd frobnicate", p.stderr)
        p = run([harness.STAMPD_BIN, "frobnicate", "--help"])
        self.assertEqual(p.returncode, 2)
        p = run([harness.STAMPD_BIN, "serve", "--no-such-option"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown option --no-such-option", p.stderr)


def stamp_commands():
    out = run([STAMP_BIN, "--help"]).stdout
    section = out.split("commands:\n", 1)[1].split("\n\n", 1)[0]
    listed = set(re.findall(r"^  ([a-z][a-z-]*) ", section, re.M)) - {"help"}
    table = set(re.findall(r'\{"([a-z][a-z-]*)",\s*cmd_', read("src/cli/stamp.c")))
    return listed, table


class StampHelp(unittest.TestCase):
    def test_lists_agree(self):
        listed, table = stamp_commands()
        self.assertGreater(len(table), 10)
        self.assertEqual(listed, table, "stamp --help and stamp.c's table differ")

    def test_every_command_help(self):
        listed, table = stamp_commands()
        names = sorted(listed | table)
        admin = run([STAMP_BIN, "admin", "--help"]).stdout
        names += sorted({"admin " + m for m in re.findall(r"stamp admin ([a-z][a-z-]*)", admin)})
        for name in names:
            for flag in ("--help", "-h"):
                with self.subTest(name=name, flag=flag):
                    p = run([STAMP_BIN] + name.split() + [flag])
                    self.assertEqual(p.returncode, 0, p.stderr)
                    self.assertIn("usage: stamp " + name.split()[0], p.stdout)
                    self.assertIn("stamp " + name, p.stdout)


class Version(unittest.TestCase):
    def test_both_programs(self):
        d = run([harness.STAMPD_BIN, "--version"])
        s = run([STAMP_BIN, "--version"])
        self.assertEqual(d.returncode, 0)
        self.assertEqual(s.returncode, 0)
        m = re.fullmatch(r"stampd (\S+)\n", d.stdout)
        self.assertTrue(m, d.stdout)
        version = m.group(1)
        self.assertTrue(s.stdout.startswith("stamp %s " % version), s.stdout)
        project = re.search(r"project\(stampd VERSION ([0-9.]+)", read("CMakeLists.txt")).group(1)
        if os.path.exists(os.path.join(harness.SOURCE_DIR, ".git")):
            # git describe: a tag, or the project version and the commit.
            head = subprocess.run(["git", "-C", harness.SOURCE_DIR, "rev-parse", "--short=7",
                                   "HEAD"], capture_output=True, text=True).stdout.strip()
            if head:
                self.assertRegex(version, r"^(%s\+g[0-9a-f]{7,}|v?[0-9][^ ]*)(-dirty)?$"
                                 % re.escape(project))
        else:
            self.assertEqual(version, project)

    def test_fallback_outside_a_checkout(self):
        os.makedirs(harness.TEST_TMP, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=harness.TEST_TMP) as tmp:
            out = os.path.join(tmp, "v.c")
            subprocess.run(["cmake", "-DSRC=" + tmp, "-DOUT=" + out, "-DFALLBACK=9.8.7", "-P",
                            os.path.join(harness.SOURCE_DIR, "cmake", "version.cmake")],
                           check=True, timeout=TIMEOUT)
            with open(out) as f:
                self.assertIn('pv_version[] = "9.8.7";', f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
