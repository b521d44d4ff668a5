#!/bin/sh
# check.sh - the project's own test, behind `make check`. It proves both
# directions: every reference solution passes (plain, ASan+UBSan, TSan,
# valgrind), and every untouched exercise fails quickly and cleanly with
# "not implemented". It also keeps the course's text honest: stubs
# generated from the solutions, hints present, quoted code up to date.
# The last line is "N passed, M failed" (tests run plus checks made).
set -u
MAKE=${MAKE:-make}
LESSONS=${LESSONS:-}
# Each grade below asks for its own build and runs: no perturbed or
# ThreadSanitizer follow-ups behind a plain grade (grade.sh).
GRADE_FOLLOWUPS=0
export MAKE LESSONS GRADE_FOLLOWUPS
passed=0
failed=0
start=$(date +%s)
log=build/check
mkdir -p "$log"

# Each step says how long the one before it took: the budget is the sum.
# A step that failed anything is named again at the end, so that the last
# lines of a long log say where to look.
step_start=""
step_name=""
step_failed=0
failed_steps=""
step() {
	[ -n "$step_start" ] && printf '  (%ss)\n' "$(($(date +%s) - step_start))"
	[ "$failed" -gt "$step_failed" ] && failed_steps="$failed_steps
  $step_name ($((failed - step_failed)))"
	step_start=$(date +%s) step_name=$1 step_failed=$failed
	printf '\n== %s\n' "$1"
}
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "  FAILED: $1"; }

