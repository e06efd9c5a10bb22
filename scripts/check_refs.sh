#!/usr/bin/env bash
# Every reference in the repository resolves inside it:
#   1. no file points at documents outside the tree (the project's former SPEC/DESIGN notes,
#      a shared directory, absolute paths of one machine);
#   2. every capability code (A1 … X4: a capability letter and a number) that a file cites is
#      defined in docs/capabilities.md.
# Prints each offending line and exits 1; prints "check_refs: ok" and exits 0 otherwise.
# Run by ctest (test_docs_refs) and usable alone: bash scripts/check_refs.sh
set -uo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$top"
caps=docs/capabilities.md
fail=0

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    mapfile -t files < <(git ls-files --cached --others --exclude-standard | grep -v '^build/')
else
    mapfile -t files < <(find . -path ./build -prune -o -path ./.git -prune -o -type f -print |
        sed 's|^\./||')
fi
# Text files only, and not this script (it has to name what it looks for). One grep for all
# of them (-I: binary files do not match): a grep per file took most of this check's time.
existing=()
for f in "${files[@]}"; do
    [ -f "$f" ] && [ "$f" != scripts/check_refs.sh ] && existing+=("$f")
done
mapfile -t texts < <(printf '%s\0' "${existing[@]}" | xargs -0 grep -Il . -- 2>/dev/null)

# 1. Documents outside the tree.
if grep -nE '\.\./shared|/work/|\bSPEC(\.md)?\b|\bDESIGN(\.md)?\b|"beyond" #' "${texts[@]}"; then
    echo "check_refs: the lines above point outside the repository" >&2
    fail=1
fi

# 2. Capability codes. Letters of docs/capabilities.md's areas; language standards (C11, C99,
#    ...) are not codes.
if [ ! -f "$caps" ]; then
    echo "check_refs: $caps is missing" >&2
    exit 1
fi
defined=$(grep -oE '^\| [A-Z][0-9]{1,2} \|' "$caps" | tr -d '| ' | sort -u)
letters=$(printf '%s\n' "$defined" | cut -c1 | sort -u | tr -d '\n')
declare -A is_defined=()
for c in $defined; do is_defined[$c]=1; done
while IFS= read -r hit; do
    code=${hit##*:}
    case "$code" in C89 | C90 | C99 | C11 | C17 | C18 | C23) continue ;; esac
    if [ -z "${is_defined[$code]:-}" ]; then
        echo "$hit: capability code not defined in $caps" >&2
        fail=1
    fi
done < <(grep -noE "(^|[^A-Za-z0-9_./#-])[$letters][0-9]{1,2}([^A-Za-z0-9_]|\$)" "${texts[@]}" |
    sed -E "s/^([^:]+:[0-9]+):.*([$letters][0-9]{1,2}).*$/\\1:\\2/")

[ $fail -eq 0 ] && echo "check_refs: ok"
exit $fail
