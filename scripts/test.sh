#!/usr/bin/env bash
# scripts/test.sh: the whole test suite (pg_regress, pgTAP, multi-session tests) on throwaway clusters,
# on every PostgreSQL version of the matrix: 15 on the host, 17 and 18 in Debian roots (scripts/pgroot.sh).
# Usage: scripts/test.sh [all|regress|tap|concurrency|citus]; TESTS="spend grant" limits pg_regress;
# CREDITS_PG_VERSIONS="15" (or "17", "15 18" ...) picks versions: all three by default for "all"
# without TESTS, otherwise 15 alone.  Ends with "N passed, N failed" over every version.
# "citus" builds Citus if needed (scripts/citus.sh), starts a coordinator and two workers on
# loopback and runs test/citus/*.sh through the coordinator (PostgreSQL 15 only); "all" without
# TESTS runs it after the matrix (CREDITS_SKIP_CITUS=1 leaves it out).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

part=${1:-all}
case $part in
all | regress | tap | concurrency | citus) ;;
*)
	echo "usage: $0 [all|regress|tap|concurrency|citus]" >&2
	exit 2
	;;
esac

# The matrix: run this script once per version and add up the results.
if [[ -z ${CREDITS_MATRIX_INNER-} ]]; then
	if [[ $part == all && -z ${TESTS-} ]]; then
		versions=${CREDITS_PG_VERSIONS:-15 17 18}
	else
		versions=${CREDITS_PG_VERSIONS:-$CREDITS_PG_VERSION}
	fi
	total_p=0 total_f=0 summary=()
	for v in $versions; do
		start=$SECONDS
		out=$(mktemp /tmp/credits-matrix.XXXXXX)
		printf '\n##### PostgreSQL %s #####\n' "$v"
		rc=0
		if [[ $v == 15 ]]; then
			CREDITS_MATRIX_INNER=1 CREDITS_PG_VERSION=15 bash "$CREDITS_ROOT/scripts/test.sh" "$part" 2>&1 | tee "$out" || rc=$?
		else
			TESTS="${TESTS-}" credits_run_in_root "$v" scripts/test.sh "$part" 2>&1 | tee "$out" || rc=$?
		fi
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
		rm -f "$out"
		if [[ -z $line ]]; then
			line="0 passed, 1 failed"
		fi
		p=${line%% passed*} f=${line#*, } f=${f%% failed*}
		((rc != 0 && f == 0)) && f=1
		total_p=$((total_p + p)) total_f=$((total_f + f))
		summary+=("PostgreSQL $v: $p passed, $f failed in $((SECONDS - start)) s")
	done
	# Then the Citus cluster (PostgreSQL 15), with the whole suite.
	if [[ $part == all && -z ${TESTS-} && ${CREDITS_SKIP_CITUS-} != 1 ]]; then
		start=$SECONDS
		out=$(mktemp /tmp/credits-matrix.XXXXXX)
		printf '\n##### Citus (PostgreSQL 15) #####\n'
		rc=0
		CREDITS_MATRIX_INNER=1 CREDITS_PG_VERSION=15 bash "$CREDITS_ROOT/scripts/test.sh" citus 2>&1 | tee "$out" || rc=$?
		line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1 || true)
		rm -f "$out"
		[[ -n $line ]] || line="0 passed, 1 failed"
		p=${line%% passed*} f=${line#*, } f=${f%% failed*}
		((rc != 0 && f == 0)) && f=1
		total_p=$((total_p + p)) total_f=$((total_f + f))
		summary+=("Citus, PostgreSQL 15: $p passed, $f failed in $((SECONDS - start)) s")
	fi
	printf '\n##### matrix #####\n'
	printf '%s\n' "${summary[@]}"
	echo
	echo "$total_p passed, $total_f failed"
	((total_f == 0))
	exit
fi

PASSED=0
FAILED=0
VERBOSE=0
[[ ${CI-} == true ]] && VERBOSE=1
DIFF_LINES=300
((VERBOSE)) && DIFF_LINES=3000
# Time limits (seconds) so that a hung test cannot stall CI forever.
REGRESS_TIMEOUT=${CREDITS_REGRESS_TIMEOUT:-1800}
TAP_TIMEOUT=${CREDITS_TAP_TIMEOUT:-1800}
CONCURRENCY_TIMEOUT=${CREDITS_CONCURRENCY_TIMEOUT:-900}
CITUS_TIMEOUT=${CREDITS_CITUS_TIMEOUT:-900}

cd "$CREDITS_ROOT"
shopt -s nullglob

heading() { printf '\n=== %s ===\n' "$*"; }

# Print the end of the server log (useful when tests fail in CI).
server_log_tail() {
	[[ -n ${CREDITS_TMP-} && -f $CREDITS_TMP/postgres.log ]] || return 0
	heading "server log (last 100 lines)"
	tail -n 100 "$CREDITS_TMP/postgres.log"
}

# a. pg_regress through PGXS.  Counts the per-test result lines, e.g.
#    "test amount                        ... ok           12 ms"
#    "test spend                         ... FAILED       30 ms"
run_regress() {
	local out=$CREDITS_TMP/regress.out rc=0 p f tests only=''
	local -a args=(installcheck PG_CONFIG="$PG_CONFIG")
	tests=(test/sql/*.sql)
	if [[ -n ${TESTS-} ]]; then
		# Same (sorted) order as the Makefile's REGRESS: later tests may rely on earlier ones.
		only=$(tr -s ' \t' '\n' <<<"$TESTS" | sed '/^$/d' | sort -u | paste -sd ' ')
		args+=("REGRESS=$only")
	elif ((${#tests[@]} == 0)); then
		heading "pg_regress: no tests in test/sql, skipped"
		return 0
	fi
	heading "pg_regress${only:+ ($only)}"
	rm -f regression.diffs regression.out
	credits_run_limited "$REGRESS_TIMEOUT" make --no-print-directory "${args[@]}" >"$out" 2>&1 || rc=$?
	# Show pg_regress's test lines and summary (from "running regression test
	# queries" on); all of its output if it never got that far.
	if grep -q '^=* running regression test queries' "$out"; then
		sed -n '/^=* running regression test queries/,$p' "$out"
	else
		cat "$out"
	fi

	# PostgreSQL 15 prints "test x ... ok"; 16 and later print TAP, "ok 1 - x" / "not ok 2 - x".
	p=$(grep -cE '^(test +| +)?[^ ]+ +\.\.\. +(ok|failed \(ignored\))( |$)|^ok [0-9]+ +[-+] ' "$out" || true)
	f=$(grep -cE '^(test +| +)?[^ ]+ +\.\.\. +FAILED( |$)|^not ok [0-9]+ +[-+] ' "$out" || true)
	if ((rc != 0 && f == 0)); then
		# pg_regress (or the build) failed before reporting any failing test.
		echo "pg_regress exited with status $rc without reporting a failed test"
		((rc == 124)) && echo "(timed out after ${REGRESS_TIMEOUT}s)"
		f=1
	fi
	if ((f > 0)) && [[ -s regression.diffs ]]; then
		heading "regression.diffs (first $DIFF_LINES lines)"
		head -n "$DIFF_LINES" regression.diffs
	fi
	echo "pg_regress: $p passed, $f failed"
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
}

# b. pgTAP files with pg_prove, each counted as one test.  Failing files are
#    the ones TAP::Harness lists under "Test Summary Report" as
#    "test/pgtap/x.sql (Wstat: 0 Tests: 5 Failed: 1)"; total from "Files=N,".
run_tap() {
	local out=$CREDITS_TMP/tap.out rc=0 n f files
	local -a opts=(--psql-bin "$PGBIN/psql" -d credits_tap --failures --nocolor)
	files=(test/pgtap/*.sql)
	if ((${#files[@]} == 0)); then
		heading "pgTAP: no files in test/pgtap, skipped"
		return 0
	fi
	heading "pgTAP (${#files[@]} files)"
	((VERBOSE)) && opts+=(--comments)
	if ! { dropdb --if-exists credits_tap && createdb credits_tap; } >"$out" 2>&1; then
		cat "$out"
		echo "pgTAP: could not create database credits_tap"
		FAILED=$((FAILED + ${#files[@]}))
		return 0
	fi
	credits_run_limited "$TAP_TIMEOUT" pg_prove "${opts[@]}" "${files[@]}" >"$out" 2>&1 || rc=$?
	cat "$out"
	n=$(sed -nE 's/^Files=([0-9]+),.*/\1/p' "$out" | tail -n 1)
	f=$(sed -n '/^Test Summary Report/,$p' "$out" | grep -cE '^[^ ].* \(Wstat: ' || true)
	if [[ -z $n ]]; then
		# pg_prove died (or timed out) before its summary: count every file as failed.
		echo "pg_prove exited with status $rc without a summary"
		n=${#files[@]} f=${#files[@]}
	elif ((rc != 0 && f == 0)); then
		f=1
	fi
	echo "pgTAP: $((n - f)) passed, $f failed"
	PASSED=$((PASSED + n - f))
	FAILED=$((FAILED + f))
	dropdb --if-exists credits_tap >/dev/null 2>&1 || true
}

# Scripts that are tests: each one passes when it exits 0.
# run_scripts LABEL DIR TIMEOUT DESCRIPTION
run_scripts() {
	local label=$1 dir=$2 timeout=$3 what=$4 script name out rc start scripts
	scripts=("$dir"/*.sh)
	if ((${#scripts[@]} == 0)); then
		heading "$label: no scripts in $dir, skipped"
		return 0
	fi
	heading "$label (${#scripts[@]} scripts$what)"
	for script in "${scripts[@]}"; do
		name=$(basename "$script" .sh)
		out=$CREDITS_TMP/$label-$name.out
		rc=0
		start=$SECONDS
		credits_run_limited "$timeout" bash "$script" >"$out" 2>&1 || rc=$?
		if ((rc == 0)); then
			printf '%s %-*s ... ok     %4ds\n' "$label" $((39 - ${#label})) "$name" $((SECONDS - start))
			PASSED=$((PASSED + 1))
		else
			printf '%s %-*s ... FAILED %4ds (exit %d%s)\n' "$label" $((39 - ${#label})) "$name" \
				$((SECONDS - start)) "$rc" "$( ((rc == 124)) && echo ', timed out')"
			sed 's/^/    | /' "$out"
			FAILED=$((FAILED + 1))
		fi
	done
}

# c. Multi-session scripts.
run_concurrency() { run_scripts concurrency test/concurrency "$CONCURRENCY_TIMEOUT" ''; }

# d. Scripts run against a Citus cluster (coordinator in PGHOST/PGPORT).
run_citus() { run_scripts citus test/citus "$CITUS_TIMEOUT" ', coordinator and 2 workers'; }

if ! credits_setup; then
	echo "setup failed: the extension could not be installed"
	echo "0 passed, 1 failed"
	exit 1
fi
if [[ $part == citus ]]; then
	# shellcheck source=scripts/citus.sh
	source "$CREDITS_ROOT/scripts/citus.sh"
	if ! citus_install; then
		echo "setup failed: Citus could not be installed"
		echo "0 passed, 1 failed"
		exit 1
	fi
	if ! citus_cluster_start; then
		echo "setup failed: the Citus cluster could not be started"
		echo "0 passed, 1 failed"
		exit 1
	fi
	run_citus
	((FAILED > 0 && VERBOSE)) && server_log_tail
	echo
	echo "$PASSED passed, $FAILED failed"
	((FAILED == 0))
	exit
fi
if ! cluster_start; then
	echo "setup failed: the test cluster could not be started"
	echo "0 passed, 1 failed"
	exit 1
fi

[[ $part == all || $part == regress ]] && run_regress
[[ $part == all || $part == tap ]] && run_tap
[[ $part == all || $part == concurrency ]] && run_concurrency

((FAILED > 0 && VERBOSE)) && server_log_tail
echo
echo "$PASSED passed, $FAILED failed"
((FAILED == 0))
