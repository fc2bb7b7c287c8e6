#!/usr/bin/env bash
# transfer_race.sh: transfers in both directions between accounts at once,
# with spends from the same accounts.
#
# 1. Lock order, deterministically: while a session holds acct-1's row, a
#    transfer from acct-2 to acct-1 waits for acct-1 before it has taken
#    acct-2 (accounts are locked in one global order, acct-1 first), so a
#    spend from acct-2 goes through meanwhile.  (Locking the source first
#    would make that spend wait, and two opposite transfers deadlock.)
# 2. Eight pgbench clients transfer random amounts between three accounts
#    in every direction, then transfer and spend: no deadlock (server log
#    and pg_stat_database), no failed call but the expected CR001 (caught
#    and counted: a refused transfer leaves nothing behind), no balance or
#    running balance below zero, every transfer the clients saw succeed is
#    in both histories, the credits add up (granted = available + spent +
#    expired, and per account from the clients' own log), transfers alone
#    leave the liability's cost basis exactly as it was, and
#    credits_verify() is clean.  Some lots expire during the run.
set -euo pipefail
DB=credits_transfer_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
# shellcheck source=test/concurrency/sessions.bash
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
trap 'sessions_cleanup; cleanup' EXIT

# The server log, when this runs under scripts/test.sh (lib.sh's cluster).
LOG=
[[ -n ${CREDITS_TMP-} && -r $CREDITS_TMP/postgres.log ]] && LOG=$CREDITS_TMP/postgres.log
deadlocks_in_log() { if [[ -n $LOG ]]; then grep -c 'deadlock detected' "$LOG" || true; else echo 0; fi; }
log_deadlocks_before=$(deadlocks_in_log)

psql >/dev/null <<'SQL'
CREATE EXTENSION credits;
-- What the clients saw succeed (written in the transaction of the call)
-- and what was refused.
CREATE TABLE client_log (kind text NOT NULL, src text NOT NULL, dst text, amount int NOT NULL,
						 entry bigint NOT NULL);
CREATE TABLE refused (kind text NOT NULL);
-- Each account: lots of several expiries and prices, and free credits that
-- expire a few seconds into the run.
SELECT credits_grant(a, 40, expires_at => now() + interval '10 days', cost => 12.00, cost_currency => 'USD'),
	   credits_grant(a, 30, expires_at => now() + interval '20 days', cost => 10.00, cost_currency => 'EUR'),
	   credits_grant(a, 20, cost => 7.00, cost_currency => 'USD'),
	   credits_grant(a, 10),
	   credits_grant(a, 6, expires_at => clock_timestamp() + interval '4 s')
FROM unnest(ARRAY['acct-1', 'acct-2', 'acct-3']) a;

