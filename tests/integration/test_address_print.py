#!/usr/bin/env python3
"""test_address_print.py - addresses printed where the USPS reads them
(issue 17, docs/printing.md "Addresses").

A piece bought with from_address and to_address, printed on the #10 envelope
and on the 4x6 label (PDF from the real server, and through `stamp print`):
pdftotext -bbox finds every address line; the return address is top left,
the delivery address below it; the indicium's symbol (found by dmtxread,
read back by ZXingReader from its region) is top right, right of the return
address. On the envelope the whole delivery address lies in the OCR read area
of USPS Publication 28 A1 (1/2 in from either side, 5/8 in to 2 3/4 in above
the bottom edge) and nothing is printed in the barcode clear zone (the bottom
5/8 in, the rightmost 4 3/4 in). On main the delivery address ran into the
bottom 5/8 in and the 4x6 label had its indicium top left.

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP (see harness.py).
Tools: pdftoppm, pdftotext (poppler-utils), dmtxread (libdmtx-utils), ZXingReader.
"""

import base64
import html
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_medium_position as mp  # noqa: E402  (pgm_pages, find_symbol)

STAMP_BIN = os.environ.get("STAMP_BIN") or os.path.join(harness.SOURCE_DIR, "build", "stamp")
FROM = "JANE SENDER\nSENDER GOODS LLC\n1 MAIN ST STE 200\nSAN FRANCISCO CA 94107"
TO = "JOHN RECEIVER\nACME WIDGETS INC\n200 BROADWAY APT 5\nNEW YORK NY 10001-1234"
IN = 72.0


