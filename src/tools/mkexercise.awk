# mkexercise.awk - turns a solution file into its exercise stub.
#
# In a solution, the code the learner writes sits between two marker lines,
#     /* BEGIN SOLUTION */   ...   /* END SOLUTION */
# and is dropped. The stub that replaces it sits in a comment,
#     /* STUB   ...   */
# whose lines are kept (without the comment markers), after a TODO line.
# A YAML solution (lesson 10's rules) has the same markers as comments of
# its own, "# BEGIN SOLUTION", "# END SOLUTION", and "# STUB" ... "# END
# STUB", where each line of the stub is a comment whose first "#" is
# dropped.
# Everything else is copied as it is.
BEGIN { skipping = 0; stub = 0; lastblank = 0; removed = 0 }
/^[ \t]*(\/\* BEGIN SOLUTION \*\/|# BEGIN SOLUTION)[ \t]*$/ { skipping = 1; next }
/^[ \t]*(\/\* END SOLUTION \*\/|# END SOLUTION)[ \t]*$/ { skipping = 0; removed = 1; next }
skipping { next }
# A block removed between two blank lines would leave two in a row.
removed && lastblank && /^[ \t]*$/ { removed = 0; next }
{ removed = 0 }
/^[ \t]*(\/\* STUB|# STUB)[ \t]*$/ {
	stub = 1
	yaml = ($0 ~ /# STUB/)
	indent = $0
	sub(/(\/\*|#).*/, "", indent)
	if (yaml)
		print indent "# TODO: replace this stub with your rules (the lesson section is named below)."
	else
		print indent "/* TODO: replace this stub with your code (the lesson section is named below). */"
	lastblank = 0
	next
}
stub && !yaml && /^[ \t]*\*\/[ \t]*$/ { stub = 0; next }
stub && yaml && /^[ \t]*# END STUB[ \t]*$/ { stub = 0; next }
stub && yaml { sub(/# ?/, ""); print; next }
{ print; lastblank = ($0 ~ /^[ \t]*$/) }
END {
	if (skipping) { print "mkexercise: unterminated BEGIN SOLUTION in " FILENAME > "/dev/stderr"; exit 1 }
	if (stub) { print "mkexercise: unterminated STUB in " FILENAME > "/dev/stderr"; exit 1 }
}
