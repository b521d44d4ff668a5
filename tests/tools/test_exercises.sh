#!/bin/sh
# test_exercises.sh - `make exercises` never loses a learner's work. In a
# scratch git repository holding the generator and two lessons: an exercise
# edited and committed survives a regeneration, one edited and not
# committed survives too, an untouched stub follows its changed solution,
# and FORCE=1 overwrites. Prints "ok" lines; exits non-zero on a failure.
set -u
top=$(pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
check() { # description, then a command that must succeed
	what=$1
	shift
	if "$@"; then echo "  ok  $what"; else echo "  FAILED: $what"; status=1; fi
}

mkdir -p "$dir/src/tools" "$dir/solutions" &&
	cp src/tools/exercises.sh src/tools/mkexercise.awk "$dir/src/tools/" &&
	cp -R solutions/01-channel solutions/02-select "$dir/solutions/" || exit 1
cd "$dir" || exit 1
git init -q . && git config user.email t@example.org && git config user.name t
sh src/tools/exercises.sh write >/dev/null || exit 1
git add -A && git commit -qm "stubs" || exit 1

# The learner finishes lesson 01 and commits it; lesson 02 is left alone.
cp solutions/01-channel/channel.c exercises/01-channel/channel.c
cp exercises/01-channel/channel.c mine.c
git commit -qam "my channel"
# The course changes both solutions (a comment the stubs keep).
for f in solutions/01-channel/channel.c solutions/02-select/select.c; do
	printf '/* changed */\n' >>"$f"
done
git commit -qam "new solutions"
sh src/tools/exercises.sh write >out.txt
check "a finished exercise, committed, is kept" cmp -s mine.c exercises/01-channel/channel.c
check "and make exercises says so" grep -q 'kept exercises/01-channel/channel.c' out.txt
check "an untouched stub follows its solution" sh -c 'tail -n 1 exercises/02-select/select.c | grep -q changed'

# An edit not yet committed is kept as well.
printf '/* mine */\n' >>exercises/02-select/select.c
printf '/* again */\n' >>solutions/02-select/select.c
sh src/tools/exercises.sh write >/dev/null
check "an edit not committed is kept" sh -c 'tail -n 1 exercises/02-select/select.c | grep -q mine'

FORCE=1 sh src/tools/exercises.sh write >/dev/null
check "FORCE=1 overwrites" sh -c 'awk -f src/tools/mkexercise.awk solutions/01-channel/channel.c | cmp -s - exercises/01-channel/channel.c'
cd "$top" || exit 1
exit $status
