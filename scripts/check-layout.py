#!/usr/bin/env python3
"""check-layout.py - the source layout rules of issue 11, checked.

Run from the repository root. Exits 1 and prints every violation when:
  (a) #include cycle: modules under src/ include each other in a circle.
      A module is x.c + x.h in one directory (one node: the .c file's
      includes count as its header's); a public header include/stampd/x.h
      joins the one src/*/x.c that implements it, if there is exactly one.
      A header no .c implements (render_int.h, store_backends.h) is no node:
      its includes count as its includer's. "dir/file.h" includes resolve
      against src/, include/, then the including file's own directory.
  (b) size: a file in src/ over 800 lines (src/store/*.c: over 900).
  (c) store privacy: a C file outside src/store (src/, include/, tests/,
      bench/) applies ->ops-> to a store handle, or includes a header of
      src/store other than store.h. A store handle is an expression whose
      last name is st, store, *_st or *store*, or whose op exists only in
      struct pv_store_ops.
  (d) library privacy: a file in src/ or include/ other than
      the SQLite and PostgreSQL driver files (DB_FILES) includes sqlite3.h or
      libpq-fe.h; one outside src/crypto includes openssl/*.
With --report it prints the same and exits 0. Python 3 standard library only.
"""
import os
import re
import sys

ROOT = "."
SIZE_MAX = 800
STORE_C_MAX = 900
# The unit test of a store-private module (the SQLite checkpointer, its VFS, its page
# cache, the writers' gate, which no store operation shows) may include that module's header.
STORE_PRIVATE_TESTS = {"tests/unit/test_sqlite_wal.c", "tests/unit/test_sqlite_vfs.c",
                       "tests/unit/test_sqlite_pcache.c", "tests/unit/test_wgate.c"}
DB_FILES = {"src/store/sqlite.c", "src/store/sqlite_wal.c", "src/store/sqlite_vfs.c",
            "src/store/sqlite_pcache.c", "src/store/postgres.c", "src/store/pg_watch.c"}
STORE_HANDLE = re.compile(r"^(st|store|\w+_st|\w*store\w*)$", re.I)
INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^">]+)[">]', re.M)
OPS_CALL = re.compile(r"((?:[A-Za-z_]\w*(?:->|\.))*[A-Za-z_]\w*)->ops->([A-Za-z_]\w*)")
OPS_STRUCT = re.compile(r"struct\s+(\w+_ops)\s*\{(.*?)\n\};", re.S)
OPS_MEMBER = re.compile(r"\(\s*\*\s*(\w+)\s*\)\s*\(|^\s*[\w\s\*]*?\b(\w+)\s*;", re.M)


def c_files(top):
    """Every .c and .h file under top, as sorted repo-relative paths."""
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(x for x in dirs if x not in ("node_modules", "build"))
        for f in files:
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return sorted(out)


def strip_comments(text):
    """Comments and string/char literals blanked out, newlines kept."""
    def blank(m):
        s = m.group(0)
        if s[0] in "\"'":
            return s[0] + re.sub(r"[^\n]", " ", s[1:-1]) + s[-1]
        return re.sub(r"[^\n]", " ", s)

    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', blank, text,
                  flags=re.S)


def read(path):
    with open(os.path.join(ROOT, path), encoding="utf-8", errors="replace") as f:
        return f.read()


