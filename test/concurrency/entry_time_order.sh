#!/usr/bin/env bash
# entry_time_order.sh: an entry's time never goes back along its account's
# history.  Session A begins a transaction, waits two seconds, then changes
# the account; session B, one second after A began, grants 50 to it and
# commits first.  A's entry is numbered after B's grant, so it must not be
# dated before it: otherwise credits_balance at an instant between the two
# transactions' starts would count A's change before B's grant (120 instead
# of 100) and credits_statement would invent a line to make up the
# difference.  Yet inside A, credits_balance at now() is the latest state
# A sees.  A changes the account through the fast spend, the general
# path (a spend with an idempotency key, a hold) and the set-based grant.
set -euo pipefail
DB=credits_time_order_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; }
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null

# name | A's change | the balance after it (A's change follows B's +50)
rounds=(
	"fast|SELECT credits_spend('fast', 30, 'A')|120"
	"keyed|SELECT credits_spend('keyed', 30, 'A', idempotency_key => 'k1')|120"
	"held|SELECT credits_hold('held', 30, 'A')|120"
	"many|SELECT credits_grant_many(ARRAY['many'], 5)|155"
)
for round in "${rounds[@]}"; do
	IFS='|' read -r acc change after <<<"$round"
	q "SELECT credits_grant('$acc', 100, reason => 'opening')" >/dev/null
	session_open "A$acc"
	# A's transaction starts now and changes the account two seconds later.
	session_send "A$acc" "SET credits.notify = off; BEGIN; SELECT pg_sleep(2); $change;
SELECT 'balance now ' || credits_balance('$acc'); COMMIT;"
	sleep 1
	q "SET credits.notify = off; SELECT credits_grant('$acc', 50, reason => 'B')" >/dev/null
	session_run "A$acc" "SELECT 'A done';" 20 || fail "$acc: A never finished"
	session_out "A$acc" | grep -q ERROR && { session_out "A$acc"; fail "$acc: A failed"; }
	# Inside A, after its change, "now" is the latest state A can see: B's
	# grant (dated after A's start) and A's own entry count.
	session_out "A$acc" | grep -qx "balance now $after" ||
		{ session_out "A$acc"; fail "$acc: A's own balance is not $after"; }
	session_close "A$acc"

	# A's entry is numbered after B's grant and not dated before it.
	order=$(q "SELECT string_agg(reason || ':' || running_balance, ' ' ORDER BY seq)
	           FROM (SELECT seq, coalesce(reason, kind) AS reason, running_balance
	                 FROM credits.entry WHERE account = '$acc') e")
	[[ $order == "opening:100 B:150 "* && $order == *":$after" ]] ||
		fail "$acc: history is '$order'"
	back=$(q "SELECT count(*) FROM (SELECT at < lag(at) OVER (ORDER BY seq) AS back
	          FROM credits.entry WHERE account = '$acc') x WHERE back")
	[[ $back == 0 ]] || fail "$acc: an entry is dated before the one numbered ahead of it
$(q "SELECT seq, kind, at FROM credits.entry WHERE account = '$acc' ORDER BY seq")"

	# The balance at any instant is what history says: 100 until B's grant.
	b_at=$(q "SELECT at FROM credits.entry WHERE account = '$acc' AND reason = 'B'")
	before=$(q "SELECT credits_balance('$acc', at => '$b_at'::timestamptz - interval '1 ms')")
	[[ $before == 100 ]] || fail "$acc: balance just before B's grant is $before, history says 100"
	mismatch=$(q "SELECT count(*) FROM (SELECT DISTINCT e.at + d AS t FROM credits.entry e,
	                unnest(ARRAY[interval '-1 microsecond', interval '0']) d
	                WHERE e.account = '$acc') i
	              WHERE credits_balance('$acc', at => i.t) IS DISTINCT FROM
	                (SELECT coalesce((SELECT running_balance FROM credits.entry
	                  WHERE account = '$acc' AND at <= i.t ORDER BY seq DESC LIMIT 1), 0))")
	[[ $mismatch == 0 ]] || fail "$acc: credits_balance disagrees with history at $mismatch instants"
	# The statement from before B's grant adds up without any invented line.
	stmt=$(q "SELECT string_agg(kind || ':' || balance, ' ' ORDER BY line)
	          FROM credits_statement('$acc', '$b_at'::timestamptz - interval '1 ms', now())")
	[[ $stmt == "opening:100 grant:150 "* && $stmt == *":$after closing:$after" ]] ||
		fail "$acc: statement is '$stmt'"
	[[ $stmt != *expire* ]] || fail "$acc: statement invents an expiry: '$stmt'"
	# Usage over the same range: net is the balance's change.
	net=$(q "SELECT net FROM credits_usage('$b_at'::timestamptz - interval '1 ms', now(), '$acc')")
	[[ $net == $((after - 100)) ]] || fail "$acc: usage net is $net, the balance changed by $((after - 100))"
	echo "$acc: $order, A's entry dated no earlier than B's grant"
done
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] ||
	fail "credits_verify() found problems: $(q "SELECT * FROM credits_verify()")"
echo "PASS"
