"""test_deb.py - the Debian package builds and holds what it should (issue 16,
"Install and run"; debian/, docs/operations.md "Debian package").

Copies the source as git tracks it (no build/, no .git: the version falls back
to the project's, as from a tarball) to BUILD/deb/src, runs
`dpkg-buildpackage -us -uc -b` there (with -nc after the first run, so the
copy's obj-* build directory is reused and only changed files rebuild: the
copy keeps the files' modification times), then checks the .deb with
`dpkg-deb -c` and `dpkg-deb -I`, unpacks it with `dpkg -x` into a throwaway
root and runs stampd --version and stamp --version from there. Labelled
"deb" in CTest (ctest -L deb); skipped when dpkg-buildpackage or the build
dependencies are missing (scripts/deps.sh test installs them).

Environment: STAMPD_BIN (its directory is the build directory),
STAMPD_SOURCE_DIR, STAMPD_TEST_TMP. Standard library only.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUILD = os.path.dirname(os.path.abspath(harness.STAMPD_BIN))
WORK = os.path.join(BUILD, "deb")
SRC = os.path.join(WORK, "src")
DEB = None
CONTENTS = ""
INFO = ""


def source_files():
    top = harness.SOURCE_DIR
    if os.path.exists(os.path.join(top, ".git")):
        out = subprocess.run(["git", "-C", top, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        return [f for f in out.decode().split("\0") if f]
    files = []
    for dirpath, dirs, names in os.walk(top):
        dirs[:] = [d for d in dirs if d not in ("build", ".git", "node_modules", "var")]
        files += [os.path.relpath(os.path.join(dirpath, n), top) for n in names]
    return files


def copy_source():
    """SRC mirrors the source's files (modification times kept), nothing more."""
    wanted = set()
    for rel in source_files():
        src = os.path.join(harness.SOURCE_DIR, rel)
        if not os.path.isfile(src) or rel.startswith("tests/e2e/node_modules"):
            continue
        wanted.add(rel)
        dst = os.path.join(SRC, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        st = os.stat(src)
        if (not os.path.exists(dst) or os.stat(dst).st_mtime_ns != st.st_mtime_ns
                or os.stat(dst).st_size != st.st_size):
            shutil.copy2(src, dst)
    # Files gone from the source go from the copy (obj-* and debian/ build output stay).
    for dirpath, dirs, names in os.walk(SRC):
        rel_dir = os.path.relpath(dirpath, SRC)
        if rel_dir.split(os.sep)[0].startswith("obj-") or rel_dir.startswith("debian"):
            continue
        for n in names:
            rel = os.path.normpath(os.path.join(rel_dir, n))
            if rel not in wanted:
                os.unlink(os.path.join(dirpath, n))


def setUpModule():
    global DEB, CONTENTS, INFO
    if not shutil.which("dpkg-buildpackage"):
        raise unittest.SkipTest("no dpkg-buildpackage (apt-get install dpkg-dev debhelper)")
    first = not os.path.isdir(SRC)
    os.makedirs(SRC, exist_ok=True)
    copy_source()
    p = subprocess.run(["dpkg-checkbuilddeps"], cwd=SRC, capture_output=True, text=True)
    if p.returncode != 0:
        raise unittest.SkipTest("build dependencies missing: " + p.stderr.strip())
    for old in glob.glob(os.path.join(WORK, "stampd*_*")):
        os.unlink(old)
    # dh's record of what it did (it would skip the build): gone, the obj-* directory stays.
    for state in ("debhelper-build-stamp", "files", ".debhelper", "stampd", "stampd-dbgsym",
                  "stampd.substvars", "stampd.debhelper.log", "stampd.postinst.debhelper",
                  "stampd.postrm.debhelper", "stampd.prerm.debhelper"):
        path = os.path.join(SRC, "debian", state)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    args = ["dpkg-buildpackage", "-us", "-uc", "-b"] + ([] if first else ["-nc"])
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2 nocheck")
    p = subprocess.run(args, cwd=SRC, capture_output=True, text=True, env=env, timeout=3000)
    if p.returncode != 0:
        raise AssertionError("%s failed:\n%s\n%s" % (" ".join(args), p.stdout[-6000:],
                                                   p.stderr[-6000:]))
    debs = [d for d in glob.glob(os.path.join(WORK, "stampd_*.deb")) if "dbgsym" not in d]
    if len(debs) != 1:
        raise AssertionError("expected one stampd_*.deb in %s: %r" % (WORK, debs))
    DEB = debs[0]
    CONTENTS = subprocess.run(["dpkg-deb", "-c", DEB], capture_output=True, text=True,
                              check=True).stdout
    INFO = subprocess.run(["dpkg-deb", "-I", DEB], capture_output=True, text=True,
                          check=True).stdout


def project_version():
    with open(os.path.join(harness.SOURCE_DIR, "CMakeLists.txt")) as f:
        return re.search(r"project\(stampd VERSION ([0-9.]+)", f.read()).group(1)


class Package(unittest.TestCase):
    def test_contents(self):
        for path in ("./usr/bin/stampd", "./usr/bin/stamp", "./etc/stampd/stampd.conf",
                     "./lib/systemd/system/stampd.service", "./lib/systemd/system/stampd-front.service",
                     "./lib/systemd/system/stampd-processor@.service",
                     "./usr/share/man/man8/stampd.8.gz",
                     "./usr/share/man/man1/stamp.1.gz", "./usr/share/doc/stampd/operations.md.gz"):
            with self.subTest(path=path):
                self.assertRegex(CONTENTS, r"(?m) %s$" % re.escape(path))
        self.assertNotIn("./usr/include", CONTENTS)
        self.assertNotIn(".a\n", CONTENTS)

    def test_control(self):
        self.assertIn("Package: stampd", INFO)
        self.assertIn("Version: " + project_version(), INFO)
        self.assertRegex(INFO, r"Depends: .*libmicrohttpd")
        self.assertIn("conffiles", INFO)
        self.assertIn("postinst", INFO)
        # Enabled, not started (dh_installsystemd --no-start).
        scripts = tempfile.mkdtemp(dir=WORK)
        try:
            subprocess.run(["dpkg-deb", "-e", DEB, scripts], check=True)
            with open(os.path.join(scripts, "postinst")) as f:
                postinst = f.read()
            with open(os.path.join(scripts, "conffiles")) as f:
                self.assertIn("/etc/stampd/stampd.conf", f.read())
        finally:
            shutil.rmtree(scripts)
        self.assertIn("deb-systemd-helper", postinst)
        self.assertIn("adduser --system", postinst)
        # dh_fixperms ships the configuration 0644; postinst makes it root:stampd 0640.
        self.assertIn("chown root:stampd /etc/stampd/stampd.conf", postinst)
        self.assertIn("chmod 0640 /etc/stampd/stampd.conf", postinst)
        # stampd init runs before the unit's first start: the state directory is there.
        self.assertIn("install -d -o stampd -g stampd -m 0700 /var/lib/stampd", postinst)
        self.assertNotIn("deb-systemd-invoke $_dh_action", postinst)
        self.assertNotRegex(postinst, r"deb-systemd-invoke (start|restart)")

    def test_unpacked_programs_run(self):
        root = tempfile.mkdtemp(dir=WORK)
        try:
            subprocess.run(["dpkg", "-x", DEB, root], check=True)
            for prog in ("stampd", "stamp"):
                p = subprocess.run([os.path.join(root, "usr", "bin", prog), "--version"],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual(p.returncode, 0, p.stderr)
                # Built from a copy without .git: the project version.
                self.assertTrue(p.stdout.startswith("%s %s" % (prog, project_version())),
                                p.stdout)
            with open(os.path.join(root, "lib", "systemd", "system", "stampd.service")) as f:
                self.assertIn("ExecStart=/usr/bin/stampd serve", f.read())
        finally:
            shutil.rmtree(root)


if __name__ == "__main__":
    unittest.main(verbosity=2)