def includes(path, text):
    """(kind, name, line) of every #include that is not inside a comment."""
    code = strip_comments(text)  # same offsets as text
    return [(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
            for m in INCLUDE.finditer(text) if "#" in code[m.start():m.end()]]


def resolve(name, frm):
    for base in ("src", "include", os.path.dirname(frm)):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(os.path.join(ROOT, p)):
            return p
    return None


def module_of(path, impl):
    """The module a file belongs to: x.c and x.h in one directory are module
    x; a public header include/stampd/x.h belongs to the one src/*/x.c that
    implements it. None for a header no .c implements (see edges_of)."""
    stem = os.path.splitext(path)[0]
    if path.startswith("include/"):
        cands = impl.get(os.path.basename(stem), [])
        return cands[0] if len(cands) == 1 else None
    if path.endswith(".c") or stem in impl.get(os.path.basename(stem), []):
        return stem
    return None


def edges_of(path, impl, texts, chain=(), seen=None):
    """(module, reason) for each module a file includes. A header that no .c
    implements (a private header such as render_int.h, or a header of types)
    is no module of its own: its includes count as its includer's, so the
    usual private header including its module's public one is no cycle."""
    seen = set() if seen is None else seen
    if path not in texts:
        texts[path] = read(path)
    out = []
    for kind, name, line in includes(path, texts[path]):
        q = resolve(name, path) if kind == '"' else None
        if not q or q in seen:
            continue
        seen.add(q)
        step = chain + ("%s:%d includes %s" % (path, line, name),)
        b = module_of(q, impl)
        if b:
            out.append((b, "; ".join(step)))
        else:
            out.extend(edges_of(q, impl, texts, step, seen))
    return out


def check_cycles(src_files, texts):
    impl = {}
    for p in src_files:
        if p.endswith(".c"):
            stem = os.path.splitext(p)[0]
            impl.setdefault(os.path.basename(stem), []).append(stem)
    graph, why = {}, {}
    for p in src_files:
        a = module_of(p, impl)
        if not a:
            continue
        graph.setdefault(a, set())
        for b, reason in edges_of(p, impl, texts):
            if a != b:
                graph[a].add(b)
                graph.setdefault(b, set())
                why.setdefault((a, b), reason)
    out = []
    for scc in sccs(graph):
        if len(scc) < 2:
            continue
        cyc = a_cycle(graph, scc)
        steps = ["    " + why[(cyc[i], cyc[i + 1])] for i in range(len(cyc) - 1)]
        more = "" if len(scc) == len(cyc) - 1 else " (the circle takes in %s)" % ", ".join(scc)
        out.append("include cycle: %s%s\n%s" % (" -> ".join(cyc), more, "\n".join(steps)))
    return out


def sccs(graph):
    """Tarjan's strongly connected components, iteratively, sorted."""
    index, low, on, stack, out, n = {}, {}, set(), [], [], [0]
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = n[0]
        n[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = n[0]
                    n[0] += 1
                    stack.append(nxt)
                    on.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on:
                    low[v] = min(low[v], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return sorted(out)


def a_cycle(graph, scc):
    """One shortest cycle through the first node of a component, as a path."""
    start, members = scc[0], set(scc)
    prev, queue = {start: None}, [start]
    for v in queue:
        for w in sorted(graph[v]):
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


def check_sizes(src_files):
    out = []
    for dirpath, dirs, files in os.walk(os.path.join(ROOT, "src")):
        dirs.sort()
        for f in sorted(files):
            p = os.path.relpath(os.path.join(dirpath, f), ROOT)
            limit = STORE_C_MAX if re.match(r"src/store/[^/]+\.c$", p) else SIZE_MAX
            with open(os.path.join(ROOT, p), "rb") as fh:
                n = fh.read().count(b"\n")
            if n > limit:
                out.append("size: %s has %d lines (limit %d)" % (p, n, limit))
    return out


def store_only_ops():
    """Op names of struct pv_store_ops that no other *_ops struct has."""
    ops = {}
    for p in c_files("src"):
        if p.endswith(".h"):
            for m in OPS_STRUCT.finditer(strip_comments(read(p))):
                names = {a or b for a, b in OPS_MEMBER.findall(m.group(2))}
                ops.setdefault(m.group(1), set()).update(names)
    store = ops.pop("pv_store_ops", set())
    for other in ops.values():
        store -= other
    return store


def check_privacy(texts):
    out = []
    store_ops = store_only_ops()
    for p in c_files("src") + c_files("include") + c_files("tests") + c_files("bench"):
        text = texts.get(p) or read(p)
        in_src = p.startswith(("src/", "include/"))
        for kind, name, line in includes(p, text):
            q = resolve(name, p) if kind == '"' else None
            if not p.startswith("src/store/") and q and q.startswith("src/store/") \
                    and q != "src/store/store.h" and p not in STORE_PRIVATE_TESTS:
                out.append("store privacy: %s:%d includes %s" % (p, line, name))
            if in_src and p not in DB_FILES and os.path.basename(name) in ("sqlite3.h",
                                                                           "libpq-fe.h"):
                out.append("library privacy: %s:%d includes %s" % (p, line, name))
            if in_src and not p.startswith("src/crypto/") and name.startswith("openssl/"):
                out.append("library privacy: %s:%d includes %s" % (p, line, name))
        if p.startswith("src/store/"):
            continue
        code = strip_comments(text)
        for m in OPS_CALL.finditer(code):
            handle = re.split(r"->|\.", m.group(1))[-1]
            if STORE_HANDLE.match(handle) or m.group(2) in store_ops:
                out.append("store privacy: %s:%d calls %s->ops->%s" % (
                    p, code.count("\n", 0, m.start()) + 1, m.group(1), m.group(2)))
    return out


def main(argv):
    report = "--report" in argv[1:]
    if not os.path.isdir(os.path.join(ROOT, "src")):
        print("check-layout: run from the repository root", file=sys.stderr)
        return 2
    src_files = c_files("src")
    texts = {p: read(p) for p in src_files}
    problems = check_cycles(src_files, texts) + check_sizes(src_files) + check_privacy(texts)
    for line in problems:
        print(line)
    print("check-layout: %d problem%s" % (len(problems), "" if len(problems) == 1 else "s"))
    return 0 if report or not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
