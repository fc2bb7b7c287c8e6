#!/usr/bin/env bash
# topup_race.sh: eight sessions spend from one account with auto top-up
# across its threshold.  Exactly one top-up is requested (one pending
# request, one event), no spend fails, none deadlocks.  Then the same
# sessions go on spending while some of them also decide (accept or reject)
# the pending top-up, two at a time now and then: never two pending at once,
# every accepted top-up granted once, credits_verify() clean.
set -euo pipefail
DB=credits_topup_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
psql -c "CREATE EXTENSION credits" \
	 -c "CREATE TABLE failed (sqlstate text)" \
	 -c "CREATE TABLE pending_seen (n bigint)" \
	 -c "SELECT credits_define_package('Refill', 100, 'USD', 10.00)" \
	 -c "SELECT credits_grant('hot', 300)" \
	 -c "SELECT credits_grant('other', 1000)" \
	 -c "SELECT credits_set_auto_topup('hot', 200, 'Refill', 'stripe')" >/dev/null

# pgbench counts an error as a failed transaction (and stops the client):
# a spend that fails for any reason is recorded instead, and checked below.
cat >"$WORK/spend.sql" <<'SQL'
DO $$
BEGIN
	PERFORM credits_spend('other', 1, 'race');
	PERFORM credits_spend('hot', 1, 'race');
EXCEPTION WHEN OTHERS THEN
	INSERT INTO failed VALUES (SQLSTATE);
END
$$;
SQL

# 1. 8 x 25 spends of 1 take 'hot' from 300 to 100, across 200: the spend
# that leaves 199 requests the top-up; the 100 after it see it pending.
"$PGBIN/pgbench" -n -c 8 -j 2 -t 25 -f "$WORK/spend.sql" "$DB" >"$WORK/pgbench1.out" 2>&1 \
	|| { cat "$WORK/pgbench1.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 200/200" "$WORK/pgbench1.out" \
	|| { cat "$WORK/pgbench1.out"; fail "not every transaction completed"; }
result=$(psql -At -F' ' -c "
	SELECT (SELECT count(*) FROM failed),
	       credits_balance('hot'),
	       (SELECT count(*) FROM credits_requests('hot')),
	       (SELECT count(*) FROM credits_requests('hot', 'pending')),
	       (SELECT count(*) FROM credits.event WHERE type = 'account.credits.topup_requested'),
	       (SELECT count(*) FROM credits.event WHERE type = 'account.credits.topup_failed'),
	       (SELECT string_agg(e.payload->>'balance', ',') FROM credits.event e
	        WHERE type = 'account.credits.topup_requested'),
	       (SELECT count(*) FROM credits_verify())")
read -r failed balance requests pending requested failures at problems <<<"$result"
echo "phase 1: $failed failed spends, balance $balance, $requests requests ($pending pending), $requested topup_requested and $failures topup_failed events (at balance $at), $problems verify problems"
[[ $failed == 0 ]] || { psql -c "SELECT sqlstate, count(*) FROM failed GROUP BY 1"; fail "spends failed"; }
[[ $balance == 100 ]] || fail "expected balance 100, got $balance"
[[ $requests == 1 && $pending == 1 ]] || { psql -c "SELECT * FROM credits_requests('hot')"; fail "expected exactly one pending top-up"; }
[[ $requested == 1 && $failures == 0 ]] || fail "expected one topup_requested event and no topup_failed"
[[ $at == 199 ]] || fail "the top-up was requested at balance $at, not by the spend that crossed the threshold (199)"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }

# 2. With more credits and a higher threshold (the balance stays below it
# but never runs out), spends go on while sessions also decide the
# pending top-up: accept
# (the charge went through) or reject (declined), at random; two sessions
# may pick the same request, and the second gets CR005.  Each spend also
# counts the pending top-ups it can see (never more than one).
cat >"$WORK/spend_and_count.sql" <<'SQL'
DO $$
BEGIN
	PERFORM credits_spend('other', 1, 'race');
	PERFORM credits_spend('hot', 1, 'race');
	INSERT INTO pending_seen
	SELECT count(*) FROM credits.request
	WHERE account = 'hot' AND status = 'pending' AND auto_topup;
EXCEPTION WHEN OTHERS THEN
	INSERT INTO failed VALUES (SQLSTATE);
END
$$;
SQL
cat >"$WORK/decide.sql" <<'SQL'
DO $$
DECLARE
	r bigint;
BEGIN
	SELECT request_id INTO r FROM credits_requests('hot', 'pending') LIMIT 1;
	IF r IS NULL THEN
		RETURN;
	ELSIF random() < 0.7 THEN
		PERFORM credits_accept_request(r, 'charger');
	ELSE
		PERFORM credits_reject_request(r, 'card declined', 'charger');
	END IF;
EXCEPTION
	WHEN SQLSTATE 'CR005' THEN NULL;	-- another session decided it first
	WHEN OTHERS THEN INSERT INTO failed VALUES (SQLSTATE);
END
$$;
SQL
psql -c "SELECT credits_grant('hot', 500)" -c "SELECT credits_set_auto_topup('hot', 700, 'Refill', 'stripe')" >/dev/null
"$PGBIN/pgbench" -n -c 8 -j 2 -t 50 -f "$WORK/spend_and_count.sql@4" -f "$WORK/decide.sql@1" "$DB" \
	>"$WORK/pgbench2.out" 2>&1 || { cat "$WORK/pgbench2.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 400/400" "$WORK/pgbench2.out" \
	|| { cat "$WORK/pgbench2.out"; fail "not every transaction completed"; }
result=$(psql -At -F' ' -c "
	SELECT (SELECT count(*) FROM failed),
	       (SELECT max(n) FROM pending_seen),
	       (SELECT count(*) FROM credits_requests('hot', 'accepted')),
	       (SELECT count(*) FROM credits_requests('hot', 'rejected')),
	       (SELECT count(*) FROM credits_requests('hot', 'pending')),
	       (SELECT count(*) FROM credits.lot WHERE account = 'hot' AND source = 'purchase'),
	       (SELECT count(*) FROM credits.event WHERE type = 'account.credits.topup_requested'),
	       (SELECT count(*) FROM credits_requests('hot')),
	       credits_balance('hot'),
	       (SELECT count(*) FROM credits_history('hot') WHERE kind = 'spend'),
	       (SELECT count(*) FROM credits_verify())")
read -r failed max_pending accepted rejected pending lots requested requests balance spends problems <<<"$result"
echo "phase 2: $failed failures, at most $max_pending pending seen, $accepted accepted, $rejected rejected, $pending pending, $lots purchased lots, $requested requested events for $requests requests, balance $balance after $spends spends, $problems verify problems"
[[ $failed == 0 ]] || { psql -c "SELECT sqlstate, count(*) FROM failed GROUP BY 1"; fail "calls failed"; }
[[ $max_pending == 1 ]] || fail "a session saw $max_pending pending top-ups"
((accepted + rejected > 0)) || fail "no top-up was decided: the test proved nothing"
[[ $pending -le 1 ]] || fail "$pending pending top-ups"
[[ $lots == "$accepted" ]] || fail "$accepted accepted top-ups granted $lots lots"
[[ $requested == "$requests" ]] || fail "$requested topup_requested events for $requests requests"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
