"""test_printing.py - printing (docs/printing.md, docs/api.md "Printing",
docs/cli.md `stamp print`, `stamp printers`, `stamp layouts`) end to end.

One real `stampd serve` on a fresh database serves the module (harness.Stampd);
documents come from the real HTTP endpoints and the real `stamp` CLI, and are
read back only with decoders nobody here wrote:

* `dmtxread -N<count> -v` (libdmtx) on whole pages: the messages on stdout,
  one block per symbol on stderr with the matrix size and the four corners
  (image pixels, origin at the top left);
* `ZXingReader -bytes` (zxing-cpp 1.4) on the symbol's region only: the
  corners dmtxread found plus the 2-module quiet zone, cut out of the page
  with the small PNG reader/writer below (zlib + struct, every PNG filter);
* PDFs through `pdftoppm -r 300 -png`, SVGs through `rsvg-convert -d 300 -p 300`;
  ZPL's ^GFA graphic field is parsed here and drawn onto a label-sized image.

Every decoded symbol must equal base64-decode(data) of its indicium byte for
byte, and each distinct indicium must verify (POST /v1/verify with the
operator key: valid, signature_valid, known; and the openssl check of
harness.openssl_verify against GET /v1/keys).

Environment: STAMPD_BIN, STAMP_BIN, STAMPD_TEST_TMP. Standard library only.
"""

import concurrent.futures
import glob
import http.client
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse
import uuid
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402  (shared by the integration tests; not edited here)

STAMP_BIN = os.path.abspath(os.environ.get("STAMP_BIN")
                            or os.path.join(harness.SOURCE_DIR, "build", "stamp"))
TOOL_TIMEOUT = 120.0    # seconds per decoder / rasteriser run
STAMP_TIMEOUT = 120.0   # seconds per `stamp` run
DOC_TIMEOUT = 300.0     # seconds per document request (ASan renders are slow)
POS_TOL = 2.0           # pixels of tolerance on positions

# The layouts as docs/printing.md gives them (points); k300 / k203 are the
# documented dots per module on the 300 dpi grid and in ZPL at 203 dpi.
LAYOUTS = {
    "label-4x6": dict(kind="label", page=(288, 432), rows=1, cols=1, left=0, top=0,
                      pitch=(288, 432), label=(288, 432), padding=9, k300=8, k203=5),
    "stamp-1x2": dict(kind="label", page=(144, 72), rows=1, cols=1, left=0, top=0,
                      pitch=(144, 72), label=(144, 72), padding=3.6, k300=5, k203=3),
    "envelope-10": dict(kind="envelope", page=(684, 297), rows=1, cols=1, left=0, top=0,
                        pitch=(684, 297), label=(684, 297), padding=18, k300=8, k203=5),
    # A genuine 28-character medium serial (docs/serials.md) keeps the text at
    # 6 pt on Avery 5160 with 4-dot modules (0.34 mm) at 300 dpi.
    "avery-5160": dict(kind="sheet", page=(612, 792), rows=10, cols=3, left=13.5, top=36,
                       pitch=(198, 72), label=(189, 72), padding=4.5, k300=5, k203=3,
                       k300_medium=4),
    "netstamps-sheet": dict(kind="sheet", page=(612, 792), rows=5, cols=4, left=27, top=108,
                            pitch=(144, 90), label=(126, 72), padding=4.5, k300=5, k203=3),
}
FORMATS = [("pdf", None), ("png", 300), ("png", 600), ("svg", None), ("zpl", 203), ("zpl", 300)]
CONTENT_TYPES = {"pdf": "application/pdf", "png": "image/png", "svg": "image/svg+xml",
                 "zpl": "application/zpl"}
MEDIUM = None       # a genuine label serial, made once the server runs
# In the form the address check keeps as it is (docs/api.md, "Address checking").
FROM_ADDR = "Jane Sender\n1 Main St\nSAN FRANCISCO CA 94107"
TO_ADDR = "John Receiver\n200 Broadway Apt 5\nNEW YORK NY 10001"

def decode_medium(raw):
    """The medium serial signed into raw indicium bytes ("" when none)."""
    return harness.decode_indicium(raw)["medium_serial"]


SRV = None          # harness.Stampd of this module
OTHER_KEY = None    # another customer (404s)
REPRINT_KEY = None  # a customer used only by the reprint test
CLI_KEY = None      # a customer used only by the CLI tests
WORK = None         # scratch directory
SHEET_IDS = None    # 30 different indicia of the demo customer, for the sheet tests
INDICIA = {}        # id -> indicium object as bought
_verified = {}      # raw bytes -> True once verified
_keys_cache = {}    # GET /v1/keys, by key_id
_lock = threading.Lock()
_seq = [0]


def setUpModule():
    global SRV, OTHER_KEY, REPRINT_KEY, CLI_KEY, WORK, MEDIUM
    # pdftotext too: without it the PDF text checks would pass by not running.
    for tool in ("dmtxread", "ZXingReader", "pdftoppm", "pdftotext", "rsvg-convert", "openssl"):
        if shutil.which(tool) is None:
            raise unittest.SkipTest("%s is not installed" % tool)
    srv = harness.Stampd("printing")
    try:
        srv.init(psds=4, deposit="10000")
        OTHER_KEY = srv.customer("other@example.com", 5)
        REPRINT_KEY = srv.customer("reprint@example.com", 5)
        CLI_KEY = srv.customer("cli@example.com", 20)
        srv.start()
        _, batch = srv.media(sheets=1)
        MEDIUM = batch["serials"][7]["serial"]
    except BaseException:
        srv.abandon()
        raise
    SRV = srv
    WORK = os.path.join(srv.dir, "work")
    os.makedirs(WORK, exist_ok=True)


def tearDownModule():
    if SRV is not None:
        SRV.stop()   # SIGTERM; asserts exit 0 and no sanitizer report


def scratch(name):
    return tempfile.mkdtemp(prefix=name + "-", dir=WORK)


# ---- HTTP ----