# Adds the "N passed, M failed" of a grader run to ours, and names each
# failed test (a quiet grade prints only the counts).
count() { # file [results directory]
	[ -n "${2:-}" ] && cat "$2"/*.tap "$2"/perturbed/*.tap 2>/dev/null | grep '^not ok' | sed 's/^/  FAILED: /'
	line=$(tail -n 1 "$1")
	p=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p')
	f=$(echo "$line" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p')
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-1}))
}

# What to run a build of SANITIZE=$1 under: on kernels that randomise more
# address bits than ThreadSanitizer allows, TSan binaries need setarch -R
# (grade.sh does the same for the tests; make doctor explains it).
runner_for() {
	[ "$1" = thread ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0)" -gt 28 ] &&
		echo "setarch $(uname -m) -R"
}

step "the machine"
sh src/tools/deps.sh ensure valgrind promtool prometheus curl || { echo "cannot run make check without its tools"; exit 1; }

step "exercise stubs are generated from the solutions"
if sh src/tools/exercises.sh verify build/stubs; then ok; echo "  ok"; else bad "stubs out of date"; fi

step "make exercises keeps the learner's work (tests/tools/test_exercises.sh)"
if sh tests/tools/test_exercises.sh; then ok; else bad "make exercises"; fi

step "every exercise has hints that point into its lesson"
if sh src/tools/lint.sh; then ok; echo "  ok"; else bad "hints or lessons"; fi

step "code quoted in lessons matches its source"
if sh src/tools/snippets.sh verify; then ok; echo "  ok"; else bad "stale snippet"; fi

# The plain grade also proves that the concurrency lessons' tests pass 8
# perturbed rounds in a row (grade.sh, PERTURB), as many as a learner's
# grade runs: no test of theirs fails on correct code because of an
# unusual order.
for san in "" address thread; do
	perturb="" also=""
	[ -z "$san" ] && perturb=8 also=", then 8 perturbed rounds of the concurrency lessons"
	step "reference solutions, ${san:-plain} build$also"
	GRADE_QUIET=1 IMPL=solutions SANITIZE="$san" PERTURB="$perturb" sh src/tools/grade.sh \
		>"$log/solutions-${san:-plain}.txt" 2>&1
	cat "$log/solutions-${san:-plain}.txt"
	count "$log/solutions-${san:-plain}.txt" "build/results/${san:-plain}/solutions"
done

# Memcheck runs all of a program's threads on one core, so two grades run
# side by side, every other lesson each, and the step takes half as long.
step "reference solutions under valgrind (memcheck, fewer messages, two grades at once)"
valgrind_grade() { # output file, then the lessons
	out=$1
	shift
	LESSONS="$*" GRADE_QUIET=1 IMPL=solutions HARNESS_SCALE=2 GRADE_TIMEOUT=120 \
		GRADE_RUNNER="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		sh src/tools/grade.sh >"$out" 2>&1
}
valgrind_grade "$log/solutions-valgrind-1.txt" $(printf '%s\n' $LESSONS | awk 'NR % 2') &
first=$!
valgrind_grade "$log/solutions-valgrind-2.txt" $(printf '%s\n' $LESSONS | awk '!(NR % 2)')
wait $first
cat "$log/solutions-valgrind-1.txt" "$log/solutions-valgrind-2.txt"
count "$log/solutions-valgrind-1.txt" build/results/plain/solutions
count "$log/solutions-valgrind-2.txt"

step "untouched exercises fail at once, each test saying NOT IMPLEMENTED"
t0=$(date +%s)
GRADE_QUIET=1 FORMAT=junit IMPL=build/stubs sh src/tools/grade.sh >"$log/stubs.txt" 2>&1
secs=$(($(date +%s) - t0))
cat "$log/stubs.txt"
others=$(cat build/results/plain/build_stubs/*.tap 2>/dev/null | grep '^not ok' | grep -cv '# NOTIMPL$')
passing=$(cat build/results/plain/build_stubs/*.tap 2>/dev/null | grep -c '^ok')
if [ "$others" -eq 0 ] && [ "$passing" -eq 0 ] && ! grep -q 'does not compile' "$log/stubs.txt"; then
	ok
	echo "  ok: every test against every stub reports NOT IMPLEMENTED (${secs}s)"
else
	bad "$passing test(s) pass against a stub (a test that cannot fail?) and $others fail otherwise than NOT IMPLEMENTED"
	grep -h '^ok\|^not ok' build/results/plain/build_stubs/*.tap | grep -v '# NOTIMPL$' | head -n 10
fi

step "FORMAT=junit: the untouched exercises' results as JUnit XML (tests/tools/test_junit.sh)"
if sh tests/tools/test_junit.sh build/results/plain/build_stubs; then ok; else bad "JUnit XML"; fi

step "every mutant of the catalogue is caught by its lesson's grade"
if sh src/tools/mutants.sh check; then ok; else bad "a mutant was not caught as its header says"; fi

step "step programs run (reference, plain and ThreadSanitizer builds)"
for san in "" thread; do
	$MAKE -s --no-print-directory progbin IMPL=solutions SANITIZE="$san" >"$log/progbin.txt" 2>&1 ||
		{ bad "step programs do not build"; cat "$log/progbin.txt"; continue; }
	for src in src/steps/*.c; do
		name=$(basename "$src" .c)
		case " $LESSONS " in *" $name "*) ;; *) [ -n "$LESSONS" ] && continue ;; esac
		bin="build/${san:-plain}/solutions/bin/$name"
		runner=$(runner_for "$san")
		# Each program names its own smoke runs in lines "smoke: ARGS".
		sed -n 's/^ \* smoke: //p' "$src" | while IFS= read -r args; do
			if TSAN_OPTIONS="halt_on_error=1" timeout 120 $runner "$bin" $args >"$log/run.txt" 2>&1; then
				echo "  ok  ${san:-plain}  $name $args  ($(tail -n 1 "$log/run.txt"))"
			else
				echo "  FAILED  ${san:-plain}  $name $args"
				tail -n 15 "$log/run.txt"
				echo x >>"$log/run-failures"
			fi
		done
	done
done
if [ -f "$log/run-failures" ]; then
	bad "$(wc -l <"$log/run-failures") step program run(s)"
	rm -f "$log/run-failures"
else
	ok
fi

step "bin/chanbench: both channels (plain and ThreadSanitizer builds)"
for san in "" thread; do
	cb=build/${san:-plain}/solutions/bench/chanbench
	if ! $MAKE -s --no-print-directory "$cb" IMPL=solutions SANITIZE="$san" >"$log/chanbench.txt" 2>&1; then
		bad "chanbench does not build (${san:-plain})"
		cat "$log/chanbench.txt"
		continue
	fi
	# Lesson 14's lock-free channel has no batches: one run, without --batch.
	for run in "$cb" "$cb --impl lockfree"; do
		for args in "--capacity 1 --producers 2 --consumers 2 --messages 20000" \
			"--capacity 4 --producers 3 --consumers 1 --messages 20000 --batch 3"; do
			case "$run $args" in *lockfree*--batch*) continue ;; esac
			if TSAN_OPTIONS="halt_on_error=1" timeout 120 $(runner_for "$san") $run $args >"$log/run.txt" 2>&1 &&
				tail -n 1 "$log/run.txt" | grep -q "^result: ok, impl=.*msgs_per_s="; then
				ok
				echo "  ok  ${san:-plain}  ${run#build/*/solutions/bench/} $args  ($(tail -n 1 "$log/run.txt" | cut -d, -f2))"
			else
				bad "${san:-plain} $run $args"
				tail -n 15 "$log/run.txt"
			fi
		done
	done
