#!/usr/bin/env python3
"""test_medium_position.py - a piece bought on a medium knows its label and is
printed on it (issue 17, docs/media.md "The medium position").

A piece bought on label 3 of an avery-5160 sheet records the sheet's serial and
label 3 (row 1, column 3) with the purchase; POST /v1/indicia, GET
/v1/indicia/{id} and the list answer it as "medium". Printed with the sheet's
layout (GET .../label, POST /v1/sheets, and `stamp buy --medium SHEET --print
out.pdf --layout avery-5160`), the symbol lands on label 3: the printed page is
laid over the blank sheet PDF of the batch (darker pixel wins, as ink on a
pre-printed sheet), dmtxread finds the symbol's corners, ZXingReader reads the
cut-out region back as the indicium's bytes, and the symbol's centre lies inside
label 3's cell, the cell where pdftotext -bbox finds label 3's pre-printed
serial. On main the piece was printed on label 1 (row 1, column 1) and GET
answered no "medium".

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
Tools: pdftoppm, pdftotext (poppler-utils), dmtxread (libdmtx-utils), ZXingReader.
"""

import base64
import html
import http.client
import json
import os
import re
import struct
import subprocess
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
LETTER = {"mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
          "to_zip": "10001"}
DPI = 300
# avery-5160 (src/render/layouts.c), points: 3 x 10 labels of 189 x 72 at 198 x 72 pitch.
AVERY = {"left": 13.5, "top": 36, "pitch": (198, 72), "label": (189, 72), "cols": 3, "rows": 10}


def cell(x_pt, y_pt):
    """(label number, row, column) of the avery-5160 cell holding a point, or None."""
    col = int((x_pt - AVERY["left"]) // AVERY["pitch"][0]) + 1
    row = int((y_pt - AVERY["top"]) // AVERY["pitch"][1]) + 1
    lx = AVERY["left"] + (col - 1) * AVERY["pitch"][0]
    ly = AVERY["top"] + (row - 1) * AVERY["pitch"][1]
    if not (1 <= col <= AVERY["cols"] and 1 <= row <= AVERY["rows"]
            and lx <= x_pt <= lx + AVERY["label"][0] and ly <= y_pt <= ly + AVERY["label"][1]):
        return None
    return ((row - 1) * AVERY["cols"] + col, row, col)


def run(args, **kw):
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120,
                          **kw)


def pgm_pages(pdf_path, base):
    """pdftoppm -gray: every page as (width, height, bytes of grey rows)."""
    p = run(["pdftoppm", "-gray", "-r", str(DPI), pdf_path, base])
    if p.returncode != 0:
        raise AssertionError("pdftoppm: %s" % p.stderr.decode())
    d = os.path.dirname(base)
    names = sorted((f for f in os.listdir(d) if f.startswith(os.path.basename(base) + "-")
                    and f.endswith(".pgm")),
                   key=lambda f: int(re.search(r"-(\d+)\.pgm$", f).group(1)))
    pages = []
    for n in names:
        with open(os.path.join(d, n), "rb") as f:
            data = f.read()
        m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+255\s", data)
        w, h = int(m.group(1)), int(m.group(2))
        pages.append((w, h, data[m.end():m.end() + w * h]))
    return pages


def png_gray(path, w, h, pix):
    """An 8-bit greyscale PNG of w x h bytes pix."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    rows = b"".join(b"\0" + pix[y * w:(y + 1) * w] for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


def overlay(a, b):
    """Two pages of one size printed on one sheet: the darker pixel wins."""
    assert a[:2] == b[:2], "pages of different sizes"
    return a[0], a[1], bytes(map(min, a[2], b[2]))


def find_symbol(workdir, name, page, want):
    """dmtxread on the page for its one symbol's corners; ZXingReader on the
    region cut out around them must read back want (bytes). Returns the
    symbol's centre in points."""
    w, h, pix = page
    path = os.path.join(workdir, name + ".png")
    png_gray(path, w, h, pix)
    p = run(["dmtxread", "-N1", "-v", path])
    corners = [(float(x), float(y)) for x, y in
               re.findall(r"Corner \d: \(([\d.]+), ([\d.]+)\)", p.stderr.decode())]
    if len(corners) != 4:
        raise AssertionError("dmtxread found no symbol in %s: %s" % (path, p.stderr.decode()))
    xs = [c[0] for c in corners]
    ys = [c[1] for c in corners]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    q = (x1 - x0) / 8   # a quiet zone's worth of margin
    cx0, cy0 = max(0, int(x0 - q)), max(0, int(y0 - q))
    cx1, cy1 = min(w, int(x1 + q) + 1), min(h, int(y1 + q) + 1)
    crop = b"".join(pix[y * w + cx0:y * w + cx1] for y in range(cy0, cy1))
    cpath = os.path.join(workdir, name + ".sym.png")
    png_gray(cpath, cx1 - cx0, cy1 - cy0, crop)
    p = run(["ZXingReader", "-bytes", cpath])
    if p.returncode != 0 or p.stdout != want:
        raise AssertionError("ZXingReader did not read the indicium back from %s: %r %s"
                             % (cpath, p.stdout[:40], p.stderr.decode()))
    f = 72.0 / DPI
    return ((x0 + x1) / 2 * f, (y0 + y1) / 2 * f)


def serial_cells(pdf_path):
    """pdftotext -bbox on the blank sheet: {serial text: (label, row, col)} of
    each label serial printed on page 1 (the sheet's own serial is in the margin)."""
    p = run(["pdftotext", "-bbox", "-f", "1", "-l", "1", pdf_path, "-"])
    out = {}
    for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                         r'yMax="([\d.]+)">([^<]*)</word>', p.stdout.decode()):
        x0, y0, x1, y1 = (float(m.group(i)) for i in range(1, 5))
        c = cell((x0 + x1) / 2, (y0 + y1) / 2)
        if c:
            out[html.unescape(m.group(5))] = c
    return out


