"""test_docs.py - the API documents stay true to the code.

No server is started: this reads the sources. It checks that

* every API error code in the X-macro table of include/stampd/error.h is in
  the error table of docs/api.md with the same HTTP status (and nothing else
  is), that "NNN code" / "`code` (NNN)" mentions in docs/*.md agree with the
  table, and that the ErrorCode enum of docs/openapi.yaml is exactly the set
  of API codes;
* every route of the route table (src/server/routes.c) is
  described in docs/api.md and in docs/openapi.yaml with the same methods,
  and neither document describes a route or method the code lacks; the
  routes answered before authentication are exactly the ones documented as
  needing none; every other operation accepts an API key or the session
  cookie the code names, and those that change state take X-CSRF-Token;
* docs/openapi.yaml is well-formed: it parses (with the small YAML subset
  reader below, no YAML library), starts with "openapi: 3.0.3", indents with
  spaces only, every $ref is internal and resolves, path parameters are
  declared, operation ids are unique;
* the JSON the handlers write, the body fields they accept, the query
  parameters they read, the headers and content types match the schemas,
  request bodies and parameters of docs/openapi.yaml; the operations that
  take an Idempotency-Key are exactly those whose handlers read it.

Environment: STAMPD_SOURCE_DIR (the repository root; default: two levels up).
Python 3 standard library only.
"""

import os
import re
import sys
import unittest

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("STAMPD_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))

ERROR_H = "include/stampd/error.h"
API_MD = "docs/api.md"
OPENAPI = "docs/openapi.yaml"
ROUTES_C = "src/server/routes.c"
ROUTE_FILES = (ROUTES_C, "src/server/reply.c", "src/server/views.c", "src/server/h_admin.c",
               "src/server/h_auth.c", "src/server/h_indicia.c", "src/server/h_internal.c",
               "src/server/h_media.c", "src/server/h_metrics.c", "src/server/h_payments.c",
               "src/server/h_print.c", "src/server/h_verify.c", "src/server/h_authority.c",
               "src/server/h_lifecycle.c",
               "src/server/h_reports.c",
               "src/server/h_claims.c",
               "src/server/h_rates.c",
               "src/server/h_batches.c", "src/server/batch.c",
               "src/server/h_hooks.c",
               # The domain's views the handlers answer with.
               "src/domain/indicium_view.c", "src/domain/refund.c", "src/domain/events.c")
ACCOUNT_C = "src/server/h_auth.c"
HTTP_C = "src/server/http.c"
LAYOUTS_C = "src/render/layouts.c"

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def read(rel):
    with open(os.path.join(SOURCE_DIR, rel), encoding="utf-8") as f:
        return f.read()


def norm_path(p):
    """/v1/indicia/{id}/label -> /v1/indicia/{}/label"""
    return re.sub(r"\{[^}/]*\}", "{}", p)


# ---------------------------------------------------------------------------
# A reader for the subset of YAML that docs/openapi.yaml is written in:
# block mappings and sequences indented with spaces, "- key: value" items,
# plain / single- / double-quoted scalars, one-line flow sequences, "{}",
# literal block scalars (|, |-, |+) and comments. Anything else (tabs, folded
# scalars, anchors, tags, multi-line plain or flow scalars, duplicate keys,
# plain scalars YAML 1.1 would read as something unexpected) is an error, so
# what this reads is what any YAML parser reads.


class YamlError(ValueError):
    pass


_INT = re.compile(r"^[-+]?[0-9]+$")
_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+\.[0-9]*|[0-9]+)([eE][-+]?[0-9]+)?$")
_AMBIGUOUS = re.compile(
    r"^(y|n|yes|no|on|off|\.inf|-\.inf|\.nan|0[0-9_]+|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+"
    r"|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?|[-+]?[0-9][0-9_]*_[0-9_]*)$", re.I)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "/": "/", "0": "\0",
            " ": " ", "e": "\x1b", "a": "\x07", "b": "\b", "f": "\f", "v": "\v"}


