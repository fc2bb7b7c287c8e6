#!/usr/bin/env bash
# accept_race.sh: two sessions accept the same credit request at once; the
# request grants exactly once and the other session gets CR005.
#
# Part 1, 20 rounds with a barrier: session A accepts inside an open
# transaction (holding the request row), session B tries meanwhile and must
# wait; A commits and B gets CR005 -- or, every fifth round, A rolls back
# and B's accept is the one that grants.
# Part 2, a free-for-all: four pgbench clients accept 20 requests in random
# order, 200 attempts; every request ends with exactly one lot.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=credits_accept_race_$$
ROUNDS=20
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
here=$(cd "$(dirname "$0")" && pwd)
source "$here/sessions.bash"
WORK=$(mktemp -d)
cleanup() {
	sessions_cleanup
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
psql -c "CREATE EXTENSION credits" \
	 -c "SELECT credits_define_package('Starter', 500, 'USD', 50.00)" >/dev/null \
	|| fail "could not set up the database"

# Wait until session $1's output has a line matching $2 (up to 20 s).
wait_for() {
	local i
	for ((i = 0; i < 400; i++)); do
		session_out "$1" | grep -q "$2" && return 0
		sleep 0.05
	done
	return 1
}

session_open A
session_open B
session_run A "SET client_min_messages = notice;" || fail "session A did not start"
session_run B "SET client_min_messages = notice;" || fail "session B did not start"

for ((round = 1; round <= ROUNDS; round++)); do
	account="race-$round"
	request=$(psql -At -c "SELECT request_id FROM credits_purchase('$account', 'Starter', 'bank_transfer')") \
		|| fail "round $round: credits_purchase failed"
	[[ $request =~ ^[0-9]+$ ]] || fail "round $round: no request ($request)"

	# A takes the request row lock and keeps its transaction open.
	session_run A "BEGIN; SELECT 'A $round lot ' || credits_accept_request($request);" \
		|| fail "round $round: A's accept did not finish"
	session_out A | grep -q "^A $round lot [0-9]" || { session_out A; fail "round $round: A did not accept"; }

	# B tries meanwhile; it must wait for A.
	if session_run B "DO \$\$ BEGIN
		PERFORM credits_accept_request($request);
		RAISE NOTICE 'B % accepted', $round;
	EXCEPTION WHEN SQLSTATE 'CR005' THEN
		RAISE NOTICE 'B % CR005', $round;
	END \$\$;" 1; then
		session_out B
		fail "round $round: B did not wait for A's lock"
	fi
	waiting=$(psql -At -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'")
	[[ $waiting == 1 ]] || fail "round $round: expected B waiting on a lock, found $waiting"

	if ((round % 5 == 0)); then
		session_run A "ROLLBACK;" || fail "round $round: A's rollback hung"
		wait_for B "B $round accepted" || { session_out B; fail "round $round: B did not accept after A rolled back"; }
	else
		session_run A "COMMIT;" || fail "round $round: A's commit hung"
		wait_for B "B $round CR005" || { session_out B; fail "round $round: B did not get CR005"; }
	fi

	result=$(psql -At -F' ' -c "
		SELECT (SELECT count(*) FROM credits.lot WHERE account = '$account'),
			   credits_balance('$account'),
			   (SELECT status FROM credits_requests('$account'))")
	[[ $result == "1 500 accepted" ]] || fail "round $round: expected one lot of 500, accepted; got $result"
done
echo "barrier rounds: $ROUNDS passed (each granted once; B got CR005, or granted after A rolled back)"

# Part 2: a free-for-all over 20 requests.
psql -c "CREATE TABLE attempt (request_id bigint, outcome text)" \
	 -c "SELECT credits_purchase('ffa-' || i, 'Starter', 'crypto') FROM generate_series(1, 20) i" >/dev/null \
	|| fail "could not create the free-for-all requests"
first=$(psql -At -c "SELECT min(request_id) FROM credits_requests(status => 'pending')")
cat >"$WORK/accept.sql" <<SQL
\set r random($first, $((first + 19)))
DO \$\$
BEGIN
	PERFORM credits_accept_request(:r);
	INSERT INTO attempt VALUES (:r, 'accepted');
EXCEPTION WHEN SQLSTATE 'CR005' THEN
	INSERT INTO attempt VALUES (:r, 'CR005');
END
\$\$;
SQL
"$PGBIN/pgbench" -n -c 4 -j 4 -t 50 -f "$WORK/accept.sql" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 200/200" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every attempt completed"; }
result=$(psql -At -F' ' -c "
	SELECT count(DISTINCT request_id) FILTER (WHERE outcome = 'accepted'),
		   count(*) FILTER (WHERE outcome = 'accepted'),
		   count(*) FILTER (WHERE outcome = 'CR005'),
		   (SELECT count(*) FROM credits.lot WHERE account LIKE 'ffa-%'),
		   (SELECT count(*) FROM (SELECT account FROM credits.lot WHERE account LIKE 'ffa-%'
								  GROUP BY account HAVING count(*) > 1) x)
	FROM attempt")
read -r distinct accepted refused lots doubled <<<"$result"
echo "free-for-all: $accepted accepts ($distinct distinct requests), $refused CR005, $lots lots, $doubled accounts with more than one lot"
touched=$(psql -At -c "SELECT count(DISTINCT request_id) FROM attempt")
[[ $accepted == "$distinct" ]] || fail "a request was accepted more than once"
[[ $accepted == "$touched" ]] || fail "a request that was tried was never accepted"
[[ $lots == "$accepted" && $doubled == 0 ]] || fail "lots do not match accepts"
[[ $((accepted + refused)) == 200 ]] || fail "attempts do not add up"

problems=$(psql -At -c "SELECT count(*) FROM credits_verify()")
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
