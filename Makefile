# The course's one build file. `make help` lists what it does.
#
# Layout: src/ holds the contracts (*.h), shared helpers (src/lib) and the
# step programs (src/steps); solutions/NN-name/ and exercises/NN-name/ are
# two implementations of the same contracts; tests/NN-name/ test either.
# Everything is built under build/<variant>/, where the variant is plain,
# thread (ThreadSanitizer) or address (AddressSanitizer + UBSan).

.DEFAULT_GOAL := all
SHELL := /bin/sh

# `CC ?= cc` would do nothing: GNU make already defines CC (origin
# "default"). Only replace the built-in default, never the user's choice.
ifeq ($(origin CC),default)
CC := cc
endif
CFLAGS ?= -O2 -g
LDFLAGS ?=

# What to build and grade: IMPL=exercises (yours) or IMPL=solutions (the
# reference); SANITIZE=thread or SANITIZE=address; LESSON=01 for one lesson.
IMPL ?= exercises
SANITIZE ?=
LESSON ?=

LESSONS := $(sort $(notdir $(patsubst %/,%,$(wildcard solutions/[0-9][0-9]-*/))))
# LESSON=01 selects 01-channel; no LESSON selects them all.
SELECTED := $(if $(LESSON),$(filter $(LESSON)%,$(LESSONS)),$(LESSONS))

ifeq ($(SANITIZE),)
VARIANT := plain
SAN_FLAGS :=
else ifeq ($(SANITIZE),thread)
VARIANT := thread
SAN_FLAGS := -fsanitize=thread -O1 -g
else ifeq ($(SANITIZE),address)
VARIANT := address
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -O1 -g
else
$(error SANITIZE must be empty, thread or address (not "$(SANITIZE)"))
endif

PKGS := libcjson cmocka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARNINGS := -Wall -Wextra -Wpedantic -Werror
ALL_CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -Itests/harness $(WARNINGS) \
	-pthread $(PKG_CFLAGS) $(CFLAGS) $(SAN_FLAGS)
ALL_LDFLAGS := -pthread $(SAN_FLAGS) $(LDFLAGS)
LDLIBS := $(PKG_LIBS) -lm

BUILDROOT ?= build
BUILD := $(BUILDROOT)/$(VARIANT)
IMPL_TAG := $(subst /,_,$(IMPL))
OUT := $(BUILD)/$(IMPL_TAG)

