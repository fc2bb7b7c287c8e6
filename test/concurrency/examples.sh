#!/usr/bin/env bash
# examples.sh: the reference application in examples/ against a real
# database.  The checkout pays an order in the order's own transaction
# (refusals roll the order back and read as client messages; a retry spends
# nothing more); the outbox consumer, killed with SIGKILL twice while events
# are being written (half of them without NOTIFY), restarts from its saved
# cursor and ends with exactly one message per event: none lost, none twice.
set -euo pipefail
DB=credits_examples_$$
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PY=/usr/bin/python3
APP_ROLE=credits_example_app_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
consumer_pid=
producer_pid=
cleanup() {
	[[ -n $consumer_pid ]] && kill -9 "$consumer_pid" 2>/dev/null || true
	[[ -n $producer_pid ]] && kill "$producer_pid" 2>/dev/null || true
	wait 2>/dev/null || true
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $APP_ROLE" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
"$PY" -c 'import psycopg' || fail "python3-psycopg is not installed (scripts/lib.sh installs it)"

psql -c "CREATE EXTENSION credits"
psql -f "$ROOT/examples/app_schema.sql"
psql <<SQL
CREATE ROLE $APP_ROLE LOGIN IN ROLE credits_operator;
GRANT SELECT, INSERT, UPDATE ON shop_order, event_cursor, client_message TO $APP_ROLE;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO $APP_ROLE;
SELECT credits_grant('acme', 100) \g /dev/null
SQL
q() { psql -A -t -c "$1"; }
shop() { PGUSER=$APP_ROLE "$PY" "$ROOT/examples/shop.py" "$DB" "$@"; }

# --- checkout ---------------------------------------------------------------
out=$(shop acme ord-1 30) || fail "checkout ord-1 failed: $out"
[[ $out == *"balance now 70"* ]] || fail "ord-1: $out"
out=$(shop acme ord-1 30) || fail "retried checkout ord-1 failed: $out"
[[ $out == *"(retry)"*"balance now 70"* ]] || fail "retry of ord-1 spent again or failed: $out"
rc=0; out=$(shop acme ord-2 500) || rc=$?
[[ $rc == 1 && $out == "refused CR001: Your balance does not cover this order."* ]] || fail "ord-2 (too big): rc $rc, $out"
[[ $(q "SELECT count(*) FROM shop_order WHERE order_ref = 'ord-2'") == 0 ]] || fail "the refused order ord-2 was kept"
q "SELECT credits_set_enabled(false)" >/dev/null
rc=0; out=$(shop acme ord-3 5) || rc=$?
[[ $rc == 1 && $out == "refused CR002: "* ]] || fail "ord-3 with credits off: rc $rc, $out"
q "SELECT credits_set_enabled(true)" >/dev/null
rc=0; out=$(shop acme ord-1 31) || rc=$?
[[ $rc == 1 && $out == "refused CR003: "* ]] || fail "ord-1 with another amount: rc $rc, $out"
[[ $(q "SELECT credits_balance('acme')") == 70 ]] || fail "balance after the checkouts is not 70"
[[ $(q "SELECT count(*) FROM shop_order") == 1 ]] || fail "expected exactly one order row"
[[ $(q "SELECT count(*) FROM credits_history('acme') WHERE kind = 'spend'") == 1 ]] || fail "expected exactly one spend"
echo "checkout: paid once, retry answered without spending, CR001/CR002/CR003 refused with the order rolled back"

# --- consumer ---------------------------------------------------------------
# The producer: 240 transactions on 6 accounts, every other one without NOTIFY.
cat >"$WORK/produce.sql" <<'SQL'
SELECT credits_grant('c-' || (:i % 6), 10);
SET credits.notify = off;
SELECT credits_spend('c-' || (:i % 6), 3);
RESET credits.notify;
SQL
(for i in $(seq 1 120); do
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -v i="$i" -d "$DB" -f "$WORK/produce.sql" >/dev/null || exit 1
	sleep 0.02
done) &
producer_pid=$!

consume() { PGUSER=$APP_ROLE "$PY" "$ROOT/examples/consumer.py" "$DB" --batch 7 --poll 0.3 "$@"; }
for round in 1 2; do
	# exec: $! is the consumer itself, not a subshell around it.
	(PGUSER=$APP_ROLE exec "$PY" "$ROOT/examples/consumer.py" "$DB" --batch 7 --poll 0.3 \
		--slow 0.05 >"$WORK/consumer-$round.log" 2>&1) &
	consumer_pid=$!
	sleep 2
	kill -9 "$consumer_pid"
	wait "$consumer_pid" 2>/dev/null || true
	kill -0 "$consumer_pid" 2>/dev/null && fail "the consumer survived SIGKILL"
	consumer_pid=
	# Its connections end with it (the server notices the closed sockets).
	left=1
	for _ in $(seq 1 50); do
		left=$(q "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
			AND application_name <> 'psql' AND pid <> pg_backend_pid()")
		((left == 0)) && break
		sleep 0.1
	done
	((left == 0)) || fail "the killed consumer's connections are still there"
	echo "consumer killed (round $round) after $(q "SELECT count(*) FROM client_message") messages"
done
wait "$producer_pid" || fail "the producer failed"
producer_pid=
consume --until-idle 3 >"$WORK/consumer-last.log" 2>&1 || { cat "$WORK/consumer-last.log"; fail "the consumer failed"; }

events=$(q "SELECT count(*) FROM credits_events_since(0, 100000)")
((events >= 240)) || fail "expected at least 240 events, saw $events"
missing=$(q "SELECT count(*) FROM credits_events_since(0, 100000) e
	WHERE NOT EXISTS (SELECT FROM client_message m WHERE m.event_id = e.event_id)")
dups=$(q "SELECT count(*) - count(DISTINCT event_id) FROM client_message")
extra=$(q "SELECT count(*) FROM client_message m
	WHERE NOT EXISTS (SELECT FROM credits_events_since(0, 100000) e WHERE e.event_id = m.event_id)")
cursor=$(q "SELECT last_event_id = (SELECT max(event_id) FROM credits_events_since(0, 100000)) FROM event_cursor")
[[ $missing == 0 && $dups == 0 && $extra == 0 && $cursor == t ]] ||
	fail "events $events: missing $missing, duplicated $dups, unknown $extra, cursor at the last event: $cursor"
[[ -z $(q "SELECT * FROM credits_verify()") ]] || fail "credits_verify() is not clean"
echo "consumer: $events events, each delivered exactly once across two kills"
echo "PASS"
