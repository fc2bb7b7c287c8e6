#!/usr/bin/env bash
# outbox.sh: a consumer paging credits_events_since() through the
# coordinator never misses an event nor sees one twice, whatever order the
# workers' transactions commit in:
#   1. a transaction on one worker still open while one on the other worker
#      commits: the consumer sees the second now and the first once it
#      commits, after the cursor it already holds;
#   2. the same on one worker, the later transaction (higher xid, so higher
#      event id there) committing first;
#   3. a consumer whose transaction rolls back after reading publishes
#      nothing for good: the next read shows the same events;
#   4. eight writers spending and granting on accounts of both workers while
#      two consumers poll: each consumer sees every event exactly once.
# Event ids are unique across the cluster and carry the writer's node
# group; events are never notified on a distributed ledger.
#
# Runs against the coordinator in PGHOST/PGPORT (scripts/test.sh citus);
# leaves the database as it found it.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@"; }
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
work=$(mktemp -d /tmp/credits-outbox.XXXXXX)
chmod 777 "$work"
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql -c "DROP EXTENSION IF EXISTS credits CASCADE" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT
expect() { [[ $2 == "$3" ]] || fail "$1: got '$2', want '$3'"; }

psql -c "CREATE EXTENSION IF NOT EXISTS citus" -c "CREATE EXTENSION credits" >/dev/null
psql -c "SELECT credits_distribute()" >/dev/null

# Accounts: two on the first worker, one on the other.
node_of() {
	psql -c "SELECT p.nodeport FROM pg_dist_shard_placement p
		WHERE p.shardid = get_shard_id_for_distribution_column('credits.account', '$1')"
}
a=acct1 a2='' b=''
for i in $(seq 2 100); do
	if [[ $(node_of "acct$i") == "$(node_of "$a")" ]]; then
		[[ -z $a2 ]] && a2=acct$i
	elif [[ -z $b ]]; then
		b=acct$i
	fi
	[[ -n $a2 && -n $b ]] && break
done
[[ -n $a2 && -n $b ]] || fail "did not find two accounts on one worker and one on the other"

# A session kept open: statements go in through a fifo, and `sync` waits
# until psql has run everything sent so far.
session_open() { # name
	mkfifo "$work/$1.in"
	"$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 <"$work/$1.in" >"$work/$1.out" 2>&1 &
	pids+=($!)
	eval "exec {fd_$1}>\"$work/$1.in\""
}
session_send() { # name sql
	local fd=fd_$1
	printf '%s\n' "$2" >&"${!fd}"
}
session_sync() { # name
	local mark=sync-$RANDOM-$RANDOM i
	session_send "$1" "\\echo $mark"
	for i in $(seq 1 300); do
		grep -q "^$mark\$" "$work/$1.out" && return 0
		sleep 0.05
	done
	fail "session $1 did not answer: $(cat "$work/$1.out")"
}

