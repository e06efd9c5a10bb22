# Extract the programs of the documentation (README.md, docs/guide/*.md), so the build
# compiles them and the tests run them: a program in the docs is then never out of date.
#
#   awk -v out=DIR -f scripts/docprogs.awk FILE.md...
#
# Markers (HTML comments, invisible in the rendered page), each followed by a fenced block:
#
#   <!-- ci: program NAME -->          the next ```c block is a complete program: DIR/NAME.c
#   <!-- ci: program NAME server -->   the same, for a program that serves until a signal
#                                      (DIR/NAME.mode holds "server"; its test is hand-written)
#   <!-- ci: output NAME -->           the next fenced block is what NAME prints on stdout
#                                      when run without arguments: DIR/NAME.out
#
# Other lines may stand between a marker and its block (another marker, a blank line); prose
# may not. A name is [A-Za-z0-9_]+ and unique across all files. A program whose name starts
# with test_ is linked with the test library (libeddy_test). Exits non-zero, naming file and
# line, on a malformed marker, a missing or unterminated block, or a duplicate name.
function fail(msg) {
    printf "%s:%d: %s\n", FILENAME, FNR, msg > "/dev/stderr"
    failed = 1
    exit 1
}
FNR == 1 && want { fail("marker '" want "' of the previous file has no block") }
/^<!-- ci: (program|output) / {
    if (want) fail("marker '" want "' has no block before the next marker")
    if ($NF != "-->" || NF < 5 || NF > 6 || $4 !~ /^[A-Za-z0-9_]+$/) fail("bad marker: " $0)
    kind = $3
    name = $4
    mode = NF == 6 ? $5 : ""
    if (kind == "output" && mode != "") fail("an output marker takes only a name: " $0)
    if (mode != "" && mode != "server") fail("unknown program mode '" mode "'")
    if ((kind, name) in seen) fail("duplicate " kind " '" name "' (first at " seen[kind, name] ")")
    seen[kind, name] = FILENAME ":" FNR
    want = $0
    next
}
want && !inblock && /^```/ {
    if (kind == "program" && $0 != "```c") fail("a program marker must precede a ```c block")
    file = out "/" name (kind == "program" ? ".c" : ".out")
    printf "" > file
    if (mode != "") print mode > (out "/" name ".mode")
    inblock = 1
    next
}
want && !inblock && /^[ \t]*$|^<!--/ { next }
want && !inblock { fail("marker '" want "' is followed by text, not a fenced block") }
inblock && /^```[ \t]*$/ {
    close(file)
    inblock = 0
    want = ""
    next
}
inblock { print > file }
END {
    if (failed) exit 1
    if (inblock) { FNR = "end"; fail("unterminated block of '" want "'") }
    if (want) fail("marker '" want "' has no block")
    for (k in seen) {
        split(k, kn, SUBSEP)
        if (kn[1] == "output" && !(("program", kn[2]) in seen))
            { printf "%s: output of '%s' but no such program\n", seen[k], kn[2] > "/dev/stderr"; exit 1 }
    }
}