class _Yaml:
    def __init__(self, text):
        self.lines = text.split("\n")
        self.virtual = {}   # line number -> (indent, content) for "- key: v" items
        self.i = 0
        for n, line in enumerate(self.lines, 1):
            lead = line[:len(line) - len(line.lstrip(" \t"))]
            if "\t" in lead:
                raise YamlError("line %d: a tab in the indentation" % n)

    def fail(self, msg, i=None):
        raise YamlError("line %d: %s" % ((self.i if i is None else i) + 1, msg))

    def peek(self):
        while self.i < len(self.lines):
            if self.i in self.virtual:
                return self.virtual[self.i]
            line = self.lines[self.i]
            s = line.strip()
            if s == "" or s.startswith("#"):
                self.i += 1
                continue
            return len(line) - len(line.lstrip(" ")), s
        return None

    def parse(self):
        if self.peek() is None:
            return None
        node = self.node(0)
        if self.peek() is not None:
            self.fail("content after the document")
        return node

    def node(self, indent):
        indent, content = self.peek()
        if content == "-" or content.startswith("- "):
            return self.seq(indent)
        return self.mapping(indent)

    def mapping(self, indent):
        out = {}
        while True:
            nxt = self.peek()
            if nxt is None or nxt[0] < indent:
                return out
            if nxt[0] > indent:
                self.fail("unexpected indentation")
            content = nxt[1]
            if content == "-" or content.startswith("- "):
                self.fail("a sequence item where a mapping key was expected")
            key, rest = self.split_key(content)
            if key is None:
                self.fail("expected 'key: value'")
            if content[0] not in "'\"" and (_AMBIGUOUS.match(key) or
                                            not isinstance(self.scalar(key), str)):
                self.fail("plain key %r is not plainly a string (quote it)" % key)
            if key in out:
                self.fail("duplicate key %r" % key)
            self.virtual.pop(self.i, None)
            self.i += 1
            out[key] = self.value(rest, indent)

    def seq(self, indent):
        out = []
        while True:
            nxt = self.peek()
            if nxt is None or nxt[0] < indent:
                return out
            if nxt[0] > indent:
                self.fail("unexpected indentation")
            content = nxt[1]
            if not (content == "-" or content.startswith("- ")):
                self.fail("a mapping key where a sequence item was expected")
            rest = content[1:].lstrip(" ")
            if rest.startswith("- ") or rest == "-":
                self.fail("nested sequence on one line is not supported")
            if rest and self.split_key(rest)[0] is not None:
                self.virtual[self.i] = (indent + len(content) - len(rest), rest)
                out.append(self.mapping(indent + len(content) - len(rest)))
            else:
                self.virtual.pop(self.i, None)
                self.i += 1
                if rest.startswith("|") or rest.startswith(">"):
                    self.fail("block scalar as a sequence item is not supported")
                out.append(self.value(rest, indent))

    def value(self, rest, indent):
        rest = self.strip_comment(rest)
        if rest == "":
            nxt = self.peek()
            if nxt is not None and nxt[0] > indent:
                return self.node(nxt[0])
            return None
        if rest in ("|", "|-", "|+"):
            return self.block(indent, rest)
        if rest[0] in ">&*!%@`":
            self.fail("unsupported YAML: %r" % rest, self.i - 1)
        return self.scalar(rest)

    def block(self, indent, style):
        body, bi = [], None
        while self.i < len(self.lines):
            line = self.lines[self.i]
            if line.strip() == "":
                body.append("")
                self.i += 1
                continue
            ind = len(line) - len(line.lstrip(" "))
            if ind <= indent:
                break
            if bi is None:
                bi = ind
            elif ind < bi:
                self.fail("block scalar line indented less than its first line")
            body.append(line[bi:])
            self.i += 1
        text = "\n".join(body)
        if style == "|+":
            return text + "\n"
        text = text.rstrip("\n")
        return text if style == "|-" or text == "" else text + "\n"

    @staticmethod
    def split_key(content):
        """('key', 'rest') for a 'key: rest' line, else (None, None)."""
        if content[0] in "'\"":
            try:
                key, end = _Yaml.quoted(content, 0)
            except YamlError:
                return None, None
            rest = content[end:]
            if rest == ":" or rest.startswith(": "):
                return key, rest[1:].strip()
            return None, None
        m = re.match(r"^([^\s'\"\[\]{},#&*!|>%@`-][^#]*?|-[^\s#][^#]*?):(?: +(.*))?$", content)
        if not m or ": " in m.group(1):
            return None, None
        return m.group(1), (m.group(2) or "").strip()

    @staticmethod
    def quoted(s, start):
        """The quoted scalar at s[start], and the index after it."""
        q = s[start]
        i, out = start + 1, []
        while i < len(s):
            c = s[i]
            if q == "'":
                if c == "'":
                    if s[i + 1:i + 2] == "'":
                        out.append("'")
                        i += 2
                        continue
                    return "".join(out), i + 1
                out.append(c)
            else:
                if c == '"':
                    return "".join(out), i + 1
                if c == "\\":
                    e = s[i + 1:i + 2]
                    if e in _ESCAPES:
                        out.append(_ESCAPES[e])
                        i += 2
                        continue
                    width = {"x": 2, "u": 4, "U": 8}.get(e)
                    digits = s[i + 2:i + 2 + width] if width else ""
                    if not width or not re.match(r"^[0-9a-fA-F]+$", digits) or \
                            len(digits) != width:
                        raise YamlError("bad escape in %r" % s)
                    out.append(chr(int(digits, 16)))
                    i += 2 + width
                    continue
                out.append(c)
            i += 1
        raise YamlError("unterminated quoted scalar %r" % s)

    def strip_comment(self, s):
        if not s:
            return s
        if s[0] in "'\"":
            _, end = self.quoted(s, 0)
            rest = s[end:]
            if rest.strip() and not re.match(r"^\s+#", rest):
                self.fail("text after a quoted scalar: %r" % s, self.i - 1)
            return s[:end]
        if s[0] == "[":
            depth, q, i = 0, None, 0
            while i < len(s):
                c = s[i]
                if q:
                    if c == q:
                        q = None
                elif c in "'\"" and (i == 0 or s[i - 1] in "[, "):
                    q = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                    if depth == 0:
                        rest = s[i + 1:]
                        if rest.strip() and not re.match(r"^\s+#", rest):
                            self.fail("text after a flow sequence: %r" % s, self.i - 1)
                        return s[:i + 1]
                i += 1
            self.fail("a flow sequence must be on one line: %r" % s, self.i - 1)
        m = re.search(r"\s#", s)
        return (s[:m.start()] if m else s).rstrip()

    def scalar(self, s):
        if s[0] in "'\"":
            return self.quoted(s, 0)[0]
        if s == "{}":
            return {}
        if s[0] == "{":
            self.fail("flow mappings are not supported: %r" % s, self.i - 1)
        if s[0] == "[":
            inner = s[1:-1].strip()
            if not inner:
                return []
            items, cur, q = [], "", None
            for c in inner:
                if q:
                    cur += c
                    if c == q:
                        q = None
                elif c in "'\"" and not cur.strip():
                    q = c
                    cur += c
                elif c == ",":
                    items.append(cur.strip())
                    cur = ""
                elif c in "[]{}":
                    self.fail("nested flow collections are not supported: %r" % s, self.i - 1)
                else:
                    cur += c
            items.append(cur.strip())
            if any(not x for x in items):
                self.fail("empty flow sequence item: %r" % s, self.i - 1)
            return [self.scalar(x) for x in items]
        if ": " in s or s.endswith(":"):
            self.fail("plain scalar with ': ' (quote it): %r" % s, self.i - 1)
        if _AMBIGUOUS.match(s):
            self.fail("ambiguous plain scalar (quote it): %r" % s, self.i - 1)
        if s in ("null", "Null", "NULL", "~"):
            return None
        if s in ("true", "True", "TRUE"):
            return True
        if s in ("false", "False", "FALSE"):
            return False
        if _INT.match(s):
            return int(s)
        if _FLOAT.match(s):
            return float(s)
        return s


def parse_yaml(text):
    return _Yaml(text).parse()


# ---------------------------------------------------------------------------
# C source helpers


def strip_c_comments(src):
    """The source with comments blanked (newlines kept), strings untouched."""
    out, i, n = [], 0, len(src)
    while i < n:
        c = src[i]
        if c in "\"'":
            j = i + 1
            while j < n and src[j] != c:
                j += 2 if src[j] == "\\" else 1
            out.append(src[i:j + 1])
            i = j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", src[i:j]))
            i = j
        elif src.startswith("//", i):
            j = src.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def match_close(src, i):
    """Index of the bracket closing src[i] ('(' or '{'), skipping strings."""
    open_c = src[i]
    close_c = {"(": ")", "{": "}", "[": "]"}[open_c]
    depth, j = 0, i
    while j < len(src):
        c = src[j]
        if c in "\"'":
            k = j + 1
            while src[k] != c:
                k += 2 if src[k] == "\\" else 1
            j = k
        elif c == open_c:
            depth += 1
        elif c == close_c:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    raise ValueError("unbalanced %s at %d" % (open_c, i))


def split_args(text):
    """Top-level comma-separated arguments of a call's argument text."""
    args, depth, cur, i = [], 0, "", 0
    while i < len(text):
        c = text[i]
        if c in "\"'":
            k = i + 1
            while text[k] != c:
                k += 2 if text[k] == "\\" else 1
            cur += text[i:k + 1]
            i = k + 1
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
        else:
            cur += c
        i += 1
    if cur.strip():
        args.append(cur.strip())
    return args