LIB_SRCS := $(wildcard src/lib/*.c)
HARNESS_SRCS := $(wildcard tests/harness/*.c)
# Programs linked with the harness have these pthread calls wrapped
# (tests/harness/interpose.c): perturbation with HARNESS_SEED, lock owners
# for the hung-test report, the clock of every timed wait, the threads
# never joined and the condition variables never destroyed, a look around
# as a chosen mutex is destroyed, a thread start made to fail or to hold
# (interpose.h), and a mutex whose initialisation fails; socket, so that a
# test can make IPv6 sockets start as a machine with bindv6only=1 makes
# them, and count the sockets opened; the allocation functions and
# log_entry_new (whose slab rarely calls malloc), so that a test can make
# them fail; clock_gettime, so that a test can move one
# thread's clock ahead; open, so that a test can rename a file right after
# it is opened; and the channel's wait, chan_cond_wait, so that a
# test can cut a wait short or hold a woken thread
# (tests/harness/chan_testing.h).
TEST_WRAP := $(foreach f,mutex_lock mutex_trylock mutex_unlock cond_init cond_wait cond_timedwait \
	cond_signal cond_broadcast cond_destroy mutex_init mutex_destroy create join,-Wl,--wrap=pthread_$f) \
	-Wl,--wrap=socket -Wl,--wrap=chan_cond_wait -Wl,--wrap=clock_gettime -Wl,--wrap=open \
	$(foreach f,malloc calloc realloc strdup strndup log_entry_new,-Wl,--wrap=$f)
obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

# When lesson $2 is graded, lesson $1's code comes from IMPL if $1 is $2,
# and from the reference otherwise: a broken lesson 01 never fails lesson 04.
impl_of = $(if $(filter $1,$2),$(IMPL),solutions)
component_srcs = $(foreach m,$(LESSONS),$(wildcard $(call impl_of,$m,$1)/$m/*.c))

# Lesson 14's tests stop a thread at chosen points inside the channel
# (src/lfchan.h, LFCHAN_TEST_HOOKS). For its test program only, the
# lesson's own code is compiled a second time with the hooks, so that no
# other program carries them.
TEST_HOOKS := 14-lockfree
hooked_srcs = $(if $(filter $1,$(TEST_HOOKS)),$(wildcard $(IMPL)/$1/*.c))
$(BUILD)/objhooks/%.o: %.c | deps-present
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -DLFCHAN_TEST_HOOKS -MMD -MP -c $< -o $@

# One test program and one step program per lesson.
define lesson_rules
$(OUT)/tests/$1: $(call obj,$(wildcard tests/$1/*.c) $(HARNESS_SRCS) $(LIB_SRCS) \
	$(filter-out $(call hooked_srcs,$1),$(call component_srcs,$1))) \
	$(patsubst %.c,$(BUILD)/objhooks/%.o,$(call hooked_srcs,$1))
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) $$(TEST_WRAP) -o $$@ $$^ $$(LDLIBS)
$(OUT)/bin/$1: $(call obj,$(wildcard src/steps/$1.c) $(LIB_SRCS) $(call component_srcs,$1))
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) -o $$@ $$^ $$(LDLIBS)
endef
$(foreach l,$(LESSONS),$(eval $(call lesson_rules,$l)))

$(BUILD)/obj/%.o: %.c | deps-present
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

# The hardening suite (one program per tests/hardening/test_*.c) and the
# benchmark programs (src/bench/*.c) are built from IMPL's code for every
# lesson, like logpipe: $(OUT)/hardening and $(OUT)/bench. Not lessons and
# not graded; make check runs the hardening suite on the reference, make
# bench the benchmarks (src/tools/bench.sh). With LESSON=NN they are also
# built in $(OUT)/hardening-NN and $(OUT)/bench-NN, from IMPL's code for
# lesson NN and the reference for the others, as the tests are (make
# chanbench; the hardening measures a lesson quotes).
# $1: the kind (hardening, bench); $2: its sources; $3: the directory's
# suffix; $4: the lessons whose code comes from IMPL; $5: extra link flags.
define suite_rules
$(OUT)/$1$3/%: $(call obj,$2 $(LIB_SRCS) \
	$(foreach m,$(LESSONS),$(wildcard $(call impl_of,$m,$4)/$m/*.c)))
	@mkdir -p $$(@D)
	$$(CC) $$(ALL_LDFLAGS) $5 -o $$@ $$^ $$(LDLIBS)
endef
$(eval $(call suite_rules,hardening,tests/hardening/%.c $(HARNESS_SRCS),,$(LESSONS),$$(TEST_WRAP)))
$(eval $(call suite_rules,bench,src/bench/%.c,,$(LESSONS)))
$(if $(LESSON),$(eval $(call suite_rules,hardening,tests/hardening/%.c $(HARNESS_SRCS),-$(LESSON),$(SELECTED),$$(TEST_WRAP))))
$(if $(LESSON),$(eval $(call suite_rules,bench,src/bench/%.c,-$(LESSON),$(SELECTED))))

# Only the dependency files of this variant's shared code and of IMPL's: every
# build/ variant's, or every planted mutant's, would make each make call
# (grade.sh makes several) read them all (0.4 s a call by the end of make check).
-include $(shell find $(addprefix $(BUILD)/obj/,src tests solutions $(IMPL)) \
	$(BUILD)/objhooks/$(IMPL) -name '*.d' 2>/dev/null)

# The course's program, bin/logpipe, is built from IMPL's code for every
# lesson (IMPL=solutions: the reference one); with LESSON=NN, from IMPL's
# code for that lesson and the reference for the others, as the tests are
# (build/.../bin/logpipe-NN, so the two kinds never mix). With
# IMPL=exercises, a lesson whose files still call NOT_IMPLEMENTED is one
# the learner has not written: the reference stands in for it, so that
# logpipe (and make demo) runs at every point of the course, with the
# learner's code wherever there is some.
STUBBED = $(if $(filter exercises,$(IMPL)),$(sort $(patsubst exercises/%/,%,$(dir \
	$(shell grep -lw 'NOT_IMPLEMENTED' exercises/*/*.c 2>/dev/null)))))
