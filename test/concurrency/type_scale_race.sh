#!/usr/bin/env bash
# type_scale_race.sh: a credit type's scale cannot change while anything of
# the type exists -- not even something a transaction is still creating.
#
# Each round: session A creates an amount of 1.5 of a type counted in tenths
# (a grant, grant_many, a rule, a package, a subscription) inside an open
# transaction; session B tries to change the type's scale to whole units and
# must wait; A commits and B fails with 22023 (A rolls back: B succeeds).
# Then the other order: B changes the scale and keeps its transaction open,
# A's grant of 1.5 waits, B commits, A fails with 22023.  Once with B in
# REPEATABLE READ, whose snapshot predates A's commit.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=credits_type_scale_race_$$
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
source "$here/sessions.bash"
cleanup() {
	sessions_cleanup
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
psql -c "CREATE EXTENSION credits" >/dev/null || fail "could not set up the database"

# Wait until session $1's output has a line matching $2 (up to 20 s).
wait_for() {
	local i
	for ((i = 0; i < 400; i++)); do
		session_out "$1" | grep -q "$2" && return 0
		sleep 0.05
	done
	return 1
}

# Is exactly one session of the database waiting for a lock?
one_waiting() {
	[[ $(psql -At -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1 ]]
}

round=0
# scale_change_waits TYPE CREATE_SQL [END] [ISOLATION]: A runs CREATE_SQL in an
# open transaction, B's scale change waits, A ends with END (COMMIT).
scale_change_waits() {
	local type=$1 create=$2 end=${3:-COMMIT} iso=${4:-READ COMMITTED} a b
	round=$((round + 1))
	a=A$round b=B$round
	psql -c "SELECT credits_define_type('$type', 'tenths', 1)" >/dev/null
	session_open "$a"
	session_open "$b"
	session_run "$a" "\\set VERBOSITY sqlstate
		BEGIN; $create; SELECT 'created';" || fail "$type: A did not finish"
	session_out "$a" | grep -q "^created$" || { session_out "$a"; fail "$type: A could not create"; }
	session_run "$b" "\\set VERBOSITY sqlstate
		BEGIN ISOLATION LEVEL $iso; SELECT count(*) >= 0 AS snapshot FROM credits.credit_types;" \
		|| fail "$type: B did not start"
	if session_run "$b" "SELECT credits_define_type('$type', 'units', 0); SELECT 'changed'; COMMIT;
		\\echo B-finished" 1; then
		session_out "$b"
		fail "$type: the scale change did not wait for A's open transaction"
	fi
	one_waiting || fail "$type: expected B waiting on a lock"
	session_run "$a" "$end;" || fail "$type: A's $end hung"
	wait_for "$b" "^B-finished" || { session_out "$b"; fail "$type: B did not finish"; }
	if [[ $end == COMMIT ]]; then
		session_out "$b" | grep -q "^ERROR:  22023$" || { session_out "$b"; fail "$type: B did not get 22023"; }
		[[ $(psql -At -c "SELECT scale FROM credits.credit_types WHERE code = '$type'") == 1 ]] \
			|| fail "$type: the scale changed"
	else
		session_out "$b" | grep -q "^changed$" || { session_out "$b"; fail "$type: B could not change the scale after A rolled back"; }
	fi
	session_close "$a"
	session_close "$b"
	echo "$type: $create ($end, B $iso): the scale change waited and $([[ $end == COMMIT ]] && echo failed || echo succeeded)"
}

scale_change_waits T1 "SELECT credits_grant('a-1', '1.5', 'T1')"
scale_change_waits T2 "SELECT credits_grant_many(ARRAY['a-1', 'a-2'], '1.5', 'T2')"
scale_change_waits T3 "SELECT credits_define_rule('tutoring', '1.5', 'add', credit_type => 'T3')"
scale_change_waits T4 "SELECT credits_define_package('Half', '1.5', 'USD', 5, credit_type => 'T4')"
scale_change_waits T5 "SELECT credits_subscribe('a-1', '1.5', '1 month', credit_type => 'T5', starts_at => now() + interval '1 day')"
scale_change_waits T6 "SELECT credits_grant('a-1', '1.5', 'T6')" COMMIT "REPEATABLE READ"
scale_change_waits T7 "SELECT credits_grant('a-1', '1.5', 'T7')" ROLLBACK

# The other order: the scale change is first; a grant waits for it and then
# sees the new scale.
psql -c "SELECT credits_define_type('T8', 'tenths', 1)" >/dev/null
session_open A
session_open B
session_run B "\\set VERBOSITY sqlstate
	BEGIN; SELECT credits_define_type('T8', 'units', 0); SELECT 'changed';" || fail "T8: B did not finish"
session_out B | grep -q "^changed$" || { session_out B; fail "T8: B could not change the scale"; }
if session_run A "\\set VERBOSITY sqlstate
	SELECT credits_grant('a-1', '1.5', 'T8'); \\echo A-finished" 1; then
	session_out A
	fail "T8: the grant did not wait for the scale change"
fi
one_waiting || fail "T8: expected A waiting on a lock"
session_run B "COMMIT;" || fail "T8: B's commit hung"
wait_for A "^A-finished" || { session_out A; fail "T8: A did not finish"; }
session_out A | grep -q "^ERROR:  22023$" || { session_out A; fail "T8: the grant of 1.5 was not refused at the new scale"; }
echo "T8: a grant of 1.5 waited for the scale change to whole units, then failed 22023"

lots=$(psql -At -c "SELECT count(*) FROM credits.lot WHERE credit_type = 'T8'")
[[ $lots == 0 ]] || fail "T8: a lot was granted"
problems=$(psql -At -c "SELECT count(*) FROM credits_verify()")
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
