#!/usr/bin/env bash
# seal_race.sh: credits_seal() beside spends and beside itself.
# 1. An entry whose transaction drew its id before a seal ran and committed
#    after it is sealed by the next run, at the next position of its
#    account's chain (after an entry with a higher id); the seal never
#    waits for that transaction, nor that transaction for the seal.
# 2. A seal in progress (uncommitted) holds up no spend; a second seal
#    waits for it, then seals only what is left.
# 3. A REPEATABLE READ seal whose snapshot predates another run's commit
#    fails with 40001 and writes nothing; no chain forks.
# 4. Spends whose transactions overlap and commit in any order, with seals
#    running among them: one unbroken chain per account, every committed
#    entry sealed exactly once, the runs' counts adding up to the entries,
#    and credits_verify() clean.
set -euo pipefail
DB=credits_seal_race_$$
source "$(dirname "${BASH_SOURCE[0]}")/sessions.bash"
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { sessions_cleanup; "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
WORK=$(mktemp -d)
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
# The pid a session reports (its first line), for pg_stat_activity.
pid_of() { session_out "$1" | head -n 1; }

"$PGBIN/createdb" "$DB"
q "CREATE EXTENSION credits" >/dev/null
q "CREATE TABLE runs (n bigint)" >/dev/null
q "SELECT credits_define_type('WRD', 'Words')" >/dev/null
q "SELECT credits_grant('late', 100), credits_grant('late', 100, 'WRD'), credits_grant('x', 100)" >/dev/null
q "INSERT INTO runs SELECT credits_seal()"

# 1. Out of order: A draws its entry id first and commits last.
session_open A
session_open S
session_run A "SET credits.notify = off; BEGIN; SELECT credits_spend('late', 1, 'A');" 5 || fail "A could not spend"
a_id=$(session_out A | tail -n 1)
b_id=$(q "SELECT credits_spend('late', 1, 'B', credit_type => 'WRD')")
((b_id > a_id)) || fail "B's entry id $b_id is not above A's $a_id"
session_run S "INSERT INTO runs SELECT credits_seal() RETURNING n;" 5 || fail "the seal waited for A's open transaction"
[[ $(session_out S | tail -n 1) == 1 ]] || fail "the seal sealed $(session_out S | tail -n 1) entries, want 1 (B's)"
session_run A "COMMIT;" 5 || fail "A's commit waited for the seal"
session_run S "INSERT INTO runs SELECT credits_seal() RETURNING n;" 5 || fail "the second seal waited"
[[ $(session_out S | tail -n 1) == 1 ]] || fail "the next seal sealed $(session_out S | tail -n 1) entries, want 1 (A's)"
order=$(q "SELECT string_agg(entry_id::text, ' ' ORDER BY position) FROM credits.seal
           WHERE account = 'late' AND entry_id IN ($a_id, $b_id)")
[[ $order == "$b_id $a_id" ]] || fail "chain order of B and A: '$order', want '$b_id $a_id'"
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || { q "SELECT * FROM credits_verify()"; fail "credits_verify() after 1"; }
echo "1: A's entry $a_id, committed after a seal, sealed by the next run after B's entry $b_id; nobody waited"
session_close A
session_close S

# 2. A seal in progress holds up no spend; a second seal waits for it.
q "SELECT credits_spend('late', 1, 'C'), credits_spend('x', 1, 'C')" >/dev/null
session_open S1
session_open S2
session_run S1 "BEGIN; SELECT credits_seal();" 10 || fail "the first seal did not finish"
[[ $(session_out S1 | tail -n 1) == 2 ]] || fail "the first seal sealed $(session_out S1 | tail -n 1), want 2"
spent=$(timeout 10 "$PGBIN/psql" -X -q -A -t -d "$DB" -c "SELECT credits_spend('late', 1, 'D') > 0" || true)
[[ $spent == t ]] || fail "a spend on a sealed account waited for an uncommitted seal"
session_run S2 "SELECT pg_backend_pid();" 5
s2=$(pid_of S2)
session_send S2 "SELECT 'sealed ' || credits_seal();"
for ((i = 0; i < 100; i++)); do
	waiting=$(q "SELECT wait_event FROM pg_stat_activity WHERE pid = $s2 AND wait_event_type = 'Lock'")
	[[ -n $waiting ]] && break
	sleep 0.1
done
[[ $waiting == advisory ]] || fail "the second seal did not wait for the first (wait event '$waiting')"
session_run S1 "COMMIT;" 5 || fail "the first seal could not commit"
session_run S2 "SELECT 'caught up';" 10 || fail "the second seal did not finish after the first committed"
[[ $(session_out S2 | grep '^sealed ') == "sealed 1" ]] \
	|| fail "the second seal: '$(session_out S2 | grep '^sealed ')', want 'sealed 1' (the spend D only)"
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || { q "SELECT * FROM credits_verify()"; fail "credits_verify() after 2"; }
echo "2: a spend went through beside an uncommitted seal; a second seal waited for it, then sealed the one entry left"
session_close S1
session_close S2

# 3. A REPEATABLE READ seal that lost the race: 40001, nothing written.
q "SELECT credits_spend('late', 1, 'E')" >/dev/null
session_open R1
session_open R2
session_run R2 "\\set VERBOSITY sqlstate
BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) > 0 FROM pg_class;" 5
session_run R1 "BEGIN; SELECT credits_seal();" 10 || fail "the first seal did not finish"
session_send R2 "SELECT credits_seal();"
session_run R1 "COMMIT;" 5 || fail "the first seal could not commit"
session_run R2 "ROLLBACK;" 10 || fail "the REPEATABLE READ seal did not finish"
grep -q '40001' <(session_out R2) || { session_out R2; fail "the REPEATABLE READ seal did not fail with 40001"; }
[[ $(q "SELECT count(*) FROM credits.seal WHERE entry_id = (SELECT max(entry_id) FROM credits.entry)") == 1 ]] \
	|| fail "the latest entry is not sealed exactly once"
[[ $(q "SELECT count(*) FROM credits_verify()") == 0 ]] || { q "SELECT * FROM credits_verify()"; fail "credits_verify() after 3"; }
echo "3: a REPEATABLE READ seal behind another run's commit failed with 40001; one chain"
session_close R1
session_close R2

# 4. The mix: six clients, 240 transactions.  A spend transaction spends
# from one of eight accounts (two credit types each) and sleeps a little
# before it commits, so transactions overlap and commit out of id order; a
# seal transaction seals and records its count.
q "SELECT credits_grant('m-' || i, 1000), credits_grant('m-' || i, 1000, 'WRD')
   FROM generate_series(1, 8) i" >/dev/null
q "TRUNCATE runs"
before=$(q "SELECT count(*) FROM credits.seal")
cat >"$WORK/spend.sql" <<'SQL'
\set a random(1, 8)
\set t random(0, 1)
BEGIN;
SELECT credits_spend('m-' || :a, 1, 'mix', CASE :t WHEN 0 THEN 'CRD' ELSE 'WRD' END);
SELECT pg_sleep(random() * 0.02);
COMMIT;
SQL
cat >"$WORK/seal.sql" <<'SQL'
INSERT INTO runs SELECT credits_seal();
SQL
PGOPTIONS='-c credits.notify=off' "$PGBIN/pgbench" -n -c 6 -j 2 -t 40 \
	-f "$WORK/spend.sql@4" -f "$WORK/seal.sql@1" "$DB" >"$WORK/pgbench.out" 2>&1 \
	|| { cat "$WORK/pgbench.out"; fail "pgbench reported errors"; }
grep -q "number of transactions actually processed: 240/240" "$WORK/pgbench.out" \
	|| { cat "$WORK/pgbench.out"; fail "not every transaction completed"; }
q "INSERT INTO runs SELECT credits_seal()"
result=$(q "SELECT (SELECT count(*) FROM credits.entry),
                   (SELECT count(*) FROM credits.seal),
                   (SELECT sum(n) FROM runs),
                   (SELECT count(*) FROM runs WHERE n > 0),
                   (SELECT count(*) FROM credits.entry e WHERE NOT EXISTS (
                       SELECT FROM credits.seal s WHERE s.account = e.account
                       AND s.credit_type = e.credit_type AND s.seq = e.seq)),
                   (SELECT count(*) FROM (SELECT s.account FROM credits.seal s GROUP BY s.account
                       HAVING count(*) <> max(s.position) OR min(s.position) <> 1) g),
                   (SELECT count(*) FROM credits.seal a JOIN credits.seal b ON a.account = b.account
                       AND a.position < b.position AND a.entry_id > b.entry_id),
                   (SELECT count(*) FROM credits_verify())" | tr '|' ' ')
read -r entries seals summed runs_sealing unsealed broken crossed problems <<<"$result"
echo "4: $entries entries, $seals seals ($before before the mix), the mix's runs counted $summed ($runs_sealing runs sealed something);" \
	"$unsealed unsealed, $broken broken chains, $crossed pairs sealed out of id order; verify: $problems problems"
[[ $seals == "$entries" && $summed == $((entries - before)) ]] \
	|| fail "entries $entries, seals $seals, $before sealed before the mix, the mix's runs counted $summed"
[[ $unsealed == 0 ]] || fail "$unsealed committed entries left unsealed"
[[ $broken == 0 ]] || fail "$broken accounts whose positions are not 1..n"
((runs_sealing >= 3)) || fail "only $runs_sealing seal runs found something to seal: no overlap was tested"
[[ $problems == 0 ]] || { q "SELECT * FROM credits_verify()"; fail "credits_verify() found problems"; }
echo "PASS"