def fetch(method, path, body=None, key=None, raw=None, timeout=DOC_TIMEOUT):
    """One request; returns (status, headers with lower-case names, body bytes)."""
    h = {}
    if key is not None:
        h["Authorization"] = "Bearer " + key
    data = None
    if raw is not None:
        data = raw.encode() if isinstance(raw, str) else raw
    elif body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        h["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection(SRV.host, SRV.port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=h)
        resp = conn.getresponse()
        payload = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, payload
    finally:
        conn.close()


def as_json(payload):
    try:
        return json.loads(payload)
    except ValueError:
        return None


def label_path(ind_id, **params):
    q = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    return "/v1/indicia/%s/label%s" % (ind_id, "?" + q if q else "")


def buy(key=None, mail_class="postcard", weight=1, **extra):
    key = key or SRV.customer_key
    body = {"mail_class": mail_class, "weight_oz": weight, "from_zip": "94107",
            "to_zip": "10001"}
    body.update(extra)
    with _lock:
        _seq[0] += 1
        idem = "print-%d-%s" % (_seq[0], uuid.uuid4().hex)
    status, _, j = SRV.buy(key, idem, body)
    if status != 201:
        raise AssertionError("purchase %r: %d %r" % (body, status, j))
    with _lock:
        INDICIA[j["id"]] = j
    return j


def buy_many(n, key=None, **kw):
    with concurrent.futures.ThreadPoolExecutor(4) as ex:
        return list(ex.map(lambda _: buy(key, **kw), range(n)))


def sheet_ids():
    global SHEET_IDS
    if SHEET_IDS is None:
        SHEET_IDS = [j["id"] for j in buy_many(30)]
    return SHEET_IDS


_sheet30 = {}


def sheet30_pdf():
    """The 30 sheet indicia on one Avery 5160 PDF, analysed (shared by tests)."""
    with _lock:
        doc = _sheet30.get("doc")
    if doc is None:
        doc = render_sheet({"indicia": sheet_ids(), "layout": "avery-5160", "format": "pdf"})
        if doc.status == 200:
            analyse(doc, [30], scratch("sheet30"), "sheet")
            with _lock:
                _sheet30["doc"] = doc
    return doc


def raw_of(ind_id):
    return harness.unb64(INDICIA[ind_id]["data"])


# ---- tools ----

def run_tool(args, timeout=TOOL_TIMEOUT, cwd=None):
    return subprocess.run([str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, cwd=cwd)


_DMTX_SIZE = re.compile(r"Matrix Size:\s*(\d+)\s*x\s*(\d+)")
_DMTX_CORNER = re.compile(r"Corner (\d):\s*\(\s*([-0-9.]+)\s*,\s*([-0-9.]+)\s*\)")


class Sym:
    """One symbol found on a page: its bytes, matrix size and pixel box."""

    def __init__(self, data, size, corners, dpi, page):
        self.data, self.size, self.corners, self.dpi, self.page = data, size, corners, dpi, page
        xs = [c[0] for c in corners]
        ys = [c[1] for c in corners]
        self.box = (min(xs), min(ys), max(xs), max(ys))
        self.zxing = None          # bytes ZXingReader read from the region, or None
        self.zxing_err = ""
        self.quiet_ink = None      # dark pixels found in the 2-module quiet zone

    @property
    def module(self):
        return (self.box[2] - self.box[0]) / self.size

    def __repr__(self):
        return "<symbol %dx%d at (%.1f,%.1f)-(%.1f,%.1f) px, %d dpi, page %d>" % (
            self.size, self.size, self.box[0], self.box[1], self.box[2], self.box[3],
            self.dpi, self.page)


def split_indicia(out):
    """dmtxread prints the messages back to back: cut them by the indicium's
    own length (docs/indicium.md, either version)."""
    parts, i = [], 0
    while i < len(out):
        try:
            n = harness.indicium_length(out[i:])
        except ValueError:
            raise AssertionError("dmtxread output does not split into indicia: %r" % out)
        parts.append(out[i:i + n])
        i += n
    return parts


def dmtx_scan(png_path, count, dpi, page=1):
    """dmtxread -N count -v on a whole page: the symbols it found."""
    p = run_tool(["dmtxread", "-N%d" % count, "-v", png_path])
    err = p.stderr.decode("utf-8", "replace")
    blocks = [b for b in re.split(r"-{20,}", err) if "Matrix Size" in b]
    msgs = split_indicia(p.stdout) if p.stdout else []
    if len(blocks) != len(msgs):
        raise AssertionError("dmtxread %s: %d messages but %d detail blocks:\n%s"
                             % (png_path, len(msgs), len(blocks), err))
    syms = []
    for msg, block in zip(msgs, blocks):
        m = _DMTX_SIZE.search(block)
        corners = {int(c[0]): (float(c[1]), float(c[2])) for c in _DMTX_CORNER.findall(block)}
        if not m or sorted(corners) != [0, 1, 2, 3]:
            raise AssertionError("dmtxread %s: unreadable detail block:\n%s" % (png_path, block))
        if m.group(1) != m.group(2):
            raise AssertionError("dmtxread %s: rectangular symbol %s" % (png_path, block))
        syms.append(Sym(msg, int(m.group(1)), [corners[i] for i in range(4)], dpi, page))
    return syms


# ---- PNG, by hand ----

PNG_SIG = b"\x89PNG\r\n\x1a\n"
_masks = {}


def _mask(n):
    m = _masks.get(n)
    if m is None:
        m = _masks[n] = (int.from_bytes(b"\x7f" * n, "little"),
                         int.from_bytes(b"\x80" * n, "little"), (1 << (8 * n)) - 1)
    return m


def _bytewise_add(x, y, m7, m8):
    """Add two byte strings held as integers, byte by byte, mod 256."""
    return ((x & m7) + (y & m7)) ^ ((x ^ y) & m8)


def _unfilter_up(a, prev):
    n = len(a)
    m7, m8, _ = _mask(n)
    return _bytewise_add(int.from_bytes(a, "little"), int.from_bytes(prev, "little"),
                         m7, m8).to_bytes(n, "little")


def _unfilter_sub(a, bpp):
    # A prefix sum with stride bpp: log2(n) shifted byte-wise additions.
    n = len(a)
    m7, m8, full = _mask(n)
    x, s = int.from_bytes(a, "little"), bpp
    while s < n:
        x = _bytewise_add(x, (x << (8 * s)) & full, m7, m8)
        s *= 2
    return x.to_bytes(n, "little")


def _unfilter_avg(a, prev, bpp):
    cur = bytearray(a)
    for i in range(min(bpp, len(cur))):
        cur[i] = (cur[i] + (prev[i] >> 1)) & 255
    for i in range(bpp, len(cur)):
        cur[i] = (cur[i] + ((cur[i - bpp] + prev[i]) >> 1)) & 255
    return bytes(cur)


def _unfilter_paeth(a, prev, bpp):
    cur = bytearray(a)
    for i in range(min(bpp, len(cur))):
        cur[i] = (cur[i] + prev[i]) & 255
    for i in range(bpp, len(cur)):
        left, up, ul = cur[i - bpp], prev[i], prev[i - bpp]
        pa, pb = up - ul, left - ul
        pc = pa + pb
        pa, pb, pc = abs(pa), abs(pb), abs(pc)
        cur[i] = (cur[i] + (left if pa <= pb and pa <= pc else (up if pb <= pc else ul))) & 255
    return bytes(cur)


def png_chunks(data):
    if data[:8] != PNG_SIG:
        raise AssertionError("not a PNG (signature %r)" % data[:8])
    pos = 8
    while pos + 8 <= len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        t = data[pos + 4:pos + 8]
        yield t, data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if t == b"IEND":
            return


def png_ihdr(data):
    for t, c in png_chunks(data):
        if t == b"IHDR":
            return struct.unpack(">IIBBBBB", c)
    raise AssertionError("PNG without IHDR")


def png_read_gray(data, max_rows=None, max_cols=None):
    """Decode an 8-bit, non-interlaced grey/RGB(A) PNG to grey rows (the green
    channel, which is the grey level of a black-and-white page). Only the top
    max_rows rows and left max_cols columns are decoded: PNG filters look only
    left and up, so that is all a crop near the top left needs."""
    ihdr, idat = None, []
    for t, c in png_chunks(data):
        if t == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", c)
        elif t == b"IDAT":
            idat.append(c)
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or interlace != 0 or ctype not in (0, 2, 4, 6):
        raise AssertionError("unsupported PNG: depth %d colour type %d interlace %d"
                             % (depth, ctype, interlace))
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
    stride = w * bpp
    rows = h if max_rows is None else max(0, min(h, max_rows))
    cols = w if max_cols is None else max(0, min(w, max_cols))
    L = cols * bpp
    raw = zlib.decompressobj().decompress(b"".join(idat), rows * (stride + 1))
    if len(raw) < rows * (stride + 1):
        raise AssertionError("PNG data too short")
    ch = 1 if ctype in (2, 6) else 0
    prev, out = bytes(L), []
    for r in range(rows):
        base = r * (stride + 1)
        ft, line = raw[base], raw[base + 1:base + 1 + L]
        if ft == 0:
            cur = line
        elif ft == 1:
            cur = _unfilter_sub(line, bpp)
        elif ft == 2:
            cur = _unfilter_up(line, prev)
        elif ft == 3:
            cur = _unfilter_avg(line, prev, bpp)
        elif ft == 4:
            cur = _unfilter_paeth(line, prev, bpp)
        else:
            raise AssertionError("PNG filter type %d" % ft)
        out.append(cur[ch::bpp] if bpp > 1 else bytes(cur))
        prev = cur
    return w, h, out


def png_write_gray(path, rows):
    """8-bit greyscale PNG, filter 0 on every row."""
    h, w = len(rows), len(rows[0])

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)

    data = (PNG_SIG + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"".join(b"\0" + bytes(r) for r in rows), 6))
            + chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(data)


_DARK = bytes([1] * 128 + [0] * 128)   # grey level -> 1 when it is ink


def zxing_regions(png_path, syms, gray=None):
    """Cut each symbol's region (its corners plus 2 modules of quiet zone) out
    of the page and read it with ZXingReader -bytes. Also counts dark pixels
    in the quiet zone ring (1 px inside its edges, for anti-aliasing)."""
    if not syms:
        return
    if gray is None:
        with open(png_path, "rb") as f:
            data = f.read()
        need_y = max(int(math.ceil(s.box[3] + 2 * s.module)) + 2 for s in syms)
        need_x = max(int(math.ceil(s.box[2] + 2 * s.module)) + 2 for s in syms)
        _, _, gray = png_read_gray(data, need_y, need_x)
    height = len(gray)
    width = len(gray[0]) if gray else 0
    for i, s in enumerate(syms):
        q = 2 * s.module
        x0 = max(0, int(math.floor(s.box[0] - q)))
        y0 = max(0, int(math.floor(s.box[1] - q)))
        x1 = min(width, int(math.ceil(s.box[2] + q)))
        y1 = min(height, int(math.ceil(s.box[3] + q)))
        crop = [bytes(r[x0:x1]) for r in gray[y0:y1]]
        # Quiet zone: between the symbol (+1 px) and the crop edge (-1 px).
        ink = 0
        ix0, iy0 = int(math.floor(s.box[0] - 1 - x0)), s.box[1] - 1 - y0
        ix1, iy1 = int(math.ceil(s.box[2] + 1 - x0)), s.box[3] + 1 - y0
        for yy, row in enumerate(crop[1:-1], 1):
            if iy0 <= yy <= iy1:
                ink += (row[1:max(1, ix0)].translate(_DARK).count(1)
                        + row[ix1 + 1:-1].translate(_DARK).count(1))
            else:
                ink += row[1:-1].translate(_DARK).count(1)
        s.quiet_ink = ink
        out = "%s.sym%d.png" % (png_path, i)
        png_write_gray(out, crop)
        p = run_tool(["ZXingReader", "-bytes", out])
        s.zxing = p.stdout if p.returncode == 0 and p.stdout else None
        s.zxing_err = p.stderr.decode("utf-8", "replace")


# ---- ZPL ----

def zpl_field_text(s):
    """^FH_ escapes (_XX hex) back to text."""
    return re.sub(rb"_([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]),
                  s.encode("utf-8")).decode("utf-8", "replace")


def gfa_rows(data, bytes_per_row):
    """ASCII hex of ^GFA, with Zebra's compression (G-Y, g-z repeat counts,
    ',' zero-fill, '!' one-fill, ':' repeat the previous row), to rows of bytes."""
    width = 2 * bytes_per_row
    rows, cur, rep = [], "", 0
    for ch in re.sub(r"\s", "", data):
        if "G" <= ch <= "Y":
            rep += ord(ch) - ord("G") + 1
        elif "g" <= ch <= "z":
            rep += (ord(ch) - ord("g") + 1) * 20
        elif ch in ",!":
            rows.append(cur.ljust(width, "0" if ch == "," else "F"))
            cur, rep = "", 0
        elif ch == ":":
            if cur or not rows:
                raise AssertionError("':' inside a ^GFA row")
            rows.append(rows[-1])
        elif ch in "0123456789ABCDEFabcdef":
            cur += ch * (rep or 1)
            rep = 0
        else:
            raise AssertionError("unexpected %r in ^GFA data" % ch)
        while len(cur) >= width:
            rows.append(cur[:width])
            cur = cur[width:]
    if cur:
        raise AssertionError("^GFA data ends inside a row")
    return [bytes.fromhex(r) for r in rows]


def zpl_labels(text):
    """Every ^XA ... ^XZ label: page size, home/shift/top, graphics and text."""
    labels = []
    for m in re.finditer(r"\^XA(.*?)\^XZ", text, re.S):
        lab = {"pw": None, "ll": None, "lh": (0, 0), "ls": 0, "lt": 0, "graphics": [],
               "texts": [], "body": m.group(1)}
        origin, fh = (0, 0), False
        for cmd in re.split(r"(?=\^)", m.group(1)):
            if not cmd.startswith("^") or len(cmd) < 3:
                continue
            name, arg = cmd[1:3].upper(), cmd[3:]
            if name == "PW":
                lab["pw"] = int(arg)
            elif name == "LL":
                lab["ll"] = int(arg)
            elif name == "LH":
                x, y = arg.split(",")[:2]
                lab["lh"] = (int(x), int(y))
            elif name == "LS":
                lab["ls"] = int(arg)
            elif name == "LT":
                lab["lt"] = int(arg)
            elif name in ("FO", "FT"):
                x, y = arg.split(",")[:2]
                origin = (int(x), int(y))
            elif name == "FH":
                fh = True
            elif name == "GF":
                parts = arg.split(",", 4)
                if parts[0] != "A":
                    raise AssertionError("^GF%s: only ASCII hex is decoded here" % parts[0])
                total, bpr = int(parts[1]), int(parts[3])
                rows = gfa_rows(parts[4], bpr)
                if len(rows) * bpr != total:
                    raise AssertionError("^GFA: %d rows of %d bytes != %d" % (len(rows), bpr, total))
                lab["graphics"].append({"origin": origin, "bpr": bpr, "rows": rows})
            elif name == "FD":
                lab["texts"].append((origin, zpl_field_text(arg) if fh else arg))
            elif name == "FS":
                fh = False
        labels.append(lab)
    return labels


