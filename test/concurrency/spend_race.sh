#!/usr/bin/env bash
# spend_race.sh: eight sessions spend from one account with a small balance.
# Exactly the balance's worth of spends succeed, none deadlocks, every
# refused spend leaves nothing behind, and credits_verify() stays clean.
set -euo pipefail
DB=credits_spend_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/scratch_db.bash"
psql -c "CREATE EXTENSION credits" \
	 -c "CREATE TABLE refused (n int)" \
	 -c "SELECT credits_grant('hot', 30, expires_at => now() + interval '1 day')" \
	 -c "SELECT credits_grant('hot', 20)" \
	 -c "SELECT credits_grant('other', 1000)" >/dev/null

# Spends of 1 on the hot account, each also touching a second account so
# that sessions hold two account locks at once (always in the same order);
# a CR001 is caught and counted.
cat >"$WORK/spend.sql" <<'SQL'
DO $$
BEGIN
	PERFORM credits_spend('other', 1, 'race');
	PERFORM credits_spend('hot', 1, 'race');
EXCEPTION WHEN SQLSTATE 'CR001' THEN
	INSERT INTO refused VALUES (1);
END
$$;
SQL

"$PGBIN/pgbench" -n -c 8 -j 2 -t 25 -f "$WORK/spend.sql" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of failed transactions: 0" "$WORK/pgbench.out" \
	|| grep -q "number of transactions actually processed: 200/200" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every transaction completed"; }

result=$(psql -At -F' ' -c "
	SELECT (SELECT count(*) FROM credits_history('hot') WHERE kind = 'spend'),
	       (SELECT count(*) FROM refused),
	       credits_balance('hot'),
	       (SELECT count(*) FROM credits_history('other') WHERE kind = 'spend'),
	       credits_balance('other'),
	       (SELECT count(*) FROM credits_verify())")
read -r spent refused hot_balance other_spent other_balance problems <<<"$result"
echo "hot: $spent spends succeeded, $refused refused, balance $hot_balance; other: $other_spent spends, balance $other_balance; verify: $problems problems"
[[ $spent == 50 ]] || fail "expected exactly 50 successful spends, got $spent"
[[ $refused == 150 ]] || fail "expected 150 refused spends, got $refused"
[[ $hot_balance == 0 ]] || fail "expected balance 0, got $hot_balance"
# A refused spend rolled back its whole DO block, including the spend on 'other'.
[[ $other_spent == 50 && $other_balance == 950 ]] || fail "refused spends left changes on 'other'"
[[ $problems == 0 ]] || { psql -c "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
# The spends drew the expiring lot first.
first=$(psql -At -c "SELECT remaining FROM credits.lot WHERE account = 'hot' ORDER BY lot_id" | tr '\n' ' ')
[[ $first == "0 0 " ]] || fail "lots not emptied: $first"
echo "PASS"
