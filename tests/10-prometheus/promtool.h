/*
 * promtool.h - lesson 10's rules, graded by promtool.
 *
 * The learner's exercise is a rules file, exercises/10-prometheus/rules.yml
 * (the reference: solutions/10-prometheus/rules.yml). Its unit tests are
 * promtool's, one file per behaviour: tests/10-prometheus/NAME.test.yml,
 * input series written by hand, and the values the recording rules must
 * store and the alerts that must fire, when. Each test file names the
 * learner's rules as its rule file, so it also runs alone:
 *     promtool test rules tests/10-prometheus/NAME.test.yml
 * A test of the test program runs one such file on the rules of the
 * implementation being graded, so that the scoreboard, TAP, JUnit and the
 * mutant catalogue see each file as one test.
 */
#ifndef PROMTOOL_H
#define PROMTOOL_H

/*
 * Runs tests/10-prometheus/FILE with promtool on the rules of the graded
 * implementation ($HARNESS_IMPL/10-prometheus/rules.yml, "exercises" when
 * the variable is not set). rules is a NULL-terminated list of the record
 * and alert names the file tests: while one of them is missing from the
 * rules file, the test stops as NOT IMPLEMENTED, pointing at section. The
 * test fails with promtool's own report when a test of the file fails,
 * and with a message saying how to install it when promtool is missing.
 */
void promtool_test(const char *file, const char *section, const char *const *rules);

#endif
