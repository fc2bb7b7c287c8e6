#!/usr/bin/env bash
# routing.sh: a per-account call delegated to the worker that holds the
# account (create_distributed_function by account) runs every statement on
# that worker's shard, locally: no statement that Citus plans with
# intermediate results shipped through new connections (a CTE that is an
# INSERT, INSERT ... SELECT, UPDATE ... FROM a CTE), which costs a hundred
# times the call.  With citus.log_remote_commands and
# citus.log_local_commands on for the workers' sessions, the calls
# credits_grant, credits_spend (the first lot covers it; across lots; an
# expiry due first; down to zero) and credits_balance, for an account on
# each worker, must log only "executing the command locally", never
# "issuing", nor "executing the copy locally" (an intermediate result
# written to a file, then read back: twice the cost).  Also checks the balances and histories, and prints the
# latency of a delegated spend through the coordinator (pgbench -T 5).
#
# Runs against the coordinator in PGHOST/PGPORT, workers in
# CREDITS_CITUS_WORKER_HOSTS/_PORTS (scripts/test.sh citus); leaves the
# database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
((${#hosts[@]} == 2 && ${#ports[@]} == 2)) || fail "CREDITS_CITUS_WORKER_HOSTS/_PORTS do not name 2 workers"
# the server log of each worker (scripts/lib.sh: beside its socket dir)
logs=("${hosts[0]%/sock}/postgres.log" "${hosts[1]%/sock}/postgres.log")
for l in "${logs[@]}"; do
	[[ -r $l ]] || fail "cannot read the worker log $l"
done
worker() { psql -h "${hosts[$1]}" -p "${ports[$1]}" "${@:2}"; }

LOGGING="citus.log_remote_commands citus.log_local_commands log_min_messages"
cleanup() {
	set +e
	for i in 0 1; do
		for g in $LOGGING; do
			worker "$i" -c "SET citus.enable_ddl_propagation = off" -c "ALTER ROLE postgres RESET $g" >/dev/null 2>&1
		done
	done
	psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1
}
trap cleanup EXIT

# Distribute the ledger (reference tables for the configuration, the
# per-account tables co-located with credits.account, credits_owner able to
# log in between nodes, the per-account functions delegated by account).
psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null ||
	fail "could not create the extensions"
psql -c "SELECT credits_distribute()" >/dev/null || fail "could not distribute the ledger"

# The distributed flag is on, on the coordinator and on the workers.
for i in 0 1; do
	d=$(worker "$i" -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'credits.account'::regclass")
	[[ $d == 1 ]] || fail "credits.account is not known as distributed on worker $i"
done

# One account on each worker: the port of the node holding the account's shard.
node_of() {
	psql -c "SELECT p.nodeport FROM pg_dist_shard_placement p
		WHERE p.shardid = get_shard_id_for_distribution_column('credits.account', '$1')"
}
accounts=('' '')
for n in $(seq 1 40); do
	a=route-$n p=$(node_of "route-$n")
	for i in 0 1; do
		[[ $p == "${ports[i]}" && -z ${accounts[i]} ]] && accounts[i]=$a
	done
	[[ -n ${accounts[0]} && -n ${accounts[1]} ]] && break
done
[[ -n ${accounts[0]} && -n ${accounts[1]} ]] || fail "no account name found for each worker"

# The workers' sessions of postgres (a delegated call runs in one) log
# every command they run, locally or through a connection.  Not
# propagated: the coordinator's own remote command, the delegation, is fine.
for i in 0 1; do
	worker "$i" -c "SET citus.enable_ddl_propagation = off" \
		-c "ALTER ROLE postgres SET citus.log_remote_commands = on" \
		-c "ALTER ROLE postgres SET citus.log_local_commands = on" \
		-c "ALTER ROLE postgres SET log_min_messages = notice" -c "SELECT pg_reload_conf()" >/dev/null
done

# call LABEL WORKER SQL: run SQL through the coordinator (a new session);
# fails if the worker's log or the client's notices show a remote command,
# or if the worker did not run the call's statements locally (the call
# was not delegated).  Prints the call's result.
issued_total=0
call() {
	local label=$1 i=$2 sql=$3 out err before slice issued local
	before=$(stat -c %s "${logs[i]}")
	err=$(mktemp)
	out=$(psql -c "$sql" 2>"$err") || {
		cat "$err" >&2
		rm -f "$err"
		fail "$label failed"
	}
	sleep 0.2 # let the worker's log catch up
	slice=$(tail -c +"$((before + 1))" "${logs[i]}")
	# "issuing": a command sent through a connection; "executing the copy
	# locally": an intermediate result written to a file, even if only here
	issued=$(grep -oE '(issuing|executing the copy locally) .*' <<<"$slice" | sed 's/^/      /' || true)
	# the worker's notices reach the client too: the same commands
	if [[ -z $issued ]] && grep -q 'issuing ' "$err"; then
		issued=$(grep -o 'issuing .*' "$err" | sed 's/^/      (client) /')
	fi
	local=$(grep -c 'executing the command locally' <<<"$slice" || true)
	rm -f "$err"
	printf '  %-40s worker %d: %2d local statements, %2d remote, %d intermediate results\n' \
		"$label" "$i" "$local" "$(grep -c 'issuing' <<<"$issued" || true)" \
		"$(grep -c 'executing the copy' <<<"$issued" || true)" >&2
	if [[ -n $issued ]]; then
		echo "$issued" >&2
		issued_total=$((issued_total + $(wc -l <<<"$issued")))
	fi
	((local > 0)) || fail "$label: the worker executed nothing locally (not delegated?)"
	echo "$out"
}

for i in 0 1; do
	a=${accounts[i]}
	echo "account $a (worker $i, port ${ports[i]}):" >&2
	call "grant 100, no expiry" "$i" "SELECT credits_grant('$a', 100, 'CRD')" >/dev/null
	call "grant 50, expires in a day" "$i" \
		"SELECT credits_grant('$a', 50, 'CRD', now() + interval '1 day', 'promo')" >/dev/null
	call "spend 30 (the first lot covers it)" "$i" "SELECT credits_spend('$a', 30, 'r1')" >/dev/null
	call "spend 40 (across two lots)" "$i" "SELECT credits_spend('$a', 40, 'r2')" >/dev/null
	# (a literal: Citus does not delegate a call with a volatile argument)
	soon=$(psql -c "SELECT clock_timestamp() + interval '2 seconds'")
	call "grant 5, expires in 2 seconds" "$i" "SELECT credits_grant('$a', 5, 'CRD', '$soon')" >/dev/null
	sleep 2.2
	call "spend 10 (the expiry is recorded first)" "$i" "SELECT credits_spend('$a', 10)" >/dev/null
	b=$(call "balance" "$i" "SELECT credits_balance('$a')")
	[[ $b == 70 ]] || fail "balance of $a is '$b', want 70"
	call "spend 70 (down to zero)" "$i" "SELECT credits_spend('$a', 70, 'r3')" >/dev/null
	b=$(call "balance" "$i" "SELECT credits_balance('$a')")
	[[ $b == 0 ]] || fail "balance of $a is '$b', want 0"
done
# The other writers given the account, on an account of their own on each
# worker: a purchase paid by card, a pending one, an invoice paid in
# credits, credits an invoice issues (a rule that resets the balance), a
# hold, a subscription; then those of 1.2: a grant for one service, a
# spend for it, an auto top-up asked for by a spend, a reset that keeps
# something.
psql -c "SELECT credits_define_package('Route pack', 500, 'USD', 50.00)" \
	-c "SELECT credits_set_rate('USD', 10)" \
	-c "SELECT credits_define_rule('route-service', 300, 'reset')" \
	-c "SELECT credits_define_rule('route-keep', 50, 'reset', rollover => 1)" >/dev/null
others=('' '')
for n in $(seq 1 40); do
	a=route-w-$n p=$(node_of "route-w-$n")
	for i in 0 1; do
		[[ $p == "${ports[i]}" && -z ${others[i]} ]] && others[i]=$a
	done
	[[ -n ${others[0]} && -n ${others[1]} ]] && break
done
[[ -n ${others[0]} && -n ${others[1]} ]] || fail "no second account name found for each worker"
for i in 0 1; do
	a=${others[i]}
	echo "account $a (worker $i, port ${ports[i]}):" >&2
	call "purchase paid by card" "$i" "SELECT status FROM credits_purchase('$a', 'Route pack', 'stripe', 'ch-$i')" >/dev/null
	call "purchase by bank transfer (pending)" "$i" \
		"SELECT status FROM credits_purchase('$a', 'Route pack', 'bank_transfer', 'wire-$i')" >/dev/null
	call "pay an invoice of 2.50 USD in credits" "$i" "SELECT entry_id FROM credits_pay('$a', 2.50, 'USD', 'inv-$i')" >/dev/null
	call "an invoice issues credits (reset rule)" "$i" "SELECT credits_issue('$a', 'route-service', 'issue-$i')" >/dev/null
	call "hold 20" "$i" "SELECT credits_hold('$a', 20, 'order-$i')" >/dev/null
	call "subscribe (10 credits a month)" "$i" "SELECT credits_subscribe('$a', 10, '1 month')" >/dev/null
	b=$(call "balance" "$i" "SELECT credits_balance('$a')")
	[[ $b == 290 ]] || fail "balance of $a is '$b', want 290 (300 issued after the reset, 20 held, 10 subscribed)"
	# the writers of 1.2: priority and scope, resets that keep something,
	# auto top-up (the spend that crosses the threshold asks for one)
	call "grant 10 for a service, priority 1" "$i" \
		"SELECT credits_grant('$a', 10, applies_to => ARRAY['ai'], priority => 1)" >/dev/null
	call "spend 285 for the service" "$i" "SELECT credits_spend('$a', 285, service => 'ai')" >/dev/null
	call "set an auto top-up below 20" "$i" "SELECT credits_set_auto_topup('$a', 20, 'Route pack', 'stripe')" >/dev/null
	call "spend 3 (crosses the threshold)" "$i" "SELECT credits_spend('$a', 3)" >/dev/null
	call "an invoice issues credits (reset keeping 1)" "$i" "SELECT credits_issue('$a', 'route-keep', 'keep-$i')" >/dev/null
	b=$(call "balance for the service" "$i" "SELECT credits_balance('$a', service => 'ai')")
	[[ $b == 51 ]] || fail "balance of $a for ai is '$b', want 51 (of 12, the reset kept 1, then 50 issued)"
	t=$(psql -c "SELECT count(*) FROM credits_requests('$a') WHERE status = 'pending' AND package = 'Route pack' AND method = 'stripe'")
	[[ $t == 1 ]] || fail "$a has $t pending top-ups, want 1"
	# the functions given an id, naming the account (so delegated by it)
	h=$(call "hold 4" "$i" "SELECT credits_hold('$a', 4, 'by-account-$i')")
	call "capture 1 of it, naming the account" "$i" "SELECT credits_capture($h, 1, account => '$a')" >/dev/null
	h=$(call "hold 2" "$i" "SELECT credits_hold('$a', 2, 'by-account-2-$i')")
	call "release it, naming the account" "$i" "SELECT credits_release($h, account => '$a')" >/dev/null
	e=$(call "spend 5" "$i" "SELECT credits_spend('$a', 5)")
	call "reverse it, naming the account" "$i" "SELECT credits_reverse($e, 'refund', account => '$a')" >/dev/null
	l=$(call "grant 3" "$i" "SELECT credits_grant('$a', 3)")
	call "void it, naming the account" "$i" "SELECT credits_void($l, 'wrong', account => '$a')" >/dev/null
	r=$(psql -c "SELECT subscription_id FROM credits_subscriptions('$a')")
	call "cancel the subscription, naming the account" "$i" \
		"SELECT credits_cancel_subscription($r, account => '$a')" >/dev/null
	r=$(psql -c "SELECT request_id FROM credits_requests('$a', 'pending') WHERE method = 'bank_transfer'")
	call "accept the wire, naming the account" "$i" "SELECT credits_accept_request($r, account => '$a')" >/dev/null
	r=$(psql -c "SELECT request_id FROM credits_requests('$a', 'pending') WHERE method = 'stripe'")
	call "reject the top-up, naming the account" "$i" \
		"SELECT credits_reject_request($r, 'card declined', account => '$a')" >/dev/null
	b=$(call "balance" "$i" "SELECT credits_balance('$a')")
	[[ $b == 550 ]] || fail "balance of $a is '$b', want 550 (51, 1 captured, the wire's 500 accepted)"
done
for i in 0 1; do
	for g in $LOGGING; do
		worker "$i" -c "SET citus.enable_ddl_propagation = off" -c "ALTER ROLE postgres RESET $g" >/dev/null
	done
done

# Histories, events and allocations as one node writes them.
for i in 0 1; do
	a=${accounts[i]}
	h=$(psql -c "SELECT string_agg(kind || ' ' || amount::text || ' ' || running_balance::text, ', ' ORDER BY n)
		FROM credits_history('$a') WITH ORDINALITY
		AS h(entry_id, at, kind, direction, amount, running_balance, reference, reason, n)")
	want='grant 100 100, grant 50 150, spend 30 120, spend 40 80, grant 5 85, expire 5 80, spend 10 70, spend 70 0'
	[[ $h == "$want" ]] || fail "history of $a: '$h', want '$want'"
	al=$(psql -c "SELECT string_agg(e.kind || ' ' || x.amount::text, ', ' ORDER BY e.seq, l.expires_at NULLS LAST)
		FROM credits.allocation x JOIN credits.entry e ON e.account = x.account AND e.entry_id = x.entry_id
		JOIN credits.lot l ON l.account = x.account AND l.lot_id = x.lot_id WHERE x.account = '$a'")
	want='spend 30, spend 20, spend 20, spend 10, spend 70'
	[[ $al == "$want" ]] || fail "allocations of $a: '$al', want '$want'"
	ev=$(psql -c "SELECT string_agg(replace(type, 'account.credits.', ''), ' ' ORDER BY id) FROM credits.event WHERE account = '$a'")
	want='granted granted spent spent granted expired spent spent balance_depleted'
	[[ $ev == "$want" ]] || fail "events of $a: '$ev', want '$want'"
	ok=$(psql -c "SELECT count(*) FROM credits.lot WHERE account = '$a' AND remaining = 0 AND NOT is_open")
	[[ $ok == 3 ]] || fail "$a has $ok empty closed lots, want 3"
	b=$(psql -c "SELECT a.balance::text || ' ' || sum(l.remaining)::text FROM credits.account a
		JOIN credits.lot l ON l.account = a.account AND l.credit_type = a.credit_type
		WHERE a.account = '$a' GROUP BY a.balance")
	[[ $b == '0 0' ]] || fail "$a: account balance and sum of its lots are '$b', want '0 0'"
done

# Latency of a delegated spend through the coordinator.
a=${accounts[0]}
psql -c "SELECT credits_grant('$a', 1000000000, 'CRD')" >/dev/null
bench=$(mktemp)
echo "SELECT credits_spend('$a', 1);" >"$bench"
lat=$("$PGBIN/pgbench" -n -T 5 -f "$bench" 2>&1 | sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p')
rm -f "$bench"
echo "latency of a delegated credits_spend through the coordinator (pgbench -T 5, 1 client): $lat ms" >&2
# statements shipped through intermediate results cost 100 ms and more
[[ -n $lat ]] && awk -v l="$lat" 'BEGIN { exit !(l < 50) }' ||
	fail "a delegated credits_spend takes '$lat' ms through the coordinator, want well under 50"

((issued_total == 0)) || fail "$issued_total remote commands or intermediate results in delegated calls"
echo "ok: delegated grant, spend, balance, purchase, pay, issue, hold, subscribe, a spend for a service, an auto top-up, a reset keeping credits and the functions given an id with their account ran on their worker with no remote command; spend $lat ms"
