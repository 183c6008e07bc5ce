"""openapi_check.py - live answers checked against docs/openapi.yaml.

check(method, path, status, body, content_type) finds the operation of
docs/openapi.yaml that serves method + path (a concrete path, query allowed),
and answers the problems of the answer (a list; empty when it conforms):

* the status code is one the operation documents (or its `default`);
* a JSON body validates against that response's schema, read as JSON Schema
  with python3-jsonschema (OpenAPI 3.0's `nullable` made `null`-or-the-
  schema, `format: date-time` an RFC 3339 UTC time, `format: date` a date);
* and carries no property the schema does not name (the document must say
  exactly what the answer carries: a property documented nowhere in the
  schema, its allOf/anyOf/oneOf branches or an additionalProperties, is a
  problem);
* every time in it is an RFC 3339 string: a number in a field named like a
  timestamp (*_at, created, updated, expires, distributed, first_use,
  last_use, *_ms that is no duration, ...) is a problem (docs/api.md,
  "Conventions").

Each operation checked is remembered in SEEN, (METHOD, path template), so a
suite can fail on the operations it never exercised (operations()).
harness.check_against_openapi() is the entry point for other suites.
"""

import os
import re
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jsonschema  # noqa: E402  python3-jsonschema (scripts/deps.sh test)
import test_docs  # noqa: E402  its reader of the YAML subset docs/openapi.yaml is written in

METHODS = ("get", "put", "post", "delete", "patch")
SEEN = set()
_CACHE = {}

RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Field names of timestamps (numbers there are Unix times, which answers never carry)...
TIME_NAME = re.compile(r"(_at|^created|^updated|^expires|^distributed|^first_use|^last_use|"
                       r"_since|_until|_time|_ms)$")
# ... but a duration may be a number with its unit in the name.
DURATION_NAME = re.compile(r"(age|duration|latency|timeout|interval|ttl|elapsed|delay|window|"
                           r"retry|left|uptime)_(ms|s)$")


def spec():
    if "spec" not in _CACHE:
        _CACHE["spec"] = test_docs.spec()
    return _CACHE["spec"]


def operations():
    """Every (METHOD, path template) of the document."""
    return {(m.upper(), p) for p, item in spec()["paths"].items() for m in item if m in METHODS}


def find_operation(method, path):
    """(template, operation) serving method + path, or (None, None). A literal
    segment wins over a {parameter} (/v1/keys/crl before /v1/keys/{id})."""
    path = path.split("?", 1)[0]
    best = None
    for tmpl, item in spec()["paths"].items():
        op = item.get(method.lower())
        if op is None:
            continue
        rx = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$"
        if re.match(rx, path):
            rank = tmpl.count("{")
            if best is None or rank < best[0]:
                best = (rank, tmpl, op)
    return (best[1], best[2]) if best else (None, None)


def _deref(obj):
    s = spec()
    while isinstance(obj, dict) and "$ref" in obj:
        node = s
        for part in obj["$ref"].lstrip("#/").split("/"):
            node = node[part]
        obj = node
    return obj


def _convert(s):
    """An OpenAPI 3.0 schema as JSON Schema (draft 4): nullable -> null or it."""
    if isinstance(s, list):
        return [_convert(x) for x in s]
    if not isinstance(s, dict):
        return s
    out = {k: _convert(v) for k, v in s.items() if k not in ("nullable", "example")}
    if s.get("nullable"):
        return {"anyOf": [{"type": "null"}, out]}
    return out


def _validator():
    if "validator" not in _CACHE:
        fc = jsonschema.FormatChecker(formats=())

        @fc.checks("date-time")
        def _dt(value):
            return not isinstance(value, str) or bool(RFC3339_UTC.match(value))

        @fc.checks("date")
        def _d(value):
            return not isinstance(value, str) or bool(DATE.match(value))

        comps = {"schemas": _convert(spec()["components"]["schemas"])}
        _CACHE["validator"] = (comps, fc)
    return _CACHE["validator"]


