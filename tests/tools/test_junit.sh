#!/bin/sh
# test_junit.sh - FORMAT=junit writes well-formed JUnit XML. Checks the XML
# files of a graded run (DIR, default build/results/plain/build_stubs, which
# make check grades with FORMAT=junit) and a TAP file full of what XML
# cannot carry as it is (& < > " ', control bytes, invalid UTF-8). Each
# file must parse, hold one testsuite with as many test cases as its TAP
# has tests, and one failure per "not ok". Uses python3's XML parser when
# it is there (it is not one of the course's dependencies).
set -u
dir=${1:-build/results/plain/build_stubs}
command -v python3 >/dev/null 2>&1 || { echo "  (python3 is not installed: skipped)"; exit 0; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf 'TAP version 13\n1..3\nnot ok 1 - test_a # CRASH\n  # CRASH: got "a&b<c>" \047q\047 \001\002 \377\303\251 \342\202\n  # x]]>y\nok 2 - test_b\nnot ok - the test runner stopped early\n' >"$tmp/odd.tap"
awk -v suite='odd&<suite>' -f src/tools/junit.awk "$tmp/odd.tap" >"$tmp/odd.xml"
set -- "$tmp/odd.xml"
for x in "$dir"/*.xml; do [ -f "$x" ] && set -- "$@" "$x"; done
[ $# -gt 1 ] || { echo "  FAILED: no JUnit XML in $dir"; exit 1; }
python3 - "$tmp/odd.tap" "$@" <<'PY'
import re, sys, xml.etree.ElementTree as ET
odd_tap, files = sys.argv[1], sys.argv[2:]
bad = 0
for f in files:
    tap = odd_tap if f.endswith("/odd.xml") else f[:-4] + ".tap"
    lines = open(tap, encoding="utf-8", errors="replace").read().splitlines()
    tests = sum(1 for l in lines if re.match(r"(not )?ok\b", l))
    fails = sum(1 for l in lines if l.startswith("not ok"))
    try:
        root = ET.parse(f).getroot()
    except ET.ParseError as e:
        print("  FAILED: %s is not well-formed XML: %s" % (f, e)); bad = 1; continue
    cases = root.findall("testcase")
    got = (root.tag, len(cases), sum(len(c.findall("failure")) for c in cases), int(root.get("tests")), int(root.get("failures")))
    if got != ("testsuite", tests, fails, tests, fails):
        print("  FAILED: %s: (tag, cases, failures, tests=, failures=) is %s; its TAP has %d tests, %d failed" % (f, got, tests, fails)); bad = 1
print("  ok  %d JUnit XML files parse, with a test case per TAP test and a failure per failed one" % len(files)) if not bad else None
sys.exit(bad)
PY