done

step "the course's program: logpipe --once, promtool, valgrind"
lp=build/plain/solutions/bin/logpipe
if $MAKE -s --no-print-directory "$lp" IMPL=solutions >"$log/logpipe.txt" 2>&1; then
	if "$lp" --once --file tests/data/sample.log >"$log/once.prom" 2>"$log/once.err"; then
		ok
		echo "  ok  logpipe --once --file tests/data/sample.log ($(grep -c '^logpipe_' "$log/once.prom") logpipe samples)"
	else
		bad "logpipe --once failed"
		cat "$log/once.err"
	fi
	if promtool check metrics <"$log/once.prom" >"$log/promtool.txt" 2>&1; then
		ok
		echo "  ok  promtool check metrics accepts its output"
	else
		bad "promtool check metrics"
		cat "$log/promtool.txt"
	fi
	if valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		"$lp" --once --file tests/data/sample.log >/dev/null 2>"$log/valgrind.txt"; then
		ok
		echo "  ok  valgrind: no error, no leak"
	else
		bad "valgrind on logpipe --once"
		tail -n 30 "$log/valgrind.txt"
	fi
else
	bad "logpipe does not build"
	cat "$log/logpipe.txt"
fi
# More parser workers than cores only contend: logpipe runs one a core
# (said on stderr whenever it runs fewer than asked).
cores=$(nproc) # the CPUs logpipe may run on (process_cpus), as taskset or a cpuset sets them
if "$lp" --once --workers 64 --file tests/data/sample.log >/dev/null 2>"$log/workers.err" &&
	{ [ "$cores" -ge 64 ] || grep -q "on $cores cores: $cores parser workers, one a core" "$log/workers.err"; } &&
	grep -q 'all 41 lines accounted for' "$log/workers.err"; then
	ok
	echo "  ok  logpipe --workers 64: $(grep 'one a core' "$log/workers.err" | sed 's/^logpipe: //')"
else
	bad "logpipe --workers 64 must run one parser worker a core, and say so"
	cat "$log/workers.err"
fi
# Without --workers, one parser worker a core (the fastest), and one with
# --container, which joins pieces of lines in order.
want="$cores parser worker"
fast=$(sed -n 's/^#define PIPELINE_FAST_BATCH //p' src/pipeline.h)
if "$lp" --once --file tests/data/sample.log >/dev/null 2>"$log/default.err" &&
	grep -q "batches of up to $fast, $want" "$log/default.err" &&
	"$lp" --once --container docker --file tests/data/sample.log >/dev/null 2>"$log/container.err" &&
	grep -q "batches of up to $fast, 1 parser worker " "$log/container.err"; then
	ok
	echo "  ok  logpipe's default: $(grep -o "[0-9]* parser workers\{0,1\}" "$log/default.err") on $cores cores, 1 with --container"
else
	bad "logpipe without --workers must run one parser worker a core, and one with --container"
	cat "$log/default.err" "$log/container.err"
