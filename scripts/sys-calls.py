#!/usr/bin/env python3
"""Route the library's system calls through src/loop/sys.h: rewrite NAME( to eddy__sys_NAME(
for every kind sys.h knows, in src/**/*.c and src/**/*.h, outside comments, strings and
character constants, and add #include "loop/sys.h" to each file it changed.

    python3 scripts/sys-calls.py            # convert in place, list the files changed
    python3 scripts/sys-calls.py --check    # change nothing; exit 1 (and list the calls)
                                            # if any call site is left unconverted

Idempotent: eddy__sys_read( is not a call of read( (the name must not follow an identifier
character, '.', '->' or '::'), so running it again after merging other work converts only the
new call sites. The kinds are read from sys.h's EDDY__SYS_KINDS list, so a kind added there is
converted everywhere by the next run. Files it never touches: src/loop/sys.[ch] (the real
calls). A call that must stay direct (none today) can be written (read)(...), which this does
not match.
"""
import os
import re
import sys

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(TOP, "src")
SYS_H = os.path.join(SRC, "loop", "sys.h")
SKIP = {os.path.join(SRC, "loop", "sys.h"), os.path.join(SRC, "loop", "sys.c")}
INCLUDE = '#include "loop/sys.h"'


def kinds():
    text = open(SYS_H).read()
    m = re.search(r"#define EDDY__SYS_KINDS\(X\)(.*?)\n\n", text, re.S)
    return re.findall(r"X\(\w+, (\w+)\)", m.group(1))


def code_spans(text):
    """Yield (start, end) of the parts of text that are code: not comments, strings or chars."""
    i, n, start = 0, len(text), 0
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            yield start, i
            j = text.find("*/", i + 2)
            i = n if j < 0 else j + 2
            start = i
        elif text.startswith("//", i):
            yield start, i
            j = text.find("\n", i)
            i = n if j < 0 else j
            start = i
        elif c in "\"'":
            yield start, i
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            start = i
        else:
            i += 1
    yield start, n


def convert(text, names):
    call = re.compile(r"(?<![\w.>:])(" + "|".join(sorted(names, key=len, reverse=True)) + r")(?=\s*\()")
    # '->' and '::' end in '>' and ':'; a declaration such as "ssize_t read(" is not in src/.
    out, last, found = [], 0, []
    for a, b in code_spans(text):
        out.append(text[last:a])
        seg = text[a:b]

        def rep(m):
            found.append((text.count("\n", 0, a + m.start()) + 1, m.group(1)))
            return "eddy__sys_" + m.group(1)

        out.append(call.sub(rep, seg))
        last = b
    out.append(text[last:])
    return "".join(out), found


def add_include(text):
    if INCLUDE in text:
        return text
    incs = list(re.finditer(r'^#include "[^"]+"\n', text, re.M))
    if incs:
        at = incs[-1].end()
    else:
        incs = list(re.finditer(r"^#include <[^>]+>\n", text, re.M))
        at = incs[-1].end() if incs else 0
    return text[:at] + INCLUDE + "\n" + text[at:]


def main():
    check = "--check" in sys.argv[1:]
    names = kinds()
    left = 0
    for root, _, files in os.walk(SRC):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            if path in SKIP:
                continue
            text = open(path).read()
            new, found = convert(text, names)
            if not found:
                continue
            rel = os.path.relpath(path, TOP)
            if check:
                for line, name in found:
                    print(f"{rel}:{line}: {name}() does not go through src/loop/sys.h")
                left += len(found)
                continue
            new = add_include(new)
            open(path, "w").write(new)
            print(f"{rel}: {len(found)} call(s)")
    if check and left:
        print(f"{left} direct system call(s): run python3 scripts/sys-calls.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