echo 0 >"$work/cursor"
# Events after the cursor, as "account type amount"; moves the cursor
# (kept in a file: consume runs in a subshell).
consume() {
	local rows
	rows=$(psql -F ' ' -c "SELECT event_id, account, type, payload->>'amount'
		FROM credits_events_since($(cat "$work/cursor"), 1000) ORDER BY event_id")
	[[ -n $rows ]] && tail -n 1 <<<"$rows" | cut -d' ' -f1 >"$work/cursor"
	# (sorted: events of different workers come in no set order)
	cut -s -d' ' -f2- <<<"$rows" | sort | paste -sd ',' -
}

psql -c "SELECT credits_grant('$a', 100)" -c "SELECT credits_grant('$a2', 100)" -c "SELECT credits_grant('$b', 100)" >/dev/null
expect "the three grants" "$(consume)" \
	"$(printf '%s account.credits.granted 100\n' "$a" "$a2" "$b" | sort | paste -sd ',' -)"

# 1. Two workers, the first transaction committing last.
session_open s1
session_send s1 "BEGIN; SELECT credits_spend('$a', 1, 'one');"
session_sync s1
psql -c "SELECT credits_spend('$b', 2, 'two')" >/dev/null
expect "while the transaction on the first worker is open" "$(consume)" "$b account.credits.spent 2"
session_send s1 "COMMIT;"
session_sync s1
expect "once it committed" "$(consume)" "$a account.credits.spent 1"
expect "nothing more" "$(consume)" ""

# 2. One worker, the later transaction committing first.
session_send s1 "BEGIN; SELECT credits_spend('$a', 3, 'three');"
session_sync s1
psql -c "SELECT credits_spend('$a2', 4, 'four')" >/dev/null
expect "while the earlier transaction is open" "$(consume)" "$a2 account.credits.spent 4"
session_send s1 "COMMIT;"
session_sync s1
expect "once it committed" "$(consume)" "$a account.credits.spent 3"
grep -q ERROR "$work/s1.out" && fail "session s1: $(cat "$work/s1.out")"

# 3. A consumer that rolls back publishes nothing for good.
psql -c "SELECT credits_grant('$b', 5)" >/dev/null
n=$(psql -c "BEGIN" -c "SELECT count(*) FROM credits_events_since($(cat "$work/cursor"))" -c "ROLLBACK")
expect "read in a transaction rolled back" "$n" 1
expect "read again" "$(consume)" "$b account.credits.granted 5"

# 4. Eight writers, two consumers.
psql -c "SELECT credits_grant('w' || i, 1000) FROM generate_series(1, 16) i" >/dev/null
writer() { # k: 60 spends and 10 grants over accounts w1..w16
	local k=$1 j sql=''
	for j in $(seq 1 60); do
		sql+="SELECT credits_spend('w$(((k * 7 + j) % 16 + 1))', 1, 'w$k-$j');"$'\n'
		((j % 6 == 0)) && sql+="SELECT credits_grant('w$(((k + j) % 16 + 1))', 2);"$'\n'
	done
	psql <<<"$sql" >/dev/null
}
poller() { # name: polls until told to stop, then drains; writes event_id account entry_id
	local c=0 rows last
	: >"$work/$1.seen"
	while :; do
		local stop=0
		[[ -f $work/stop ]] && stop=1
		rows=$(psql -F ' ' -c "SELECT event_id, account, payload->>'entry_id' FROM credits_events_since($c, 50) ORDER BY event_id")
		if [[ -n $rows ]]; then
			printf '%s\n' "$rows" >>"$work/$1.seen"
			last=$(tail -n 1 <<<"$rows" | cut -d' ' -f1)
			c=$last
		elif ((stop)); then
			break
		fi
	done
}
start_cursor=$(cat "$work/cursor")
poller p1 &
pids+=($!)
poller p2 &
pids+=($!)
wpids=()
for k in $(seq 1 8); do
	writer "$k" &
	wpids+=($!)
done
for p in "${wpids[@]}"; do wait "$p" || fail "a writer failed"; done
touch "$work/stop"
for p in "${pids[@]:1}"; do wait "$p" || fail "a consumer failed"; done
pids=("${pids[0]}")

total=$(psql -c "SELECT count(*) FROM credits.event_log WHERE seq > $start_cursor")
expect "events written by the writers" "$total" $((16 + 8 * 70))
expect "unpublished events left" "$(psql -c "SELECT count(*) FROM credits.event")" 0
for p in p1 p2; do
	sort -n "$work/$p.seen" | cut -d' ' -f1 | awk -v s="$start_cursor" '$1 > s' >"$work/$p.ids"
	expect "$p: events seen" "$(wc -l <"$work/$p.ids")" "$total"
	expect "$p: events seen twice" "$(uniq -d "$work/$p.ids" | wc -l)" 0
done

# Ids unique across the cluster, with the writer's node group on top.
expect "duplicate source ids" "$(psql -c "SELECT count(*) - count(DISTINCT source_id) FROM credits.event_log")" 0
groups=$(psql -c "SELECT string_agg(DISTINCT (source_id >> 56)::text, ',') FROM credits.event_log WHERE seq > $start_cursor")
[[ $groups == *,* ]] || fail "events from the workers carry node groups '$groups', want two"

# A worker refuses to page the outbox (it holds only unpublished events).
read -r -a hosts <<<"${CREDITS_CITUS_WORKER_HOSTS-}"
read -r -a ports <<<"${CREDITS_CITUS_WORKER_PORTS-}"
err=$(psql -h "${hosts[0]}" -p "${ports[0]}" -c "SELECT credits_events_since(0)" 2>&1 || true)
[[ $err == *"read through the coordinator"* ]] || fail "a worker answered credits_events_since: $err"

# Pruning empties the published log too.
psql -c "SELECT credits_prune_events('0 seconds')" >/dev/null
expect "log after pruning" "$(psql -c "SELECT count(*) FROM credits.event_log")" 0
echo PASS
