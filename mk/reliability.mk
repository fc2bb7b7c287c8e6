# Longer runs of the reliability tests than CI's (scripts/test.sh runs the
# short ones):
#   make crashtest   CRASH_ROUNDS crashes (default 10) of
#                    test/concurrency/crash.sh, each after 3..CRASH_MAX_SECONDS
#                    (default 20) seconds of storm, on its own cluster
#   make soak        test/sql/model.sql with MODEL_OPS operations (default
#                    20000) and seed MODEL_SEED (-1..1, default random;
#                    printed, so a failure can be replayed)
#   make contention-soak  test/concurrency/contention.sh with
#                    CONTENTION_CLIENTS (default 16) for CONTENTION_SECONDS
#                    (default 120)
#   make reliability all three
# Each builds and installs the extension first (scripts/lib.sh, like
# scripts/test.sh) and runs on throwaway clusters.
CRASH_ROUNDS ?= 10
CRASH_MAX_SECONDS ?= 20
MODEL_OPS ?= 20000
MODEL_SEED ?=
CONTENTION_CLIENTS ?= 16
CONTENTION_SECONDS ?= 120

.PHONY: crashtest soak contention-soak reliability

crashtest:
	bash -c 'source scripts/lib.sh && credits_setup && \
		CRASH_ROUNDS=$(CRASH_ROUNDS) CRASH_MAX_SECONDS=$(CRASH_MAX_SECONDS) \
		bash test/concurrency/crash.sh'

soak:
	bash -c 'set -euo pipefail; source scripts/lib.sh; credits_setup; cluster_start >/dev/null; \
		seed="$(MODEL_SEED)"; [[ -n $$seed ]] || seed=0.$$RANDOM$$RANDOM; \
		echo "model soak: $(MODEL_OPS) operations, seed $$seed (replay: make soak MODEL_OPS=$(MODEL_OPS) MODEL_SEED=$$seed)"; \
		createdb credits_soak; start=$$SECONDS; \
		psql -X -q -v ON_ERROR_STOP=1 -v model_ops=$(MODEL_OPS) -v model_seed=$$seed -d credits_soak \
			-f test/sql/model.sql >"$$CREDITS_TMP/soak.out" 2>&1 || { cat "$$CREDITS_TMP/soak.out"; exit 1; }; \
		cat "$$CREDITS_TMP/soak.out"; echo "($$((SECONDS - start))s)"; \
		grep -q "model: $(MODEL_OPS) operations, 0 mismatches" "$$CREDITS_TMP/soak.out"'

contention-soak:
	bash -c 'set -euo pipefail; source scripts/lib.sh; credits_setup; cluster_start >/dev/null; \
		CONTENTION_CLIENTS=$(CONTENTION_CLIENTS) CONTENTION_SECONDS=$(CONTENTION_SECONDS) \
		bash test/concurrency/contention.sh'

reliability: crashtest soak contention-soak