def _gather(schemas):
    """The properties (name -> [schemas]) an object of any of schemas may
    carry, and the additionalProperties schemas (True: anything)."""
    props, extra = {}, []
    todo = list(schemas)
    seen = 0
    while todo and seen < 1000:
        seen += 1
        s = _deref(todo.pop())
        if not isinstance(s, dict):
            continue
        for k, v in (s.get("properties") or {}).items():
            props.setdefault(k, []).append(v)
        ap = s.get("additionalProperties")
        if ap is True or isinstance(ap, dict):
            extra.append(ap)
        for key in ("allOf", "anyOf", "oneOf"):
            todo.extend(s.get(key) or [])
    return props, extra


def _items(schemas):
    out, todo = [], list(schemas)
    while todo:
        s = _deref(todo.pop())
        if not isinstance(s, dict):
            continue
        if "items" in s:
            out.append(s["items"])
        for key in ("allOf", "anyOf", "oneOf"):
            todo.extend(s.get(key) or [])
    return out


def undocumented(schemas, value, where="body"):
    """The places in value with a property none of schemas documents."""
    problems = []
    if isinstance(value, dict):
        props, extra = _gather(schemas)
        for k, v in value.items():
            if k in props:
                problems += undocumented(props[k], v, "%s.%s" % (where, k))
            elif extra:
                if all(isinstance(e, dict) for e in extra):
                    problems += undocumented(extra, v, "%s.%s" % (where, k))
            else:
                problems.append("%s.%s is not in the schema" % (where, k))
    elif isinstance(value, list):
        items = _items(schemas)
        for i, v in enumerate(value):
            if items:
                problems += undocumented(items, v, "%s[%d]" % (where, i))
    return problems


def fields(value, where="body"):
    """Every (place, name, value) of the objects in value, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield "%s.%s" % (where, k), k, v
            yield from fields(v, "%s.%s" % (where, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from fields(v, "%s[%d]" % (where, i))


def unix_times(value):
    """Numbers in fields named like timestamps (docs/api.md, "Conventions")."""
    return ["%s is a number (%r): times are RFC 3339 UTC strings" % (here, v)
            for here, k, v in fields(value)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and TIME_NAME.search(k) and
            not DURATION_NAME.search(k)]


def check(method, path, status, body, content_type="application/json"):
    """The problems of one live answer (see the file comment); records the
    operation in SEEN when the document has it."""
    tmpl, op = find_operation(method, path)
    if op is None:
        return ["%s %s: no operation of docs/openapi.yaml serves it" % (method, path)]
    SEEN.add((method.upper(), tmpl))
    what = "%s %s -> %d" % (method.upper(), tmpl, status)
    responses = op.get("responses", {})
    resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) or \
        responses.get("default")
    if resp is None:
        return ["%s: status %d is not documented (%s)" % (what, status, sorted(responses))]
    resp = _deref(resp)
    content = resp.get("content") or {}
    ctype = (content_type or "").split(";")[0].strip()
    if not content:
        return [] if body in (None, b"", "") else ["%s: a body, but none is documented" % what]
    if ctype not in content:
        return ["%s: content type %s is not documented (%s)" % (what, ctype, sorted(content))]
    if ctype != "application/json":
        return []
    schema = content[ctype].get("schema")
    if schema is None:
        return []
    comps, fc = _validator()
    root = {"allOf": [_convert(schema)], "components": comps}
    problems = ["%s: %s at %s" % (what, e.message[:300], "/".join(str(p) for p in e.absolute_path))
                for e in jsonschema.Draft4Validator(root, format_checker=fc).iter_errors(body)]
    problems += ["%s: %s" % (what, p) for p in undocumented([schema], body)]
    problems += ["%s: %s" % (what, p) for p in unix_times(body)]
    return problems


def time_strings(value):
    """Strings in fields named like timestamps that are not RFC 3339 UTC
    (a field whose name ends in _ms or a duration's unit may be a number)."""
    return ["%s is %r, not an RFC 3339 UTC time" % (here, v) for here, k, v in fields(value)
            if isinstance(v, str) and TIME_NAME.search(k) and not k.endswith("_ms") and
            not RFC3339_UTC.match(v)]
