#!/usr/bin/env bash
# spend_race.sh: concurrent spends through the coordinator on a distributed
# ledger.  One account on each worker holds 100 credits in two lots; eight
# sessions spend 1 credit at a time from both (20 attempts each on each
# account: 320 in all, each alone in its transaction, delegated to the
# account's worker), and four of them also hold and capture, naming the
# account, inside transaction blocks.  Then six sessions transfer between
# the two accounts both ways at once, with spends.  Then on each account exactly the
# available credits were taken (no overdraft: the refused attempts are
# CR001, nothing else failed, no deadlock), the balance is the sum of its
# lots and of its history, and credits_verify() returns no rows.  Runs
# against the coordinator in PGHOST/PGPORT (scripts/test.sh citus); leaves
# the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
work=$(mktemp -d /tmp/credits-crace.XXXXXX)
cleanup() {
	wait 2>/dev/null || true
	psql -c "SET client_min_messages = warning" -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null 2>&1
psql -c "SELECT credits_distribute()" >/dev/null

# An account on each worker.
declare -A by_port=()
for n in $(seq 1 60); do
	p=$(psql -c "SELECT nodeport FROM pg_dist_shard_placement
		WHERE shardid = get_shard_id_for_distribution_column('credits.account', 'race-$n')")
	[[ -z ${by_port[$p]-} ]] && by_port[$p]=race-$n
	((${#by_port[@]} == 2)) && break
done
((${#by_port[@]} == 2)) || fail "no account on each worker"
accts=("${by_port[@]}")
for a in "${accts[@]}"; do
	psql -c "SELECT credits_grant('$a', 60, expires_at => now() + interval '1 day')" \
		-c "SELECT credits_grant('$a', 40)" >/dev/null
done

# run_sessions N FUNCTION NAME: N sessions at once, session k running the
# SQL that FUNCTION k prints, each statement its own transaction (but the
# blocks it writes), going on after errors, which land in $work/NAME.err.k.
run_sessions() {
	local n=$1 fn=$2 name=$3 k p pids=()
	for k in $(seq 1 "$n"); do
		"$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=0 -v VERBOSITY=verbose <<<"$("$fn" "$k")" \
			>/dev/null 2>"$work/$name.err.$k" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || true; done
}
# only_refusals NAME [ALSO]: the sessions' errors are CR001 (and the
# SQLSTATE ALSO), no deadlock; prints how many CR001.
only_refusals() {
	local errors other
	errors=$(cat "$work/$1".err.*)
	other=$(grep '^ERROR:' <<<"$errors" | grep -v '^ERROR:  CR001:' | grep -v "^ERROR:  ${2:-CR001}:" || true)
	# (to stderr: the count is what stdout carries)
	[[ -z $other ]] && ! grep -qi deadlock <<<"$errors" || fail "$1: errors other than CR001: $(head -n 5 <<<"$other")" >&2
	grep -c '^ERROR:  CR001:' <<<"$errors" || true
}

# Session k's attempts.
spender() { # k
	local k=$1 j a sql=''
	for j in $(seq 1 20); do
		for a in "${accts[@]}"; do
			sql+="SELECT credits_spend('$a', 1, 's$k-$j');"$'\n'
		done
		if ((k <= 4 && j % 5 == 0)); then
			a=${accts[$((j / 5 % 2))]}
			sql+="\\set h 0"$'\n'"BEGIN;"$'\n'"SELECT credits_hold('$a', 1, 'h$k-$j') AS h \\gset"$'\n'
			sql+="SELECT credits_capture(:h, account => '$a');"$'\n'"COMMIT;"$'\n'
		fi
	done
	printf '%s' "$sql"
}
run_sessions 8 spender spend
# (a failed hold leaves its block aborted: the capture after it is refused
# as such, 25P02, not an error of its own)
refused=$(only_refusals spend 25P02)
for a in "${accts[@]}"; do
	expect "$a: balance" "$(psql -c "SELECT credits_balance('$a')")" 0
	expect "$a: balance = lots" \
		"$(psql -c "SELECT (SELECT balance FROM credits.account WHERE account = '$a')::text || ' ' ||
			(SELECT sum(remaining) FROM credits.lot WHERE account = '$a')::text")" "0 0"
	expect "$a: history's last running balance" \
		"$(psql -c "SELECT running_balance FROM credits_history('$a') ORDER BY entry_id DESC LIMIT 1")" 0
	expect "$a: credits taken" \
		"$(psql -c "SELECT sum(amount) FROM credits.entry WHERE account = '$a' AND kind IN ('spend', 'capture')")" 100
done
expect "verify" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: 8 sessions spent 2 x 100 credits on 2 workers exactly ($refused attempts refused with CR001, no other error, no deadlock)"

# Transfers between the two workers' accounts, both ways at once, while
# spends go on: each transfer runs on the coordinator and commits on both
# workers in two phases, the accounts locked in one order.  No deadlock,
# no error but CR001, and the credits are conserved: what both accounts
# hold is what was granted less what was spent.
for a in "${accts[@]}"; do psql -c "SELECT credits_grant('$a', 200)" >/dev/null; done
mover() { # k: transfers one way or the other, and spends
	local k=$1 j from to sql=''
	for j in $(seq 1 15); do
		if (((k + j) % 2 == 0)); then from=${accts[0]} to=${accts[1]}; else from=${accts[1]} to=${accts[0]}; fi
		sql+="SELECT credits_transfer('$from', '$to', 3, 't$k-$j');"$'\n'
		sql+="SELECT credits_spend('$to', 1, 'm$k-$j');"$'\n'
	done
	printf '%s' "$sql"
}
run_sessions 6 mover transfer
only_refusals transfer >/dev/null
spent=$(psql -c "SELECT sum(amount) FROM credits.entry WHERE account IN ('${accts[0]}', '${accts[1]}')
	AND kind = 'spend' AND reference LIKE 'm%'")
left=$(psql -c "SELECT sum(balance) FROM credits.account WHERE account IN ('${accts[0]}', '${accts[1]}')")
expect "credits conserved (400 granted = left + spent)" "$((left + spent))" 400
moved=$(psql -c "SELECT count(*) FROM credits.entry WHERE account IN ('${accts[0]}', '${accts[1]}') AND kind = 'transfer_out'")
((moved > 0)) || fail "no transfer went through"
expect "verify after transfers" "$(psql -c "SELECT count(*) FROM credits_verify()")" 0
echo "ok: $moved transfers both ways between the workers, with spends, conserved the credits (no deadlock)"