def zpl_draw(lab, path):
    """Draw a label's graphic fields on a white label-sized image (1 = black)."""
    w, h = lab["pw"], lab["ll"]
    canvas = [bytearray(b"\xff" * w) for _ in range(h)]
    for g in lab["graphics"]:
        gx = g["origin"][0] + lab["lh"][0] - lab["ls"]
        gy = g["origin"][1] + lab["lh"][1] + lab["lt"]
        for ry, row in enumerate(g["rows"]):
            y = gy + ry
            if not 0 <= y < h:
                continue
            bits = bin(int.from_bytes(row, "big"))[2:].zfill(8 * len(row))
            line = canvas[y]
            for rx, b in enumerate(bits):
                if b == "1" and 0 <= gx + rx < w:
                    line[gx + rx] = 0
    png_write_gray(path, canvas)
    return canvas


# ---- one document, read back ----

class Doc:
    """A rendered document and what the decoders read from it."""

    def __init__(self, fmt, dpi, status, headers, body):
        self.fmt, self.dpi, self.status, self.headers, self.body = fmt, dpi, status, headers, body
        self.pages = []      # per page: list of Sym
        self.page_px = []    # per page: (width, height) in pixels of what was scanned
        self.zpl = None      # parsed ZPL labels
        self.text = None     # pdftotext output (PDF)

    @property
    def symbols(self):
        return [s for p in self.pages for s in p]


def analyse(doc, per_page, workdir, name, zxing=True, text=False):
    """Rasterise doc (PDF 300 dpi, SVG 300 dpi, PNG as it is, ZPL drawn at its
    dpi) and decode each page with dmtxread (per_page[i] symbols asked for on
    page i) and each symbol's region with ZXingReader."""
    base = os.path.join(workdir, name)
    pages = []   # (png path, dpi, grey rows or None)
    if doc.fmt == "pdf":
        with open(base + ".pdf", "wb") as f:
            f.write(doc.body)
        p = run_tool(["pdftoppm", "-r", "300", "-png", base + ".pdf", base])
        if p.returncode != 0:
            raise AssertionError("pdftoppm: %s" % p.stderr.decode("utf-8", "replace"))
        page_re = re.compile(re.escape(os.path.basename(base)) + r"-(\d+)\.png$")
        files = sorted((f for f in glob.glob(base + "-*.png")
                        if page_re.match(os.path.basename(f))),
                       key=lambda f: int(page_re.match(os.path.basename(f)).group(1)))
        pages = [(f, 300, None) for f in files]
        if text and shutil.which("pdftotext"):
            p = run_tool(["pdftotext", base + ".pdf", "-"])
            doc.text = p.stdout.decode("utf-8", "replace")
    elif doc.fmt == "svg":
        with open(base + ".svg", "wb") as f:
            f.write(doc.body)
        p = run_tool(["rsvg-convert", "-d", "300", "-p", "300", "-o", base + ".png", base + ".svg"])
        if p.returncode != 0:
            raise AssertionError("rsvg-convert: %s" % p.stderr.decode("utf-8", "replace"))
        pages = [(base + ".png", 300, None)]
    elif doc.fmt == "png":
        with open(base + ".png", "wb") as f:
            f.write(doc.body)
        pages = [(base + ".png", doc.dpi, None)]
    elif doc.fmt == "zpl":
        doc.zpl = zpl_labels(doc.body.decode("utf-8"))
        for i, lab in enumerate(doc.zpl):
            path = "%s-%d.png" % (base, i + 1)
            pages.append((path, doc.dpi, zpl_draw(lab, path)))
    for i, (path, dpi, gray) in enumerate(pages):
        with open(path, "rb") as f:
            w, h = png_ihdr(f.read())[:2]
        doc.page_px.append((w, h))
        want = per_page[i] if i < len(per_page) else 1
        syms = dmtx_scan(path, max(want, 1), dpi, i + 1)
        if zxing:
            zxing_regions(path, syms, gray)
        doc.pages.append(syms)
    return doc


def render_label(ind_id, fmt, dpi=None, key=None, **params):
    status, hdrs, body = fetch("GET", label_path(ind_id, format=fmt, dpi=dpi, **params),
                               key=key or SRV.customer_key)
    return Doc(fmt, dpi or (203 if fmt == "zpl" else 300), status, hdrs, body)


def render_sheet(body, key=None):
    status, hdrs, payload = fetch("POST", "/v1/sheets", body=body, key=key or SRV.customer_key)
    fmt = body.get("format", "pdf")
    return Doc(fmt, body.get("dpi") or (203 if fmt == "zpl" else 300), status, hdrs, payload)


def sym_pt(sym, offset_mm=(0, 0)):
    """The symbol box in points, with a calibration offset taken back out."""
    f = 72.0 / sym.dpi
    dx, dy = offset_mm[0] * 72 / 25.4, offset_mm[1] * 72 / 25.4
    return (sym.box[0] * f - dx, sym.box[1] * f - dy, sym.box[2] * f - dx, sym.box[3] * f - dy)


def grid_position(layout, sym, offset_mm=(0, 0), zpl=False):
    """(row, col) of the label a symbol is printed on, from the layout numbers;
    None unless the symbol lies wholly inside that label's padded area. A ZPL
    label is one label of the layout, so its grid is that one label."""
    L = LAYOUTS[layout]
    if zpl:
        L = dict(L, left=0, top=0, rows=1, cols=1, pitch=L["label"])
    x0, y0, x1, y1 = sym_pt(sym, offset_mm)
    col = int(math.floor((x0 - L["left"]) / L["pitch"][0])) + 1
    row = int(math.floor((y0 - L["top"]) / L["pitch"][1])) + 1
    lx = L["left"] + (col - 1) * L["pitch"][0]
    ly = L["top"] + (row - 1) * L["pitch"][1]
    tol = POS_TOL * 72.0 / sym.dpi
    pad = L["padding"]
    inside = (x0 >= lx + pad - tol and y0 >= ly + pad - tol
              and x1 <= lx + L["label"][0] - pad + tol and y1 <= ly + L["label"][1] - pad + tol)
    if not inside or not (1 <= row <= L["rows"] and 1 <= col <= L["cols"]):
        return None
    return (row, col)


class PrintTest(unittest.TestCase):
    maxDiff = None

    # -- assertions --

    def assertApiError(self, status, payload, http_status, code, field=None, what=""):
        j = as_json(payload) if isinstance(payload, (bytes, bytearray)) else payload
        shown = payload[:120] if isinstance(payload, (bytes, bytearray)) else payload
        self.assertEqual(status, http_status, "%s: %r" % (what, shown))
        self.assertIsInstance(j, dict, "%s: not a JSON error: %r" % (what, shown))
        self.assertEqual(j.get("error", {}).get("code"), code, "%s: %r" % (what, j))
        if field is not None:
            self.assertEqual(j["error"].get("field"), field, "%s: %r" % (what, j))

    def assertDocument(self, doc, fmt, filename=None, what="", layout=None):
        self.assertEqual(doc.status, 200, "%s: %r" % (what, doc.body[:400]))
        self.assertEqual(doc.headers.get("content-type", "").split(";")[0].strip(),
                         CONTENT_TYPES[fmt], what)
        if filename is not None:
            self.assertEqual(doc.headers.get("content-disposition"),
                             'attachment; filename="%s"' % filename, what)
        elif layout is not None:
            # Sheets: the layout and the extension, no path.
            self.assertRegex(doc.headers.get("content-disposition", ""),
                             r'^attachment; filename="[A-Za-z0-9_.-]+-%s\.%s"$'
                             % (re.escape(layout), fmt), what)

    def verify_indicium(self, raw):
        """POST /v1/verify (operator key) and openssl, once per distinct indicium."""
        with _lock:
            if raw in _verified:
                return
        status, _, j = SRV.request("POST", "/v1/verify", body={"data": harness.b64(raw)},
                                   key=SRV.operator_key)
        self.assertEqual(status, 200, j)
        self.assertTrue(j["valid"] and j["signature_valid"] and j["known"], j)
        dec = harness.decode_indicium(raw)
        self.assertEqual(j["fields"]["serial"], dec["serial"], j)
        self.assertEqual(j["fields"]["psd_id"], dec["psd_id"], j)
        with _lock:
            keys = _keys_cache.get("keys")
        if keys is None or dec["key_id"] not in keys:
            keys = SRV.keys()
            with _lock:
                _keys_cache["keys"] = keys
        self.assertIn(dec["key_id"], keys)
        ok, out = harness.openssl_verify(WORK, keys[dec["key_id"]]["public_key_pem"],
                                         dec["body"], dec["signature"])
        self.assertTrue(ok, "openssl does not verify the decoded indicium: " + out)
        with _lock:
            _verified[raw] = True

    def assertSymbol(self, sym, raw, what="", zxing=True):
        """The symbol reads back (dmtxread, ZXing) as exactly raw, and verifies."""
        self.assertEqual(sym.data, raw, "%s: dmtxread bytes differ from the indicium %r"
                         % (what, sym))
        # ECC200 square, base 256: up to 144 codewords in 44x44, 174 in 48x48
        # (docs/indicium.md measures both versions).
        want_size = 44 if len(raw) + 2 <= 144 else 48
        self.assertEqual(sym.size, want_size, "%s: %r" % (what, sym))
        if zxing:
            self.assertEqual(sym.zxing, raw, "%s: ZXingReader on the region of %r read %r (%s)"
                             % (what, sym, sym.zxing, sym.zxing_err.strip()))
            self.assertEqual(sym.quiet_ink, 0, "%s: ink in the quiet zone of %r" % (what, sym))
        self.verify_indicium(raw)

    def assertNear(self, got, want, tol, what):
        self.assertLessEqual(abs(got - want), tol, "%s: got %.2f, want %.2f (+-%.1f)"
                             % (what, got, want, tol))


# =============================================================================

class TestLayouts(PrintTest):

    def test_layout_list(self):
        status, _, j = SRV.request("GET", "/v1/layouts")   # no key
        self.assertEqual(status, 200, j)
        got = {l["name"]: l for l in j["layouts"]}
        self.assertEqual(sorted(got), sorted(LAYOUTS))
        for name, L in LAYOUTS.items():
            with self.subTest(layout=name):
                l = got[name]
                self.assertEqual(l["kind"], L["kind"])
                self.assertEqual((l["page_width_pt"], l["page_height_pt"]), L["page"])
                self.assertEqual((l["rows"], l["cols"]), (L["rows"], L["cols"]))
                self.assertEqual(l["labels_per_page"], L["rows"] * L["cols"])
                self.assertTrue(l["description"])
        self.assertEqual((got["label-4x6"]["page_width_pt"], got["label-4x6"]["page_height_pt"],
                          got["label-4x6"]["rows"], got["label-4x6"]["cols"]), (288, 432, 1, 1))
        self.assertEqual((got["avery-5160"]["page_width_pt"], got["avery-5160"]["page_height_pt"],
                          got["avery-5160"]["rows"], got["avery-5160"]["cols"]),
                         (612, 792, 10, 3))