fi
# Fused by default (the filter and the metrics stage in the parser's
# workers), apart with --separate-stages: the same counts either way.
# Fused, the parser sends nothing on (its step ends with the tally): its
# send wait is exactly 0, where apart it sends every entry. A slowed stage
# is never fused; --batch 0 is lesson 09's loops, not runners.
counts() { grep -v -e _timestamp_ -e ^process_ -e _stage_blocked_ -e _sum "$1" | sort; }
sent() { sed -n "s/^logpipe_stage_blocked_seconds_total{stage=\"parser\",op=\"send\"} //p" "$1"; }
if "$lp" --once --workers 2 --file tests/data/sample.log >"$log/fused.txt" 2>"$log/fused.err" &&
	"$lp" --once --workers 2 --separate-stages --file tests/data/sample.log >"$log/separate.txt" 2>"$log/separate.err" &&
	"$lp" --once --slow-stage filter:1 --file tests/data/sample.log >/dev/null 2>"$log/slowed.err" &&
	"$lp" --once --batch 0 --file tests/data/sample.log >/dev/null 2>"$log/loops.err" &&
	grep -q '(fused stage runners)' "$log/fused.err" && ! grep -q 'fused' "$log/separate.err" &&
	! grep -q 'fused' "$log/slowed.err" && ! grep -q 'stage runners' "$log/loops.err" &&
	[ "$(sent "$log/fused.txt")" = 0 ] && [ "$(sent "$log/separate.txt")" != 0 ] &&
	[ "$(counts "$log/fused.txt")" = "$(counts "$log/separate.txt")" ] &&
	grep -q 'all 41 lines accounted for' "$log/fused.err" &&
	grep -q 'all 41 lines accounted for' "$log/separate.err"; then
	ok
	echo "  ok  logpipe fused (the parser sends nothing on) and --separate-stages: the same counts; --slow-stage apart; --batch 0 in loops"
else
	bad "logpipe fused and with --separate-stages must say which, send nothing on when fused, and count the same; a slowed stage apart, --batch 0 in loops"
	cat "$log/fused.err" "$log/separate.err" "$log/slowed.err" "$log/loops.err"
	grep 'blocked_seconds' "$log/fused.txt" "$log/separate.txt"
fi
# A learner's logpipe (make demo IMPL=exercises) runs at every point of the
# course: the reference stands in for a lesson whose stubs are still there,
# here every lesson.
lx=build/plain/exercises/bin/logpipe
if $MAKE -s --no-print-directory "$lx" IMPL=exercises >"$log/logpipe-x.txt" 2>&1 &&
	"$lx" --once --file tests/data/sample.log >/dev/null 2>"$log/once-x.err" &&
	! grep -q 'NOT IMPLEMENTED' "$log/once-x.err" && grep -q 'all 41 lines accounted for' "$log/once-x.err"; then
	ok
	echo "  ok  logpipe built with IMPL=exercises from untouched stubs runs the reference for each lesson"
else
	bad "logpipe built with IMPL=exercises from untouched stubs (the reference must stand in for them)"
	cat "$log/logpipe-x.txt" "$log/once-x.err"
fi

step "logpipe on other loggers' JSON and container logs (tests/data/formats)"
if sh src/tools/formats.sh "$lp" >"$log/formats.txt" 2>&1; then
	grep -v ' passed, ' "$log/formats.txt"
else
	cat "$log/formats.txt"
fi
count "$log/formats.txt"

step "logpipe under load: SIGTERM mid-flight, and a short serving run under valgrind"
# At full speed (--rate 0) thousands of lines are inside the channels at
# any moment. SIGTERM must drain them all: exit 0 within 2 s, and no
# "warning" from logpipe's own check of the accounting invariant at exit.
"$lp" --simulate --rate 0 --capacity 64 --listen 127.0.0.1:0 >"$log/load.out" 2>"$log/load.err" &
pid=$!
sleep 1
kill -TERM "$pid"
t0=$(date +%s%N)
waited=0
while kill -0 "$pid" 2>/dev/null && [ $waited -lt 50 ]; do sleep 0.1; waited=$((waited + 1)); done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	bad "logpipe did not exit within 5 s of SIGTERM under load"
fi
wait "$pid"
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ $rc -eq 0 ] && [ $ms -le 2000 ] && ! grep -q warning "$log/load.err"; then
	ok
	echo "  ok  SIGTERM at full speed: exit 0 in ${ms} ms, invariant held ($(tail -n 1 "$log/load.err"))"
else
	bad "SIGTERM under load: exit $rc after ${ms} ms"
	cat "$log/load.err"
fi
# A second SIGTERM abandons the drain (a metrics stage taking 0.1 s an
# item would need minutes): what was in flight is freed and counted as
# discarded, and every line read is still accounted for.
"$lp" --simulate --rate 0 --capacity 64 --slow-stage metrics:100000 --listen 127.0.0.1:0 \
	>"$log/abandon.out" 2>"$log/abandon.err" &
