#!/usr/bin/env bash
# scope_race.sh: lots restricted to services under concurrency.
# 1. A spend without a service that waits for the account lock while
#    another transaction grants the account's first restricted lot must not
#    take it: the fast path, which trusts the account's balance, sees the
#    account scoped once the grant commits and hands over to the general
#    path, which counts only what the spend may take (CR001 when that is
#    short, even though the balance covers it).  A spend for the service
#    waiting the same way takes the new lot (priority -1: first).
# 2. Eight sessions spend from one account with and without services while
#    another grants restricted and unrestricted lots: no spend ever takes a
#    lot that is not for it, nothing is overdrawn, the credits add up, and
#    credits_verify() stays clean.
set -euo pipefail
DB=credits_scope_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
WORK=$(mktemp -d)
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null

# 1. Waiting spends, three rounds on fresh accounts.
for round in 1 2 3; do
	acc=wait-$round
	q "SELECT credits_grant('$acc', 5, reason => 'any')" >/dev/null
	[[ $(q "SELECT scoped FROM credits.account WHERE account = '$acc'") == f ]] || fail "round $round: scoped before any restricted lot"
	session_open "A$round"
	session_open "B$round"
	session_open "C$round"
	session_run "A$round" "SET credits.notify = off; BEGIN; SELECT credits_grant('$acc', 100, applies_to => ARRAY['ai'], priority => -1, reason => 'ai');"
	# B: 10 without a service (the balance will cover it, what B may take will not);
	# C: 3 for "ai".
	if session_run "B$round" "SET credits.notify = off; SELECT credits_spend('$acc', 10, 'B$round');" 1; then
		fail "round $round: B's spend did not wait for A's lock"
	fi
	if session_run "C$round" "SET credits.notify = off; SELECT credits_spend('$acc', 3, 'C$round', service => 'ai');" 1; then
		fail "round $round: C's spend did not wait for A's lock"
	fi
	session_run "A$round" "COMMIT;"
	session_run "B$round" "SELECT 'B done';" 10 || fail "round $round: B never finished"
	session_run "C$round" "SELECT 'C done';" 10 || fail "round $round: C never finished"
	session_out "B$round" | grep -q "insufficient credits: 5 available, 10 required" \
		|| { session_out "B$round"; fail "round $round: B was not refused with 5 available"; }
	session_out "C$round" | grep -q ERROR && { session_out "C$round"; fail "round $round: C failed"; }
	drawn=$(q "SELECT string_agg(l.reason || ':' || al.amount, ' ' ORDER BY e.reference)
	           FROM credits.allocation al
	           JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
	           JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
	           WHERE e.account = '$acc' AND e.kind = 'spend'")
	[[ $drawn == "ai:3" ]] || fail "round $round: the spends drew '$drawn', expected 'ai:3' (C's only)"
	[[ $(q "SELECT credits_balance('$acc') || ' ' || credits_balance('$acc', service => 'ai')") == "102 102" ]] \
		|| fail "round $round: wrong balances"
	session_close "A$round"
	session_close "B$round"
	session_close "C$round"
done
echo "1: 3 rounds: a waiting spend without a service never took the restricted lot committed while it waited; one for the service did"

# 2. Spends of every kind against grants, on one account.
q "SELECT credits_grant('hot', 200, reason => 'any'),
          credits_grant('hot', 200, applies_to => ARRAY['ai'], reason => 'ai'),
          credits_grant('hot', 200, applies_to => ARRAY['ai', 'video'], priority => -1, reason => 'ai-video'),
          credits_grant('hot', 200, applies_to => ARRAY['video'], priority => 1, reason => 'video')" >/dev/null
q "CREATE TABLE refused (service text)" >/dev/null
cat >"$WORK/spend.sql" <<'SQL'
\set kind random(0, 2)
\set amount random(1, 7)
DO $$
BEGIN
	PERFORM credits_spend('hot', :amount,
						  (ARRAY['none', 'ai', 'video'])[:kind + 1],
						  service => (ARRAY[NULL, 'ai', 'video'])[:kind + 1]);
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refused VALUES ((ARRAY['none', 'ai', 'video'])[:kind + 1]);
END
$$;
SQL
cat >"$WORK/grant.sql" <<'SQL'
\set kind random(0, 2)
SELECT credits_grant('hot', 5, reason => (ARRAY['any', 'ai', 'video'])[:kind + 1],
					 applies_to => CASE :kind WHEN 1 THEN ARRAY['ai'] WHEN 2 THEN ARRAY['video'] END,
					 priority => :kind - 1);
SQL
"$PGBIN/pgbench" -n -c 7 -j 2 -t 60 -f "$WORK/spend.sql" "$DB" >"$WORK/spend.out" 2>&1 &
spenders=$!
"$PGBIN/pgbench" -n -c 1 -t 60 -f "$WORK/grant.sql" "$DB" >"$WORK/grant.out" 2>&1 \
	|| { cat "$WORK/grant.out"; fail "the grants failed"; }
wait "$spenders" || { cat "$WORK/spend.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 420/420" "$WORK/spend.out" \
	|| { cat "$WORK/spend.out"; fail "not every spend completed"; }

# Which lots each kind of spend took: only lots for it (reference = its service).
wrong=$(q "SELECT count(*) FROM credits.allocation al
           JOIN credits.entry e ON e.account = al.account AND e.entry_id = al.entry_id
           JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
           WHERE e.account = 'hot' AND e.kind = 'spend'
             AND l.applies_to IS NOT NULL
             AND (e.reference = 'none' OR NOT e.reference = ANY (l.applies_to))")
[[ $wrong == 0 ]] || fail "$wrong allocations took a lot that was not for their spend"
result=$(q "SELECT (SELECT count(*) FROM credits.entry WHERE account = 'hot' AND kind = 'spend'),
                   (SELECT count(*) FROM refused),
                   (SELECT sum(amount) FROM credits.lot WHERE account = 'hot')
                   - (SELECT coalesce(sum(amount), 0) FROM credits.entry WHERE account = 'hot' AND kind = 'spend')
                   = credits_balance('hot'),
                   (SELECT count(*) FROM credits_verify())" | tr '|' ' ')
read -r spent refused adds_up problems <<<"$result"
echo "2: $spent spends, $refused refused (CR001) of 420; credits add up: $adds_up; verify: $problems problems"
((spent + refused == 420)) || fail "spends and refusals do not add up to 420"
((spent > 0)) || fail "no spend succeeded"
[[ $adds_up == t ]] || fail "granted - spent differs from the balance"
[[ $problems == 0 ]] || { q "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
