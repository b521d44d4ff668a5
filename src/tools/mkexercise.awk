# mkexercise.awk - turns a solution file into its exercise stub.
#
# In a solution, the code the learner writes sits between two marker lines,
#     /* BEGIN SOLUTION */   ...   /* END SOLUTION */
# and is dropped. The stub that replaces it sits in a comment,
#     /* STUB   ...   */
# whose lines are kept (without the comment markers), after a TODO line.
# Everything else is copied as it is.
BEGIN { skipping = 0; stub = 0; lastblank = 0; removed = 0 }
/^[ \t]*\/\* BEGIN SOLUTION \*\/[ \t]*$/ { skipping = 1; next }
/^[ \t]*\/\* END SOLUTION \*\/[ \t]*$/ { skipping = 0; removed = 1; next }
skipping { next }
# A block removed between two blank lines would leave two in a row.
removed && lastblank && /^[ \t]*$/ { removed = 0; next }
{ removed = 0 }
/^[ \t]*\/\* STUB[ \t]*$/ {
	stub = 1
	indent = $0
	sub(/\/\*.*/, "", indent)
	print indent "/* TODO: replace this stub with your code (the lesson section is named below). */"
	lastblank = 0
	next
}
stub && /^[ \t]*\*\/[ \t]*$/ { stub = 0; next }
{ print; lastblank = ($0 ~ /^[ \t]*$/) }
END {
	if (skipping) { print "mkexercise: unterminated BEGIN SOLUTION in " FILENAME > "/dev/stderr"; exit 1 }
	if (stub) { print "mkexercise: unterminated STUB in " FILENAME > "/dev/stderr"; exit 1 }
}