class TestEveryLayoutAndFormat(PrintTest):
    """GET /v1/indicia/{id}/label: every layout x every format, for a plain
    indicium and one with a medium serial and both addresses."""

    def check_one(self, ind, layout, fmt, dpi, doc):
        L = LAYOUTS[layout]
        raw = harness.unb64(ind["data"])
        what = "%s %s %s dpi=%s" % (ind["id"], layout, fmt, dpi)
        self.assertDocument(doc, fmt, "%s-%s.%s" % (ind["id"], layout, fmt), what)
        pw, ph = L["page"]
        # Page size to the point / pixel.
        if fmt == "pdf":
            boxes = re.findall(rb"/MediaBox\s*\[\s*([-0-9. ]+)\]", doc.body)
            self.assertEqual(len(boxes), 1, what)
            self.assertEqual([float(v) for v in boxes[0].split()], [0, 0, pw, ph], what)
            self.assertEqual(len(doc.pages), 1, what)
        elif fmt == "png":
            w, h, depth, ctype = png_ihdr(doc.body)[:4]
            self.assertEqual((w, h), (math.ceil(pw * dpi / 72.0), math.ceil(ph * dpi / 72.0)),
                             what)
            self.assertEqual((depth, ctype), (8, 2), what + ": 24-bit RGB")
        elif fmt == "svg":
            m = re.search(rb"<svg\b[^>]*>", doc.body)
            self.assertIsNotNone(m, what)
            tag = m.group(0).decode()
            self.assertRegex(tag, r'width="%gpt"' % pw, what)
            self.assertRegex(tag, r'height="%gpt"' % ph, what)
            self.assertEqual(doc.page_px[0], (math.ceil(pw * 300 / 72.0),
                                              math.ceil(ph * 300 / 72.0)), what)
        elif fmt == "zpl":
            self.assertEqual(len(doc.zpl), 1, what)
            lab = doc.zpl[0]
            self.assertNear(lab["pw"], L["label"][0] * dpi / 72.0, 1, what + " ^PW")
            self.assertNear(lab["ll"], L["label"][1] * dpi / 72.0, 1, what + " ^LL")
            self.assertEqual(len(lab["graphics"]), 1, what)
            if layout == "label-4x6" and dpi == 203:
                self.assertEqual((lab["pw"], lab["ll"]), (812, 1218), what)
            self.assertIn("^CI28", lab["body"], what)
        # Exactly one symbol, the indicium.
        syms = doc.symbols
        self.assertEqual(len(syms), 1, "%s: %r" % (what, syms))
        s = syms[0]
        self.assertSymbol(s, raw, what)
        # Module size and position.
        k300 = L["k300"]
        if decode_medium(raw) and "k300_medium" in L:
            k300 = L["k300_medium"]
        if fmt == "zpl":
            k = L["k203"] if dpi == 203 else k300
            g = doc.zpl[0]["graphics"][0]
            self.assertEqual(len(g["rows"]), s.size * k, what + ": ^GFA rows = modules x k")
            self.assertGreaterEqual(g["bpr"] * 8, s.size * k, what)
            self.assertLess(g["bpr"] * 8 - s.size * k, 8, what)
        else:
            k = k300 * (dpi / 300.0 if fmt == "png" else 1)
        self.assertNear(s.box[2] - s.box[0], s.size * k, POS_TOL, what + ": symbol width px")
        self.assertNear(s.box[3] - s.box[1], s.size * k, POS_TOL, what + ": symbol height px")
        x0, y0, x1, y1 = sym_pt(s)
        if layout == "envelope-10":
            # Top-right quarter of the printable area (324 x 130.5 pt).
            self.assertGreaterEqual(x0, 18 + 648 - 324, what)
            self.assertLessEqual(x1, 684 - 18 + 0.5, what)
            self.assertGreaterEqual(y0, 18 - 0.5, what)
            self.assertLessEqual(y1, 18 + 130.5, what)
        else:
            zpl = fmt == "zpl"
            # A piece bought on a medium goes on its own label of the medium's layout.
            m = ind.get("medium")
            row, col = ((m["row"], m["column"]) if m and m["layout"] == layout and not zpl
                        else (1, 1))
            self.assertEqual(grid_position(layout, s, zpl=zpl), (row, col),
                             "%s: %r" % (what, s))
            # Symbol corner = label corner + padding + 2 modules of quiet zone.
            px = s.dpi / 72.0
            left = 0 if zpl else L["left"] + (col - 1) * L["pitch"][0]
            top = 0 if zpl else L["top"] + (row - 1) * L["pitch"][1]
            want = (left + L["padding"]) * px + 2 * k
            if layout == "label-4x6":
                # Top right: the indicium block ends at the right padding.
                self.assertGreater(s.box[0], want + 36 * px, what + ": symbol not top right")
                self.assertLessEqual(s.box[2], (left + L["label"][0] - L["padding"]) * px - 2 * k
                                     + POS_TOL, what + ": symbol right edge")
            else:
                self.assertNear(s.box[0], want, POS_TOL, what + ": symbol left edge")
            want = (top + L["padding"]) * px + 2 * k
            self.assertNear(s.box[1], want, POS_TOL, what + ": symbol top edge")
        # The human-readable block.
        expect = ["US POSTAGE", "$%s" % ind["postage"], ind["mail_date"],
                  {"postcard": "Postcard", "first_class_letter": "First-Class Mail",
                   "large_envelope": "Large Envelope"}[ind["mail_class"]],
                  "FROM ZIP %s" % ind["from_zip"], "LIC %s" % ind["license"],
                  "PSD %d #%d" % (ind["psd_id"], ind["serial"])]
        addr_lines = []
        if layout in ("envelope-10", "label-4x6"):
            for a in (ind.get("from_address"), ind.get("to_address")):
                addr_lines += a.split("\n") if a else []
        text = None
        if fmt == "pdf" and doc.text is not None:
            text = doc.text
        elif fmt == "zpl":
            text = "\n".join(t for _, t in doc.zpl[0]["texts"])
        if text is not None:
            flat = re.sub(r"\s+", " ", text)
            for e in expect + addr_lines:
                self.assertIn(e, flat, "%s: text %r not printed:\n%s" % (what, e, text))
            if ind.get("medium_serial"):
                self.assertIn(ind["medium_serial"], re.sub(r"\s+", "", text), what)
                self.assertIn("MEDIUM", text, what)

    def test_every_layout_every_format(self):
        plain = buy(mail_class="postcard", weight=1)
        rich = buy(mail_class="first_class_letter", weight=2, medium_serial=MEDIUM,
                   from_address=FROM_ADDR, to_address=TO_ADDR)
        self.assertEqual(rich["medium_serial"], MEDIUM)
        work = scratch("matrix")
        # The second indicium skips 600 dpi PNG (the same drawing as 300 dpi, scaled).
        jobs = [(ind, layout, fmt, dpi) for ind in (plain, rich) for layout in LAYOUTS
                for fmt, dpi in FORMATS if ind is plain or (fmt, dpi) != ("png", 600)]

        def job(args):
            ind, layout, fmt, dpi = args
            try:
                doc = render_label(ind["id"], fmt, dpi, layout=layout)
                if doc.status == 200:
                    analyse(doc, [1], work, "%s-%s-%s-%s" % (ind["serial"], layout, fmt, dpi),
                            text=(fmt == "pdf"))
                return doc
            except Exception as e:   # reported in the job's subTest
                return e

        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            docs = list(ex.map(job, jobs))
        for (ind, layout, fmt, dpi), doc in zip(jobs, docs):
            with self.subTest(indicium="rich" if ind is rich else "plain", layout=layout,
                              format=fmt, dpi=dpi):
                if isinstance(doc, Exception):
                    raise doc
                self.check_one(ind, layout, fmt, dpi, doc)
        # Defaults: no parameters is a PDF of label-4x6.
        doc = render_label(plain["id"], None)
        self.assertDocument(doc, "pdf", "%s-label-4x6.pdf" % plain["id"])
        self.assertIn(b"/MediaBox [ 0 0 288 432 ]", doc.body)
        # PDF and SVG ignore the dpi.
        for fmt in ("pdf", "svg"):
            doc = render_label(plain["id"], fmt, 250)
            self.assertDocument(doc, fmt, what="%s with dpi=250" % fmt)


class TestFourBySix(PrintTest):

    def test_full_page_png_decodes(self):
        ind = buy(mail_class="first_class_letter", weight=1)
        raw = harness.unb64(ind["data"])
        work = scratch("4x6")
        for dpi in (300, 600):
            with self.subTest(dpi=dpi):
                doc = render_label(ind["id"], "png", dpi, layout="label-4x6")
                self.assertDocument(doc, "png", "%s-label-4x6.png" % ind["id"])
                self.assertEqual(png_ihdr(doc.body)[:2], (4 * dpi, 6 * dpi))
                path = os.path.join(work, "full-%d.png" % dpi)
                with open(path, "wb") as f:
                    f.write(doc.body)
                # dmtxread on the whole page, as it came from the server.
                syms = dmtx_scan(path, 1, dpi)
                self.assertEqual(len(syms), 1, syms)
                # ZXing on the symbol's region only.
                zxing_regions(path, syms)
                self.assertSymbol(syms[0], raw, "4x6 %d dpi" % dpi)
                self.assertNear(syms[0].module, 8 * dpi / 300.0, 0.1, "module px")
                # The postage is top right (docs/printing.md): the indicium block
                # ends at the right padding, so the symbol is well right of the left one.
                self.assertGreater(syms[0].box[0], (9 + 2 * 8 * 72 / 300.0 + 36) * dpi / 72,
                                   "top right, not at the left edge")
                self.assertLess(syms[0].box[2], (288 - 9 - 2 * 8 * 72 / 300.0) * dpi / 72)
                self.assertNear(syms[0].box[1], (9 + 2 * 8 * 72 / 300.0) * dpi / 72, POS_TOL,
                                "4.5 mm from the top edge")


