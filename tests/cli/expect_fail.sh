#!/bin/sh
# expect_fail.sh PATTERN [--absent FILE] -- COMMAND...: passes when COMMAND exits non-zero, its
# output contains PATTERN (grep -E) and FILE (if given) was not created.
pattern=$1; shift
absent=""
if [ "$1" = "--absent" ]; then absent=$2; shift 2; fi
[ "$1" = "--" ] && shift
[ -n "$absent" ] && rm -f "$absent"
out=$("$@" 2>&1); rc=$?
echo "$out"
[ "$rc" -ne 0 ] || { echo "FAIL: exit code 0, expected non-zero"; exit 1; }
echo "$out" | grep -Eq -- "$pattern" || { echo "FAIL: output lacks /$pattern/"; exit 1; }
if [ -n "$absent" ] && [ -e "$absent" ]; then echo "FAIL: $absent was written"; exit 1; fi
echo "ok: exit $rc, message matches, nothing written"
