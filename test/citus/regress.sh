#!/usr/bin/env bash
# regress.sh: the pg_regress suite (test/sql) through the coordinator of a
# distributed ledger.  Each test runs as written, but right after its
# CREATE EXTENSION credits the ledger is distributed (SELECT
# credits_distribute()), its DROP EXTENSION says CASCADE (the coordinator
# holds placements of the reference tables, which depend on the schema),
# and the roles it creates may log in (Citus connects to the workers as
# the calling role).  Its output is compared with the single-node expected
# output, changed the same way.
#
# The tests listed in test/citus/regress/passing must match; this script
# fails if one does not.  The others still differ distributed (the README
# says what is not yet routable): each is run and named with its first
# unexpected error, and one that starts to match is reported, to be added
# to the list.
#
# Runs against the coordinator in PGHOST/PGPORT (scripts/test.sh citus);
# leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
work=$(mktemp -d /tmp/credits-cregress.XXXXXX)
chmod 777 "$work"
cleanup() {
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true
	if [[ ${KEEP_RESULTS-} == 1 ]]; then
		echo "results kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT

pg_regress=$(dirname "$("$PGBIN/pg_config" --pgxs)")/../test/regress/pg_regress
[[ -x $pg_regress ]] || {
	echo "FAIL: pg_regress not found at $pg_regress"
	exit 1
}

# The tests and their expected output, changed for a distributed ledger.
mkdir -p "$work/in/sql" "$work/in/expected"
cp -r "$root/test/sql/include" "$work/in/sql/"
distributed() {
	sed -e 's|^CREATE EXTENSION credits;$|&\nSELECT credits_distribute() \\g /dev/null|' \
		-e 's|^DROP EXTENSION credits;$|SET client_min_messages = warning; DROP EXTENSION credits CASCADE; RESET client_min_messages;|' \
		-e 's/\bNOLOGIN\b/LOGIN/g' \
		-e 's/^\(CREATE ROLE [A-Za-z_0-9]*\)\( IN ROLE\|;\)/\1 LOGIN\2/' "$1"
}
tests=()
for f in "$root"/test/sql/*.sql; do
	t=$(basename "$f" .sql)
	tests+=("$t")
	distributed "$f" >"$work/in/sql/$t.sql"
	distributed "$root/expected/$t.out" >"$work/in/expected/$t.out"
done
mapfile -t passing < <(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$here/regress/passing")

psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null
# (the paths the tests name, test/sql/include/..., are relative to the root)
(cd "$root" && "$pg_regress" --use-existing --dbname="${PGDATABASE:-postgres}" \
	--inputdir="$work/in" --outputdir="$work" "${tests[@]}") >"$work/out" 2>&1 || true

# A test matches when its output does, but for the warnings Citus gives
# when a test creates a function of its own (in pg_temp, or over a table
# of its own) that it does not send to the workers.
citus_warnings() {
	awk '/^(psql:[^ ]*: )?WARNING:  .* has dependency (on unsupported object|to .* that is not in Citus. metadata)/ { skip = 1; next }
		skip && /^DETAIL:  .* will be created only locally/ { skip = 0; next }
		{ skip = 0; print }' "$1"
}
failed=0 matched=()
: >"$work/differences"
for t in "${tests[@]}"; do
	[[ -f $work/results/$t.out ]] || continue
	if diff -u "$work/in/expected/$t.out" <(citus_warnings "$work/results/$t.out") >"$work/$t.diff"; then
		matched+=("$t")
	else
		cat "$work/$t.diff" >>"$work/differences"
	fi
done
for t in "${passing[@]}"; do
	if [[ " ${matched[*]} " != *" $t "* ]]; then
		echo "FAIL: $t no longer matches its single-node output distributed:"
		head -n 60 "$work/$t.diff"
		failed=1
	fi
done
for t in "${tests[@]}"; do
	[[ " ${passing[*]} " == *" $t "* ]] && continue
	if [[ " ${matched[*]} " == *" $t "* ]]; then
		echo "note: $t now matches distributed: add it to test/citus/regress/passing"
	else
		first=$(grep -m1 -E '^\+(ERROR|WARNING):' "$work/$t.diff" | cut -c2- || true)
		echo "differs distributed (not yet routable): $t${first:+ -- $first}"
	fi
done
((failed == 0)) || exit 1
echo "PASS: ${#matched[@]} of ${#tests[@]} regression tests match distributed (${#passing[@]} required)"