def c_string(arg):
    """The value of a C string literal argument (adjacent literals joined), else None."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', arg)
    if not parts or re.sub(r'"((?:[^"\\]|\\.)*)"', "", arg).strip():
        return None
    return "".join(parts)


def functions(src):
    """{name: (body_start, body_text)} of the function definitions in comment-free src."""
    out = {}
    for m in re.finditer(r"^[A-Za-z_][\w \t*]*?\b(\w+)\s*\(([^;{}]*)\)\s*\{", src, re.M):
        start = m.end() - 1
        out[m.group(1)] = (start, src[start:match_close(src, start) + 1])
    return out


def calls(body, name):
    """Argument lists (split) of every call of name in body."""
    out = []
    for m in re.finditer(r"\b%s\s*\(" % re.escape(name), body):
        o = m.end() - 1
        out.append(split_args(body[o + 1:match_close(body, o)]))
    return out


def json_pack_keys(fmt, args):
    """The object keys a json_pack(fmt, args...) call writes (literal keys only)."""
    keys, pos = [], [0, 0]   # index into fmt, index into args

    def skip_ws():
        while pos[0] < len(fmt) and fmt[pos[0]] in " \t,:":
            pos[0] += 1

    def take_arg():
        a = args[pos[1]] if pos[1] < len(args) else ""
        pos[1] += 1
        return a

    def value():
        skip_ws()
        c = fmt[pos[0]]
        pos[0] += 1
        if c == "{":
            while True:
                skip_ws()
                if fmt[pos[0]] == "}":
                    pos[0] += 1
                    return
                if fmt[pos[0]] != "s":
                    raise ValueError("json_pack key spec %r in %r" % (fmt[pos[0]], fmt))
                pos[0] += 1
                k = c_string(take_arg())
                if k is not None:
                    keys.append(k)
                value()
        elif c == "[":
            while True:
                skip_ws()
                if fmt[pos[0]] == "]":
                    pos[0] += 1
                    return
                value()
        elif c in "sifIbFoOn":
            if c != "n":
                take_arg()
            if pos[0] < len(fmt) and fmt[pos[0]] in "?*#%":
                raise ValueError("json_pack modifier in %r not understood" % fmt)
        else:
            raise ValueError("json_pack spec %r in %r not understood" % (c, fmt))

    value()
    if pos[1] != len(args):
        raise ValueError("json_pack(%r): %d arguments, %d used" % (fmt, len(args), pos[1]))
    return keys


# ---------------------------------------------------------------------------
# What the sources say


def error_table():
    """[(name, value, http, api_code, message)] from the PV_ERRORS X-macro."""
    src = strip_c_comments(read(ERROR_H)).replace("\\\n", " ")
    m = re.search(r"#define\s+PV_ERRORS\(X\)(.*)", src)
    assert m, "no PV_ERRORS(X) macro in " + ERROR_H
    body = m.group(1)
    rows = re.findall(r'X\(\s*(\w+)\s*,\s*(-?\d+)\s*,\s*(\d+)\s*,\s*"([^"]*)"\s*,\s*'
                      r'"((?:[^"\\]|\\.)*)"\s*\)', body)
    assert len(rows) == body.count("X("), "an X(...) entry of PV_ERRORS could not be read"
    return [(n, int(v), int(h), c, msg) for n, v, h, c, msg in rows]


def api_codes():
    """{api_code: http status} of every error (not PV_OK)."""
    codes = {}
    for name, value, http, code, _ in error_table():
        if value == 0:
            continue
        if code in codes and codes[code] != http:
            raise AssertionError("%s: api code %s has HTTP %d and %d in %s"
                                 % (name, code, codes[code], http, ERROR_H))
        codes[code] = http
    return codes


class Routes:
    """The routes of the API, read from the route table of ROUTES_C.

    Every row is {method or NULL, "pattern", access, order, why, handler}:
    rows with the same pattern are one path answering several methods, a
    pattern's {id} / {any} segments are its parameters, and a final "*" is a
    guard (a role for a whole area of paths), not a route. OPEN and PUBLIC
    rows are answered before authentication. The handler files are read too
    (funcs, sources) for what the handlers write and read."""

    def __init__(self):
        self.paths = {}        # normalised path -> path as written ({} for parameters)
        self.methods = {}      # normalised path -> set of METHODS (exact)
        self.methods_max = {}  # normalised path -> set of methods a delegate may answer
        self.public = set()    # normalised paths answered before authentication
        self.literals = set()  # every "/v1..." or "/healthz" literal of the route tables
        self.guards = set()    # prefixes guarded by a "*" row without a route of their own
        self.funcs = {}
        self.sources = {}
        for rel in ROUTE_FILES:
            src = strip_c_comments(read(rel))
            self.sources[rel] = src
            for name, (start, body) in functions(src).items():
                self.funcs[name] = (rel, start, body)
        self.all_literals = set()
        for src in self.sources.values():
            self.all_literals |= set(re.findall(r'"(/v1[^"]*|/healthz[^"]*)"', src))
        src = self.sources[ROUTES_C]
        row = re.compile(r'\{\s*(NULL|"[A-Z]+")\s*,\s*("[^"]*"|\w+)\s*,\s*([A-Z]+)\s*,'
                         r'\s*([A-Z_]+)\s*,\s*(NULL|\w+|"[^"]*")\s*,\s*(NULL|\w+)\s*\}')
        tables = re.findall(r"static\s+const\s+struct\s+route\s+(\w+)\s*\[\s*\]\s*=\s*"
                            r"\{(.*?)\n\};", src, re.S)
        if "api_routes" not in dict(tables):
            raise AssertionError("no api_routes table in " + ROUTES_C)
        # The dispatcher's prefix tests (the API against the web UI's files) are guards.
        for lit, n in re.findall(r'\bstrncmp\(\s*rq->path\s*,\s*"([^"]*)"\s*,\s*(\d+)\s*\)', src):
            if int(n) != len(lit):
                raise AssertionError('%s: strncmp(rq->path, "%s", %s): the length is not %d'
                                     % (ROUTES_C, lit, n, len(lit)))
            self.literals.add(lit)
            self.guards.add(lit)
        for table, text in tables:
            for method, pattern, access, order, why, handler in row.findall(text):
                if not pattern.startswith('"'):
                    continue  # PV_INTERNAL_PATH, or the table's end
                pattern = pattern.strip('"')
                self.literals.add(pattern)
                if table != "api_routes":
                    continue
                if access not in ("OPEN", "PUBLIC", "ANY", "CUSTOMER", "OPERATOR", "VENDOR",
                                  "POSTAL"):
                    raise AssertionError("%s: %s: unknown access %s" % (ROUTES_C, pattern, access))
                if access in ("CUSTOMER", "OPERATOR", "POSTAL") and why == "NULL":
                    raise AssertionError("%s: %s: no 403 message" % (ROUTES_C, pattern))
                if pattern.endswith("*"):
                    if handler != "NULL":
                        raise AssertionError("%s: %s answers: a guard is no route"
                                             % (ROUTES_C, pattern))
                    self.guards.add(pattern[:-1])
                    continue
                if method == "NULL" or handler == "NULL" or handler not in self.funcs:
                    raise AssertionError("%s: cannot read the route %s %s %s"
                                         % (ROUTES_C, method, pattern, handler))
                key = norm_path(pattern)
                self.paths.setdefault(key, pattern)
                self.methods.setdefault(key, set()).add(method.strip('"'))
                if access in ("OPEN", "PUBLIC"):
                    self.public.add(key)


_ROUTES = None


def routes():
    global _ROUTES
    if _ROUTES is None:
        _ROUTES = Routes()
    return _ROUTES


# ---------------------------------------------------------------------------
# What docs/api.md says


def api_md_error_rows():
    """[(codes, http, line number)] of the error table under '## Errors'."""
    text = read(API_MD)
    m = re.search(r"^## Errors\s*$(.*?)(?=^## )", text, re.M | re.S)
    assert m, "docs/api.md has no '## Errors' section"
    first = text[:m.start(1)].count("\n") + 1
    rows = []
    for k, line in enumerate(m.group(1).split("\n")):
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 2 or set(cells[0]) <= set("-: ") or cells[0] == "code":
            continue
        codes = re.findall(r"`([a-z0-9_]+)`", cells[0])
        status = re.match(r"^\d{3}$", cells[1])
        assert codes and status, "docs/api.md line %d: cannot read %r" % (first + k, line)
        rows.append((codes, int(cells[1]), first + k))
    return rows


def api_md_method_paths(text):
    """{path as written: set of METHODS} from 'GET /v1/...', 'PUT|GET /v1/...' mentions."""
    out = {}
    for meths, path in re.findall(
            r"\b((?:GET|POST|PUT|DELETE|PATCH|HEAD)(?:\|(?:GET|POST|PUT|DELETE|PATCH|HEAD))*)"
            r"\s+(/[A-Za-z0-9_./{}-]*[A-Za-z0-9_}])", text):
        out.setdefault(path, set()).update(meths.split("|"))
    return out


def api_md_sections():
    """[(heading, body)] of the ### sections of docs/api.md."""
    text = read(API_MD)
    parts = re.split(r"^(#{2,3} .*)$", text, flags=re.M)
    return [(parts[k], parts[k + 1]) for k in range(1, len(parts) - 1, 2)]