def words(pdf_path):
    """pdftotext -bbox: [(text, x0, y0, x1, y1)] in points from the top left."""
    p = subprocess.run(["pdftotext", "-bbox", pdf_path, "-"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    return [(html.unescape(m.group(5)),) + tuple(float(m.group(i)) for i in range(1, 5))
            for m in re.finditer(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                                 r'yMax="([\d.]+)">([^<]*)</word>', p.stdout.decode())]


def block(ws, text):
    """The bounding box of the words of text's lines, found in order: each
    line's words consecutive in the page's words."""
    toks = text.split()
    texts = [w[0] for w in ws]
    for i in range(len(texts) - len(toks) + 1):
        if texts[i:i + len(toks)] == toks:
            sel = ws[i:i + len(toks)]
            return (min(w[1] for w in sel), min(w[2] for w in sel),
                    max(w[3] for w in sel), max(w[4] for w in sel))
    raise AssertionError("%r not printed as one block in %r" % (text, texts))


class AddressPrint(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("pdftoppm", "pdftotext", "dmtxread", "ZXingReader"):
            if not shutil.which(tool):
                raise unittest.SkipTest("%s is not installed (make test-deps)" % tool)
        cls.srv = harness.Stampd("address-print")
        try:
            cls.srv.init()
            cls.key = cls.srv.customer("addresses@example.test", "100")
            cls.srv.start(processors=1)
            s, _, cls.ind = cls.srv.buy(cls.key, "addr-1", {
                "mail_class": "first_class_letter", "weight_oz": 1, "from_zip": "94107",
                "to_zip": "10001", "from_address": FROM, "to_address": TO})
            assert s == 201, cls.ind
            cls.raw = base64.b64decode(cls.ind["data"])
            cls.work = os.path.join(cls.srv.dir, "work")
            os.makedirs(cls.work, exist_ok=True)
        except BaseException:
            cls.srv.abandon()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def render(self, layout, name):
        """The piece on layout through `stamp print` (GET .../label): the PDF's path."""
        env = harness.stampd_env()
        env["STAMP_KEY"] = self.key
        env["STAMP_SERVER"] = "http://%s:%d" % (self.srv.host, self.srv.port)
        out = os.path.join(self.work, name + ".pdf")
        p = subprocess.run([STAMP_BIN, "print", self.ind["id"], "--layout", layout, "--out", out],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60,
                           stdin=subprocess.DEVNULL)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        harness.assert_no_sanitizer(p.stderr.decode(), "stamp print")
        return out

    def symbol_box(self, pdf, name):
        page = mp.pgm_pages(pdf, os.path.join(self.work, name))[0]
        cx, cy = mp.find_symbol(self.work, name, page, self.raw)
        return cx, cy, page

    def common(self, pdf, name, page_w):
        ws = words(pdf)
        frm, to = block(ws, FROM), block(ws, TO)
        cx, cy, page = self.symbol_box(pdf, name)
        # Return address top left; indicium top right, right of it; delivery below both.
        self.assertLess(frm[0], page_w / 4, "return address not at the left: %r" % (frm,))
        self.assertLess(frm[1], 1.5 * IN, "return address not at the top: %r" % (frm,))
        self.assertGreater(cx, page_w / 2, "indicium not at the right: %r" % ((cx, cy),))
        self.assertGreater(cx, frm[2], "indicium not right of the return address")
        self.assertLess(cy, 1.5 * IN, "indicium not at the top: %r" % ((cx, cy),))
        self.assertGreater(to[1], frm[3], "delivery address not below the return address")
        # Lines keep their order and a uniform left margin (Pub. 28 A1).
        lefts = [block(ws, line)[0] for line in TO.split("\n")]
        self.assertLess(max(lefts) - min(lefts), 1.5, "ragged delivery block: %r" % lefts)
        tops = [block(ws, line)[1] for line in TO.split("\n")]
        self.assertEqual(tops, sorted(tops))
        return ws, frm, to, page

    def test_envelope_10(self):
        pdf = self.render("envelope-10", "env")
        w, h = 9.5 * IN, 4.125 * IN
        ws, frm, to, page = self.common(pdf, "env", w)
        # The OCR read area (USPS Pub. 28 A1).
        self.assertGreaterEqual(to[0], 0.5 * IN, "delivery address left of the read area")
        self.assertLessEqual(to[2], w - 0.5 * IN, "delivery address right of the read area")
        self.assertGreaterEqual(to[1], h - 2.75 * IN, "delivery address above the read area")
        self.assertLessEqual(to[3], h - 0.625 * IN, "delivery address below the read area")
        # Type of 8 pt or more: a line is at least ~8 pt tall in pdftotext's boxes.
        line = block(ws, TO.split("\n")[0])
        self.assertGreaterEqual(line[3] - line[1], 7.5, "delivery type too small: %r" % (line,))
        # Nothing at all is printed in the barcode clear zone: bottom 5/8 in, right 4 3/4 in.
        for t, x0, y0, x1, y1 in ws:
            self.assertFalse(x1 > w - 4.75 * IN and y1 > h - 0.625 * IN,
                             "%r printed in the barcode clear zone" % t)
        pw, ph, pix = page
        px = mp.DPI / IN
        x_from, y_from = int((w - 4.75 * IN) * px), int((h - 0.625 * IN) * px)
        ink = sum(1 for y in range(y_from, ph) for b in pix[y * pw + x_from:(y + 1) * pw]
                  if b < 128)
        self.assertEqual(ink, 0, "ink in the barcode clear zone")

    def test_label_4x6(self):
        pdf = self.render("label-4x6", "l4x6")
        ws, frm, to, _ = self.common(pdf, "l4x6", 4 * IN)
        # The delivery address is the largest text, indented under its heading.
        heading = block(ws, "SHIP TO")
        self.assertLess(heading[3], to[1] + 0.5)
        self.assertGreater(to[0], frm[0] + 0.25 * IN, "delivery address not indented")
        self.assertLessEqual(to[3], 6 * IN - 9)
        line = block(ws, TO.split("\n")[0])
        fline = block(ws, FROM.split("\n")[0])
        self.assertGreater(line[3] - line[1], fline[3] - fline[1])


if __name__ == "__main__":
    harness.main()