LOGPIPE_OWN = $(if $(LESSON),$(SELECTED),$(filter-out $(STUBBED),$(LESSONS)))
LOGPIPE_SRCS = src/logpipe.c $(LIB_SRCS) \
	$(foreach m,$(LESSONS),$(wildcard $(if $(filter $m,$(LOGPIPE_OWN)),$(IMPL),solutions)/$m/*.c))
LOGPIPE_BIN = $(OUT)/bin/logpipe$(if $(LESSON),-$(LESSON))
LOGPIPE_MIX = $(IMPL) for $(or $(LOGPIPE_OWN),no lesson) and the reference for $(STUBBED), not written yet
LOGPIPE_FROM = $(if $(LESSON),$(IMPL) for lesson $(LESSON) and the reference for the others,$(if $(STUBBED),$(LOGPIPE_MIX),$(IMPL)))
$(LOGPIPE_BIN): $(call obj,$(LOGPIPE_SRCS))
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS)

## chanbench: build bin/chanbench from IMPL's code: --impl plain (lesson 01's channel)
##            or lockfree (lesson 14's) (LESSON=NN: your lesson NN, the reference for the others)
CHANBENCH_DIR = $(OUT)/bench$(if $(LESSON),-$(LESSON))
chanbench: $(CHANBENCH_DIR)/chanbench
	@mkdir -p bin && cp $^ bin/ && \
		echo "built bin/chanbench from $(if $(LESSON),$(IMPL) for lesson $(LESSON) and the reference for the others,$(IMPL))"

STEP_PROGRAMS := $(filter $(patsubst src/steps/%.c,%,$(wildcard src/steps/*.c)),$(SELECTED))

.PHONY: all testbin chanbench progbin logpipe bin/logpipe test check hint run demo e2e bench exercises doctor deps deps-present \
	broken mutants snippets diagrams format fuzz clean help

## all: build every test and step program (yours and the reference), and bin/logpipe
all:
	@$(MAKE) --no-print-directory testbin progbin logpipe IMPL=solutions
	@$(MAKE) --no-print-directory testbin progbin IMPL=exercises

testbin: $(addprefix $(OUT)/tests/,$(SELECTED))
progbin: $(addprefix $(OUT)/bin/,$(STEP_PROGRAMS))

## logpipe: build bin/logpipe from IMPL's code (IMPL=solutions for the reference;
##          LESSON=NN: your lesson NN, the reference for the others)
logpipe bin/logpipe: $(LOGPIPE_BIN)
	@mkdir -p bin && cp $< bin/logpipe && echo "built bin/logpipe from $(LOGPIPE_FROM)"

## test: grade your exercises (LESSON=NN, IMPL=solutions, SANITIZE=thread|address, VERBOSE=1, FORMAT=tap|junit;
##       SEED=n replays a perturbed run, PERTURB=N runs N perturbed rounds)
test: deps-present
	@IMPL='$(IMPL)' SANITIZE='$(SANITIZE)' LESSON='$(LESSON)' LESSONS='$(SELECTED)' \
		VERBOSE='$(VERBOSE)' FORMAT='$(FORMAT)' SEED='$(SEED)' PERTURB='$(PERTURB)' \
		MAKE='$(MAKE)' sh src/tools/grade.sh

## check: the project's own test: every solution (plain, ASan+UBSan, TSan, valgrind), every stub
check: deps-present
	@LESSONS='$(SELECTED)' MAKE='$(MAKE)' sh src/tools/check.sh

## hint: the next hint for a lesson (LESSON=NN; N=k for a given one)
hint:
	@sh src/tools/hint.sh '$(LESSON)' '$(N)'

## run: run a lesson's step program (LESSON=NN ARGS='...'), built from IMPL; only the
##      program writes to stdout, so its output can be piped
run:
	@test -n "$(LESSON)" || { echo "usage: make run LESSON=NN [ARGS='...']"; exit 2; }
	@test -n "$(STEP_PROGRAMS)" || { echo "lesson $(LESSON) has no program (src/steps/$(LESSON)-*.c)"; exit 2; }
	@$(MAKE) -s --no-print-directory progbin LESSON='$(LESSON)' IMPL='$(IMPL)' SANITIZE='$(SANITIZE)' >&2
	@./$(OUT)/bin/$(firstword $(STEP_PROGRAMS)) $(ARGS)

# The demo and the end-to-end test run the reference logpipe unless IMPL is
# given on the command line (make demo IMPL=exercises: yours).
DEMO_IMPL := $(if $(filter command line,$(origin IMPL)),$(IMPL),solutions)
DEMO_BIN := $(BUILD)/$(subst /,_,$(DEMO_IMPL))/bin/logpipe$(if $(LESSON),-$(LESSON))
# The rules Prometheus loads come from the same place as lesson 10's code.
DEMO_RULES = $(if $(filter 10-prometheus,$(LOGPIPE_OWN)),$(DEMO_IMPL),solutions)/10-prometheus/rules.yml

## demo: logpipe on simulated logs, scraped by a real Prometheus (Ctrl-C stops;
##       DEMO_SECONDS=20 runs headless and draws charts into build/demo/;
##       INSTANCES=3: three logpipes; SCENARIO=incident: alerts fire, headless;
##       DEMO_ARGS='...': more logpipe options; IMPL=exercises: every lesson you wrote
##       yours (the reference for a lesson whose stubs are still there);
##       IMPL=exercises LESSON=NN: your lesson NN, the reference for the others; the
##       rules Prometheus loads are lesson 10's, yours when lesson 10 is)
demo: deps-present
	@$(MAKE) -s --no-print-directory $(DEMO_BIN) IMPL=$(DEMO_IMPL)
	@$(if $(filter command line,$(origin IMPL)),echo "logpipe built from $(LOGPIPE_FROM)",:)
	@LOGPIPE=$(DEMO_BIN) RULES='$(DEMO_RULES)' DEMO_SECONDS='$(DEMO_SECONDS)' DEMO_ARGS='$(DEMO_ARGS)' \
		INSTANCES='$(INSTANCES)' SCENARIO='$(SCENARIO)' sh src/tools/demo.sh

## e2e: the end-to-end test: logpipe on tests/data/sample.log, scraped by Prometheus,
##      every count checked through Prometheus' query API (IMPL=exercises: yours)
e2e: deps-present
	@$(MAKE) -s --no-print-directory $(DEMO_BIN) IMPL=$(DEMO_IMPL)
	@$(if $(filter command line,$(origin IMPL)),echo "logpipe built from $(LOGPIPE_FROM)",:)
	@LOGPIPE=$(DEMO_BIN) sh src/tools/e2e.sh

## exercises: regenerate the exercise stubs from the solutions (FORCE=1 overwrites edited ones)
exercises:
	@FORCE='$(FORCE)' sh src/tools/exercises.sh write

## broken: build and grade a lesson's classic mistake (LESSON=NN BUG=name; no BUG lists them)
broken: deps-present
	@LESSON='$(LESSON)' SANITIZE='$(SANITIZE)' MAKE='$(MAKE)' sh src/tools/mutants.sh $(if $(BUG),show '$(BUG)',list)

## mutants: plant every classic mistake of the catalogue (lessons/NN-*/broken) and check that
##          its lesson's grade catches it, with the test its header names (LESSON=NN: one lesson)
mutants: deps-present
	@LESSON='$(LESSON)' MAKE='$(MAKE)' sh src/tools/mutants.sh check

## snippets: rewrite the code quoted in lessons from its sources
snippets:
	@sh src/tools/snippets.sh update

## diagrams: regenerate docs/*.svg from docs/*.dot (needs graphviz)
diagrams:
	@for f in docs/*.dot; do dot -Tsvg "$$f" -o "$${f%.dot}.svg" && echo "wrote $${f%.dot}.svg"; done

## bench: channel and pipeline throughput as ratios measured in one run (BENCH_RUNS=3)
bench: deps-present
	@MAKE='$(MAKE)' sh src/tools/bench.sh

## fuzz: fuzz the HTTP and log-line parsers and the label escaper with libFuzzer
##       (clang; FUZZ_SECONDS=30 per target; skipped without clang)
fuzz:
	@FUZZ_SECONDS='$(FUZZ_SECONDS)' sh src/tools/fuzz.sh

## doctor: say what is missing from this machine
doctor:
	@sh src/tools/doctor.sh

## deps: install what is missing (Debian/Ubuntu as root), or print the command
deps:
	@sh src/tools/deps.sh install

deps-present:
	@sh src/tools/deps.sh ensure

## format: clang-format every C file
format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build

help:
	@sed -n 's/^## //p' Makefile