# ---------------------------------------------------------------------------
# What docs/openapi.yaml says

_SPEC = None


def spec():
    global _SPEC
    if _SPEC is None:
        _SPEC = parse_yaml(read(OPENAPI))
    return _SPEC


def resolve(ref):
    if not isinstance(ref, str) or not ref.startswith("#/"):
        raise AssertionError("%s: external or malformed $ref %r" % (OPENAPI, ref))
    node = spec()
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise AssertionError("%s: $ref %r does not resolve" % (OPENAPI, ref))
        node = node[part]
    return node


def deref(node):
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(node["$ref"])
    return node


def operations():
    """[(path, method, path item, operation)]"""
    out = []
    for path, item in spec()["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                out.append((path, m, item, op))
    return out


def parameters(item, op):
    """{(in, name): parameter} of an operation, path-level ones included."""
    out = {}
    for p in list(item.get("parameters") or []) + list(op.get("parameters") or []):
        p = deref(p)
        out[(p["in"], p["name"])] = p
    return out


def schema_props(name):
    """Property names of a component schema: its own, its inline nested objects'
    and its inline allOf parts' (not those of $ref'd schemas)."""
    names = set()

    def walk(s):
        if not isinstance(s, dict) or "$ref" in s:
            return
        for k, v in (s.get("properties") or {}).items():
            names.add(k)
            walk(v)
        for part in s.get("allOf") or []:
            walk(part)
        walk(s.get("items"))

    walk(spec()["components"]["schemas"][name])
    return names


# ---------------------------------------------------------------------------


class ErrorCodes(unittest.TestCase):
    def test_error_h_table_reads(self):
        rows = error_table()
        self.assertGreater(len(rows), 40)
        self.assertEqual(rows[0][1], 0, "the table starts with OK = 0")
        values = [r[1] for r in rows]
        self.assertEqual(values, list(range(0, -len(rows), -1)), "values are dense from 0 down")
        for name, value, http, code, msg in rows:
            self.assertRegex(code, r"^[a-z][a-z0-9_]*$", name)
            self.assertTrue(value == 0 or 400 <= http <= 599, "%s: HTTP %d" % (name, http))

    def test_every_code_in_api_md_with_its_status(self):
        codes = api_codes()
        documented, problems = {}, []
        for row_codes, http, line in api_md_error_rows():
            for c in row_codes:
                if c in documented:
                    problems.append("docs/api.md line %d: %s listed twice" % (line, c))
                documented[c] = (http, line)
        for c, http in sorted(codes.items()):
            if c not in documented:
                problems.append("%s (HTTP %d) is missing from the error table of docs/api.md"
                                % (c, http))
            elif documented[c][0] != http:
                problems.append("docs/api.md line %d: %s is HTTP %d, %s says %d"
                                % (documented[c][1], c, documented[c][0], ERROR_H, http))
        for c, (http, line) in sorted(documented.items()):
            if c not in codes:
                problems.append("docs/api.md line %d: %s is not an API code of %s"
                                % (line, c, ERROR_H))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_status_mentions_in_docs(self):
        """'402 insufficient_funds', '`layout_too_small` (HTTP 422)' in prose agree."""
        codes = api_codes()
        problems = []
        docs = [os.path.join("docs", f)
                for f in sorted(os.listdir(os.path.join(SOURCE_DIR, "docs")))
                if f.endswith(".md")] + [OPENAPI]
        for rel in docs:
            for n, line in enumerate(read(rel).split("\n"), 1):
                if line.startswith("|") and rel == API_MD:
                    continue  # the table itself: checked above
                pairs = [(int(s), c) for s, c in re.findall(
                    r"\b([1-5]\d\d)`?\s+`?([a-z][a-z0-9_]+)\b", line)]
                pairs += [(int(s), c) for c, s in re.findall(
                    r"`([a-z][a-z0-9_]+)`\s*\((?:HTTP\s*)?([1-5]\d\d)\)", line)]
                for s, c in pairs:
                    if c in codes and codes[c] != s:
                        problems.append("%s:%d: %d %s, but %s is HTTP %d"
                                        % (rel, n, s, c, c, codes[c]))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_openapi_error_code_enum(self):
        schemas = spec()["components"]["schemas"]
        self.assertIn("ErrorCode", schemas)
        enum = schemas["ErrorCode"].get("enum")
        self.assertIsInstance(enum, list)
        self.assertEqual(len(enum), len(set(enum)), "ErrorCode enum repeats a code")
        codes = set(api_codes())
        self.assertEqual(sorted(codes - set(enum)), [], "codes missing from the ErrorCode enum")
        self.assertEqual(sorted(set(enum) - codes), [], "ErrorCode enum codes not in error.h")
        err = deref(schemas["Error"])
        inner = err["properties"]["error"]
        self.assertEqual(set(err["required"]), {"error"})
        self.assertEqual(set(inner["properties"]), {"code", "message", "field", "decline_code",
                                                       "request_id", "reasons"})
        self.assertEqual(set(inner["required"]), {"code", "message"})
        self.assertEqual(inner["properties"]["code"], {"$ref": "#/components/schemas/ErrorCode"})

    def test_openapi_responses_name_codes_of_their_status(self):
        codes = api_codes()
        problems = []
        for path, m, item, op in operations():
            for status, resp in op["responses"].items():
                resp = deref(resp)
                for c in re.findall(r"`([a-z][a-z0-9_]*)`", resp.get("description", "")):
                    if c in codes and str(codes[c]) != status:
                        problems.append("%s %s: response %s names %s (HTTP %d)"
                                        % (m.upper(), path, status, c, codes[c]))
                if status[0] in "45":
                    schema = (resp.get("content") or {}).get("application/json", {}).get("schema")
                    error = {"$ref": "#/components/schemas/Error"}
                    # An error with more to say is the Error or its richer form (anyOf).
                    if schema != error and error not in (schema or {}).get("anyOf", []):
                        problems.append("%s %s: error response %s is not an Error"
                                        % (m.upper(), path, status))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


class RoutesTest(unittest.TestCase):
    def test_routes_read_from_the_code(self):
        r = routes()
        # Sanity: the reader found the routes and understood every path literal.
        self.assertIn("/healthz", r.paths)
        self.assertIn("/v1/indicia/{}/label", r.paths)
        self.assertGreaterEqual(len(r.paths), 15)
        unread = sorted(r.all_literals - r.literals)
        self.assertEqual(unread, [], "path literals in %s outside the route table this test "
                         "reads: add them to the reader" % ", ".join(ROUTE_FILES))
        for g in r.guards:
            self.assertTrue(any(p.startswith(g) for p in r.paths), "guard %s guards nothing" % g)
        for p in r.paths:
            self.assertTrue(r.methods.get(p) or r.methods_max.get(p), "%s: no methods found" % p)

    def test_code_routes_in_api_md(self):
        text = read(API_MD)
        mentioned = {norm_path(p) for p in re.findall(
            r"(/v1/[A-Za-z0-9_./{}-]*[A-Za-z0-9_}]|/healthz|/readyz|/metrics)", text)}
        missing = sorted(set(routes().paths) - mentioned)
        self.assertEqual(missing, [], "routes of the code not in docs/api.md")

    def test_api_md_methods_match_code(self):
        r = routes()
        doc = {}
        for path, meths in api_md_method_paths(read(API_MD)).items():
            if path.startswith("/internal/"):
                continue
            doc.setdefault(norm_path(path), set()).update(meths)
        problems = []
        for p in sorted(set(doc) | set(r.paths)):
            code_m = r.methods.get(p)
            if p not in r.paths:
                problems.append("docs/api.md: %s %s is not a route of the code"
                                % ("|".join(sorted(doc[p])), p))
            elif p not in doc:
                problems.append("docs/api.md names no method for %s" % p)
            elif code_m is not None and doc[p] != code_m:
                problems.append("%s: docs/api.md says %s, the code answers %s"
                                % (p, sorted(doc[p]), sorted(code_m)))
            elif code_m is None and not doc[p] <= r.methods_max[p]:
                problems.append("%s: docs/api.md says %s, the handler knows only %s"
                                % (p, sorted(doc[p]), sorted(r.methods_max[p])))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_openapi_paths_match_code(self):
        r = routes()
        spec_paths = {}
        for path in spec()["paths"]:
            self.assertNotIn(norm_path(path), spec_paths, "%s twice in %s" % (path, OPENAPI))
            spec_paths[norm_path(path)] = path
        self.assertEqual(sorted(set(r.paths) - set(spec_paths)), [],
                         "routes of the code missing from %s" % OPENAPI)
        self.assertEqual(sorted(set(spec_paths) - set(r.paths)), [],
                         "paths of %s the code does not answer" % OPENAPI)
        for p in spec_paths:
            self.assertFalse(p.startswith("/internal/"), "internal protocol in the paths")

    def test_openapi_methods_match_code(self):
        r = routes()
        got = {}
        for path, m, item, op in operations():
            got.setdefault(norm_path(path), set()).add(m.upper())
        problems = []
        for p, meths in sorted(got.items()):
            if p in r.methods and meths != r.methods[p]:
                problems.append("%s: %s has %s, the code answers %s"
                                % (p, OPENAPI, sorted(meths), sorted(r.methods[p])))
            elif p not in r.methods and not meths <= r.methods_max.get(p, set()):
                problems.append("%s: %s has %s, the handler knows only %s"
                                % (p, OPENAPI, sorted(meths), sorted(r.methods_max.get(p, ()))))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_openapi_and_api_md_agree(self):
        """The same path templates (parameter names included) and methods."""
        doc = {}
        for path, meths in api_md_method_paths(read(API_MD)).items():
            if not path.startswith("/internal/"):
                doc.setdefault(path, set()).update(meths)
        got = {}
        for path, m, item, op in operations():
            got.setdefault(path, set()).add(m.upper())
        self.assertEqual(got, doc)

    def test_authentication(self):
        r = routes()
        self.assertTrue(r.public, "no route answered before authenticate()")
        # openapi: security [] exactly on the routes answered before authentication.
        # Everything else takes an API key or the session cookie.
        sp = spec()
        either = [{"bearerAuth": []}, {"sessionCookie": []}]
        self.assertEqual(sp.get("security"), either)
        scheme = sp["components"]["securitySchemes"]["bearerAuth"]
        self.assertEqual((scheme["type"], scheme["scheme"]), ("http", "bearer"))
        for prefix in ("sk_live_", "sk_test_"):
            self.assertIn(prefix, scheme.get("bearerFormat", "") + scheme.get("description", ""))
        cookie = re.search(r'#define\s+SESSION_COOKIE\s+"([^"]+)"', read(ACCOUNT_C))
        self.assertTrue(cookie, "no SESSION_COOKIE in " + ACCOUNT_C)
        scheme = sp["components"]["securitySchemes"]["sessionCookie"]
        self.assertEqual((scheme["type"], scheme["in"], scheme["name"]),
                         ("apiKey", "cookie", cookie.group(1)))
        api_md = read(API_MD)
        for word in (cookie.group(1), "X-CSRF-Token", "sk_test_", "Retry-After"):
            self.assertTrue(word in api_md, "docs/api.md does not mention " + word)
        problems = []
        for path, m, item, op in operations():
            public = op.get("security") == []
            if "security" in op and op["security"] not in ([], either):
                problems.append("%s %s: unexpected security %r" % (m, path, op["security"]))
            # A session's state changes echo its CSRF token (pv_auth_authenticate).
            csrf = ("header", "X-CSRF-Token") in parameters(item, op)
            if csrf != (not public and m not in ("get", "head")):
                problems.append("%s %s: %s the X-CSRF-Token header parameter"
                                % (m.upper(), path, "has" if csrf else "lacks"))
            if public != (norm_path(path) in r.public):
                problems.append("%s %s: %s says %s, the code %s"
                                % (m.upper(), path, OPENAPI,
                                   "no authentication" if public else "bearerAuth",
                                   "answers before authentication" if not public
                                   else "authenticates first"))
            if not public and "401" not in op["responses"]:
                problems.append("%s %s: no 401 response" % (m.upper(), path))
        # api.md: "no authentication" in exactly those routes' sections.
        doc_public = set()
        for heading, body in api_md_sections():
            if "no authentication" in heading + body:
                for path in api_md_method_paths(heading):
                    doc_public.add(norm_path(path))
        if doc_public != r.public:
            problems.append("docs/api.md says no authentication for %s, the code for %s"
                            % (sorted(doc_public), sorted(r.public)))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


class OpenApiShape(unittest.TestCase):
    def test_text_shape(self):
        text = read(OPENAPI)
        lines = text.split("\n")
        self.assertEqual(lines[0], "openapi: 3.0.3")
        self.assertIn("paths:", lines)
        self.assertIn("components:", lines)
        self.assertTrue(text.endswith("\n") and not text.endswith("\n\n"))
        for n, line in enumerate(lines, 1):
            lead = line[:len(line) - len(line.lstrip())]
            self.assertEqual(lead, " " * len(lead), "line %d: indentation is not spaces" % n)
            self.assertNotIn("\t", line, "line %d: a tab" % n)
            self.assertEqual(line, line.rstrip(), "line %d: trailing whitespace" % n)
            self.assertEqual(len(lead) % 2, 0, "line %d: indentation is not a multiple of 2" % n)

    def test_parses(self):
        sp = spec()
        self.assertIsInstance(sp, dict)
        self.assertEqual(sp["openapi"], "3.0.3")
        for k in sp:
            self.assertIn(k, ("openapi", "info", "servers", "tags", "security", "paths",
                              "components", "externalDocs"), "unknown top-level key %s" % k)
        self.assertIsInstance(sp["info"]["title"], str)
        self.assertIsInstance(sp["info"]["version"], str)
        self.assertIn("/internal/v1/purchase", sp["info"]["description"],
                      "info.description notes the internal protocol")
        for name in ("Indicium", "List", "Account", "Keys", "Psds", "Verify", "Printer",
                     "Layout", "Server", "Error", "ErrorCode"):
            self.assertIn(name, sp["components"]["schemas"])

    def test_subset_reader(self):
        y = parse_yaml("a: 1\nb:\n  - x\n  - k: 'it''s'\n    v: [1, \"two\", null]\n"
                       "c: |\n  line 1\n\n  line 2\nd: {}\ne: 0.5  # note\n")
        self.assertEqual(y, {"a": 1, "b": ["x", {"k": "it's", "v": [1, "two", None]}],
                             "c": "line 1\n\nline 2\n", "d": {}, "e": 0.5})
        for bad in ("a: 1\na: 2\n", "a:\n\t- 1\n", "a: >\n  x\n", "a: yes\n", "a: [1,\n  2]\n",
                    "a: 2026-01-01\n", "a: b: c\n", " a: 1\nb: 2\n"):
            with self.assertRaises(YamlError, msg=repr(bad)):
                parse_yaml(bad)

    def test_refs_are_internal_and_resolve(self):
        def walk(node, where):
            if isinstance(node, dict):
                if "$ref" in node:
                    self.assertEqual(set(node), {"$ref"}, "%s: $ref with siblings" % where)
                    self.assertTrue(node["$ref"].startswith("#/components/"),
                                    "%s: external $ref %s" % (where, node["$ref"]))
                    resolve(node["$ref"])
                for k, v in node.items():
                    if k in ("example", "examples"):
                        continue
                    walk(v, where + "/" + str(k))
            elif isinstance(node, list):
                for k, v in enumerate(node):
                    walk(v, "%s[%d]" % (where, k))

        walk(spec(), "#")

    def test_operations(self):
        ids = set()
        tags = {t["name"] for t in spec().get("tags", [])}
        for path, item in spec()["paths"].items():
            for k in item:
                self.assertIn(k, METHODS + ("parameters", "summary", "description"),
                              "%s: %s" % (path, k))
        for path, m, item, op in operations():
            where = "%s %s" % (m.upper(), path)
            self.assertNotIn(op.get("operationId"), ids, where + ": operationId")
            ids.add(op.get("operationId"))
            self.assertTrue(op.get("summary"), where + ": summary")
            for t in op.get("tags", []):
                self.assertIn(t, tags, where)
            params = parameters(item, op)
            declared = {name for (loc, name), p in params.items() if loc == "path"}
            self.assertEqual(declared, set(re.findall(r"\{(\w+)\}", path)), where + ": path params")
            for (loc, name), p in params.items():
                self.assertIn(loc, ("path", "query", "header"), where)
                if loc == "path":
                    self.assertIs(p.get("required"), True, where + ": " + name)
                self.assertIn("schema", p, where + ": " + name)
            self.assertTrue(op["responses"], where)
            for status, resp in op["responses"].items():
                self.assertIsInstance(status, str, where + ": quote the status")
                self.assertRegex(status, r"^[1-5]\d\d$", where)
                self.assertTrue(deref(resp).get("description"), where + " " + status)
            self.assertTrue(any(s.startswith("2") for s in op["responses"]), where + ": no 2xx")
            if "requestBody" in op:
                self.assertIn("application/json", deref(op["requestBody"])["content"], where)

    def test_amounts_are_integer_mills(self):
        def walk(node, where):
            if isinstance(node, dict):
                for k, v in (node.get("properties") or {}).items():
                    if k.endswith("_mills"):
                        s = deref(v)
                        if "allOf" in s:
                            s = deref(s["allOf"][0])
                        self.assertEqual(s.get("type"), "integer", where + "." + k)
                for k, v in node.items():
                    walk(v, where + "/" + str(k))
            elif isinstance(node, list):
                for v in node:
                    walk(v, where)

        walk(spec()["components"]["schemas"], "schemas")


class CodeAndSchemas(unittest.TestCase):
    """The JSON written, the body fields accepted and the query parameters read."""

    # The functions of the ROUTE_FILES that write JSON keys -> the schemas
    # whose properties (their own and inline nested ones) are exactly those keys.
    # A tuple of functions writes one object together (one builds it, the
    # others add to it): the keys they write together are those properties.
    OUTPUT = {
        ("pv_reply_error", "pv_reply_declined", "pv_reply_request_id", "add_reason",
         "set_reasons", "field_error"): ["Error"],
        # pv_indicium_text writes the same object as text (json_text.h).
        ("pv_indicium_json", "pv_indicium_text"): ["Indicium"],
        "price_text": ["PriceBreakdown"],
        "pv_indicium_fields_json": ["IndiciumFields"],
        # pv_view_purchase writes the answer of a purchase and of a replay (pv_view_replay).
        ("pv_indicia_finish", "pv_view_purchase"): ["IndiciumWithBalance", "PurchasedIndicium"],
        "pv_view_payment": ["PurchasePayment"],
        "pv_reply_list": ["List", "Transactions"],
        "pv_h_account": ["Account"],
        ("pv_h_keys", "psd_key_json", "previous_cas"): ["Keys", "PublicKey", "PreviousCa"],
        # The watchdog's contact fields go into every view of a PSD: the
        # operator's (Psd) and the authority's (Device).
        ("pv_h_psds", "pv_contact_fields", "pv_h_admin_watchdog", "device_json"):
            ["Psds", "Psd", "Watchdog", "DeviceContact", "Device"],
        "pv_h_authority_reports": ["Report"],
        "form_json": ["ReportForm"],
        "pv_h_authority_report_signatures": ["ReportSignatures", "ReportSignature"],
        "pv_verdict_json": ["Verify"],
        "key_json": ["ApiKey"],
        "pv_h_api_keys": ["ApiKeys", "RevokedApiKey", "NewApiKey"],
        "answer_session": ["LoginSession", "NewApiKey"],
        "pv_h_session": ["Session"],
        "pv_h_logout": ["LoggedOut"],
        "pv_h_sessions": ["Sessions", "SessionItem", "EndedSession"],
        "pm_json": ["PaymentMethod"],
        "pv_h_payment_methods": ["PaymentMethods", "DeletedPaymentMethod"],
        "funds_answer": ["Funds"],
        "autorefill_json": ["AutoRefill"],
        "pv_h_transactions": ["Transaction"],
        "pv_refund_json": ["Refund"],
        "endpoint_json": ["WebhookEndpoint", "WebhookEndpointWithSecret"],
        "pv_h_webhook": ["DeletedWebhookEndpoint"],
        "attempt_json": ["WebhookAttempt"],
        "pv_event_json": ["Event"],
        "pv_h_event_redeliver": ["Redelivery"],
        "pv_h_webhook_test": ["WebhookTestData"],
        "pv_event_funds_added": ["FundsAddedData"],
        "pv_event_balance_low": ["BalanceLowData"],
        "pv_event_auto_refill_failed": ["AutoRefillFailedData"],
        "pv_h_admin_servers": ["Servers", "Server"],
        "pv_h_admin_leases": ["Leases", "Lease"],
        "pv_view_ledger": ["Ledger", "LedgerIssue"],
        "pv_h_admin_server_status": ["ServerStatus"],
        "pv_h_health": ["Health"],
        "pv_h_ready": ["Readiness"],
        "pv_h_layouts": ["Layouts", "Layout"],
        "printer_json": ["Printer"],
        "pv_h_printers": ["Printers", "Deleted"],
        "pv_medium_result": ["PurchaseMedium"],
        "medium_use_json": ["MediumUse"],
        "medium_json": ["MediumPosition"],
        "resupply_json": ["ResupplyNotice"],
        "payment_error": ["MediumPaymentRequired"],
        "affiliate_json": ["Affiliate"],
        "pv_h_affiliates_list": ["Affiliates"],
        "batch_json": ["MediaBatch"],
        "order_json": ["ResupplyOrder"],
        "batch_answer": ["MediaBatchCreated"],
        "pv_h_medium_get": ["MediumRecord"],
        "pv_h_resupply_ship": ["ResupplyShipped"],
        "pv_h_medium_purchase": ["MediumPurchase"],
        "pv_h_quote": ["QuoteList"],
        "quote_json": ["Quote"],
        "pv_price_json": ["PriceBreakdown"],
        "pv_fixes_json": ["AddressCorrection"],
        "pv_h_rates": ["RateTables", "RateTable"],
        "pv_h_admin_stats": ["Stats", "SalesDay", "PsdHistory", "PsdDay"],
        "first_json": ["Presentation"],
        "entry_json": ["DepositEntry"],
        "deposit_history_answer": ["DepositHistory"],
        "deposit_credit_post": ["DepositCredit"],
        "pv_h_authority_key": ["AuthorityKey"],
        "reset_json": ["Reset", "Registers"],
        "threshold_answer": ["DepositThreshold"],
        "event_json": ["DeviceEvent"],
        "change_answer": ["DeviceChange"],
        "lock_json": ["ResetLock"],
        "claim_json": ["RefundClaim"],
        "claims_answer": ["RefundClaims"],
        "hold_json": ["Hold"],
        "presented_json": ["PresentedPiece"],
        ("pv_batch_view_json", "answer_batch"): ["Batch", "BatchCounts"],
        "batch_item_json": ["BatchItem"],
    }
    # The handlers that answer a page of a list with pv_reply_list (which
    # writes the list's own keys; the handler writes its items) -> the schema
    # of that answer, whose properties are exactly the keys pv_reply_list writes.
    LISTS = {
        "pv_h_indicia_list": "List",
        "pv_h_transactions": "Transactions",
        "pv_h_authority_devices": "Devices",
        "history_answer": "DeviceHistory",
        "pv_h_authority_reports": "Reports",
        "pv_h_authority_resets": "Resets",
        "holds_answer": "Holds",
        "pv_h_authority_presentations": "PresentedPieces",
        "pv_h_batches_list": "BatchList",
        "pv_h_webhooks": "WebhookEndpoints",
        "pv_h_webhook_deliveries": "WebhookAttempts",
        "pv_h_events": "Events",
    }
    # Functions that set JSON keys on something that is not an answer.
    NOT_OUTPUT = {
    }
    # The allowed-field lists of the body parser -> request schemas.
    BODIES = {
        "purchase_fields": "PurchaseRequest",
        "verify_fields": "VerifyRequest",
        "status_fields": "ServerStatusRequest",
        "sheet_fields": "SheetRequest",
        "printer_fields": "PrinterSettings",
        "key_fields": "ApiKeyRequest",
        "signup_fields": "SignupRequest",
        "login_fields": "LoginRequest",
        "pm_fields": "PaymentMethodRequest",
        "funds_fields": "FundsRequest",
        "refill_fields": "AutoRefillRequest",
        "card_fields": "Card",
        "batch_fields": "MediaBatchRequest",
        "affiliate_fields": "AffiliateRequest",
        "ship_fields": "ResupplyShipRequest",
        "credit_fields": "DepositCreditRequest",
        "threshold_fields": "DepositThresholdRequest",
        "reason_fields": "LifecycleRequest",
        "withdraw_fields": "WithdrawRequest",
        "watchdog_fields": "WatchdogRequest",
        "decision_fields": "RefundClaimDecision",
        "hold_fields": "HoldRequest",
        "lift_fields": "HoldLiftRequest",
        "buy_batch_fields": "BatchRequest",
        "create_fields": "WebhookEndpointRequest",
        "update_fields": "WebhookEndpointUpdate",
        "redeliver_fields": "RedeliverRequest",
    }
    # Field lists of objects nested in a request body (not a body of their own):
    # each is referenced from a request schema.
    NESTED = {"Card"}
    # Functions reading query arguments -> the operation documenting them. A
    # function reads the arguments it names itself and those of the helpers of
    # the ROUTE_FILES it calls (functions that read arguments and are not
    # mapped here, such as pv_list_args: ?limit= and ?cursor= of lists).
    QUERIES = {
        "pv_h_authority_claims": ("/v1/authority/refund-claims", "get"),
        "pv_h_admin_claims": ("/v1/admin/refund-claims", "get"),
        "pv_h_authority_holds": ("/v1/authority/holds", "get"),
        "pv_h_authority_presentations": ("/v1/authority/presentations", "get"),
        "pv_h_indicia_list": ("/v1/indicia", "get"),
        "pv_h_label": ("/v1/indicia/{id}/label", "get"),
        "pv_h_transactions": ("/v1/account/transactions", "get"),
        "pv_h_media_batch_post": ("/v1/admin/media/batches", "post"),
        "pv_h_medium_get": ("/v1/admin/media/{serial}", "get"),
        "pv_h_quote": ("/v1/rates/quote", "get"),
        "pv_h_admin_stats": ("/v1/admin/stats", "get"),
        "pv_h_authority_report_day": ("/v1/authority/reports/{date}", "get"),
        "item_args": ("/v1/batches/{id}", "get"),
        "pv_h_events": ("/v1/events", "get"),
    }
    # Functions reading the Idempotency-Key header -> the operation requiring it.
    # Helpers that add the same keys to the objects of several OUTPUT entries
    # (indicium_view.c: the version 2 fields go into Indicium and IndiciumFields).
    SHARED = {"add_v2_fields": ["pv_indicium_json", "pv_indicium_fields_json"],
              "v2_text": ["pv_indicium_text"]}

    IDEMPOTENT = {
        "pv_h_indicia_post": ("/v1/indicia", "post"),
        "pv_h_funds": ("/v1/account/funds", "post"),
        "deposit_credit_post": ("/v1/authority/deposits", "post"),
        "pv_h_batches_post": ("/v1/batches", "post"),
    }

    def test_json_keys(self):
        r = routes()
        problems = []
        group_of = {}
        for entry in self.OUTPUT:
            for fname in (entry if isinstance(entry, tuple) else (entry,)):
                self.assertNotIn(fname, group_of, "%s() mapped twice" % fname)
                group_of[fname] = entry
        written = {}
        for fname, (rel, start, body) in sorted(r.funcs.items()):
            keys = self.written_keys(body)
            if not keys or fname in self.NOT_OUTPUT:
                continue
            if fname in self.SHARED:
                for target in self.SHARED[fname]:
                    written.setdefault(group_of[target], set()).update(keys)
                continue
            if fname not in group_of:
                problems.append("%s: %s() writes JSON %s: map it to a schema in this test"
                                % (rel, fname, sorted(keys)))
                continue
            written.setdefault(group_of[fname], set()).update(keys)
        for entry, schemas in self.OUTPUT.items():
            names = entry if isinstance(entry, tuple) else (entry,)
            gone = [f for f in names if f not in r.funcs]
            if gone:
                problems.append("%s() is gone: update this test" % ", ".join(gone))
                continue
            keys = written.get(entry, set())
            doc = set()
            for s in schemas:
                doc |= schema_props(s)
            if keys != doc:
                problems.append("%s(): the code writes %s, %s %s; only in the code: %s; "
                                "only in the schemas: %s"
                                % ("(), ".join(names), sorted(keys), OPENAPI, schemas,
                                   sorted(keys - doc), sorted(doc - keys)))
        for fname in self.NOT_OUTPUT:
            if fname not in r.funcs:
                problems.append("%s() is gone: update this test" % fname)
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_request_bodies(self):
        problems = []
        seen = set()
        for rel, src in routes().sources.items():
            for name, items in re.findall(
                    r"static\s+const\s+char\s*\*\s*const\s+(\w+)\s*\[\s*\]\s*=\s*\{([^}]*)\}", src):
                if not name.endswith("_fields"):
                    continue
                seen.add(name)
                fields = set(re.findall(r'"([^"]*)"', items))
                if name not in self.BODIES:
                    problems.append("%s: %s %s: map it to a request schema in this test"
                                    % (rel, name, sorted(fields)))
                    continue
                schema = spec()["components"]["schemas"][self.BODIES[name]]
                if set(schema["properties"]) != fields:
                    problems.append("%s: the code accepts %s, %s has %s"
                                    % (self.BODIES[name], sorted(fields), OPENAPI,
                                       sorted(schema["properties"])))
                if schema.get("additionalProperties") is not False:
                    problems.append("%s: unknown fields are refused: additionalProperties: false"
                                    % self.BODIES[name])
        self.assertEqual(sorted(set(self.BODIES) - seen), [], "field lists gone from the code")
        # Every request schema is used by an operation; nested ones by a request schema.
        used = set()
        for path, m, item, op in operations():
            if "requestBody" in op:
                s = deref(op["requestBody"])["content"]["application/json"]["schema"]
                used.add(s["$ref"].rsplit("/", 1)[-1])
        self.assertEqual(used, set(self.BODIES.values()) - self.NESTED)
        schemas = spec()["components"]["schemas"]

        def refs(node):
            if isinstance(node, dict):
                out = {node["$ref"].rsplit("/", 1)[-1]} if "$ref" in node else set()
                for v in node.values():
                    out |= refs(v)
                return out
            if isinstance(node, list):
                return set().union(*[refs(v) for v in node]) if node else set()
            return set()

        reached, todo = set(), set(used)
        while todo:
            name = todo.pop()
            reached.add(name)
            todo |= refs(schemas[name]) - reached
        self.assertEqual(sorted(self.NESTED - reached), [], "nested request schemas no body uses")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    @staticmethod
    def written_keys(body):
        """The literal JSON keys a function body writes."""
        keys = set()
        for args in calls(body, "json_pack"):
            keys |= set(json_pack_keys(c_string(args[0]), args[1:]))
        for args in calls(body, "json_object_set_new"):
            k = c_string(args[1])
            if k is not None:
                keys.add(k)
        # The compact writer (src/domain/json_text.h): pv_jt_key(t, "name").
        for args in calls(body, "pv_jt_key"):
            k = c_string(args[1])
            if k is not None:
                keys.add(k)
        return keys

    def test_list_answers(self):
        r = routes()
        problems = []
        self.assertIn("pv_reply_list", r.funcs, "pv_reply_list() is gone: update this test")
        keys = self.written_keys(r.funcs["pv_reply_list"][2])
        self.assertTrue(keys, "pv_reply_list() writes no JSON keys this test can read")
        callers = {f for f, (rel, start, body) in r.funcs.items()
                   if calls(body, "pv_reply_list")}
        for fname in sorted(callers - set(self.LISTS)):
            problems.append("%s() answers a list: map it in LISTS" % fname)
        for fname, schema in sorted(self.LISTS.items()):
            if fname not in callers:
                problems.append("%s() is mapped in LISTS but does not answer with "
                                "pv_reply_list()" % fname)
            doc = schema_props(schema)
            if keys != doc:
                problems.append("%s(): pv_reply_list() writes %s, %s %s has %s"
                                % (fname, sorted(keys), OPENAPI, schema, sorted(doc)))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_query_parameters(self):
        r = routes()
        problems = []
        own = {}
        for fname, (rel, start, body) in sorted(r.funcs.items()):
            args = {c_string(a[1]) for a in calls(body, "pv_query_arg") if len(a) == 2}
            # Arguments walked with rq->arg_each(ctx, step, cls): a deepObject
            # parameter name[key]=value, named by the "name[" prefix the step matches.
            for a in calls(body, "rq->arg_each"):
                step = r.funcs.get(a[1].strip()) if len(a) == 3 else None
                if step:
                    args |= {m[:-1] for m in re.findall(r'"([a-z_]+\[)"', step[2])}
            args.discard(None)
            if fname != "pv_query_arg" and args:
                own[fname] = args
        helpers = set(own) - set(self.QUERIES)
        used = set()

        def reads(fname, seen):
            """What fname reads itself and through the helpers it calls."""
            out = set(own.get(fname, ()))
            body = r.funcs[fname][2]
            for h in sorted(helpers - seen):
                if calls(body, h):
                    used.add(h)
                    out |= reads(h, seen | {h})
            return out

        for fname in sorted(self.QUERIES):
            if fname not in r.funcs:
                problems.append("%s() is mapped in QUERIES but is gone" % fname)
                continue
            args = reads(fname, {fname})
            # A mapped function that stopped reading arguments (or was renamed) is
            # no longer checked: say so instead of passing quietly.
            if not args:
                problems.append("%s() is mapped in QUERIES but reads no query argument" % fname)
                continue
            path, m = self.QUERIES[fname]
            item = spec()["paths"][path]
            doc = {name for (loc, name) in parameters(item, item[m]) if loc == "query"}
            if doc != args:
                problems.append("%s %s: the code reads %s, %s documents %s"
                                % (m.upper(), path, sorted(args), OPENAPI, sorted(doc)))
        for fname in sorted(helpers - used):
            problems.append("%s() reads query arguments %s: map it in this test"
                            % (fname, sorted(own[fname])))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_headers(self):
        http_c = read(HTTP_C) + read(ACCOUNT_C)
        names = set()
        for path, m, item, op in operations():
            for (loc, name) in parameters(item, op):
                if loc == "header":
                    names.add(name)
            for resp in op["responses"].values():
                names |= set(deref(resp).get("headers") or {})
        self.assertIn("Idempotency-Key", names)
        self.assertIn("Idempotent-Replayed", names)
        for name in sorted(names):
            self.assertIn('"%s"' % name, http_c, "%s: no such header in %s or %s"
                          % (name, HTTP_C, ACCOUNT_C))
        r = routes()
        readers = {f for f, (rel, start, body) in r.funcs.items()
                   if re.search(r"->idempotency_key\b", body)}
        self.assertEqual(readers, set(self.IDEMPOTENT), "functions reading Idempotency-Key")
        for fname, (path, m) in self.IDEMPOTENT.items():
            item = spec()["paths"][path]
            idem = parameters(item, item[m])[("header", "Idempotency-Key")]
            self.assertIs(idem["required"], True, path)
            # 201 for a purchase; a batch answers 202 (running) or 200 (completed).
            codes = [c for c in ("201", "202") if c in item[m]["responses"]]
            self.assertTrue(codes, path)
            for code in codes:
                self.assertIn("Idempotent-Replayed",
                              deref(item[m]["responses"][code])["headers"], path)
        for path, m, item, op in operations():
            if (path, m) not in self.IDEMPOTENT.values():
                self.assertNotIn(("header", "Idempotency-Key"), parameters(item, op), path)

    def test_document_content_types(self):
        formats = re.findall(r'\{\s*PV_FMT_\w+\s*,\s*"(\w+)"\s*,\s*"([^"]+)"\s*\}', read(LAYOUTS_C))
        self.assertGreaterEqual(len(formats), 4, "cannot read the format table of " + LAYOUTS_C)
        api_md = read(API_MD)
        for path, m in (("/v1/indicia/{id}/label", "get"), ("/v1/sheets", "post")):
            ok = deref(spec()["paths"][path][m]["responses"]["200"])
            self.assertEqual(set(ok["content"]), {t for _, t in formats}, path)
            self.assertIn("Content-Disposition", ok.get("headers") or {}, path)
        fmt = spec()["components"]["schemas"]["Format"]
        self.assertEqual(fmt["enum"], [e for e, _ in formats])
        for ext, ctype in formats:
            self.assertIn("`%s`" % ctype, api_md, "docs/api.md: content type " + ctype)
            self.assertIn("`%s`" % ext, api_md, "docs/api.md: format " + ext)


if __name__ == "__main__":
    unittest.main(verbosity=2)
