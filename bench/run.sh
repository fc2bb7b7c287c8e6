#!/usr/bin/env bash
# bench/run.sh (make bench): every figure of the performance issue, measured
# side by side in one run on one throwaway cluster, reported as medians and
# ratios (the machine is shared and noisy: compare ratios, not absolute
# times).  See bench/README.md for what each part measures and how its floor
# is defined.
#
# Parts (BENCH_ONLY selects some, default all):
#   spend    credits_spend vs floor vs PL/pgSQL, 1 and 8 clients, sync off/on;
#            the cost of credits.notify=on
#   hot      8 clients spending from one account vs the floor on one row
#   scaling  spend on an account with 10,000 open lots and 100,000 entries vs
#            fresh accounts; credits_balance and a 50-entry history page on
#            an account with 1,000,000 entries
#   memory   backend RSS before and after 1,000,000 spends in one session
#   convert  credits_convert per call vs ceil(price * rate)
#   bulk     credits_grant_many / credits_grant and credits_expire over
#            1,000,000 accounts vs set-based SQL
#   citus    last, bench/citus.sh (PostgreSQL 15 only; it runs alone too):
#            spends through a Citus coordinator, delegated to the worker
#            holding the account, vs the same spends on one plain node, and
#            the coordinator's round trips to the worker per spend
#
# Settings (environment; BENCH_QUICK=1 picks the smaller defaults in
# brackets, for a run of a few minutes):
#   BENCH_SECONDS      seconds per pgbench measurement        4   [3]
#   BENCH_ROUNDS       rounds of each measurement (medians)   5   [1]
#   BENCH_CLIENTS      client counts of the spend part        "1 8"
#   BENCH_SYNC         synchronous_commit values              "off on"
#   BENCH_ACCOUNTS     accounts with two lots each            10000
#   BENCH_BIG_LOTS     open lots of the scaling account       10000
#   BENCH_BIG_ENTRIES  its history (spends)                   100000 [20000]
#   BENCH_HISTORY_N    entries of the history account         1000000 [100000]
#   BENCH_HISTORY_REAL 1: build that history through credits_spend (slow)
#   BENCH_MEMORY_N     spends of the memory part              1000000 [100000]
#   BENCH_CONVERT_N    calls per convert measurement          1000000 [100000]
#   BENCH_CONVERT_ROUNDS  rounds of the convert part          3
#   BENCH_BULK_N       accounts / due lots of the bulk part   1000000 [50000]
#   BENCH_BULK_LOOP_N  accounts of the credits_grant loop     min(BULK_N, 100000)
#   BENCH_EXPIRE_TIMEOUT  seconds credits_expire may take     max(60, 3 x floor)
#   BENCH_CITUS_SECONDS / _ROUNDS / _CLIENTS / _ACCOUNTS   the citus part's
#                      (bench/citus.sh)          20 [5] / 1 / "1 8" / 1000
#   BENCH_OUT          also write the final table to this file
#   CREDITS_PG_VERSION 15 (default, the host's), 17 or 18 (in its Debian root)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# CREDITS_PG_VERSION=17 (or 18): the same run inside that version's Debian root.
# BENCH_OUT names a file outside the root: the run inside writes the table to
# a file of the root, copied out at the end.
if [[ $CREDITS_PG_VERSION != 15 && -z ${CREDITS_IN_ROOT-} ]]; then
	out=${BENCH_OUT-} inner='' rc=0
	# The copy in the root has no .git: name the tree from here.
	BENCH_TREE=$(git -C "$CREDITS_ROOT" describe --always --dirty 2>/dev/null || echo unknown)
	export BENCH_TREE
	if [[ -n $out ]]; then
		root=$(bash "$CREDITS_ROOT/scripts/pgroot.sh" "$CREDITS_PG_VERSION") || exit 1
		inner=$(mktemp "$root/tmp/bench-out.XXXXXX") || exit 1
		chmod 644 "$inner"
		export BENCH_OUT=${inner#"$root"}
	fi
	credits_run_in_root "$CREDITS_PG_VERSION" bench/run.sh "$@" || rc=$?
	if [[ -n $inner ]]; then
		[[ -s $inner ]] && cp "$inner" "$out"
		rm -f "$inner"
	fi
	exit "$rc"
fi
HERE=$CREDITS_ROOT/bench

QUICK=${BENCH_QUICK:-0}
# pick QUICK FULL: the default for a quick or a full run
pick() { if [[ $QUICK == 1 ]]; then echo "$1"; else echo "$2"; fi; }
SECONDS_PER_RUN=${BENCH_SECONDS:-$(pick 3 4)}
ROUNDS=${BENCH_ROUNDS:-$(pick 1 5)}
CLIENTS=${BENCH_CLIENTS:-"1 8"}
SYNCS=${BENCH_SYNC:-"off on"}
ACCOUNTS=${BENCH_ACCOUNTS:-10000}
BIG_LOTS=${BENCH_BIG_LOTS:-10000}
BIG_ENTRIES=${BENCH_BIG_ENTRIES:-$(pick 20000 100000)}
HISTORY_N=${BENCH_HISTORY_N:-$(pick 100000 1000000)}
HISTORY_REAL=${BENCH_HISTORY_REAL:-0}
MEMORY_N=${BENCH_MEMORY_N:-$(pick 100000 1000000)}
CONVERT_N=${BENCH_CONVERT_N:-$(pick 100000 1000000)}
CONVERT_ROUNDS=${BENCH_CONVERT_ROUNDS:-3}
BULK_N=${BENCH_BULK_N:-$(pick 50000 1000000)}
BULK_LOOP_N=${BENCH_BULK_LOOP_N:-$((BULK_N < 100000 ? BULK_N : 100000))}
ALL_PARTS="spend hot scaling memory convert bulk citus"
ONLY=${BENCH_ONLY:-$ALL_PARTS}
LAT_SECONDS=$((SECONDS_PER_RUN / 2 > 2 ? SECONDS_PER_RUN / 2 : 2))

for p in $ONLY; do
	case $p in spend | hot | scaling | memory | convert | bulk | citus) ;;
	*) credits_err "unknown part '$p' in BENCH_ONLY ($ALL_PARTS)"; exit 2 ;;
	esac