class TestSheets(PrintTest):

    def positions(self, doc, layout, offset_mm=(0, 0)):
        """{(page, row, col): bytes} of every symbol; asserts each lies on a label."""
        out = {}
        for s in doc.symbols:
            pos = grid_position(layout, s, offset_mm)
            self.assertIsNotNone(pos, "%s: symbol %r is not inside a label" % (layout, s))
            key = (s.page,) + pos
            self.assertNotIn(key, out, "two symbols at %r" % (key,))
            out[key] = s
        return out

    def test_thirty_labels_avery_5160(self):
        ids = sheet_ids()
        doc = sheet30_pdf()
        self.assertDocument(doc, "pdf", layout="avery-5160")
        self.assertEqual(re.findall(rb"/MediaBox\s*\[([^\]]*)\]", doc.body), [b" 0 0 612 792 "])
        self.assertEqual(len(doc.pages), 1)
        self.assertEqual(doc.page_px[0], (2550, 3300))
        self.assertEqual(len(doc.symbols), 30, "dmtxread found %d of 30" % len(doc.symbols))
        pos = self.positions(doc, "avery-5160")
        for i, ind_id in enumerate(ids):
            row, col = divmod(i, 3)
            with self.subTest(item=i, row=row + 1, col=col + 1):
                s = pos.get((1, row + 1, col + 1))
                self.assertIsNotNone(s, "nothing decoded at (%d,%d)" % (row + 1, col + 1))
                self.assertSymbol(s, raw_of(ind_id), "sheet item %d" % i)
                # 2.4 mm right and down from the label corner.
                self.assertNear(s.box[0], (13.5 + col * 198 + 4.5) * 300 / 72 + 10, POS_TOL, "x")
                self.assertNear(s.box[1], (36 + row * 72 + 4.5) * 300 / 72 + 10, POS_TOL, "y")
        # The same 30 as one PNG page.
        doc = render_sheet({"indicia": ids, "layout": "avery-5160", "format": "png", "dpi": 300})
        self.assertDocument(doc, "png", layout="avery-5160")
        analyse(doc, [30], scratch("sheet30png"), "sheet", zxing=False)
        self.assertEqual(doc.page_px[0], (2550, 3300))
        pos = self.positions(doc, "avery-5160")
        self.assertEqual({k: s.data for k, s in pos.items()},
                         {(1, i // 3 + 1, i % 3 + 1): raw_of(x) for i, x in enumerate(ids)})

    def test_netstamps_sheet_svg(self):
        ids = sheet_ids()[:20]
        doc = render_sheet({"indicia": ids, "layout": "netstamps-sheet", "format": "svg"})
        self.assertDocument(doc, "svg", layout="netstamps-sheet")
        analyse(doc, [20], scratch("netstamps"), "sheet", zxing=False)
        pos = self.positions(doc, "netstamps-sheet")
        self.assertEqual({k: s.data for k, s in pos.items()},
                         {(1, i // 4 + 1, i % 4 + 1): raw_of(x) for i, x in enumerate(ids)})

    def test_start_position_and_overflow(self):
        ids = sheet_ids()
        doc = render_sheet({"indicia": ids[:3], "layout": "avery-5160", "format": "pdf",
                            "start": {"row": 4, "col": 2}})
        self.assertDocument(doc, "pdf")
        analyse(doc, [3], scratch("start"), "start")
        pos = self.positions(doc, "avery-5160")
        self.assertEqual({k: s.data for k, s in pos.items()},
                         {(1, 4, 2): raw_of(ids[0]), (1, 4, 3): raw_of(ids[1]),
                          (1, 5, 1): raw_of(ids[2])})
        for s in doc.symbols:
            self.assertSymbol(s, s.data, "start 4,2")
        # Two items from (10,3): the last label of page 1, the first of page 2.
        doc = render_sheet({"indicia": ids[3:5], "layout": "avery-5160", "format": "pdf",
                            "start": {"row": 10, "col": 3}})
        self.assertDocument(doc, "pdf")
        self.assertEqual(len(re.findall(rb"/MediaBox", doc.body)), 2)
        d = scratch("overflow")
        analyse(doc, [1, 1], d, "ovf")
        self.assertEqual(sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "ovf-*.png"))
                                if re.search(r"-\d+\.png$", p)), ["ovf-1.png", "ovf-2.png"])
        pos = self.positions(doc, "avery-5160")
        self.assertEqual({k: s.data for k, s in pos.items()},
                         {(1, 10, 3): raw_of(ids[3]), (2, 1, 1): raw_of(ids[4])})
        for s in doc.symbols:
            self.assertSymbol(s, s.data, "overflow")
        # 31 from (1,1): 30 + 1 on the second page.
        more = ids + [buy()["id"]]
        doc = render_sheet({"indicia": more, "layout": "avery-5160"})
        self.assertDocument(doc, "pdf", layout="avery-5160")
        analyse(doc, [30, 1], scratch("ovf31"), "ovf", zxing=False)
        self.assertEqual([len(p) for p in doc.pages], [30, 1])
        pos = self.positions(doc, "avery-5160")
        self.assertEqual(pos[(2, 1, 1)].data, raw_of(more[30]))

    def test_offsets(self):
        ids = sheet_ids()
        base = sheet30_pdf()
        moved = render_sheet({"indicia": ids, "layout": "avery-5160",
                              "offset_mm": {"x": 2, "y": -1.5}})
        self.assertDocument(base, "pdf")
        self.assertDocument(moved, "pdf")
        analyse(moved, [30], scratch("off1"), "p", zxing=False)
        a = {s.data: s for s in base.symbols}
        b = {s.data: s for s in moved.symbols}
        self.assertEqual(len(a), 30)
        self.assertEqual(len(b), 30, "dmtxread found %d of 30 after the offset" % len(b))
        dx, dy = 2 / 25.4 * 300, -1.5 / 25.4 * 300     # 23.6 px right, 17.7 px up
        for i, ind_id in enumerate(ids):
            raw = raw_of(ind_id)
            with self.subTest(item=i):
                self.assertIn(raw, b)
                self.assertSymbol(b[raw], raw, "offset sheet item %d" % i, zxing=False)
                self.assertNear(b[raw].box[0] - a[raw].box[0], dx, POS_TOL, "x shift")
                self.assertNear(b[raw].box[1] - a[raw].box[1], dy, POS_TOL, "y shift")
                self.assertEqual(grid_position("avery-5160", b[raw], (2, -1.5)),
                                 (i // 3 + 1, i % 3 + 1))
        # Every page of a job: (10,3) on page 1 and (1,1) on page 2.
        two = {"indicia": ids[:2], "layout": "avery-5160", "start": {"row": 10, "col": 3}}
        p0 = analyse(render_sheet(two), [1, 1], scratch("offp0"), "p", zxing=False)
        p1 = analyse(render_sheet(dict(two, offset_mm={"x": 2, "y": -1.5})), [1, 1],
                     scratch("offp1"), "p", zxing=False)
        self.assertEqual([len(p) for p in p1.pages], [1, 1])
        for page in (0, 1):
            with self.subTest(page=page + 1):
                s0, s1 = p0.pages[page][0], p1.pages[page][0]
                self.assertEqual(s1.data, raw_of(ids[page]))
                self.assertNear(s1.box[0] - s0.box[0], dx, POS_TOL, "x shift")
                self.assertNear(s1.box[1] - s0.box[1], dy, POS_TOL, "y shift")
        # A single label through ?offset=, at 300 dpi PNG.
        one = ids[0]
        d = scratch("offlabel")
        p0 = analyse(render_label(one, "png", 300), [1], d, "a", zxing=False)
        p1 = analyse(render_label(one, "png", 300, offset="2,-1.5"), [1], d, "b", zxing=False)
        self.assertNear(p1.symbols[0].box[0] - p0.symbols[0].box[0], dx, POS_TOL, "label x")
        self.assertNear(p1.symbols[0].box[1] - p0.symbols[0].box[1], dy, POS_TOL, "label y")
        # ZPL: a positive x moves the home, a negative y is label top (dot rows).
        z = render_label(one, "zpl", 203, offset="2,-1.5")
        self.assertDocument(z, "zpl")
        lab = zpl_labels(z.body.decode())[0]
        self.assertEqual((lab["lh"], lab["ls"], lab["lt"]), ((16, 0), 0, -12), lab["body"][:200])
        z = render_label(one, "zpl", 203, offset="-2,1.5")
        lab = zpl_labels(z.body.decode())[0]
        self.assertEqual((lab["lh"], lab["ls"], lab["lt"]), ((0, 12), 16, 0), lab["body"][:200])
        z0 = analyse(render_label(one, "zpl", 203), [1], d, "z0", zxing=False)
        z1 = analyse(render_label(one, "zpl", 203, offset="2,1.5"), [1], d, "z1", zxing=False)
        self.assertNear(z1.symbols[0].box[0] - z0.symbols[0].box[0], 16, 1, "zpl x")
        self.assertNear(z1.symbols[0].box[1] - z0.symbols[0].box[1], 12, 1, "zpl y")

    def test_saved_printer(self):
        key = SRV.customer_key
        status, _, j = SRV.request("PUT", "/v1/account/printers/office",
                                   body={"offset_x_mm": 1, "offset_y_mm": 1}, key=key)
        self.assertEqual(status, 200, j)
        self.assertEqual((j["name"], j["offset_x_mm"], j["offset_y_mm"]), ("office", 1, 1))
        self.assertTrue(j["updated"])
        status, _, j = SRV.request("GET", "/v1/account/printers/office", key=key)
        self.assertEqual((status, j["offset_x_mm"], j["offset_y_mm"]), (200, 1, 1), j)
        status, _, j = SRV.request("GET", "/v1/account/printers", key=key)
        self.assertIn("office", [p["name"] for p in j["printers"]], j)
        ids = sheet_ids()[:3]
        body = {"indicia": ids, "layout": "avery-5160"}
        d = scratch("printer")
        docs = {}
        for name, extra in (("none", {}), ("office", {"printer": "office"}),
                            ("explicit", {"printer": "office", "offset_mm": {"x": 2, "y": -1.5}}),
                            ("zero", {"printer": "office", "offset_mm": {"x": 0, "y": 0}})):
            doc = render_sheet(dict(body, **extra))
            self.assertDocument(doc, "pdf", what=name)
            docs[name] = {s.data: s for s in analyse(doc, [3], d, name, zxing=False).symbols}
            self.assertEqual(len(docs[name]), 3, name)
        mm = 300 / 25.4
        for name, (dx, dy) in (("office", (mm, mm)), ("explicit", (2 * mm, -1.5 * mm)),
                               ("zero", (0, 0))):
            for raw, s in docs[name].items():
                with self.subTest(printer=name):
                    self.assertNear(s.box[0] - docs["none"][raw].box[0], dx, POS_TOL, name + " x")
                    self.assertNear(s.box[1] - docs["none"][raw].box[1], dy, POS_TOL, name + " y")
        # The label endpoint applies it too; ?offset= overrides it.
        p0 = analyse(render_label(ids[0], "png", 300), [1], d, "l0", zxing=False)
        p1 = analyse(render_label(ids[0], "png", 300, printer="office"), [1], d, "l1", zxing=False)
        p2 = analyse(render_label(ids[0], "png", 300, printer="office", offset="0,0"), [1], d,
                     "l2", zxing=False)
        self.assertNear(p1.symbols[0].box[0] - p0.symbols[0].box[0], mm, POS_TOL, "label x")
        self.assertNear(p1.symbols[0].box[1] - p0.symbols[0].box[1], mm, POS_TOL, "label y")
        self.assertEqual(p2.symbols[0].box, p0.symbols[0].box)


class TestReprints(PrintTest):

    def prints(self, ind_id, key=REPRINT_KEY):
        return SRV.get_ok("/v1/indicia/" + ind_id, key or REPRINT_KEY)["prints"]

    def test_reprints_are_free_and_counted(self):
        key = REPRINT_KEY
        x = buy(key)
        y = buy(key)
        own = buy(OTHER_KEY)
        self.assertEqual((x["prints"], self.prints(x["id"])), (0, 0))
        balance = SRV.balance(key)
        psds = SRV.psds()
        expect_x = expect_y = 0
        for fmt, dpi in FORMATS:
            for layout in ("label-4x6", "avery-5160"):
                doc = render_label(x["id"], fmt, dpi, key=key, layout=layout)
                self.assertDocument(doc, fmt, what="%s %s" % (fmt, layout))
                expect_x += 1
        for _ in range(3):
            doc = render_sheet({"indicia": [x["id"], y["id"]], "layout": "avery-5160"}, key=key)
            self.assertDocument(doc, "pdf")
            expect_x += 1
            expect_y += 1
        doc = render_sheet({"indicia": [y["id"]], "layout": "netstamps-sheet", "format": "zpl"},
                           key=key)
        self.assertDocument(doc, "zpl")
        expect_y += 1
        d = scratch("reprint")
        r = stamp("print", x["id"], "--out", os.path.join(d, "cli.png"), key=key)
        self.assertEqual(r.rc, 0, r)
        r = stamp("print", x["id"], y["id"], "--layout", "avery-5160", "--out",
                  os.path.join(d, "cli.pdf"), key=key)
        self.assertEqual(r.rc, 0, r)
        expect_x += 2
        expect_y += 1
        # Refused renders are not counted.
        st, _, p = fetch("GET", label_path(x["id"], layout="nope"), key=key)
        self.assertApiError(st, p, 400, "unknown_layout")
        st, _, p = fetch("GET", label_path(x["id"], format="png", dpi=250), key=key)
        self.assertApiError(st, p, 400, "invalid_dpi")
        st, _, p = fetch("POST", "/v1/sheets", body={"indicia": [x["id"]], "format": "gif"},
                         key=key)
        self.assertApiError(st, p, 400, "unknown_format")
        # Another customer cannot render (or see) them, and is not counted.
        for path in (label_path(x["id"]), label_path(x["id"], format="png"),
                     "/v1/indicia/" + x["id"]):
            st, _, p = fetch("GET", path, key=OTHER_KEY)
            self.assertApiError(st, p, 404, "not_found", what=path)
        st, _, p = fetch("POST", "/v1/sheets", body={"indicia": [x["id"]]}, key=OTHER_KEY)
        self.assertApiError(st, p, 404, "not_found", what="other's sheet")
        st, _, p = fetch("POST", "/v1/sheets", body={"indicia": [own["id"], y["id"]]},
                         key=OTHER_KEY)
        self.assertApiError(st, p, 404, "not_found", what="mixed sheet")
        self.assertEqual(SRV.get_ok("/v1/indicia/" + own["id"], OTHER_KEY)["prints"], 0)
        # Nothing was charged and no register moved.
        self.assertEqual(SRV.balance(key), balance)
        self.assertEqual(SRV.psds(), psds)
        self.assertEqual(self.prints(x["id"]), expect_x)
        self.assertEqual(self.prints(y["id"]), expect_y)
        r = stamp("show", x["id"], key=key)
        self.assertEqual(r.rc, 0, r)
        self.assertRegex(r.out, r"(?m)^prints +%d\s*$" % expect_x, r)
        # The list shows the counts too.
        listed = {i["id"]: i for i in SRV.list_all(key)}
        self.assertEqual(listed[x["id"]].get("prints"), expect_x)


class TestErrors(PrintTest):

    def test_label_errors(self):
        ind = buy()
        i = ind["id"]
        balance = SRV.balance(SRV.customer_key)
        cases = [
            (dict(layout="nope"), 400, "unknown_layout", "layout"),
            (dict(format="gif"), 400, "unknown_format", "format"),
            (dict(format="png", dpi=250), 400, "invalid_dpi", "dpi"),
            (dict(format="png", dpi=203), 400, "invalid_dpi", "dpi"),
            (dict(format="zpl", dpi=600), 400, "invalid_dpi", "dpi"),
            (dict(format="png", dpi="x"), 400, "invalid_dpi", "dpi"),
            (dict(layout="avery-5160", start="11,1"), 400, "invalid_start_position", "start"),
            (dict(layout="avery-5160", start="1,4"), 400, "invalid_start_position", "start"),
            (dict(layout="label-4x6", start="1,2"), 400, "invalid_start_position", "start"),
            (dict(layout="netstamps-sheet", start="1,5"), 400, "invalid_start_position", "start"),
            (dict(layout="avery-5160", format="zpl", start="11,1"), 400,
             "invalid_start_position", "start"),
            (dict(layout="avery-5160", start="a,b"), 400, "invalid_start_position", "start"),
            (dict(layout="avery-5160", start="0,1"), 400, "invalid_start_position", "start"),
            (dict(offset="10.5,0"), 400, "invalid_offset", "offset"),
            (dict(offset="0,-10.01"), 400, "invalid_offset", "offset"),
            (dict(offset="1.234,0"), 400, "invalid_offset", "offset"),
            (dict(offset="1"), 400, "invalid_offset", "offset"),
            (dict(printer="nosuch"), 404, "not_found", "printer"),
            # "not_found (... or no such printer)": also when an offset is given.
            (dict(printer="nosuch", offset="1,1"), 404, "not_found", "printer"),
        ]
        for params, http_status, code, field in cases:
            with self.subTest(params=params):
                st, _, p = fetch("GET", label_path(i, **params), key=SRV.customer_key)
                self.assertApiError(st, p, http_status, code, field, what=repr(params))
        # Edges that are fine.
        for params in (dict(offset="10,-10"), dict(offset="0.01,-9.99"),
                       dict(layout="avery-5160", start="10,3"),
                       dict(layout="netstamps-sheet", start="5,4")):
            with self.subTest(params=params):
                doc = render_label(i, "pdf", **params)
                self.assertDocument(doc, "pdf", what=repr(params))
        st, _, p = fetch("GET", label_path("ind_doesnotexist00000"), key=SRV.customer_key)
        self.assertApiError(st, p, 404, "not_found")
        st, _, p = fetch("GET", label_path(i))
        self.assertApiError(st, p, 401, "unauthorized")
        self.assertEqual(SRV.balance(SRV.customer_key), balance)

    def test_sheet_errors(self):
        ids = sheet_ids()
        one = ids[:1]
        many = [buy()["id"] for _ in range(1)] + ids   # 31
        cases = [
            ({"indicia": many, "layout": "avery-5160", "format": "png"}, 400,
             "invalid_request", None),
            ({"indicia": many, "layout": "avery-5160", "format": "svg"}, 400,
             "invalid_request", None),
            ({"indicia": ids[:3], "layout": "avery-5160", "format": "png",
              "start": {"row": 10, "col": 2}}, 400, "invalid_request", None),
            ({"indicia": []}, 400, "invalid_request", "indicia"),
            ({"indicia": [ids[0]] * 101}, 400, "invalid_request", "indicia"),
            ({"indicia": [ids[0], 17]}, 400, "invalid_type", "indicia"),
            ({"indicia": ids[0]}, 400, "invalid_type", "indicia"),
            ({"layout": "avery-5160"}, 400, "missing_field", "indicia"),
            ({"indicia": ["ind_doesnotexist00000"]}, 404, "not_found", None),
            ({"indicia": one, "layout": "nope"}, 400, "unknown_layout", "layout"),
            ({"indicia": one, "format": "gif"}, 400, "unknown_format", "format"),
            ({"indicia": one, "format": "png", "dpi": 250}, 400, "invalid_dpi", "dpi"),
            ({"indicia": one, "layout": "avery-5160", "start": {"row": 11, "col": 1}}, 400,
             "invalid_start_position", "start"),
            ({"indicia": one, "layout": "avery-5160", "start": {"row": "a", "col": "b"}}, 400,
             "invalid_start_position", "start"),
            ({"indicia": one, "offset_mm": {"x": 10.5, "y": 0}}, 400, "invalid_offset",
             "offset_mm"),
            ({"indicia": one, "offset_mm": {"x": 0.125, "y": 0}}, 400, "invalid_offset",
             "offset_mm"),
            ({"indicia": one, "offset_mm": {"x": 1}}, 400, "invalid_offset", "offset_mm"),
            ({"indicia": one, "printer": "nosuch"}, 404, "not_found", "printer"),
            ({"indicia": one, "printer": "nosuch", "offset_mm": {"x": 0, "y": 0}}, 404,
             "not_found", "printer"),
            ({"indicia": one, "color": "red"}, 400, "unknown_field", None),
        ]
        balance = SRV.balance(SRV.customer_key)
        for body, http_status, code, field in cases:
            what = json.dumps(body)[:160]
            with self.subTest(body=what):
                st, _, p = fetch("POST", "/v1/sheets", body=body, key=SRV.customer_key)
                self.assertApiError(st, p, http_status, code, field, what=what)
        # 100 is the most, and 30 PNG labels fit one page.
        doc = render_sheet({"indicia": [ids[0]] * 100, "layout": "avery-5160", "format": "zpl"})
        self.assertDocument(doc, "zpl", layout="avery-5160")
        self.assertEqual(len(zpl_labels(doc.body.decode())), 100)
        doc = render_sheet({"indicia": ids[:2], "layout": "avery-5160", "format": "png",
                            "start": {"row": 10, "col": 2}})
        self.assertDocument(doc, "png")
        # An operator key has no indicia of its own: "your indicia" (docs/api.md).
        st, _, p = fetch("POST", "/v1/sheets", body={"indicia": one}, key=SRV.operator_key)
        self.assertIn(st, (403, 404), "operator key rendered a customer's sheet: %d %s"
                      % (st, p[:60]))
        st, _, p = fetch("GET", label_path(ids[0]), key=SRV.operator_key)
        self.assertIn(st, (403, 404), "operator key rendered a customer's label: %d %s"
                      % (st, p[:60]))
        self.assertEqual(SRV.balance(SRV.customer_key), balance)

    def test_printer_errors(self):
        key = SRV.customer_key
        base = "/v1/account/printers/"
        cases = [
            ("PUT", base + "p1", {"offset_x_mm": 11, "offset_y_mm": 0}, 400, "invalid_offset",
             "offset_x_mm"),
            ("PUT", base + "p1", {"offset_x_mm": 0, "offset_y_mm": -10.5}, 400,
             "invalid_offset", "offset_y_mm"),
            ("PUT", base + "p1", {"offset_x_mm": 0.125, "offset_y_mm": 0}, 400,
             "invalid_offset", "offset_x_mm"),
            ("PUT", base + "p1", {"offset_x_mm": 0}, 400, "missing_field", "offset_y_mm"),
            ("PUT", base + "p1", {"offset_x_mm": "1", "offset_y_mm": 0}, 400, None,
             "offset_x_mm"),
            ("PUT", base + "bad%20name", {"offset_x_mm": 0, "offset_y_mm": 0}, 400,
             "invalid_request", "name"),
            ("PUT", base + "x" * 64, {"offset_x_mm": 0, "offset_y_mm": 0}, 400,
             "invalid_request", "name"),
            ("GET", base + "nosuch", None, 404, "not_found", None),
            ("DELETE", base + "nosuch", None, 404, "not_found", None),
        ]
        for method, path, body, http_status, code, field in cases:
            with self.subTest(method=method, path=path, body=body):
                st, _, p = fetch(method, path, body=body, key=key)
                if code is None:
                    self.assertEqual(st, http_status, p)
                    self.assertEqual(as_json(p)["error"].get("field"), field, p)
                else:
                    self.assertApiError(st, p, http_status, code, field, what=path)
        # A 63-character name, edge offsets, replace, delete, then 404.
        name = "Zebra_GK420d.203-" + "x" * 46
        self.assertEqual(len(name), 63)
        st, _, j = SRV.request("PUT", base + name, body={"offset_x_mm": -10, "offset_y_mm": 10},
                               key=key)
        self.assertEqual((st, j["offset_x_mm"], j["offset_y_mm"]), (200, -10, 10), j)
        st, _, j = SRV.request("PUT", base + name,
                               body={"offset_x_mm": 0.5, "offset_y_mm": -0.25}, key=key)
        self.assertEqual((st, j["offset_x_mm"], j["offset_y_mm"]), (200, 0.5, -0.25), j)
        st, _, j = SRV.request("GET", base + name, key=key)
        self.assertEqual((st, j["offset_x_mm"], j["offset_y_mm"]), (200, 0.5, -0.25), j)
        st, _, j = SRV.request("DELETE", base + name, key=key)
        self.assertEqual((st, j), (200, {"deleted": True}))
        st, _, p = fetch("GET", base + name, key=key)
        self.assertApiError(st, p, 404, "not_found")
        st, _, p = fetch("DELETE", base + name, key=key)
        self.assertApiError(st, p, 404, "not_found")
        # Printers belong to one customer.
        SRV.request("PUT", base + "mine", body={"offset_x_mm": 1, "offset_y_mm": 1}, key=key)
        st, _, p = fetch("GET", base + "mine", key=OTHER_KEY)
        self.assertApiError(st, p, 404, "not_found")
        ind = buy(OTHER_KEY)
        st, _, p = fetch("GET", label_path(ind["id"], printer="mine"), key=OTHER_KEY)
        self.assertApiError(st, p, 404, "not_found", "printer")
        # Operator keys have no printers; no key is unauthorized.
        for method, path, body in (("GET", "/v1/account/printers", None),
                                   ("GET", base + "mine", None),
                                   ("PUT", base + "op", {"offset_x_mm": 0, "offset_y_mm": 0}),
                                   ("DELETE", base + "mine", None)):
            with self.subTest(operator=method + " " + path):
                st, _, p = fetch(method, path, body=body, key=SRV.operator_key)
                self.assertApiError(st, p, 403, "forbidden", what=path)
                st, _, p = fetch(method, path, body=body)
                self.assertApiError(st, p, 401, "unauthorized", what=path)
        st, _, j = SRV.request("GET", base + "mine", key=key)
        self.assertEqual(st, 200, j)


class TestAddresses(PrintTest):

    def test_addresses_printed_on_envelope(self):
        ind = buy(mail_class="first_class_letter", weight=1, from_address=FROM_ADDR,
                  to_address=TO_ADDR)
        self.assertEqual((ind["from_address"], ind["to_address"]), (FROM_ADDR, TO_ADDR))
        got = SRV.get_ok("/v1/indicia/" + ind["id"], SRV.customer_key)
        self.assertEqual((got["from_address"], got["to_address"]), (FROM_ADDR, TO_ADDR))
        # Addresses are not signed: the indicium bytes are as without them.
        raw = harness.unb64(ind["data"])
        self.assertEqual(len(raw), 137)
        d = scratch("envelope")
        doc = render_label(ind["id"], "pdf", layout="envelope-10")
        self.assertDocument(doc, "pdf", "%s-envelope-10.pdf" % ind["id"])
        self.assertIn(b"/MediaBox [ 0 0 684 297 ]", doc.body)
        analyse(doc, [1], d, "env", text=True)
        self.assertEqual(len(doc.symbols), 1)
        self.assertSymbol(doc.symbols[0], raw, "envelope pdf")
        if doc.text is not None:
            lines = [re.sub(r"\s+", " ", l).strip() for l in doc.text.splitlines()]
            for line in FROM_ADDR.split("\n") + TO_ADDR.split("\n"):
                self.assertTrue(any(line in l for l in lines),
                                "%r not in the envelope text:\n%s" % (line, doc.text))
        # pdftotext -bbox: return address top left, delivery address below the symbol.
        if shutil.which("pdftotext"):
            p = run_tool(["pdftotext", "-bbox", os.path.join(d, "env.pdf"), "-"])
            words = re.findall(r'<word xMin="([0-9.]+)" yMin="([0-9.]+)" xMax="([0-9.]+)" '
                               r'yMax="([0-9.]+)">([^<]*)</word>', p.stdout.decode())
            where = {w[4]: tuple(float(v) for v in w[:4]) for w in words}
            sx0, sy0, sx1, sy1 = sym_pt(doc.symbols[0])
            self.assertIn("Jane", where, p.stdout.decode()[:2000])
            self.assertIn("John", where)
            self.assertLess(where["Jane"][2], sx0, "return address overlaps the symbol")
            self.assertLess(where["Jane"][1], 297 / 2.0)
            self.assertGreater(where["John"][1], sy1, "delivery address not below the symbol")
        for fmt, dpi in (("png", 300), ("svg", None), ("zpl", 203)):
            with self.subTest(format=fmt):
                doc = render_label(ind["id"], fmt, dpi, layout="envelope-10")
                self.assertDocument(doc, fmt, "%s-envelope-10.%s" % (ind["id"], fmt))
                analyse(doc, [1], d, "env-" + fmt)
                self.assertEqual(len(doc.symbols), 1)
                self.assertSymbol(doc.symbols[0], raw, "envelope " + fmt)
        # ZPL escapes ^ and ~ in an address.
        tricky = buy(from_address="A^XZ~JR\nCaf\u00e9 1", to_address="B", address_check="off")
        doc = render_label(tricky["id"], "zpl", layout="envelope-10")
        self.assertDocument(doc, "zpl")
        body = doc.body.decode()
        self.assertEqual(body.count("^XA"), 1, body[-800:])
        self.assertEqual(body.count("^XZ"), 1, body[-800:])
        self.assertNotIn("~JR", body)
        texts = [t for _, t in zpl_labels(body)[0]["texts"]]
        self.assertIn("A^XZ~JR", texts)
        self.assertIn("Caf\u00e9 1", texts)

    def test_invalid_addresses_charge_nothing(self):
        key = SRV.customer_key
        balance = SRV.balance(key)
        psds = SRV.psds()
        count = len(SRV.list_all(key))
        cases = [
            ("from_address", "\n".join("line %d" % i for i in range(7))),
            ("to_address", "x" * 61),
            ("to_address", "ok\nbad\x07bell"),
            ("from_address", "tab\there"),
            ("from_address", ""),
        ]
        for field, value in cases:
            with self.subTest(field=field, value=value):
                st, _, j = SRV.buy(key, uuid.uuid4().hex,
                                   {"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                                    "to_zip": "10001", field: value})
                self.assertApiError(st, j, 400, "invalid_request", field, what=repr(value))
        self.assertEqual(SRV.balance(key), balance)
        self.assertEqual(SRV.psds(), psds)
        self.assertEqual(len(SRV.list_all(key)), count)

    def test_longest_addresses(self):
        # docs/api.md: 1 to 6 lines of 1 to 60 characters.
        for name, addr in (("6 lines of 60 ASCII", "\n".join(("%d" % i) * 60 for i in range(6))),
                           ("60 non-ASCII characters", "\u00e9" * 60)):
            with self.subTest(address=name):
                st, _, j = SRV.buy(SRV.customer_key, uuid.uuid4().hex,
                                   {"mail_class": "postcard", "weight_oz": 1, "from_zip": "94107",
                                    "to_zip": "10001", "to_address": addr,
                                    "address_check": "off"})
                self.assertEqual(st, 201, "%s refused: %r" % (name, j))
                self.assertEqual(j["to_address"], addr)
                INDICIA[j["id"]] = j
                doc = render_label(j["id"], "pdf", layout="envelope-10")
                self.assertIn(doc.status, (200, 422), doc.body[:300])
                if doc.status == 422:
                    self.assertApiError(doc.status, doc.body, 422, "layout_too_small")


# ---- the CLI ----

class Run:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "stamp %s\n  exit %d\n  stdout:\n%s\n  stderr:\n%s" % (
            " ".join(self.args), self.rc, self.out, self.err)

    def json(self):
        try:
            return json.loads(self.out)
        except ValueError as e:
            raise AssertionError("stdout is not JSON (%s): %r" % (e, self))


def stamp(*args, key=None, cwd=None, path_env=None):
    env = harness.stampd_env()
    env["STAMP_KEY"] = key or CLI_KEY
    env["STAMP_SERVER"] = "http://%s:%d" % (SRV.host, SRV.port)
    if path_env is not None:
        env["PATH"] = path_env
    args = [str(a) for a in args]
    p = subprocess.run([STAMP_BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, env=env, timeout=STAMP_TIMEOUT, cwd=cwd)
    r = Run(args, p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))
    harness.assert_no_sanitizer(r.err, "stamp " + " ".join(args))
    return r


class TestCli(PrintTest):

    def expect(self, r, rc):
        self.assertEqual(r.rc, rc, "expected exit %d: %r" % (rc, r))
        return r

    def cli_buy(self, *extra):
        r = self.expect(stamp("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                              "--to", "10001", "--json", *extra), 0)
        ind = r.json()
        INDICIA[ind["id"]] = ind
        return ind, r

    def test_buy_with_print(self):
        d = scratch("cli-buy")
        out = os.path.join(d, "label.png")
        ind, r = self.cli_buy("--print", out)
        self.assertIn("label.png", r.err, r)
        with open(out, "rb") as f:
            data = f.read()
        self.assertEqual(png_ihdr(data)[:2], (1200, 1800))
        syms = dmtx_scan(out, 1, 300)
        zxing_regions(out, syms)
        self.assertEqual(len(syms), 1, syms)
        self.assertSymbol(syms[0], harness.unb64(ind["data"]), "stamp buy --print")
        self.assertEqual(SRV.get_ok("/v1/indicia/" + ind["id"], CLI_KEY)["prints"], 1)
        # An envelope with addresses given on the command line.
        env_pdf = os.path.join(d, "envelope.pdf")
        ind, r = self.cli_buy("--from-address", r"Ana Example\n1 Main St\nSAN FRANCISCO CA 94107",
                              "--to-address", r"Bo Receiver\n2 Elm St\nNEW YORK NY 10001",
                              "--print", env_pdf, "--layout", "envelope-10")
        self.assertEqual(ind["from_address"], "Ana Example\n1 Main St\nSAN FRANCISCO CA 94107")
        with open(env_pdf, "rb") as f:
            doc = Doc("pdf", 300, 200, {}, f.read())
        analyse(doc, [1], d, "envdoc", text=True)
        self.assertSymbol(doc.symbols[0], harness.unb64(ind["data"]), "buy --print envelope")
        if doc.text is not None:
            self.assertIn("Bo Receiver", doc.text)
        # Refused before any money moves: bad extension, unknown layout.
        balance = SRV.balance(CLI_KEY)
        for extra in (["--print", os.path.join(d, "label.gif")],
                      ["--print", os.path.join(d, "x.pdf"), "--layout", "nope"]):
            with self.subTest(extra=extra):
                r = stamp("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                          "--to", "10001", *extra)
                self.expect(r, 2)
        self.assertEqual(SRV.balance(CLI_KEY), balance)

    def test_print_sheet_start(self):
        ids = [self.cli_buy()[0]["id"] for _ in range(3)]
        d = scratch("cli-sheet")
        out = os.path.join(d, "sheet.pdf")
        r = self.expect(stamp("print", *ids, "--layout", "avery-5160", "--start", "2,2",
                              "--out", out), 0)
        self.assertIn("sheet.pdf", r.out + r.err)
        with open(out, "rb") as f:
            doc = Doc("pdf", 300, 200, {}, f.read())
        analyse(doc, [3], d, "sheet")
        got = {}
        for s in doc.symbols:
            got[grid_position("avery-5160", s)] = s
        self.assertEqual(sorted(got), [(2, 2), (2, 3), (3, 1)], doc.symbols)
        for pos, ind_id in zip([(2, 2), (2, 3), (3, 1)], ids):
            self.assertSymbol(got[pos], raw_of(ind_id), "stamp print sheet %r" % (pos,))
        # --json describes the document.
        out2 = os.path.join(d, "sheet2.pdf")
        j = self.expect(stamp("--json", "print", *ids, "--layout", "avery-5160", "--out", out2),
                        0).json()
        self.assertEqual((j["format"], j["content_type"], j["labels"], j["layout"],
                          j["printed"]), ("pdf", "application/pdf", 3, "avery-5160", False))
        self.assertEqual(j["bytes"], os.path.getsize(out2))

    def test_print_zpl(self):
        ind = self.cli_buy()[0]
        d = scratch("cli-zpl")
        out = os.path.join(d, "x.zpl")
        self.expect(stamp("print", ind["id"], "--format", "zpl", "--out", out), 0)
        with open(out, "rb") as f:
            doc = Doc("zpl", 203, 200, {}, f.read())
        analyse(doc, [1], d, "zpl")
        self.assertEqual(len(doc.zpl), 1)
        self.assertEqual((doc.zpl[0]["pw"], doc.zpl[0]["ll"]), (812, 1218))
        self.assertEqual(len(doc.symbols), 1)
        self.assertSymbol(doc.symbols[0], harness.unb64(ind["data"]), "stamp print zpl")
        # Default file name in the current directory: ID-LAYOUT.FORMAT.
        self.expect(stamp("print", ind["id"], "--format", "svg", cwd=d), 0)
        self.assertTrue(os.path.exists(os.path.join(d, "%s-label-4x6.svg" % ind["id"])))

    def test_printers_and_layouts(self):
        r = self.expect(stamp("printers", "set", "office", "--offset", "0.5,-0.25"), 0)
        self.assertIn("office", r.out)
        j = self.expect(stamp("printers", "--json"), 0).json()
        printers = j["printers"] if isinstance(j, dict) else j
        office = [p for p in printers if p["name"] == "office"]
        self.assertEqual(len(office), 1, j)
        self.assertEqual((office[0]["offset_x_mm"], office[0]["offset_y_mm"]), (0.5, -0.25))
        st, _, j = SRV.request("GET", "/v1/account/printers/office", key=CLI_KEY)
        self.assertEqual((j["offset_x_mm"], j["offset_y_mm"]), (0.5, -0.25))
        r = self.expect(stamp("printers"), 0)
        self.assertRegex(r.out, r"(?m)^office\s+\+0\.50\s+-0\.25\s")
        r = self.expect(stamp("layouts", key=""), 0)
        rows = {}
        for line in r.out.splitlines()[1:]:
            f = line.split()
            if f:
                rows[f[0]] = f
        self.assertEqual(sorted(rows), sorted(LAYOUTS), r)
        for name, L in LAYOUTS.items():
            self.assertEqual(rows[name][1], L["kind"], r)
        self.assertRegex(r.out, r"(?m)^avery-5160\s+sheet\s+8\.5 x 11\s+10\s+3\s+30\s")
        self.assertRegex(r.out, r"(?m)^label-4x6\s+label\s+4 x 6\s+1\s+1\s+1\s")
        self.assertRegex(r.out, r"(?m)^envelope-10\s+envelope\s+9\.5 x 4\.125\s+1\s+1\s+1\s")
        # The printer's offsets reach the document: 0.5 mm right, 0.25 mm up.
        ind = self.cli_buy()[0]
        d = scratch("cli-printer")
        a, b = os.path.join(d, "a.png"), os.path.join(d, "b.png")
        self.expect(stamp("print", ind["id"], "--out", a), 0)
        self.expect(stamp("print", ind["id"], "--out", b, "--printer", "office",
                          path_env=d), 3)
        sa, sb = dmtx_scan(a, 1, 300), dmtx_scan(b, 1, 300)
        self.assertNear(sb[0].box[0] - sa[0].box[0], 0.5 / 25.4 * 300, POS_TOL, "x")
        self.assertNear(sb[0].box[1] - sa[0].box[1], -0.25 / 25.4 * 300, POS_TOL, "y")
        r = self.expect(stamp("printers", "delete", "office"), 0)
        self.expect(stamp("print", ind["id"], "--out", b, "--printer", "office", path_env=d), 1)

    def test_usage_and_refusals(self):
        ind = self.cli_buy()[0]
        d = scratch("cli-err")
        out = os.path.join(d, "a.pdf")
        for args in (["--start", "0,1"], ["--offset", "1.234,0"], ["--start", "a,b"],
                     ["--offset", "10.5,0"], ["--format", "png", "--out", out]):
            with self.subTest(args=args):
                a = ["print", ind["id"], "--layout", "avery-5160"] + args
                if "--out" not in args:
                    a += ["--out", out]
                r = self.expect(stamp(*a), 2)
                self.assertFalse(os.path.exists(out), r)
        r = self.expect(stamp("print", ind["id"], "--layout", "nope", "--out", out), 1)
        self.assertIn("unknown_layout", r.err)
        self.assertFalse(os.path.exists(out))
        r = self.expect(stamp("print", ind["id"], "--layout", "avery-5160", "--start", "11,1",
                              "--out", out), 1)
        self.assertIn("invalid_start_position", r.err)
        r = self.expect(stamp("print", ind["id"], "--printer", "nosuch", "--out", out), 1)
        self.assertIn("not_found", r.err)
        self.assertIn("stamp printers set nosuch", r.err)
        # Another customer's indicium.
        other = buy(OTHER_KEY)
        r = self.expect(stamp("print", other["id"], "--out", out), 1)
        self.assertIn("not_found", r.err)

    def test_printer_without_lp(self):
        self.expect(stamp("printers", "set", "desk", "--offset", "0,0"), 0)
        ind = self.cli_buy()[0]
        d = scratch("cli-lp")
        empty = os.path.join(d, "bin")     # a PATH with no lp on it
        os.makedirs(empty)
        out = os.path.join(d, "p.pdf")
        r = self.expect(stamp("print", ind["id"], "--printer", "desk", "--out", out,
                              path_env=empty), 3)
        self.assertIn("lp", r.err)
        self.assertIn("lp not found", r.err)
        self.assertIn(out, r.err)
        with open(out, "rb") as f:
            doc = Doc("pdf", 300, 200, {}, f.read())
        analyse(doc, [1], d, "p", zxing=False)
        self.assertSymbol(doc.symbols[0], harness.unb64(ind["data"]), "lp", zxing=False)
        # Without --out: saved as ID-LAYOUT.FORMAT in the current directory.
        r = self.expect(stamp("print", ind["id"], "--printer", "desk", path_env=empty, cwd=d), 3)
        saved = os.path.join(d, "%s-label-4x6.pdf" % ind["id"])
        self.assertTrue(os.path.exists(saved), r)
        # stamp buy --printer without lp: exit 3 before the purchase.
        balance = SRV.balance(CLI_KEY)
        r = self.expect(stamp("buy", "--class", "postcard", "--weight", "1", "--from", "94107",
                              "--to", "10001", "--print", os.path.join(d, "b.pdf"),
                              "--printer", "desk", path_env=empty), 3)
        self.assertIn("lp", r.err)
        self.assertEqual(SRV.balance(CLI_KEY), balance)


if __name__ == "__main__":
    harness.main()
