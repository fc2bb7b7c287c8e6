#!/usr/bin/env bash
# tap.sh: the pgTAP suite (test/pgtap) through the coordinator of a
# distributed ledger.  Each file runs as written, in its own transaction
# that it rolls back, except that the ledger it works on is created and
# distributed before (CREATE EXTENSION credits and credits_distribute(),
# which checks the workers over connections of its own, outside any
# transaction of the caller) and dropped after, instead of its CREATE
# EXTENSION credits.  pg_prove runs each file; those listed in
# test/citus/tap/passing must pass, the others are named with their first
# failure (and one that starts to pass is reported, to be added there).  Runs against the coordinator in PGHOST/PGPORT
# (scripts/test.sh citus); leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d /tmp/credits-ctap.XXXXXX)
cleanup() {
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" \
		-c "DROP EXTENSION IF EXISTS pgtap" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
command -v pg_prove >/dev/null || {
	echo "FAIL: pg_prove not found (libtap-parser-sourcehandler-pgtap-perl)"
	exit 1
}

psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" \
	-c "DROP EXTENSION IF EXISTS pgtap" -c "CREATE EXTENSION IF NOT EXISTS citus" >/dev/null
mapfile -t passing < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/tap/passing")
files=() failed=() passed=0
for f in "$root"/test/pgtap/*.sql; do
	grep -q '^CREATE EXTENSION credits;$' "$f" || {
		echo "FAIL: $(basename "$f") has no line 'CREATE EXTENSION credits;' to replace"
		exit 1
	}
	sed -e '/^CREATE EXTENSION credits;$/d' "$f" >"$work/$(basename "$f")"
	files+=("$(basename "$f" .sql)")
done
for p in "${passing[@]}"; do
	[[ -f $root/test/pgtap/$p.sql ]] || {
		echo "FAIL: test/citus/tap/passing names $p, which is not in test/pgtap"
		exit 1
	}
done
for f in "${files[@]}"; do
	psql -c "CREATE EXTENSION credits" -c "SELECT credits_distribute()" >/dev/null
	out=$work/$f.out
	if (cd "$work" && pg_prove --psql-bin "$PGBIN/psql" -d "${PGDATABASE:-postgres}" --failures --nocolor "$f.sql") >"$out" 2>&1; then
		passed=$((passed + 1))
		if printf '%s\n' "${passing[@]}" | grep -qx "$f"; then
			echo "passes distributed: $f"
		else
			echo "passes distributed now, add it to test/citus/tap/passing: $f"
		fi
	else
		first=$(grep -m 1 -E '^# Failed test|ERROR:' "$out" || true)
		if printf '%s\n' "${passing[@]}" | grep -qx "$f"; then
			cat "$out"
			failed+=("$f")
		else
			echo "fails distributed (not yet): $f -- ${first:-see pg_prove}"
		fi
	fi
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION credits CASCADE" >/dev/null
done
if ((${#failed[@]} > 0)); then
	echo "FAIL: required pgTAP files fail through the coordinator: ${failed[*]}"
	exit 1
fi
n=$(psql -c "SELECT count(*) FROM pg_extension WHERE extname IN ('credits', 'pgtap')")
[[ $n == 0 ]] || {
	echo "FAIL: a pgTAP file left an extension behind"
	exit 1
}
echo "PASS: $passed of ${#files[@]} pgTAP files pass through the coordinator (${#passing[@]} required)"