-- A transfer from acct-<src> to one of the other two; CR001 is counted.
CREATE FUNCTION race_transfer(src int, other int, amt int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	s text := 'acct-' || src;
	d text := 'acct-' || ((src + other - 1) % 3 + 1);
BEGIN
	INSERT INTO client_log VALUES ('transfer', s, d, amt, credits_transfer(s, d, amt, 'race'));
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refused VALUES ('transfer');
END
$$;
CREATE FUNCTION race_spend(acc int, amt int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO client_log VALUES ('spend', 'acct-' || acc, NULL, amt,
								   credits_spend('acct-' || acc, amt, 'race'));
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refused VALUES ('spend');
END
$$;
-- The cost basis of every lot, as credits_liability() adds it up (unrounded).
CREATE FUNCTION cost_basis() RETURNS text LANGUAGE sql AS $$
	SELECT string_agg(format('%s %s', x.currency, trim_scale(x.cost)), ', ' ORDER BY x.currency)
	FROM (SELECT currency, sum(cost) AS cost FROM credits.liability_lots(now())
		  WHERE currency IS NOT NULL GROUP BY 1) x
$$;
SQL

# 1. The lock order.
session_open holder
session_open mover
session_open prober
session_run holder "BEGIN; SELECT 1 FROM credits.account WHERE account = 'acct-1' FOR UPDATE;" \
	|| fail "could not lock acct-1"
if session_run mover "SELECT credits_transfer('acct-2', 'acct-1', 1, 'order-check') > 0 AS moved;" 1; then
	fail "the transfer to acct-1 did not wait for acct-1's lock: $(session_out mover)"
fi
session_run prober "SET lock_timeout = '3s'; SELECT credits_spend('acct-2', 1, 'probe') > 0 AS probe_spent;" 10 \
	|| fail "the spend from acct-2 did not finish"
[[ $(session_out prober) == t ]] \
	|| fail "a spend from acct-2 waited for the transfer waiting for acct-1 (acct-2 locked first?): $(session_out prober)"
session_run holder "ROLLBACK;" || fail "could not release acct-1"
session_run mover "SELECT 'mover done';" 20 || fail "the transfer did not finish once acct-1 was free"
[[ $(session_out mover) == $'t\nmover done' ]] || fail "the transfer failed: $(session_out mover)"
session_close holder
session_close mover
session_close prober
psql -c "INSERT INTO client_log SELECT 'transfer', 'acct-2', 'acct-1', 1, entry_id FROM credits_history('acct-2') WHERE reference = 'order-check'" \
	-c "INSERT INTO client_log SELECT 'spend', 'acct-2', NULL, 1, entry_id FROM credits_history('acct-2') WHERE reference = 'probe'" >/dev/null
echo "lock order: a transfer waiting for acct-1 did not hold acct-2"

deadlocks_before=$(psql -At -c "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
cost_before=$(psql -At -c "SELECT cost_basis()")

# 2a. Transfers alone, in every direction.
cat >"$WORK/transfer.sql" <<'SQL'
\set src random(1, 3)
\set other random(1, 2)
\set amt random(1, 45)
SELECT race_transfer(:src, :other, :amt);
SQL
"$PGBIN/pgbench" -n -c 8 -j 2 -t 60 -f "$WORK/transfer.sql" "$DB" >"$WORK/pgbench1.out" 2>&1 \
	|| { cat "$WORK/pgbench1.out"; fail "pgbench (transfers) reported errors"; }
grep -q "number of transactions actually processed: 480/480" "$WORK/pgbench1.out" \
	|| { cat "$WORK/pgbench1.out"; fail "not every transfer transaction completed"; }
cost_after=$(psql -At -c "SELECT cost_basis()")
echo "cost basis before: $cost_before; after $(psql -At -c "SELECT count(*) FROM client_log WHERE kind = 'transfer'") transfers: $cost_after"
[[ $cost_after == "$cost_before" ]] || fail "transfers moved the cost basis"

# 2b. Transfers and spends.
cat >"$WORK/spend.sql" <<'SQL'
\set acc random(1, 3)
\set amt random(1, 8)
SELECT race_spend(:acc, :amt);
SQL
"$PGBIN/pgbench" -n -c 8 -j 2 -t 60 -f "$WORK/transfer.sql@3" -f "$WORK/spend.sql@1" "$DB" \
	>"$WORK/pgbench2.out" 2>&1 || { cat "$WORK/pgbench2.out"; fail "pgbench (transfers and spends) reported errors"; }
grep -q "number of transactions actually processed: 480/480" "$WORK/pgbench2.out" \
	|| { cat "$WORK/pgbench2.out"; fail "not every transaction completed"; }

# Every due expiry recorded, then the checks.
psql -c "SELECT credits_expire()" >/dev/null
psql -At -c "SELECT kind, count(*), sum(amount) FROM client_log GROUP BY 1 ORDER BY 1" | tr '\n' ' '
psql -At -c "SELECT 'refused', kind, count(*) FROM refused GROUP BY 2 ORDER BY 2" | tr '\n' ' '
echo

deadlocks=$(psql -At -c "SELECT pg_stat_clear_snapshot(); SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()" | tail -n 1)
((deadlocks == deadlocks_before)) || fail "$((deadlocks - deadlocks_before)) deadlock(s) (pg_stat_database)"
(($(deadlocks_in_log) == log_deadlocks_before)) || fail "'deadlock detected' in the server log"
[[ $(psql -At -c "SELECT count(*) FROM refused") -gt 0 ]] \
	|| fail "no transfer or spend was ever refused: the race never ran short"

problems=$(psql -At <<'SQL'
WITH acct(a) AS (VALUES ('acct-1'), ('acct-2'), ('acct-3')),
granted AS (SELECT 3 * 106 AS total),
expired AS (SELECT coalesce(sum(amount::numeric), 0) AS total FROM credits.entry WHERE kind = 'expire')
-- no overdraft
SELECT 'negative running balance in ' || account FROM credits.entry
GROUP BY account HAVING min(running_balance) < 0
UNION ALL
SELECT 'negative balance of ' || a FROM acct WHERE credits_balance(a) < 0
UNION ALL
-- granted = available + spent + expired
SELECT format('granted %s, but available %s + spent %s + expired %s', g.total,
			  (SELECT sum(credits_balance(a)::numeric) FROM acct),
			  (SELECT coalesce(sum(amount), 0) FROM client_log WHERE kind = 'spend'), x.total)
FROM granted g, expired x
WHERE g.total <> (SELECT sum(credits_balance(a)::numeric) FROM acct)
				 + (SELECT coalesce(sum(amount), 0) FROM client_log WHERE kind = 'spend') + x.total
UNION ALL
-- per account: 106 + in - out - spent - expired, from the clients' log
SELECT format('%s: balance %s, the log says %s', a, credits_balance(a), 106
			  + (SELECT coalesce(sum(amount), 0) FROM client_log WHERE kind = 'transfer' AND dst = a)
			  - (SELECT coalesce(sum(amount), 0) FROM client_log WHERE src = a)
			  - (SELECT coalesce(sum(amount::numeric), 0) FROM credits.entry WHERE account = a AND kind = 'expire'))
FROM acct
WHERE credits_balance(a)::numeric <> 106
	  + (SELECT coalesce(sum(amount), 0) FROM client_log WHERE kind = 'transfer' AND dst = a)
	  - (SELECT coalesce(sum(amount), 0) FROM client_log WHERE src = a)
	  - (SELECT coalesce(sum(amount::numeric), 0) FROM credits.entry WHERE account = a AND kind = 'expire')
UNION ALL
-- every logged transfer is an out entry of its amount, with its in entry
SELECT format('logged transfer %s (%s -> %s, %s) is not in both histories', l.entry, l.src, l.dst, l.amount)
FROM client_log l
WHERE l.kind = 'transfer' AND NOT EXISTS (
	SELECT FROM credits.entry o JOIN credits.entry i ON i.related_id = o.entry_id AND i.kind = 'transfer_in'
	WHERE o.entry_id = l.entry AND o.account = l.src AND o.kind = 'transfer_out'
	  AND o.amount = l.amount::credit_amount AND i.account = l.dst AND i.amount = o.amount)
UNION ALL
SELECT format('%s transfer entries in the history, %s transfers logged', count(*),
			  (SELECT count(*) FROM client_log WHERE kind = 'transfer'))
FROM credits.entry WHERE kind = 'transfer_out'
HAVING count(*) <> (SELECT count(*) FROM client_log WHERE kind = 'transfer')
UNION ALL
SELECT format('verify: %s %s %s', check_name, account, detail) FROM credits_verify();
SQL
)
[[ -z $problems ]] || { echo "$problems"; fail "the ledger does not add up"; }
echo "balances $(psql -At -c "SELECT string_agg(credits_balance(a)::text, ' ' ORDER BY a) FROM unnest(ARRAY['acct-1', 'acct-2', 'acct-3']) a"); 0 deadlocks${LOG:+ (server log checked)}; credits_verify clean"
echo "PASS"
