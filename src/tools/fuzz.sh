#!/bin/sh
# fuzz.sh - behind `make fuzz`: builds the libFuzzer targets of tests/fuzz/
# against the reference solutions and runs each for FUZZ_SECONDS (default
# 30). The seeds in tests/fuzz/corpus/<target>/ are copied to a scratch
# corpus, build/fuzz/corpus-<target>, which the fuzzer grows (and which
# persists between runs); the committed seeds are never written to.
# One line per target:
#   fuzz <target>: <execs> execs in <s> s (<rate>/s), <N> new units, no crash
# or the path of the input that crashed it, and then the exit status is 1.
# Without clang (or its libFuzzer runtime, libclang-rt-14-dev) fuzzing is
# skipped, with exit status 0.
# FUZZ_TARGETS='http_request log_line' runs only those; FUZZ_CC picks the
# compiler (default clang).
set -u
cd "$(dirname "$0")/../.." || exit 1

SECONDS_EACH=${FUZZ_SECONDS:-30}
TARGETS=${FUZZ_TARGETS:-http_request log_line label_escape}
CLANG=${FUZZ_CC:-clang}
OUT=build/fuzz

case "$SECONDS_EACH" in
'' | *[!0-9]*)
	echo "fuzz: FUZZ_SECONDS must be a whole number of seconds (not '$SECONDS_EACH')" >&2
	exit 2
	;;
esac

if ! command -v "$CLANG" >/dev/null 2>&1; then
	echo "fuzz: $CLANG is not installed: fuzzing skipped"
	exit 0
fi

mkdir -p "$OUT"
FLAGS="-std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -g -O1 -fno-omit-frame-pointer \
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Wall -Wextra -Wpedantic -Werror"

# The compiler may be there without libFuzzer's runtime.
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' \
	>"$OUT/probe.c"
if ! "$CLANG" -fsanitize=fuzzer,address,undefined -o "$OUT/probe" "$OUT/probe.c" >"$OUT/probe.log" 2>&1; then
	echo "fuzz: $CLANG cannot link -fsanitize=fuzzer (install libclang-rt-14-dev): fuzzing skipped"
	sed 's/^/  /' "$OUT/probe.log" | head -n 5
	exit 0
fi

if ! CJSON=$(pkg-config --cflags --libs libcjson 2>/dev/null); then
	echo "fuzz: libcjson not found by pkg-config (make deps)" >&2
	exit 1
fi

# What each target links besides tests/fuzz/fuzz_<target>.c, its longest
# input and extra libFuzzer flags.
sources() {
	case "$1" in
	http_request) echo "solutions/08-http/request.c" ;;
	# parser.c also holds the stage (parser_run), which needs a channel.
	log_line) echo "solutions/04-parser/parser.c solutions/01-channel/channel.c solutions/02-select/select.c
		src/lib/line.c src/lib/slab.c src/lib/log_entry.c src/lib/clock.c src/lib/notimpl.c
		src/lib/chan_status.c" ;;
	label_escape) echo "solutions/06-metrics/exposition.c src/lib/strbuf.c" ;;
	*) return 1 ;;
	esac
}
max_len() {
	case "$1" in
	log_line) echo 8192 ;; # the 69 KB line of tests/data/sample.log is not a seed
	*) echo 4096 ;;
	esac
}
extra_flags() {
	case "$1" in
	http_request) echo "-dict=tests/fuzz/http.dict" ;;
	*) echo "" ;;
	esac
}

# The value of libFuzzer's final "stat::NAME: value" line in a log.
final_stat() { # log name
	sed -n "s/^stat::$2: *\\([0-9]*\\).*/\\1/p" "$1" | tail -n 1
}

status=0
for t in $TARGETS; do
	srcs=$(sources "$t") || {
		echo "fuzz: unknown target '$t' (known: http_request log_line label_escape)" >&2
		status=1
		continue
	}
	bin="$OUT/fuzz_$t"
	log="$OUT/$t.log"
	# shellcheck disable=SC2086 # word splitting of the flag and file lists is wanted
	if ! "$CLANG" $FLAGS -o "$bin" "tests/fuzz/fuzz_$t.c" $srcs $CJSON -pthread -lm >"$OUT/$t.build.log" 2>&1; then
		echo "fuzz $t: does not build"
		sed 's/^/  /' "$OUT/$t.build.log" | head -n 30
		status=1
		continue
	fi

	len=$(max_len "$t")
	corpus="$OUT/corpus-$t"
	artifacts="$OUT/artifacts-$t"
	mkdir -p "$corpus" "$artifacts"
	for seed in tests/fuzz/corpus/"$t"/*; do
		[ -f "$seed" ] || continue
		# A seed longer than max_len would be cut short: leave it out.
		[ "$(wc -c <"$seed")" -le "$len" ] || continue
		cp "$seed" "$corpus/seed-$(basename "$seed")"
	done

	# shellcheck disable=SC2046 # extra_flags is empty or one word
	timeout $((SECONDS_EACH + 120)) "./$bin" -max_total_time="$SECONDS_EACH" -max_len="$len" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$artifacts/" $(extra_flags "$t") "$corpus" >"$log" 2>&1
	rc=$?

	if [ "$rc" -ne 0 ]; then
		unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		if [ -n "$unit" ]; then
			echo "fuzz $t: CRASH (exit $rc), input saved in $unit (log: $log)"
		else
			echo "fuzz $t: failed with exit status $rc, no input saved (log: $log)"
		fi
		grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -n 3 | sed 's/^/  /'
		# The stack without libFuzzer's and the sanitizers' own frames.
		grep -E '^ +#[0-9]+ ' "$log" | grep -vE 'fuzzer::|__sanitizer|__asan|__ubsan|libc\.so|_start' |
			sed 's/ (BuildId: [0-9a-f]*)$//' | head -n 6
		status=1
		continue
	fi

	execs=$(final_stat "$log" number_of_executed_units)
	rate=$(final_stat "$log" average_exec_per_sec)
	new=$(final_stat "$log" new_units_added)
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n 1)
	echo "fuzz $t: ${execs:-?} execs in ${secs:-?} s (${rate:-?}/s), ${new:-?} new units, no crash"
done
exit "$status"