done
want() { [[ " $ONLY " == *" $1 "* ]]; }
# The citus part alone needs none of this script's cluster.
read -r -a parts <<<"$ONLY"
if [[ ${#parts[@]} == 1 && ${parts[0]} == citus ]]; then
	exec bash "$CREDITS_ROOT/bench/citus.sh"
fi

# ---------------------------------------------------------------- helpers

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# med "v1 v2 v3": their median
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
# pair "a1 a2 .." "b1 b2 ..": the median of a_i / b_i, the ratio of each
# round's two measurements, taken minutes apart at most
pair() { paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{ print $1 / $2 }' | median; }
# calc EXPR: awk arithmetic, printed with %.4g unless a format is given
calc() { awk "BEGIN { printf \"${2:-%.4g}\", ($1) }"; }
# verdict VALUE OP TARGET: PASS or MISS
verdict() { if awk "BEGIN { exit !($1 $2 $3) }"; then echo PASS; else echo MISS; fi; }
now_s() { echo "${EPOCHREALTIME/,/.}"; }
since() { calc "$(now_s) - $1" "%.1f"; }
RUN_START=$(now_s)
# log MESSAGE: to stderr, with the minutes since the start
log() { credits_log "[$(calc "($(now_s) - $RUN_START) / 60" "%4.1f") min] $*"; }

declare -a ROWS=()
# row PART WHAT MEASURED RATIO TARGET RESULT
row() { ROWS+=("$1|$2|$3|$4|$5|$6"); }

sql() { local db=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# pg_bench DB SCRIPT CLIENTS SYNC NOTIFY SECONDS: pgbench -M prepared output;
# fails on any failed transaction.
pg_bench() {
	local db=$1 script=$2 c=$3 sync=$4 notify=$5 secs=$6 out
	out=$(PGOPTIONS="-c synchronous_commit=$sync -c credits.notify=$notify" \
		pgbench -n -M prepared -c "$c" -j "$((c < 2 ? 1 : 2))" -T "$secs" \
		-D accounts="$ACCOUNTS" -f "$script" "$db" 2>&1) || { echo "$out" >&2; return 1; }
	if grep -q 'number of failed transactions: [1-9]' <<<"$out"; then
		echo "$out" >&2
		return 1
	fi
	echo "$out"
}
tps_of() { sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -n 1; }
lat_of() { sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' | head -n 1; }

# verify DB PART: credits_verify() must return no rows.
verify() {
	local n t0
	t0=$(now_s)
	n=$(sql "$1" -c "SELECT count(*) FROM credits_verify()")
	if [[ $n != 0 ]]; then
		psql -X -d "$1" -c "SELECT * FROM credits_verify() LIMIT 20" >&2 || true
		credits_err "credits_verify() found $n problems in database $1 after the $2 part"
		exit 1
	fi
	log "$2: credits_verify() is clean ($(since "$t0") s)"
}

# ---------------------------------------------------------------- cluster

credits_setup
# Durable commits as in production (fsync and full-page writes on), so that
# synchronous_commit=on means what it says; each measurement sets
# synchronous_commit itself.
cluster_start shared_buffers=512MB max_wal_size=4GB checkpoint_timeout=30min \
	wal_buffers=16MB log_min_messages=warning fsync=on full_page_writes=on
WORK=$CREDITS_TMP/bench
mkdir -p "$WORK"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TREE=${BENCH_TREE:-$(git -C "$CREDITS_ROOT" describe --always --dirty 2>/dev/null || echo unknown)}

if want spend || want hot || want memory; then
	t0=$(now_s)
	createdb bench
	log "loading $ACCOUNTS accounts with two lots each, and the hot account"
	psql -X -q -d bench -v accounts="$ACCOUNTS" -f "$HERE/setup.sql" >/dev/null
	log "loaded in $(since "$t0") s"
fi

# ---------------------------------------------------------------- 1. spend

if want spend; then
	log "part spend: credits_spend vs floor vs PL/pgSQL (${SECONDS_PER_RUN} s x $ROUNDS rounds)"
	declare -A TPS=()
	for sync in $SYNCS; do
		for c in $CLIENTS; do
			variants="spend floor plpgsql"
			[[ $sync == off && $c == 8 ]] && variants+=" notify"
			for r in $(seq "$ROUNDS"); do
				# Alternate the order so that drift on a shared machine evens out.
				order=$variants
				((r % 2)) || order=$(tr ' ' '\n' <<<"$variants" | tac | tr '\n' ' ')
				for v in $order; do
					case $v in
					spend) t=$(pg_bench bench "$HERE/spend.pgbench" "$c" "$sync" off "$SECONDS_PER_RUN" | tps_of) ;;
					notify) t=$(pg_bench bench "$HERE/spend.pgbench" "$c" "$sync" on "$SECONDS_PER_RUN" | tps_of) ;;
					floor) t=$(pg_bench bench "$HERE/floor.pgbench" "$c" "$sync" off "$SECONDS_PER_RUN" | tps_of) ;;
					plpgsql) t=$(pg_bench bench "$HERE/plpgsql.pgbench" "$c" "$sync" off "$SECONDS_PER_RUN" | tps_of) ;;
					esac
					TPS[$v,$c,$sync]+="$t "
					log "round $r: $v, $c clients, synchronous_commit=$sync: $t tps"
				done
			done
		done
	done
	printf '\ncredits_spend: %s accounts x 2 lots, pgbench -M prepared, credits.notify off, %s s x %s rounds (medians)\n' \
		"$ACCOUNTS" "$SECONDS_PER_RUN" "$ROUNDS"
	printf '%-28s %12s %12s %12s %14s %16s\n' "configuration" "spend tps" "floor tps" "plpgsql tps" "spend/floor" "spend/plpgsql"
	for sync in $SYNCS; do
		for c in $CLIENTS; do
			s=$(med "${TPS[spend,$c,$sync]}")
			f=$(med "${TPS[floor,$c,$sync]}")
			p=$(med "${TPS[plpgsql,$c,$sync]}")
			rf=$(calc "$(pair "${TPS[spend,$c,$sync]}" "${TPS[floor,$c,$sync]}")" "%.2f")
			rp=$(calc "$(pair "${TPS[spend,$c,$sync]}" "${TPS[plpgsql,$c,$sync]}")" "%.2f")
			printf '%-28s %12.0f %12.0f %12.0f %14s %16s\n' "$c clients, sync_commit=$sync" "$s" "$f" "$p" "$rf" "$rp"
			if [[ $sync == on ]]; then
				tf=0.95 tp=''
			elif [[ $c == 8 ]]; then
				tf=1.0 tp=1.2
			else
				tf='' tp=''
			fi
			row 1 "spend vs floor, $c cl, sync $sync" "$(printf '%.0f / %.0f tps' "$s" "$f")" "$rf" \
				"${tf:+>= $tf}" "$([[ -n $tf ]] && verdict "$rf" '>=' "$tf" || echo info)"
			row 1 "spend vs PL/pgSQL, $c cl, sync $sync" "$(printf '%.0f / %.0f tps' "$s" "$p")" "$rp" \
				"${tp:+>= $tp}" "$([[ -n $tp ]] && verdict "$rp" '>=' "$tp" || echo info)"
			if [[ -n ${TPS[notify,$c,$sync]-} ]]; then
				n=$(med "${TPS[notify,$c,$sync]}")
				rn=$(calc "$(pair "${TPS[notify,$c,$sync]}" "${TPS[spend,$c,$sync]}")" "%.2f")
				printf '%-28s %12.0f tps with credits.notify on: %s of off (cost %s%%)\n' "" "$n" "$rn" \
					"$(calc "(1 - $rn) * 100" "%.0f")"
				row 1 "credits.notify on vs off, $c cl, sync $sync" "$(printf '%.0f / %.0f tps' "$n" "$s")" "$rn" \
					"" "info: costs $(calc "(1 - $rn) * 100" "%.0f")%"
			fi
		done
	done
	verify bench spend
fi

# ---------------------------------------------------------------- 3. hot

if want hot; then
	log "part hot: 8 clients on one account vs the floor on one row"
	sed "s/'acct-' || :aid/'hot'/g" "$HERE/spend.pgbench" >"$WORK/hot_spend.pgbench"
	sed "s/'acct-' || :aid/'hot'/g" "$HERE/floor.pgbench" >"$WORK/hot_floor.pgbench"
	H_SPEND='' H_FLOOR=''
	for r in $(seq "$ROUNDS"); do
		if ((r % 2)); then order="spend floor"; else order="floor spend"; fi
		for v in $order; do
			t=$(pg_bench bench "$WORK/hot_$v.pgbench" 8 off off "$SECONDS_PER_RUN" | tps_of)
			if [[ $v == spend ]]; then H_SPEND+="$t "; else H_FLOOR+="$t "; fi
			log "round $r: hot $v, 8 clients: $t tps"
		done
	done
	s=$(med "$H_SPEND") f=$(med "$H_FLOOR")
	r=$(calc "$(pair "$H_SPEND" "$H_FLOOR")" "%.2f")
	printf '\nhot account, 8 clients, sync off: spend %.0f tps, floor %.0f tps: %s\n' "$s" "$f" "$r"
	row 3 "hot account, 8 cl: spend vs floor (1 row)" "$(printf '%.0f / %.0f tps' "$s" "$f")" "$r" ">= 0.9" \
		"$(verdict "$r" '>=' 0.9)"
	verify bench hot
fi

# ---------------------------------------------------------------- 2. scaling

if want scaling; then
	BIG_GRANTS=$((BIG_LOTS + (BIG_ENTRIES + 999) / 1000))
	log "part scaling: building account big ($BIG_GRANTS lots of 1,000, $BIG_ENTRIES spends)," \
		"hist ($HISTORY_N entries$([[ $HISTORY_REAL == 1 ]] && echo ', through credits_spend')) and small (100 entries)"
	t0=$(now_s)
	createdb scaling
	psql -X -q -d scaling -v accounts="$ACCOUNTS" -v big_lots="$BIG_GRANTS" -v big_entries="$BIG_ENTRIES" \
		-v history_n="$HISTORY_N" -v history_real="$([[ $HISTORY_REAL == 1 ]] && echo true || echo false)" \
		-f "$HERE/scaling_setup.sql" >/dev/null
	log "built in $(since "$t0") s"
	read -r big_open big_entries < <(sql scaling -F ' ' -c "
		SELECT (SELECT count(*) FROM credits.lot WHERE account = 'big' AND is_open),
			   (SELECT last_seq FROM credits.account WHERE account = 'big')")
	read -r hist_entries hist_lo hist_hi < <(sql scaling -F ' ' -c "
		SELECT count(*), min(entry_id), max(entry_id) FROM credits.entry WHERE account = 'hist'")
	small_first=$(sql scaling -c "SELECT min(entry_id) FROM credits.entry WHERE account = 'small'")

	sed "s/'acct-' || :aid/'big'/g" "$HERE/spend.pgbench" >"$WORK/spend_big.pgbench"
	echo "SELECT 1;" >"$WORK/noop.pgbench"
	echo "SELECT credits_balance('hist');" >"$WORK/balance_hist.pgbench"
	echo "SELECT credits_balance('small');" >"$WORK/balance_small.pgbench"
	printf '%s\n' "\\set e random($hist_lo, $((hist_hi - 50)))" \
		"SELECT * FROM credits_history_page('hist', after_entry_id => :e, max_rows => 50);" >"$WORK/page_hist.pgbench"
	echo "SELECT * FROM credits_history_page('small', after_entry_id => $small_first, max_rows => 50);" \
		>"$WORK/page_small.pgbench"
	# The same reads in plain SQL on the tables: what a page costs without
	# the function around it.
	echo "SELECT balance FROM credits.account WHERE account = 'hist' AND credit_type = 'CRD';" \
		>"$WORK/balance_sql.pgbench"
	printf '%s\n' "\\set e random($hist_lo, $((hist_hi - 50)))" \
		"SELECT e.entry_id, e.at, e.kind, credits.direction(e.kind), e.amount, e.running_balance, e.reference, e.reason FROM credits.entry e WHERE e.account = 'hist' AND e.credit_type = 'CRD' AND e.seq > (SELECT x.seq FROM credits.entry x WHERE x.entry_id = :e AND x.account = 'hist' AND x.credit_type = 'CRD') ORDER BY e.seq LIMIT 50;" \
		>"$WORK/page_sql.pgbench"

	S_BIG='' S_FRESH=''
	for r in $(seq "$ROUNDS"); do
		if ((r % 2)); then order="big fresh"; else order="fresh big"; fi
		for v in $order; do
			if [[ $v == big ]]; then
				t=$(pg_bench scaling "$WORK/spend_big.pgbench" 1 off off "$SECONDS_PER_RUN" | tps_of)
				S_BIG+="$t "
			else
				t=$(pg_bench scaling "$HERE/spend.pgbench" 1 off off "$SECONDS_PER_RUN" | tps_of)
				S_FRESH+="$t "
			fi
			log "round $r: spend on $v, 1 client: $t tps"
		done
	done
	declare -A LAT=()
	for r in $(seq "$ROUNDS"); do
		order="noop balance_sql balance_small balance_hist page_sql page_small page_hist"
		((r % 2)) || order=$(tr ' ' '\n' <<<"$order" | tac | tr '\n' ' ')
		for v in $order; do
			t=$(pg_bench scaling "$WORK/$v.pgbench" 1 off off "$LAT_SECONDS" | lat_of)
			LAT[$v]+="$t "
			log "round $r: $v, 1 client: $t ms"
		done
	done
	sb=$(med "$S_BIG") sf=$(med "$S_FRESH")
	r=$(calc "$(pair "$S_BIG" "$S_FRESH")" "%.2f")
	noop=$(med "${LAT[noop]}")
	bh=$(med "${LAT[balance_hist]}") bs=$(med "${LAT[balance_small]}") bq=$(med "${LAT[balance_sql]}")
	ph=$(med "${LAT[page_hist]}") ps=$(med "${LAT[page_small]}") pq=$(med "${LAT[page_sql]}")
	rb=$(calc "$(pair "${LAT[balance_small]}" "${LAT[balance_hist]}")" "%.2f")
	rp=$(calc "$(pair "${LAT[page_small]}" "${LAT[page_hist]}")" "%.2f")
	printf '\nscaling, 1 client, sync off: spend on big (%s open lots, %s entries) %.0f tps, on fresh accounts %.0f tps: %s\n' \
		"$big_open" "$big_entries" "$sb" "$sf" "$r"
	printf 'pgbench -M prepared latency average, 1 client (includes the round trip: SELECT 1 takes %.3f ms):\n' "$noop"
	printf '  credits_balance:       hist (%s entries) %.3f ms, small (100 entries) %.3f ms; plain SQL on hist %.3f ms\n' \
		"$hist_entries" "$bh" "$bs" "$bq"
	printf '  history page of 50:    hist %.3f ms, small %.3f ms; plain SQL keyset query on hist %.3f ms\n' "$ph" "$ps" "$pq"
	row 2 "spend: ${big_open} open lots+${big_entries} entries vs fresh" \
		"$(printf '%.0f / %.0f tps' "$sb" "$sf")" "$r" ">= 0.8" "$(verdict "$r" '>=' 0.8)"
	row 2 "credits_balance, $hist_entries entries (vs 100)" \
		"$(printf '%.3f ms (100: %.3f, SQL %.3f, SELECT 1 %.3f)' "$bh" "$bs" "$bq" "$noop")" "$rb" "< 0.5 ms" \
		"$(verdict "$bh" '<' 0.5)"
	row 2 "history page of 50, $hist_entries entries (vs 100)" \
		"$(printf '%.3f ms (100: %.3f, SQL %.3f, SELECT 1 %.3f)' "$ph" "$ps" "$pq" "$noop")" "$rp" "< 0.5 ms" \
		"$(verdict "$ph" '<' 0.5)"
	verify scaling scaling
fi

# ---------------------------------------------------------------- 5. memory

if want memory; then
	WARM=$((MEMORY_N / 100))
	log "part memory: $MEMORY_N spends in one session (each its own transaction), RSS before and after"
	rss_sql="SELECT format('%s %s %s %s %s', :'label', (regexp_match(s, 'VmRSS:\\s+(\\d+)'))[1],
		(regexp_match(s, 'RssAnon:\\s+(\\d+)'))[1], (regexp_match(s, 'RssShmem:\\s+(\\d+)'))[1],
		(SELECT sum(total_bytes)::bigint / 1024 FROM pg_backend_memory_contexts))
		FROM pg_read_file('/proc/self/status') s"
	loop_sql() {
		echo "DO \$\$ BEGIN FOR i IN $1..$2 LOOP
			PERFORM credits_spend('acct-' || (i % $ACCOUNTS + 1), 1, 'memory'); COMMIT;
			END LOOP; END \$\$;"
	}
	t0=$(now_s)
	out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d bench <<EOF
SET synchronous_commit = off;
\\set label before
$rss_sql;
CREATE TEMP TABLE ctx0 AS SELECT name, sum(total_bytes) AS b FROM pg_backend_memory_contexts GROUP BY name;
$(loop_sql 1 "$WARM")
\\set label warm
$rss_sql;
$(loop_sql $((WARM + 1)) "$MEMORY_N")
\\set label after
$rss_sql;
SELECT format('context %s: %s kB', name, (sum(total_bytes) - coalesce(max(ctx0.b), 0))::bigint / 1024)
FROM pg_backend_memory_contexts c LEFT JOIN ctx0 USING (name)
GROUP BY name ORDER BY sum(total_bytes) - coalesce(max(ctx0.b), 0) DESC LIMIT 5;
EOF
	)
	secs=$(since "$t0")
	read -r _ vm0 anon0 shm0 ctx0 < <(grep '^before ' <<<"$out")
	read -r _ vm1 anon1 shm1 ctx1 < <(grep '^warm ' <<<"$out")
	read -r _ vm2 anon2 shm2 ctx2 < <(grep '^after ' <<<"$out")
	grow=$(calc "($anon2 - $anon0) / 1024" "%.1f")
	grow_warm=$(calc "($anon2 - $anon1) / 1024" "%.1f")
	printf '\nmemory: %s spends in one session in %s s (credits.notify on, sync off)\n' "$MEMORY_N" "$secs"
	printf '  %-28s %10s %10s %10s %14s\n' "" "VmRSS kB" "RssAnon kB" "RssShmem kB" "contexts kB"
	printf '  %-28s %10s %10s %10s %14s\n' "before the first spend" "$vm0" "$anon0" "$shm0" "$ctx0" \
		"after $WARM spends" "$vm1" "$anon1" "$shm1" "$ctx1" "after $MEMORY_N spends" "$vm2" "$anon2" "$shm2" "$ctx2"
	grep '^context ' <<<"$out" | sed 's/^/  growth of /'
	row 5 "backend RSS growth, $MEMORY_N spends, 1 session" \
		"$(printf '%+.1f MB private (%+.1f after warm-up)' "$grow" "$grow_warm")" "" "< 10 MB" "$(verdict "$grow" '<' 10)"
	verify bench memory
fi

# ---------------------------------------------------------------- 6. convert

if want convert; then
	log "part convert: credits_convert vs ceil(p * 10), $CONVERT_N calls x $CONVERT_ROUNDS rounds"
	createdb conv
	sql conv -c "CREATE EXTENSION credits" -c "SELECT credits_set_rate('USD', 10)" >/dev/null
	src="(SELECT (i % 10000) / 100.0 AS p FROM generate_series(1, $CONVERT_N) i) s"
	check=$(sql conv -c "SELECT count(*) FROM generate_series(0, 9999) i
		WHERE credits_convert(i / 100.0, 'USD')::numeric <> ceil(i / 100.0 * 10)")
	[[ $check == 0 ]] || { credits_err "credits_convert differs from ceil(p * 10) on $check prices"; exit 1; }
	{
		echo '\timing on'
		for r in $(seq "$CONVERT_ROUNDS"); do
			order="base convert ceil"
			((r % 2)) || order="ceil convert base"
			for v in $order; do
				case $v in
				base) e="p" ;;
				convert) e="credits_convert(p, 'USD')" ;;
				ceil) e="ceil(p * 10)" ;;
				esac
				echo "\\echo $v"
				echo "SELECT count($e) FROM $src;"
			done
		done
	} >"$WORK/convert.sql"
	out=$(psql -X -q -At -v ON_ERROR_STOP=1 -d conv -f "$WORK/convert.sql")
	declare -A CV=()
	v=''
	while read -r line; do
		case $line in
		base | convert | ceil) v=$line ;;
		Time:*) CV[$v]+="$(awk '{ print $2 }' <<<"$line") " ;;
		esac
	done <<<"$out"
	b=$(med "${CV[base]}") cv=$(med "${CV[convert]}") ce=$(med "${CV[ceil]}")
	# per call, net of the scan that feeds the prices (round by round): ms
	# per N calls -> us per call
	net() { paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{ printf "%s ", $1 - $2 }'; }
	net_cv=$(net "${CV[convert]}" "${CV[base]}") net_ce=$(net "${CV[ceil]}" "${CV[base]}")
	pc=$(calc "$(med "$net_cv") * 1000 / $CONVERT_N" "%.3f")
	pe=$(calc "$(med "$net_ce") * 1000 / $CONVERT_N" "%.3f")
	r=$(calc "$(pair "$net_cv" "$net_ce")" "%.1f")
	printf '\nconvert, %s calls (medians of %s): scan alone %.0f ms, credits_convert %.0f ms, ceil(p * 10) %.0f ms\n' \
		"$CONVERT_N" "$CONVERT_ROUNDS" "$b" "$cv" "$ce"
	printf '  per call, net of the scan: credits_convert %s us, ceil(p * 10) %s us (%sx)\n' "$pc" "$pe" "$r"
	row 6 "credits_convert vs ceil(p * 10), per call" "$pc us vs $pe us" "${r}x cost" "" info
	verify conv convert
fi

# ---------------------------------------------------------------- 4. bulk

if want bulk; then
	log "part bulk: grants to $BULK_N accounts and credits_expire over $BULK_N due lots vs set-based SQL"
	createdb bulk
	psql -X -q -d bulk -f "$HERE/bulk_setup.sql" >/dev/null
	exp=$(sql bulk -c "SELECT now() + interval '30 days'")
	has_many=$(sql bulk -c "SELECT count(*) FROM pg_proc WHERE proname = 'credits_grant_many'")
	BULK_OPTS="-c synchronous_commit=off -c credits.notify=off -c client_min_messages=notice"
	# Progress NOTICEs about ten times per run whatever N (the default of
	# credits.progress_every, 100,000, does that for N = 1,000,000).
	progress_every=$(sql bulk -c "LOAD 'credits'" \
		-c "SELECT current_setting('credits.progress_every', true)" | tail -n 1)
	if [[ -n $progress_every ]]; then
		progress_every=$((BULK_N / 10 > 0 ? BULK_N / 10 : 1))
		BULK_OPTS+=" -c credits.progress_every=$progress_every"
	fi

	# timed DB NOTICE_FILE SQL: run SQL in its own session; prints seconds.
	timed() {
		local t0 rc=0
		t0=$(now_s)
		PGOPTIONS="$BULK_OPTS ${EXTRA_OPTS-}" psql -X -q -At -v ON_ERROR_STOP=1 -d "$1" -c "$3" \
			>/dev/null 2>"$2" || rc=$?
		since "$t0"
		return "$rc"
	}
	floor_grant() {
		PGOPTIONS="$BULK_OPTS" psql -X -q -At -d bulk -v n="$1" -v prefix="$2" -v exp="$exp" -v amount=100 \
			-f "$HERE/bulk_floor_grant.sql" >/dev/null
	}
	vacuum() { sql bulk -c "VACUUM ANALYZE" >/dev/null; }

	# Grants: the extension first, then the floor, to N new accounts each.
	if [[ $has_many != 0 ]]; then
		t_many=$(timed bulk "$WORK/many.notices" \
			"SELECT credits_grant_many(array_agg('m-' || i), 100, expires_at => '$exp') FROM generate_series(1, $BULK_N) i")
		many_notices=$(grep -c 'credits_grant_many:' "$WORK/many.notices" || true)
		log "credits_grant_many to $BULK_N accounts: $t_many s, $many_notices progress NOTICEs"
		loop_n=$BULK_LOOP_N loop_prefix=g-
	else
		log "credits_grant_many does not exist: the credits_grant loop does the $BULK_N grants"
		loop_n=$BULK_N loop_prefix=m-
	fi
	t0=$(now_s)
	floor_grant "$BULK_N" f-
	t_floor=$(since "$t0")
	log "floor grant to $BULK_N accounts: $t_floor s"
	vacuum
	t_loop=$(timed bulk "$WORK/loop.notices" \
		"SELECT count(credits_grant('$loop_prefix' || i, 100, expires_at => '$exp')) FROM generate_series(1, $loop_n) i")
	log "credits_grant loop to $loop_n accounts: $t_loop s"
	if [[ $loop_n != "$BULK_N" ]]; then
		t0=$(now_s)
		floor_grant "$loop_n" h-
		t_floor_loop=$(since "$t0")
		log "floor grant to $loop_n accounts: $t_floor_loop s"
		vacuum
	else
		t_floor_loop=$t_floor
	fi

	# The m- lots (extension) and f- lots (floor) fall due: their expiry is
	# moved an hour into the past, in the lots and the accounts' next_expiry.
	# The g-/h- lots stay open and unexpired, on both sides.
	due=$(sql bulk -c "SELECT now() - interval '1 hour'")
	sql bulk >/dev/null <<EOF
UPDATE credits.lot SET expires_at = '$due' WHERE account LIKE 'm-%';
UPDATE credits.account SET next_expiry = '$due' WHERE account LIKE 'm-%';
UPDATE floor.lot SET expires_at = '$due' WHERE account LIKE 'f-%';
UPDATE floor.account SET next_expiry = '$due' WHERE account LIKE 'f-%';
EOF
	vacuum
	sql bulk -c "CHECKPOINT" >/dev/null
	t_floor_exp=$(timed bulk "$WORK/floor_expire.notices" "\\i $HERE/bulk_floor_expire.sql")
	log "floor expire of $BULK_N lots: $t_floor_exp s"
	limit=${BENCH_EXPIRE_TIMEOUT:-$(calc "$t_floor_exp * 3 > 60 ? $t_floor_exp * 3 : 60" "%.0f")}
	sql bulk -c "CHECKPOINT" >/dev/null
	exp_err=''
	t_exp=$(EXTRA_OPTS="-c statement_timeout=${limit}s" timed bulk "$WORK/expire.notices" \
		"SELECT credits_expire()") || exp_err=$(grep -m1 'ERROR' "$WORK/expire.notices" || echo failed)
	exp_notices=$(grep -c 'credits_expire:' "$WORK/expire.notices" || true)
	expired=$(sql bulk -c "SELECT count(*) FROM credits.entry WHERE kind = 'expire'")
	log "credits_expire: $t_exp s, $exp_notices progress NOTICEs, $expired lots expired${exp_err:+, $exp_err}"

	printf '\nbulk (one run each; sync off, credits.notify off):\n'
	if [[ $has_many != 0 ]]; then
		r=$(calc "$t_floor / $t_many" "%.2f")
		printf '  grant to %s accounts: credits_grant_many %s s, floor %s s: %s\n' "$BULK_N" "$t_many" "$t_floor" "$r"
		row 4 "grant_many to $BULK_N accounts vs INSERT" "$t_many s / $t_floor s" "$r" ">= 0.5" "$(verdict "$r" '>=' 0.5)"
		rl=$(calc "$t_floor_loop / $t_loop" "%.2f")
		row 4 "credits_grant loop, $loop_n accounts vs INSERT" "$t_loop s / $t_floor_loop s" "$rl" "" info
	else
		rl=$(calc "$t_floor_loop / $t_loop" "%.2f")
		row 4 "credits_grant loop, $loop_n accounts vs INSERT" "$t_loop s / $t_floor_loop s" "$rl" ">= 0.5" \
			"$(verdict "$rl" '>=' 0.5)"
	fi
	printf '  grant to %s accounts: credits_grant loop %s s, floor %s s: %s\n' "$loop_n" "$t_loop" "$t_floor_loop" "$rl"
	if [[ -z $exp_err ]]; then
		r=$(calc "$t_floor_exp / $t_exp" "%.2f")
		row 4 "credits_expire, $BULK_N due lots vs set-based" "$t_exp s / $t_floor_exp s" "$r" ">= 0.5" \
			"$(verdict "$r" '>=' 0.5)"
	else
		r="< $(calc "$t_floor_exp / $t_exp" "%.2f")"
		row 4 "credits_expire, $BULK_N due lots vs set-based" "failed after $t_exp s / $t_floor_exp s" "$r" \
			">= 0.5" "MISS"
		printf '  credits_expire failed after %s s: %s\n' "$t_exp" "$exp_err"
	fi
	printf '  credits_expire over %s due lots: %s s, floor %s s: %s\n' "$BULK_N" "$t_exp" "$t_floor_exp" "$r"
	progress="expire: $exp_notices NOTICEs${progress_every:+ (every $progress_every)}"
	[[ $has_many != 0 ]] && progress="grant_many: $many_notices, $progress"
	row 4 "progress of long bulk runs" "$progress" "" "visible" \
		"$(if ((exp_notices > 0)) && [[ $has_many == 0 || $many_notices -gt 0 ]]; then echo PASS; else echo MISS; fi)"
	verify bulk bulk
fi

# ---------------------------------------------------------------- the table

table() {
	local r part what measured ratio target result
	printf 'credits performance (issue 7): %s, tree %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$TREE"
	printf 'settings: BENCH_SECONDS=%s BENCH_ROUNDS=%s ACCOUNTS=%s BIG_LOTS=%s BIG_ENTRIES=%s HISTORY_N=%s%s MEMORY_N=%s CONVERT_N=%s BULK_N=%s BULK_LOOP_N=%s%s\n' \
		"$SECONDS_PER_RUN" "$ROUNDS" "$ACCOUNTS" "$BIG_LOTS" "$BIG_ENTRIES" "$HISTORY_N" \
		"$([[ $HISTORY_REAL == 1 ]] && echo ' (real)')" "$MEMORY_N" "$CONVERT_N" "$BULK_N" "$BULK_LOOP_N" \
		"$([[ $ONLY != "$ALL_PARTS" ]] && echo " BENCH_ONLY=\"$ONLY\"")"
	printf 'values: medians of %s rounds (pgbench -M prepared); ratio: the median of the rounds'"'"' ratios, the extension'"'"'s throughput as a fraction of the floor'"'"'s\n' "$ROUNDS"
	printf '%-2s %-47s %-52s %-11s %-9s %s\n' "#" "figure" "measured (extension / floor)" "ratio" "target" "result"
	for part in 1 2 3 4 5 6 7; do
		for r in "${ROWS[@]}"; do
			IFS='|' read -r p what measured ratio target result <<<"$r"
			[[ $p == "$part" ]] || continue
			printf '%-2s %-47s %-52s %-11s %-9s %s\n' "$p" "$what" "$measured" "${ratio:--}" "${target:--}" "$result"
		done
	done
	printf 'machine: %s, %s cores, %s GiB, PostgreSQL %s; load average %s at the start, %s at the end; run took %s min\n' \
		"$(uname -m)" "$(nproc)" "$(awk '/MemTotal/ { printf "%.0f", $2 / 1048576 }' /proc/meminfo)" \
		"$(psql -X -At -c 'SHOW server_version' | cut -d' ' -f1)" "$LOAD_START" \
		"$(cut -d' ' -f1-3 /proc/loadavg)" "$(calc "($(now_s) - $RUN_START) / 60" "%.1f")"
}

# ---------------------------------------------------------------- 7. citus

CITUS_RC=0
if want citus; then
	if [[ $CREDITS_PG_VERSION != 15 ]]; then
		log "part citus: skipped (Citus runs on PostgreSQL 15 only; this is $CREDITS_PG_VERSION)"
		row 7 "Citus spend through the coordinator" "skipped: PostgreSQL $CREDITS_PG_VERSION" "" "" info
	else
		log "part citus: bench/citus.sh (its own Citus cluster and plain node)"
		: >"$WORK/citus.rows"
		BENCH_CITUS_ROWS=$WORK/citus.rows bash "$HERE/citus.sh" || CITUS_RC=$?
		while IFS= read -r r; do ROWS+=("$r"); done <"$WORK/citus.rows"
		if ((CITUS_RC != 0)); then
			credits_err "bench/citus.sh failed (status $CITUS_RC)"
			row 7 "Citus spend through the coordinator" "failed: see bench/citus.sh's output" "" "" MISS
		fi
	fi
fi

echo
table | tee ${BENCH_OUT:+"$BENCH_OUT"}
exit "$CITUS_RC"
