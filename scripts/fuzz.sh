#!/usr/bin/env bash
# scripts/fuzz.sh: libFuzzer runs of credit_amount's text input and binary receive (the real src/amount.c).
# Usage: scripts/fuzz.sh [TARGET...] (amount_in, amount_recv; default both), or scripts/fuzz.sh replay TARGET FILE...
# FUZZ_SECONDS per target (default 60); exits non-zero on a finding, kept in fuzz/findings/.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CLANG=${CLANG:-clang}
# FUZZ_MERGE=1 adds the inputs that found new coverage to the seed corpus in
# fuzz/corpus (minimised); by default the repository is left untouched.
FUZZ_MERGE=${FUZZ_MERGE:-0}
ALL_TARGETS=(amount_in amount_recv)

usage() {
	echo "usage: $0 [amount_in|amount_recv ...] | $0 replay TARGET FILE..." >&2
	exit 2
}

# CREDITS_FUZZ_TARGET number and -max_len of each target.
target_number() { case $1 in amount_in) echo 1 ;; amount_recv) echo 2 ;; *) return 1 ;; esac; }
target_max_len() { case $1 in amount_in) echo 4096 ;; *) echo 32 ;; esac; }

mode=run
if [[ ${1-} == replay ]]; then
	mode=replay
	shift
	(($# >= 2)) || usage
fi
targets=("$@")
((${#targets[@]} == 0)) && targets=("${ALL_TARGETS[@]}")
[[ $mode == replay ]] && targets=("$1")
for t in "${targets[@]}"; do
	target_number "$t" >/dev/null || usage
done
[[ $FUZZ_SECONDS =~ ^[0-9]+$ ]] || { credits_err "FUZZ_SECONDS must be a whole number"; exit 2; }

# clang (with its libFuzzer runtime) and the server headers.
CREDITS_PACKAGES=(postgresql-server-dev-15 clang)
credits_install_packages || exit 1
command -v "$CLANG" >/dev/null || { credits_err "$CLANG not found"; exit 1; }
# libFuzzer itself is only recommended by Debian's clang packages.
if [[ $("$CLANG" -print-file-name=libclang_rt.fuzzer-x86_64.a) != /* ]]; then
	CREDITS_PACKAGES=("libclang-rt-$("$CLANG" -dumpversion | cut -d. -f1)-dev")
	credits_install_packages || exit 1
fi

cd "$CREDITS_ROOT"
BUILD=$(mktemp -d /tmp/credits-fuzz.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT

# src/amount.c is compiled as it is; the harness stands in for the server
# functions it calls on the fuzzed paths.  The linker drops the functions
# that are not reached (the numeric casts, aggregates, ...) and with them
# their references to the rest of the server.
CFLAGS=(-g -O1 -fno-omit-frame-pointer
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-ffunction-sections -fdata-sections
	-Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare
	-Wno-missing-field-initializers -Wno-ignored-attributes
	-Isrc -I"$("$PG_CONFIG" --includedir-server)")
LDFLAGS=(-Wl,--gc-sections -Wl,-z,start-stop-gc)

credits_log "building the fuzz targets with $CLANG in $BUILD"
"$CLANG" "${CFLAGS[@]}" -c src/amount.c -o "$BUILD/amount.o"
for t in "${targets[@]}"; do
	"$CLANG" "${CFLAGS[@]}" -DCREDITS_FUZZ_TARGET="$(target_number "$t")" \
		-c fuzz/amount_fuzz.c -o "$BUILD/$t.o"
	"$CLANG" "${CFLAGS[@]}" "${LDFLAGS[@]}" "$BUILD/$t.o" "$BUILD/amount.o" -o "$BUILD/$t"
done

if [[ $mode == replay ]]; then
	shift
	rc=0
	"$BUILD/${targets[0]}" "$@" || rc=$?
	exit "$rc"
fi

mkdir -p fuzz/findings
failed=0
total_runs=0
summary=()
for t in "${targets[@]}"; do
	work=$BUILD/corpus-$t
	log=$BUILD/$t.log
	mkdir -p "$work"
	before=$(find fuzz/findings -maxdepth 1 -name "$t-*" 2>/dev/null | wc -l)
	dict=()
	[[ -f fuzz/$t.dict ]] && dict=(-dict="fuzz/$t.dict")
	credits_log "fuzzing $t for ${FUZZ_SECONDS}s (seeds: fuzz/corpus/$t)"
	rc=0
	# New inputs go to the first corpus directory (a scratch one); the
	# seeds are only read.  -timeout: one input taking over 10 s is a finding.
	"$BUILD/$t" -max_total_time="$FUZZ_SECONDS" -max_len="$(target_max_len "$t")" \
		-timeout=10 -print_final_stats=1 -use_value_profile=1 "${dict[@]}" \
		-artifact_prefix="fuzz/findings/$t-" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
	runs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -n 1)
	runs=${runs:-0}
	total_runs=$((total_runs + runs))
	after=$(find fuzz/findings -maxdepth 1 -name "$t-*" 2>/dev/null | wc -l)
	if ((rc != 0 || after > before)); then
		failed=1
		echo "--- $t: finding (exit $rc); end of the log:"
		grep -vE '^#[0-9]+' "$log" | tail -n 40
		summary+=("$t: $runs executions, FINDING: $(find fuzz/findings -maxdepth 1 -name "$t-*" -newer "$work" | paste -sd ' ')")
	else
		summary+=("$t: $runs executions in ${FUZZ_SECONDS}s, $(find "$work" -type f | wc -l) new corpus inputs, no finding")
	fi
	if [[ $FUZZ_MERGE == 1 ]]; then
		"$BUILD/$t" -merge=1 -max_len="$(target_max_len "$t")" "fuzz/corpus/$t" "$work" >>"$log" 2>&1 || true
	fi
done

rmdir fuzz/findings 2>/dev/null || true
echo
printf '%s\n' "${summary[@]}"
echo "total: $total_runs executions"
if ((failed)); then
	echo "replay a finding with: bash scripts/fuzz.sh replay TARGET fuzz/findings/FILE"
	exit 1
fi
