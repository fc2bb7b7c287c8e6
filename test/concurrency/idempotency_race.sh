#!/usr/bin/env bash
# idempotency_race.sh: two sessions make the same keyed call at once.  The
# second waits for the first; once the first commits it returns the first
# call's result and changes nothing, and once the first rolls back it does
# the work itself.  Never twice, never CR003.
#
# Calls: a payment (the account lock serializes it), a partial payment
# that applies nothing on an account without any row (nothing to lock but
# the key itself), a card purchase and a bank-transfer purchase (a pending
# request locks no account), a purchase by quantity.  Then a free-for-all:
# four pgbench clients repeat 10 keyed payments and 10 keyed purchases in
# random order; each is done exactly once.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=credits_idem_race_$$
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
	-c "SELECT credits_set_rate('USD', 10)" \
	-c "SELECT credits_define_package('Starter', 500, 'USD', 50.00)" \
	-c "SELECT credits_define_price_tier('seat', 1, 4.00, 'USD')" >/dev/null \
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
session_run A "SET client_min_messages = warning;" || fail "session A did not start"
session_run B "SET client_min_messages = warning;" || fail "session B did not start"

# race NAME CALL ENDING: A makes CALL (a query printing one line) in an open
# transaction; B makes it too and must wait for A; A ends with ENDING
# (COMMIT or ROLLBACK); B must finish.  Prints A's line and B's line.
race() {
	local name=$1 call=$2 ending=$3 a b waiting
	session_run A "BEGIN; SELECT 'A $name ' || ($call);" || fail "$name: A's call did not finish"
	a=$(session_out A | grep "^A $name " | tail -1)
	[[ -n $a ]] || { session_out A; fail "$name: A's call failed"; }
	if session_run B "SELECT 'B $name ' || ($call);" 1; then
		session_out B
		fail "$name: B did not wait for A"
	fi
	waiting=$(psql -At -c "SELECT count(*) FROM pg_stat_activity
		WHERE datname = current_database() AND wait_event_type = 'Lock'")
	[[ $waiting == 1 ]] || fail "$name: expected B waiting on a lock, found $waiting"
	session_run A "$ending;" || fail "$name: A's $ending hung"
	wait_for B "^B $name " || { session_out B; fail "$name: B did not finish after A's $ending"; }
	b=$(session_out B | grep "^B $name " | tail -1)
	echo "${a#A $name }|${b#B $name }"
}

# 1. A payment with a key, committed then rolled back.
psql -c "SELECT credits_grant('p-1', 1000), credits_grant('p-2', 1000)" >/dev/null
pay="SELECT row(p.*)::text FROM credits_pay('p-1', 5.00, 'USD', 'INV-1', idempotency_key => 'k') p"
IFS='|' read -r a b <<<"$(race pay-commit "$pay" COMMIT)"
[[ $a == "$b" ]] || fail "pay: B returned $b, A returned $a"
[[ $(psql -At -c "SELECT credits_balance('p-1')") == 950 ]] || fail "pay: paid twice"
pay="SELECT row(p.*)::text FROM credits_pay('p-2', 5.00, 'USD', 'INV-2', idempotency_key => 'k') p"
IFS='|' read -r a b <<<"$(race pay-rollback "$pay" ROLLBACK)"
[[ $a != "$b" ]] || fail "pay after a rollback: B returned A's rolled-back row $a"
[[ $(psql -At -c "SELECT credits_balance('p-2')") == 950 ]] || fail "pay after a rollback: B did not pay once"
echo "pay: the second call waited and returned the first row ($a); after a rollback it paid itself"

# 2. A partial payment that applies nothing, on an account without a row:
# only the key's own row serializes it.  B must return A's result even if
# credits arrive between the two.
pay="SELECT row(p.*)::text FROM credits_pay('p-3', 5.00, 'USD', 'INV-3', partial => true, idempotency_key => 'k') p"
session_run A "BEGIN; SELECT 'A pay-0 ' || ($pay);" || fail "pay-0: A's call did not finish"
a=$(session_out A | grep "^A pay-0 " | tail -1)
[[ -n $a ]] || { session_out A; fail "pay-0: A's call failed"; }
psql -c "SELECT credits_grant('p-3', 1000)" >/dev/null
if session_run B "SELECT 'B pay-0 ' || ($pay);" 1; then
	session_out B
	fail "pay-0: B did not wait for A"
fi
session_run A "COMMIT;" || fail "pay-0: A's commit hung"
wait_for B "^B pay-0 " || { session_out B; fail "pay-0: B did not finish"; }
b=$(session_out B | grep "^B pay-0 " | tail -1)
[[ ${a#A pay-0 } == "${b#B pay-0 }" ]] || fail "pay-0: B returned ${b#B pay-0 }, A ${a#A pay-0 }"
[[ $(psql -At -c "SELECT credits_balance('p-3')") == 1000 ]] || fail "pay-0: B applied credits"
echo "pay applying nothing: the second call waited and returned ${a#A pay-0 }"

# 3. Purchases with a key: card (a lot), bank transfer (a request), by
# quantity (a request).
for method in stripe bank_transfer; do
	buy="SELECT row(b.*)::text FROM credits_purchase('b-$method', 'Starter', '$method', idempotency_key => 'k') b"
	IFS='|' read -r a b <<<"$(race "buy-$method" "$buy" COMMIT)"
	[[ $a == "$b" ]] || fail "purchase by $method: B returned $b, A returned $a"
	got=$(psql -At -c "SELECT (SELECT count(*) FROM credits.lot WHERE account = 'b-$method')
		+ (SELECT count(*) FROM credits.request WHERE account = 'b-$method')")
	[[ $got == 1 ]] || fail "purchase by $method: bought $got times"
	echo "purchase by $method: the second call waited and returned $a"
done
buy="SELECT row(b.*)::text FROM credits_purchase_quantity('q-1', 'seat', 3, 'crypto', idempotency_key => 'k') b"
IFS='|' read -r a b <<<"$(race buy-quantity-rollback "$buy" ROLLBACK)"
[[ $a != "$b" ]] || fail "purchase by quantity after a rollback: B returned A's rolled-back row"
[[ $(psql -At -c "SELECT count(*) FROM credits.request WHERE account = 'q-1'") == 1 ]] \
	|| fail "purchase by quantity after a rollback: not one request"
echo "purchase by quantity: after a rollback the second call bought itself ($b)"

# 4. A free-for-all: 10 keyed payments and 10 keyed purchases, 200 calls.
psql -c "SELECT credits_grant('ffa-' || i, 1000) FROM generate_series(1, 10) i" \
	-c "CREATE TABLE outcome (kind text, n int, result text)" >/dev/null
cat >"$WORK/idem.sql" <<'SQL'
\set n random(1, 10)
\set coin random(0, 1)
DO $$
BEGIN
	IF :coin = 0 THEN
		INSERT INTO outcome SELECT 'pay', :n, row(p.*)::text
		FROM credits_pay('ffa-' || :n, 2.00, 'USD', 'INV-' || :n, idempotency_key => 'ffa') p;
	ELSE
		INSERT INTO outcome SELECT 'buy', :n, row(b.*)::text
		FROM credits_purchase('ffa-buyer', 'Starter', 'bank_transfer', 'wire-' || :n,
							  idempotency_key => 'ffa-' || :n) b;
	END IF;
END
$$;
SQL
"$PGBIN/pgbench" -n -c 4 -j 4 -t 50 -f "$WORK/idem.sql" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 200/200" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every call completed"; }
result=$(psql -At -F' ' -c "
	SELECT (SELECT count(*) FROM (SELECT kind, n FROM outcome GROUP BY kind, n
								  HAVING count(DISTINCT result) > 1) x),
		   (SELECT count(*) FROM outcome),
		   (SELECT count(*) FROM (SELECT DISTINCT kind, n FROM outcome) x),
		   (SELECT count(*) FROM credits.entry WHERE account LIKE 'ffa-%' AND kind = 'spend'),
		   (SELECT count(*) FROM outcome WHERE kind = 'pay') > 0,
		   (SELECT count(DISTINCT n) FROM outcome WHERE kind = 'pay'),
		   (SELECT count(*) FROM credits.request WHERE account = 'ffa-buyer'),
		   (SELECT count(DISTINCT n) FROM outcome WHERE kind = 'buy')")
read -r differing calls distinct spends _ pays requests buys <<<"$result"
echo "free-for-all: $calls calls of $distinct keyed calls; $spends payments for $pays keys, $requests requests for $buys keys"
[[ $calls == 200 ]] || fail "calls do not add up"
[[ $differing == 0 ]] || fail "a key returned different results"
[[ $spends == "$pays" ]] || fail "payments were made more (or less) than once per key"
[[ $requests == "$buys" ]] || fail "purchases were made more (or less) than once per key"

problems=$(psql -At -c "SELECT count(*) FROM credits_verify()")
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
