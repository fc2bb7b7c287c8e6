#!/usr/bin/env bash
# bench/run.sh (make bench): credits_spend throughput against the floor (the
# same rows written by one hand-written SQL statement) and a PL/pgSQL
# implementation, measured side by side, in one run, on one throwaway cluster.
#
# Settings (environment): BENCH_SECONDS per measurement (default 6),
# BENCH_ROUNDS (default 3; medians are reported), BENCH_CLIENTS (default
# "1 8"), BENCH_SYNC (default "off on"), BENCH_ACCOUNTS (default 10000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

SECONDS_PER_RUN=${BENCH_SECONDS:-6}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-"1 8"}
SYNCS=${BENCH_SYNC:-"off on"}
ACCOUNTS=${BENCH_ACCOUNTS:-10000}
HERE=$CREDITS_ROOT/bench

credits_setup
cluster_start shared_buffers=512MB max_wal_size=4GB checkpoint_timeout=30min \
	wal_buffers=16MB log_min_messages=warning
createdb bench
credits_log "loading $ACCOUNTS accounts with two lots each"
psql -X -q -d bench -v accounts="$ACCOUNTS" -f "$HERE/setup.sql" >/dev/null

# tps of one pgbench run of script $1 with $2 clients and synchronous_commit $3
measure() {
	local out
	out=$(PGOPTIONS="-c synchronous_commit=$3 -c credits.notify=off" \
		pgbench -n -M prepared -c "$2" -j "$(( $2 < 2 ? 1 : 2 ))" -T "$SECONDS_PER_RUN" \
		-f "$HERE/$1.pgbench" bench 2>&1) || { echo "$out" >&2; return 1; }
	if grep -q 'number of failed transactions: [1-9]' <<<"$out"; then
		echo "$out" >&2
		return 1
	fi
	sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A TPS
for sync in $SYNCS; do
	for c in $CLIENTS; do
		for r in $(seq "$ROUNDS"); do
			# Alternate the order so that drift on a shared machine evens out.
			if (( r % 2 )); then order="spend floor plpgsql"; else order="plpgsql floor spend"; fi
			for v in $order; do
				t=$(measure "$v" "$c" "$sync")
				TPS[$v,$c,$sync]+="$t "
				credits_log "round $r: $v, $c clients, synchronous_commit=$sync: $t tps"
			done
		done
	done
done

psql -X -q -d bench -At -c "SELECT count(*) FROM credits_verify()" | grep -qx 0 \
	|| { echo "credits_verify() found problems after the benchmark" >&2; exit 1; }

printf '\ncredits_spend benchmark: %s accounts x 2 lots, pgbench -M prepared, %s s x %s rounds (medians)\n' \
	"$ACCOUNTS" "$SECONDS_PER_RUN" "$ROUNDS"
printf '%-28s %12s %12s %12s %14s %16s\n' "configuration" "spend tps" "floor tps" "plpgsql tps" "spend/floor" "spend/plpgsql"
for sync in $SYNCS; do
	for c in $CLIENTS; do
		s=$(tr ' ' '\n' <<<"${TPS[spend,$c,$sync]}" | grep . | median)
		f=$(tr ' ' '\n' <<<"${TPS[floor,$c,$sync]}" | grep . | median)
		p=$(tr ' ' '\n' <<<"${TPS[plpgsql,$c,$sync]}" | grep . | median)
		printf '%-28s %12.0f %12.0f %12.0f %14.2f %16.2f\n' "$c clients, sync_commit=$sync" \
			"$s" "$f" "$p" "$(awk -v a="$s" -v b="$f" 'BEGIN { print a / b }')" \
			"$(awk -v a="$s" -v b="$p" 'BEGIN { print a / b }')"
	done
done
printf '\nmachine: %s, %s cores, PostgreSQL %s\n' "$(uname -m)" "$(nproc)" "$(psql -X -At -c 'SHOW server_version')"