pid=$!
# Each wait polls what logpipe says, with a deadline of 5 s.
waited=0
until grep -q serving "$log/abandon.err" || [ $waited -ge 50 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -TERM "$pid"
until grep -q draining "$log/abandon.err" || [ $waited -ge 100 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -TERM "$pid"
until ! kill -0 "$pid" 2>/dev/null || [ $waited -ge 150 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
rc=$?
if [ $rc -eq 0 ] && grep -q 'cancelled: all [0-9]* lines accounted for, [1-9][0-9]* of them discarded' "$log/abandon.err"; then
	ok
	echo "  ok  a second SIGTERM abandons the drain: $(grep cancelled: "$log/abandon.err")"
else
	bad "a second SIGTERM: exit $rc"
	cat "$log/abandon.err"
fi
# The same under valgrind, serving: started as the demo starts it
# (promlib.sh), scraped once, then SIGTERM; valgrind's status is logpipe's.
(
	. src/tools/promlib.sh
	trap 'cp "$WORK/logpipe.log" "$log/valgrind-serve.txt" 2>/dev/null; lib_stop' EXIT
	lib_init logpipe-check
	LOGPIPE=$lp
	LP_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
	lib_start_logpipe --simulate --rate 2000 || exit 1
	sleep 3 # let lines flow through every stage under valgrind
	curl -sf --max-time 10 "http://127.0.0.1:$LP_PORT/metrics" | grep -q '^logpipe_lines_read_total' || exit 2
	lib_kill "$LP_PID"
	rc=$?
	LP_PID=""
	exit $rc
)
rc=$?
if [ $rc -eq 0 ]; then
	ok
	echo "  ok  valgrind: 3 s serving the simulator, one scrape, SIGTERM: no error, no leak"
else
	bad "valgrind on a serving logpipe (exit $rc; 1: did not serve, 2: no scrape, 99: valgrind errors)"
	tail -n 30 "$log/valgrind-serve.txt" 2>/dev/null
fi

step "hardening: the server under abuse, the tailer under rotation (plain, ASan+UBSan, TSan)"
for san in "" address thread; do
	variant=${san:-plain}
	runner=$(runner_for "$san")
	for t in tests/hardening/test_*.c; do
		name=$(basename "$t" .c)
		bin="build/$variant/solutions/hardening/$name"
		if ! $MAKE -s --no-print-directory "$bin" IMPL=solutions SANITIZE="$san" >"$log/hardening-build.txt" 2>&1; then
			bad "$bin does not build"
			cat "$log/hardening-build.txt"
			continue
		fi
		HARNESS_TIMEOUT=60 TSAN_OPTIONS="halt_on_error=1" $runner "$bin" >"$log/$name-$variant.tap" 2>&1
		n_ok=$(grep -c '^ok' "$log/$name-$variant.tap")
		n_bad=$(grep -c '^not ok' "$log/$name-$variant.tap")
		passed=$((passed + n_ok))
		failed=$((failed + n_bad))
		[ "$n_ok" -gt 0 ] || { failed=$((failed + 1)); echo "  FAILED: $bin ran no test"; }
		echo "  $variant $name: $n_ok passed, $n_bad failed"
		if [ "$n_bad" -gt 0 ] || [ "$n_ok" -eq 0 ]; then
			sed 's/^/    /' "$log/$name-$variant.tap"
		elif [ -z "$san" ]; then
			grep '^  # ' "$log/$name-$variant.tap" | sed 's/^  /    /'
		fi
	done
done

step "the benchmark programs build and agree with logpipe"
# The single-threaded reference of make bench must count what the pipeline
# counts, or its ratio compares different work.
if $MAKE -s --no-print-directory build/plain/solutions/bench/pipebench IMPL=solutions >"$log/bench.txt" 2>&1; then
	r=$(build/plain/solutions/bench/pipebench --mode reference --file tests/data/sample.log | sed -n 's/.*lines=\([0-9]*\).*/\1/p')
	p=$(build/plain/solutions/bench/pipebench --mode pipeline --file tests/data/sample.log | sed -n 's/.*lines=\([0-9]*\).*/\1/p')
	if [ -n "$r" ] && [ "$r" = "$p" ] && [ "$r" = "$(awk '$1 == "lines" { print $2 }' tests/data/sample.expected)" ]; then
		ok
		echo "  ok  pipebench: reference and pipeline both read $r lines of tests/data/sample.log"
	else
		bad "pipebench: reference read ${r:-?} lines, pipeline ${p:-?}"
	fi
else
	bad "the benchmark programs do not build"
	cat "$log/bench.txt"
fi

step "the Prometheus configuration and lesson 10's rules pass promtool check config"
# Both renderings: the realistic rules, and the demo's on its compressed
# clock (lib_render_config in promlib.sh does what the demo does). The
# rules' unit tests are lesson 10's grade (tests/10-prometheus/*.test.yml).
for clock in real fast; do
	cfgdir=$(mktemp -d)
	(
		. src/tools/promlib.sh
		lib_render_config "$cfgdir" '"127.0.0.1:9093"' "$clock" &&
			lib_write_targets "$cfgdir" 127.0.0.1:8479 127.0.0.1:8480
	) && promtool check config "$cfgdir/prometheus.yml" >"$log/promtool-config.txt" 2>&1
	rc=$?
	# The fast clock must really be faster: each substitution took.
	if [ $clock = fast ] && { ! grep -q '\[20s\]' "$cfgdir/rules.yml" || ! grep -q 'for: 10s' "$cfgdir/rules.yml"; }; then
		echo "LIB_FAST_RULES no longer matches solutions/10-prometheus/rules.yml" >>"$log/promtool-config.txt"
		rc=1
	fi
	rm -rf "$cfgdir"
	if [ $rc -eq 0 ]; then
		ok
		echo "  ok  promtool check config (and the rules it loads), $clock clock"
	else
		bad "promtool check config ($clock clock)"
		cat "$log/promtool-config.txt"
	fi
done

step "end to end: logpipe on tests/data/sample.log, scraped by a real Prometheus"
LOGPIPE=$lp sh src/tools/e2e.sh >"$log/e2e.txt" 2>&1
sed '$d; s/^/  /' "$log/e2e.txt" | grep -v '^  ok ' || true
echo "  $(tail -n 1 "$log/e2e.txt")"
count "$log/e2e.txt"

step "make demo, headless (DEMO_SECONDS=4, two logpipes found through targets.json)"
if DEMO_SECONDS=4 timeout 180 $MAKE -s --no-print-directory demo INSTANCES=2 >"$log/demo.txt" 2>&1; then
	ok
	echo "  ok  $(tail -n 1 "$log/demo.txt")"
else
	bad "make demo (DEMO_SECONDS=4 INSTANCES=2)"
	tail -n 20 "$log/demo.txt"
fi

step "everything builds warning-free with clang too"
if command -v clang >/dev/null 2>&1; then
	if $MAKE -s --no-print-directory testbin progbin IMPL=solutions CC=clang BUILDROOT=build/clang >"$log/clang.txt" 2>&1 &&
		$MAKE -s --no-print-directory testbin progbin IMPL=build/stubs CC=clang BUILDROOT=build/clang >>"$log/clang.txt" 2>&1; then
		ok
		echo "  ok"
	else
		bad "clang build"
		head -n 30 "$log/clang.txt"
	fi
else
	echo "  (clang is not installed: skipped)"
fi

step "fuzzing smoke (libFuzzer, 5 s per target)"
if command -v clang >/dev/null 2>&1; then
	if FUZZ_SECONDS=5 sh src/tools/fuzz.sh >"$log/fuzz.txt" 2>&1; then
		ok
		sed 's/^/  /' "$log/fuzz.txt"
	else
		bad "fuzzing found a crash (input under build/fuzz/artifacts-*)"
		cat "$log/fuzz.txt"
	fi
else
	echo "  (clang is not installed: skipped)"
fi

if command -v dot >/dev/null 2>&1; then
	step "diagrams are generated from their sources"
	stale=""
	for f in docs/*.dot; do
		[ -f "$f" ] || continue
		dot -Tsvg "$f" | cmp -s - "${f%.dot}.svg" || stale="$stale ${f%.dot}.svg"
	done
	if [ -z "$stale" ]; then ok; echo "  ok"; else bad "out of date:$stale (make diagrams)"; fi
fi

step "done"
printf 'make check took %ss\n' "$(($(date +%s) - start))"
[ -n "$failed_steps" ] && printf 'failed in:%s\n' "$failed_steps"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