class MediumPosition(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("pdftoppm", "pdftotext", "dmtxread", "ZXingReader"):
            if not harness.shutil.which(tool):
                raise unittest.SkipTest("%s is not installed (make test-deps)" % tool)
        cls.srv = harness.Stampd("medium-position")
        try:
            srv = cls.srv
            srv.init()
            cls.key = srv.customer("sheets@example.test", "100")
            srv.start(processors=1)
            _, cls.batch = srv.media(product="avery-5160", sheets=2, payment="free")
            cls.work = os.path.join(srv.dir, "work")
            os.makedirs(cls.work, exist_ok=True)
            status, _, body = cls.fetch("GET", "/v1/admin/media/%s?format=pdf"
                                        % cls.serial(1, 0), key=srv.operator_key)
            assert status == 200, status
            cls.blank = os.path.join(cls.work, "blank.pdf")
            with open(cls.blank, "wb") as f:
                f.write(body)
        except BaseException:
            cls.srv.abandon()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    @classmethod
    def serial(cls, sheet, position):
        return [s["serial"] for s in cls.batch["serials"]
                if s["sheet"] == sheet and s["position"] == position][0]

    @classmethod
    def fetch(cls, method, path, body=None, key=None):
        conn = http.client.HTTPConnection(cls.srv.host, cls.srv.port, timeout=60)
        h = {"Authorization": "Bearer " + (key or cls.key)}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            return r.status, r.getheader("Content-Type"), r.read()
        finally:
            conn.close()

    def stamp(self, *args):
        env = harness.stampd_env()
        env["STAMP_KEY"] = self.key
        env["STAMP_SERVER"] = "http://%s:%d" % (self.srv.host, self.srv.port)
        p = run([STAMP_BIN] + list(args), env=env, stdin=subprocess.DEVNULL)
        harness.assert_no_sanitizer(p.stderr.decode(), "stamp")
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def on_blank(self, name, pdf, want, page_no=1):
        """pdf printed onto the blank sheet (page 1 of the batch PDF: sheet 1):
        the centre of the one symbol on page page_no, in points."""
        path = os.path.join(self.work, name + ".pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        blank = pgm_pages(self.blank, os.path.join(self.work, "blank"))[0]
        printed = pgm_pages(path, os.path.join(self.work, name))[page_no - 1]
        return find_symbol(self.work, name, overlay(blank, printed), want)

    def assert_on_label(self, centre, label, what):
        c = cell(*centre)
        self.assertIsNotNone(c, "%s: symbol centre %r is in no label" % (what, centre))
        self.assertEqual(c[0], label, "%s: symbol centre %r is on label %d (row %d, column %d),"
                         " not label %d" % (what, centre, c[0], c[1], c[2], label))
        # The pre-printed serial of that label is in the same cell.
        cells = serial_cells(self.blank)
        words = {c2 for w, c2 in cells.items() if w and w in self.serial(1, label)}
        self.assertIn(c, words, "%s: label %d's serial is printed elsewhere: %r"
                      % (what, label, cells))

    def test_label_three_recorded_returned_and_printed_there(self):
        s, _, j = self.srv.buy(self.key, "pos-3", dict(LETTER, medium_serial=self.serial(1, 3)))
        self.assertEqual(s, 201, j)
        want = {"serial": self.serial(1, 3), "sheet_serial": self.serial(1, 0),
                "layout": "avery-5160", "label": 3, "row": 1, "column": 3}
        for k, v in want.items():
            self.assertEqual(j["medium"][k], v, "POST answer: %r" % j["medium"])
        got = self.srv.get_ok("/v1/indicia/" + j["id"], self.key)
        self.assertEqual(got["medium"], want)
        listed = [i for i in self.srv.get_ok("/v1/indicia?limit=100", self.key)["data"]
                  if i["id"] == j["id"]]
        self.assertEqual(listed[0]["medium"], want)
        # A piece on no medium says so.
        s, _, plain = self.srv.buy(self.key, "pos-none", LETTER)
        self.assertEqual(s, 201, plain)
        self.assertIsNone(self.srv.get_ok("/v1/indicia/" + plain["id"], self.key)["medium"])

        raw = base64.b64decode(j["data"])
        # The label endpoint (stamp print, the web UI's print) ...
        status, ctype, pdf = self.fetch("GET", "/v1/indicia/%s/label?format=pdf&layout=avery-5160"
                                        % j["id"])
        self.assertEqual((status, ctype), (200, "application/pdf"))
        self.assert_on_label(self.on_blank("label3", pdf, raw), 3, "GET label")
        # ... even with a start position, which places only pieces on no medium.
        status, _, pdf = self.fetch("GET", "/v1/indicia/%s/label?format=pdf&layout=avery-5160"
                                    "&start=5,2" % j["id"])
        self.assertEqual(status, 200)
        self.assert_on_label(self.on_blank("label3start", pdf, raw), 3, "GET label start=5,2")
        # ... and a sheet.
        status, _, pdf = self.fetch("POST", "/v1/sheets", {"indicia": [j["id"]],
                                                           "layout": "avery-5160"})
        self.assertEqual(status, 200)
        self.assert_on_label(self.on_blank("sheet3", pdf, raw), 3, "POST /v1/sheets")
        # stamp print.
        out = os.path.join(self.work, "cli-print.pdf")
        rc, o, e = self.stamp("print", j["id"], "--layout", "avery-5160", "--out", out)
        self.assertEqual(rc, 0, o + e)
        with open(out, "rb") as f:
            self.assert_on_label(self.on_blank("cliprint", f.read(), raw), 3, "stamp print")
        # On another layout the label number means nothing: the 4x6 label is as before.
        status, _, _ = self.fetch("GET", "/v1/indicia/%s/label?format=pdf" % j["id"])
        self.assertEqual(status, 200)

    def test_stamp_buy_on_sheet_prints_on_next_free_label(self):
        # Labels 1 and 2 of sheet 2 are used; the sheet serial takes label 3.
        sheet = self.serial(2, 0)
        for i in (1, 2):
            s, _, j = self.srv.buy(self.key, "sheet2-%d" % i, dict(LETTER, medium_serial=sheet))
            self.assertEqual((s, j["medium"]["label"]), (201, i), j)
        out = os.path.join(self.work, "cli-buy.pdf")
        rc, o, e = self.stamp("--json", "buy", "--class", "first_class_letter", "--weight", "1",
                              "--from", "94107", "--to", "10001", "--medium", sheet,
                              "--print", out, "--layout", "avery-5160")
        self.assertEqual(rc, 0, o + e)
        ind = json.loads(o)
        self.assertEqual((ind["medium"]["label"], ind["medium"]["row"], ind["medium"]["column"],
                          ind["medium"]["sheet_serial"]), (3, 1, 3, sheet))
        got = self.srv.get_ok("/v1/indicia/" + ind["id"], self.key)
        self.assertEqual(got["medium"]["serial"], self.serial(2, 3))
        # Sheet 2's blank page is page 2 of the batch PDF: its cells are the same.
        blank2 = pgm_pages(self.blank, os.path.join(self.work, "blank2"))[1]
        with open(out, "rb") as f:
            pdf = f.read()
        path = os.path.join(self.work, "cli-buy-copy.pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        printed = pgm_pages(path, os.path.join(self.work, "clibuy"))[0]
        centre = find_symbol(self.work, "clibuy", overlay(blank2, printed),
                             base64.b64decode(got["data"]))
        self.assertEqual(cell(*centre)[0], 3, "stamp buy --print: symbol at %r" % (centre,))

    def test_several_pieces_of_one_sheet_on_one_page(self):
        # Labels 4, 6 and 5 of sheet 1, printed together: one page, each on its label.
        ids = []
        for pos in (4, 6, 5):
            s, _, j = self.srv.buy(self.key, "many-%d" % pos,
                                   dict(LETTER, medium_serial=self.serial(1, pos)))
            self.assertEqual(s, 201, j)
            ids.append(j)
        status, _, pdf = self.fetch("POST", "/v1/sheets", {"indicia": [i["id"] for i in ids],
                                                           "layout": "avery-5160"})
        self.assertEqual(status, 200)
        path = os.path.join(self.work, "many.pdf")
        with open(path, "wb") as f:
            f.write(pdf)
        pages = pgm_pages(path, os.path.join(self.work, "many"))
        # 4 then 6 on page 1; 5 comes after 6, so it goes on label 5 of page 2.
        self.assertEqual(len(pages), 2)
        found = []
        for n, (page, count) in enumerate(zip(pages, (2, 1))):
            png = os.path.join(self.work, "many-%d.png" % n)
            png_gray(png, *page)
            p = run(["dmtxread", "-N%d" % count, "-v", png])
            xy = [(float(x), float(y)) for x, y in
                  re.findall(r"Corner \d: \(([\d.]+), ([\d.]+)\)", p.stderr.decode())]
            self.assertEqual(len(xy), 4 * count, p.stderr.decode())
            labels = set()
            for i in range(count):
                c = xy[4 * i:4 * i + 4]
                cx = sum(x for x, _ in c) / 4 * 72.0 / DPI
                cy = sum(y for _, y in c) / 4 * 72.0 / DPI
                labels.add(cell(cx, cy)[0])
            found.append(labels)
        self.assertEqual(found, [{4, 6}, {5}])

if __name__ == "__main__":
    harness.main()
