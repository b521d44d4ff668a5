#!/bin/sh
# doctor.sh - says what this machine has and lacks for the course.
set -u
ok=0
check() { # name, command that succeeds when present, why it is needed, package
	if sh -c "$2" >/dev/null 2>&1; then
		printf '  ok       %-12s %s\n' "$1" "$3"
	else
		printf '  MISSING  %-12s %s  (Debian package: %s)\n' "$1" "$3" "$4"
		ok=1
	fi
}
echo "The course needs:"
check "C compiler" 'command -v "${CC:-cc}"' "builds everything" gcc
check "pkg-config" 'command -v pkg-config' "finds cJSON and cmocka" pkg-config
check "cJSON" 'pkg-config --exists libcjson' "parses log lines (lesson 04)" libcjson-dev
check "cmocka" 'pkg-config --exists cmocka' "runs the tests" libcmocka-dev
check "timeout" 'command -v timeout' "keeps the grader from hanging" coreutils
echo "For make check and make demo (make deps installs them):"
check "valgrind" 'command -v valgrind' "leak and memory checks in make check" valgrind
check "promtool" 'command -v promtool' "validates the /metrics output and the rules" prometheus
check "prometheus" 'command -v prometheus' "the demo and the end-to-end test (lesson 10)" prometheus
check "curl" 'command -v curl' "the demo's and the end-to-end test's queries" curl
check "gdb" 'command -v gdb' "says where each thread of a HUNG test waits" gdb
echo "Optional (make check skips what needs them; make deps installs the demo's three):"
opt() { # like check, but a missing tool is not a problem
	if sh -c "$2" >/dev/null 2>&1; then
		printf '  ok       %-12s %s\n' "$1" "$3"
	else
		printf '  absent   %-12s %s  (Debian package: %s)\n' "$1" "$3" "$4"
	fi
}
opt "alertmanager" 'command -v prometheus-alertmanager' "make demo sends its alerts to a receiver" prometheus-alertmanager
opt "python3" 'command -v python3' "the demo's webhook receiver (src/tools/receiver.py)" python3
opt "gnuplot" 'command -v gnuplot' "the headless demo's SVG charts (build/demo/)" gnuplot-nox
opt "clang" 'command -v clang' "a second compiler; fuzzing" clang
opt "dot" 'command -v dot' "regenerates docs/*.svg" graphviz
opt "go" 'command -v go' "make bench compares the channel with Go's" golang-go
opt "jemalloc" '{ ldconfig -p || /sbin/ldconfig -p; } | grep -q libjemalloc.so.2' "make bench measures the pipeline with another allocator" libjemalloc2

bits=$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)
if [ "$bits" -gt 28 ]; then
	echo "note: vm.mmap_rnd_bits is $bits; ThreadSanitizer aborts with 'unexpected memory mapping'"
	echo "      on such kernels, so the TSan runs here use 'setarch $(uname -m) -R' (done for you)."
fi
if [ $ok -ne 0 ]; then
	echo
	echo "Run 'make deps' to install what is missing (as root on Debian/Ubuntu), or install the packages named above."
fi
exit $ok
