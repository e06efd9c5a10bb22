# Doxygen input filter (docs/Doxyfile, INPUT_FILTER): eddy's headers document every function
# in the plain C comment above it, which Doxygen would skip. Without changing the headers,
# this turns those comments into documentation comments on the way into Doxygen:
#
#   the file's first comment          /** @file NAME ...   (the header's description)
#   a comment that starts a line      /** ...              (documents what follows)
#   a comment after a member or an    /**< ...             (documents that member)
#   enumerator, on its line
#   section rules ("/* ---- x ---- */") and comments inside a function-like body stay plain.
#
# In comments, "::" (an IPv6 address) and "#" are escaped: Doxygen would take "::ffff" and
# "#include" for links; so is a "*" after "_" (EDDY_ETLS_*, eddy_file_*), which Markdown would
# pair with the next "*" as emphasis.
# Line numbers are kept (one line out per line in), so Doxygen's warnings point at the header.
function esc(s) {
    gsub(/::/, "\\::", s)
    gsub(/#/, "\\#", s)
    gsub(/_\*/, "_\\*", s)
    gsub(/_\\\*\//, "_*/", s) # not the comment's end
    return s
}
BEGIN { first = 1; incomment = 0 }
FNR == 1 { name = FILENAME; sub(/.*\//, "", name) }
{
    line = $0
    if (incomment) {
        if (index(line, "*/")) incomment = 0
        line = esc(line)
        print line
        next
    }
    if (match(line, /^[ \t]*\/\*/)) {
        opening = substr(line, 1, RLENGTH)
        rest = substr(line, RLENGTH + 1)
        rest = esc(rest)
        if (first) {
            line = opening "* @file " name (rest ~ /^[ \t]/ ? "" : " ") rest
            first = 0
        } else if (rest !~ /^[ \t]*-+/ && rest !~ /^\*/) {
            line = opening "*" rest
        }
        if (!index(rest, "*/")) incomment = 1
        print line
        next
    }
    # A trailing comment after a declaration on the same line: a member, a parameter list
    # entry or an enumerator.
    if (match(line, /[;,{][ \t]*\/\* /)) {
        pre = substr(line, 1, RSTART + RLENGTH - 4)
        post = substr(line, RSTART + RLENGTH - 3)
        sub(/^\/\* /, "/**< ", post)
        line = pre post
        if (!index(post, "*/")) incomment = 1
    } else if (match(line, /\/\*/) && !index(substr(line, RSTART), "*/")) {
        incomment = 1
    }
    if (first && line ~ /[^ \t]/) first = 0
    print line
}
