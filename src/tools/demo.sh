#!/bin/sh
# demo.sh - until the Prometheus demo exists (lesson 09), the demo is the
# latest lesson's step program, built from the reference, run with its first
# smoke arguments (the " * smoke: ARGS" lines of src/steps/NN-topic.c).
set -u
last=$(ls src/steps/[0-9][0-9]-*.c 2>/dev/null | sort | tail -n 1)
[ -n "$last" ] || { echo "no step program yet"; exit 1; }
name=$(basename "$last" .c)
args=$(sed -n 's/^ \* smoke: //p' "$last" | head -n 1)
echo "demo: the latest lesson's program, $name, on the reference code"
echo "\$ build/plain/solutions/bin/$name $args"
exec "build/plain/solutions/bin/$name" $args
