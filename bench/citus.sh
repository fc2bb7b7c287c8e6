#!/usr/bin/env bash
# bench/citus.sh: the Citus part of `make bench` (bench/run.sh calls it last;
# it also runs alone: `bash bench/citus.sh`).  On this machine, a Citus
# coordinator and two workers on loopback (scripts/citus.sh) and one plain
# PostgreSQL node, the same settings without Citus:
#
#   1. spend throughput: pgbench -M prepared runs bench/spend.pgbench
#      (SELECT credits_spend('acct-' || :aid, 1, 'bench'), a random account
#      each time) through the coordinator, which delegates each call to the
#      worker holding the account, and the same script against the one node;
#      1 and 8 clients; tps and the ratio Citus / one node, and the CPU time
#      every process group spent per spend (pgbench, one node, coordinator,
#      workers), read from /proc: what one more worker or a bigger
#      coordinator would buy.
#   2. round trips per spend: the commands the coordinator sends to the
#      worker for one delegated spend, alone (autocommit) and inside
#      BEGIN ... COMMIT (force_delegation), counted on both sides
#      (citus.log_remote_commands on the coordinator, log_statement = all
#      on the workers), and the statements the worker then runs locally.
#
# Why -M prepared: Citus delegates `SELECT f(account, ...)` when the
# account argument is a constant once the coordinator's planner has run.
# In every pgbench mode it is: -M simple sends 'acct-' || 42, folded to
# 'acct-42'; -M extended and -M prepared send 'acct-' || $1, and Citus
# refuses the generic plan of a prepared statement whose distribution
# argument is a parameter, so every execution gets a custom plan with the
# value in it.  -M prepared is the fastest of the three through the
# coordinator (and the mode of the rest of `make bench`); the script checks
# that every call of a short run was delegated before measuring.
#
# Settings (environment):
#   BENCH_CITUS_SECONDS   seconds per pgbench measurement            20 [5 with BENCH_QUICK=1]
#   BENCH_CITUS_ROUNDS    rounds (medians; the order alternates)     1
#   BENCH_CITUS_CLIENTS   client counts                              "1 8"
#   BENCH_CITUS_ACCOUNTS  accounts with two lots each                1000
#   BENCH_CITUS_ROWS      a file to append the rows of bench/run.sh's table to (run.sh sets it)
# PostgreSQL 15 only (scripts/citus.sh).  Every node is stopped on exit,
# also on failure (citus_cluster_stop, from the exit trap).
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
# shellcheck source=scripts/citus.sh
source "$CREDITS_ROOT/scripts/citus.sh"
HERE=$CREDITS_ROOT/bench

if [[ ${BENCH_QUICK:-0} == 1 ]]; then SECS=${BENCH_CITUS_SECONDS:-5}; else SECS=${BENCH_CITUS_SECONDS:-20}; fi
ROUNDS=${BENCH_CITUS_ROUNDS:-1}
CLIENTS=${BENCH_CITUS_CLIENTS:-"1 8"}
ACCOUNTS=${BENCH_CITUS_ACCOUNTS:-1000}
ROWS_OUT=${BENCH_CITUS_ROWS-}
LOT=1000000 # each account: two lots of this (one expiring in a year, one not)

calc() { awk "BEGIN { printf \"${2:-%.4g}\", ($1) }"; }
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
med() { tr ' ' '\n' <<<"$1" | grep . | median; }
# pair "a1 a2 .." "b1 b2 ..": the median of the rounds' ratios a_i / b_i
pair() { paste <(tr ' ' '\n' <<<"$1" | grep .) <(tr ' ' '\n' <<<"$2" | grep .) | awk '{ print $1 / $2 }' | median; }
log() { credits_log "[citus $((SECONDS / 60))m$((SECONDS % 60))s] $*"; }
die() { credits_err "$*"; exit 1; }
# row WHAT MEASURED RATIO: a row of part 7 of bench/run.sh's table
row() { [[ -z $ROWS_OUT ]] || printf '7|%s|%s|%s||info\n' "$1" "$2" "$3" >>"$ROWS_OUT"; }

# psql on the coordinator (PGHOST/PGPORT once the cluster is up) or, with
# -h/-p first, on another node.
sql() { "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

# cluster_cpu DATADIR: CPU time (clock ticks) used so far by the cluster's
# postmaster and its children: the live ones' own, the exited ones' as the
# postmaster's cutime/cstime.  A delta over a run is the CPU the cluster
# spent in it (reaped children of the run are counted once they exit).
cluster_cpu() {
	local pm
	pm=$(head -n 1 "$1/postmaster.pid") || return 1
	# /proc/PID/stat after "PID (comm) ": state ppid ... utime(12) stime(13) cutime(14) cstime(15)
	# (cat fails on processes gone between the glob and the read: no matter)
	{ cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$pm" '
		{
			s = $0; sub(/^[^)]*\) /, "", s); split(s, f, " ")
			if ($1 == pm) t += f[12] + f[13] + f[14] + f[15]
			else if (f[2] == pm) t += f[12] + f[13]
		}
		END { print t + 0 }'
}
# children_cpu PID: the CPU (ticks) of the reaped children of process PID.
children_cpu() {
	local s
	s=$(cat "/proc/$1/stat") || return 1
	s=${s##*) }
	awk '{ print $14 + $15 }' <<<"$s"
}
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# ---------------------------------------------------------------- clusters

[[ $CREDITS_PG_VERSION == 15 ]] || die "the Citus benchmark runs on PostgreSQL 15 only (CREDITS_PG_VERSION=$CREDITS_PG_VERSION)"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
credits_setup || die "the extension could not be built and installed"
citus_install || die "Citus could not be installed"
citus_cluster_start || die "the Citus cluster could not be started"
read -r -a W_HOSTS <<<"$CREDITS_CITUS_WORKER_HOSTS"
read -r -a W_PORTS <<<"$CREDITS_CITUS_WORKER_PORTS"
COORD_DIR=$CREDITS_TMP

# The one node: the settings of the Citus nodes (scripts/lib.sh's, and
# those scripts/citus.sh adds but Citus itself: the coordinator's
# shared_preload_libraries without citus), no Citus.  Its directory joins
# the Citus nodes' list, so citus_cluster_stop (the exit trap) stops and
# removes it with them.
keep=()
IFS=', ' read -r -a libs <<<"$(sql -c "SHOW shared_preload_libraries")"
for l in "${libs[@]}"; do [[ -z $l || $l == citus ]] || keep+=("$l"); done
preload=$(IFS=,; echo "${keep[*]}")
SINGLE_DIR=$(mktemp -d /tmp/credits-pg.XXXXXX) || die "mktemp failed"
_CREDITS_CITUS_DIRS+=("$SINGLE_DIR")
((EUID == 0)) && { chown postgres:postgres "$SINGLE_DIR" || exit 1; }
SINGLE_PORT=$(_credits_free_port "$CREDITS_PORT_MIN" "$CREDITS_PORT_MAX") || exit 1
log "starting the plain PostgreSQL node (port $SINGLE_PORT, shared_preload_libraries '$preload')"
_credits_init_cluster "$SINGLE_DIR" "$SINGLE_PORT" shared_preload_libraries="$preload" \
	max_prepared_transactions=100 wal_level=logical || die "the plain node could not be made"
_credits_start_cluster "$SINGLE_DIR" || die "the plain node could not be started"
SINGLE=(-h "$SINGLE_DIR/sock" -p "$SINGLE_PORT")
# scratch files, removed with the node's directory
WORK=$SINGLE_DIR/bench
mkdir -p "$WORK"

# ---------------------------------------------------------------- ledgers

GRANT="SELECT count(credits_grant('acct-' || i, $LOT, expires_at => now() + interval '1 year'))
	+ count(credits_grant('acct-' || i, $LOT)) FROM generate_series(1, $ACCOUNTS) i"
t0=$SECONDS
sql "${SINGLE[@]}" -c "CREATE EXTENSION credits" -c "$GRANT" -c "VACUUM ANALYZE" >/dev/null ||
	die "could not load the plain node"
sql -c "CREATE EXTENSION credits" -c "SELECT credits_distribute()" >/dev/null ||
	die "could not distribute the ledger"
# (the grants run on the coordinator, which writes each on its worker)
sql -c "$GRANT" >/dev/null || die "could not grant through the coordinator"
sql -c "VACUUM ANALYZE" >/dev/null
# accounts_on PORT: the accounts held by the worker at PORT, in order
accounts_on() {
	sql -c "SELECT a.account FROM credits.account a
		JOIN pg_dist_shard_placement p ON p.shardid = get_shard_id_for_distribution_column('credits.account', a.account)
		WHERE p.nodeport = $1 ORDER BY length(a.account), a.account"
}
mapfile -t ON_W0 < <(accounts_on "${W_PORTS[0]}")
mapfile -t ON_W1 < <(accounts_on "${W_PORTS[1]}")
on_w0=${#ON_W0[@]} on_w1=${#ON_W1[@]}
((on_w0 + on_w1 == ACCOUNTS && on_w0 >= 10 && on_w1 >= 10)) ||
	die "the accounts are not spread over both workers: $on_w0 and $on_w1"
log "$ACCOUNTS accounts x 2 lots on both ledgers ($((SECONDS - t0)) s); on the workers: $on_w0 and $on_w1"

# ---------------------------------------------------------------- delegation

# Every call of a short run through the coordinator must be delegated
# (DEBUG1 "pushing down the function call": the coordinator plans the
# SELECT, sends it to the worker and returns the worker's result).
n=12
out=$(PGOPTIONS="-c client_min_messages=debug1" "$PGBIN/pgbench" -n -M prepared -t "$n" \
	-D accounts="$ACCOUNTS" -f "$HERE/spend.pgbench" 2>&1) || { echo "$out" >&2; die "pgbench failed"; }
d=$(grep -c 'DEBUG:  pushing down the function call$' <<<"$out" || true)
((d == n)) || { echo "$out" >&2; die "$d of $n spends were delegated by the coordinator (-M prepared)"; }
log "pgbench -M prepared: $d of $n spends delegated to their worker"
DELEGATION_CHECK_SPENDS=$n

# ---------------------------------------------------------------- throughput

# bench KIND CLIENTS SCRIPT: one pgbench run against the one node (single)
# or the coordinator (citus); prints "tps latency_ms spends cpu_client
# cpu_single cpu_coordinator cpu_workers", the CPU in microseconds per spend.
bench() {
	local kind=$1 c=$2 script=$3 node=() out a b s w0 w1 x n tps lat cpu me=$BASHPID rc=0
	[[ $kind == single ]] && node=("${SINGLE[@]}")
	s=$(cluster_cpu "$SINGLE_DIR/data") b=$(cluster_cpu "$COORD_DIR/data")
	w0=$(cluster_cpu "${W_HOSTS[0]%/sock}/data") w1=$(cluster_cpu "${W_HOSTS[1]%/sock}/data")
	# pgbench is a child of this process, not of a subshell: its CPU is
	# this process's reaped children's, read right before and after.
	a=$(children_cpu "$me")
	PGOPTIONS="-c credits.notify=off" "$PGBIN/pgbench" -n -M prepared -c "$c" -j "$((c < 2 ? 1 : 2))" \
		-T "$SECS" -D accounts="$ACCOUNTS" -f "$script" "${node[@]}" >"$WORK/pgbench.out" 2>&1 || rc=$?
	x=$(($(children_cpu "$me") - a))
	out=$(cat "$WORK/pgbench.out")
	((rc == 0)) || { echo "$out" >&2; return 1; }
	if grep -q 'number of failed transactions: [1-9]' <<<"$out"; then echo "$out" >&2; return 1; fi
	n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
	tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out")
	if [[ -z $n || -z $tps || -z $lat ]] || ((n == 0)); then echo "$out" >&2; return 1; fi
	# the backends of the run exit with it: wait until the postmasters have reaped them
	sleep 0.5
	s=$(($(cluster_cpu "$SINGLE_DIR/data") - s))
	b=$(($(cluster_cpu "$COORD_DIR/data") - b))
	w0=$(($(cluster_cpu "${W_HOSTS[0]%/sock}/data") - w0 + $(cluster_cpu "${W_HOSTS[1]%/sock}/data") - w1))
	cpu=$(calc "$x * $TICK_US / $n" "%.0f")
	cpu+=" $(calc "$s * $TICK_US / $n" "%.0f") $(calc "$b * $TICK_US / $n" "%.0f") $(calc "$w0 * $TICK_US / $n" "%.0f")"
	echo "$tps $lat $n $cpu"
}

declare -A TPS=() LAT=() CPU=() SPENT=()
SPENT[single]=0 SPENT[citus]=$DELEGATION_CHECK_SPENDS
log "throughput: ${SECS} s x $ROUNDS round(s) per measurement, clients: $CLIENTS"
k=0
for r in $(seq "$ROUNDS"); do
	for c in $CLIENTS; do
		# alternate the order, configuration by configuration and round by round
		if (((r + k) % 2)); then order="single citus"; else order="citus single"; fi
		k=$((k + 1))
		for kind in $order; do
			read -r tps lat n cx cs cc cw < <(bench "$kind" "$c" "$HERE/spend.pgbench") ||
				die "pgbench failed ($kind, $c clients)"
			TPS[$kind,$c]+="$tps " LAT[$kind,$c]+="$lat " SPENT[$kind]=$((SPENT[$kind] + n))
			CPU[$kind,$c,client]+="$cx " CPU[$kind,$c,single]+="$cs " CPU[$kind,$c,coord]+="$cc " CPU[$kind,$c,workers]+="$cw "
			log "round $r: $kind, $c clients: $(calc "$tps" "%.0f") tps; CPU per spend: pgbench $cx us, one node $cs us, coordinator $cc us, workers $cw us"
		done
	done
done

# The same spends inside BEGIN ... COMMIT through the coordinator, 1 client:
# what the two more round trips cost.
printf '%s\n' '\set aid random(1, :accounts)' 'BEGIN;' "SELECT credits_spend('acct-' || :aid, 1, 'bench');" 'COMMIT;' \
	>"$WORK/spend_block.pgbench"
read -r block_tps block_lat n _ _ _ _ < <(bench citus 1 "$WORK/spend_block.pgbench") ||
	die "pgbench failed (BEGIN ... COMMIT)"
SPENT[citus]=$((SPENT[citus] + n))
log "BEGIN; spend; COMMIT through the coordinator, 1 client: $(calc "$block_tps" "%.0f") tps"

# Every spend of 1 is in the ledgers, nothing else: the credits missing
# from the balances are the spends pgbench counted.
for kind in single citus; do
	node=()
	[[ $kind == single ]] && node=("${SINGLE[@]}")
	got=$(sql "${node[@]}" -c "SELECT $((2 * LOT * ACCOUNTS)) - sum(balance), count(*) FROM credits.account")
	want="${SPENT[$kind]}|$ACCOUNTS"
	[[ $got == "$want" ]] || die "$kind: spent and accounts are '$got', want '$want' (pgbench's count)"
done
log "ledgers check: every spend counted by pgbench is in its ledger (one node ${SPENT[single]}, Citus ${SPENT[citus]})"

# ---------------------------------------------------------------- round trips

# The workers log every command they receive (log_statement = all, for the
# coordinator's new connections: ALTER ROLE, not propagated) and the
# coordinator's session logs every command it sends
# (citus.log_remote_commands).  A command the worker runs locally for the
# spend is logged with the CONTEXT of the SQL statement that ran it; one
# received from the coordinator without.  Counted over N spends in one
# session (the connection to each worker opened once), divided by N.
RT_N=10
worker_sql() { sql -h "${W_HOSTS[$1]}" -p "${W_PORTS[$1]}" -c "SET citus.enable_ddl_propagation = off" "${@:2}"; }
for i in 0 1; do worker_sql "$i" -c "ALTER ROLE postgres SET log_statement = 'all'" >/dev/null; done

# roundtrips LABEL SQL: SQL run N times, @0 and @1 standing for the i-th
# account of worker 0 and of worker 1; prints the commands sent and
# received per run of SQL, and "LEAST/FIRST": the statements a spend ran
# locally on its worker, the least of all and the session's first spend's.
# (A statement the worker plans twice is logged twice: when PostgreSQL's
# plan cache tries a generic plan, the sixth time, Citus logs the shard
# query it caches, then the one it runs.)
roundtrips() {
	local sqlf=$WORK/rt.sql i q sizes=() sent slice received lo first
	{
		echo "SET citus.log_remote_commands = on;"
		echo "SET client_min_messages = log;"
		for ((i = 0; i < RT_N; i++)); do
			q=${2//@0/${ON_W0[i]}}
			echo "${q//@1/${ON_W1[i]}}"
		done
	} >"$sqlf"
	for i in 0 1; do sizes[i]=$(stat -c %s "${W_HOSTS[i]%/sock}/postgres.log"); done
	sql -f "$sqlf" >/dev/null 2>"$WORK/rt.err" || { cat "$WORK/rt.err" >&2; return 1; }
	sleep 0.3
	sent=$(grep -c 'issuing ' "$WORK/rt.err" || true)
	slice=$WORK/rt.log
	for i in 0 1; do tail -c +"$((sizes[i] + 1))" "${W_HOSTS[i]%/sock}/postgres.log"; done >"$slice"
	# The worker backends that ran the spends (log_line_prefix '%m [%p] '):
	# their "LOG:  statement: ..." and "LOG:  execute <unnamed>: ..." lines,
	# each followed or not by a CONTEXT line (a statement the spend ran
	# locally).  Other sessions (Citus's own, between the nodes) are left out.
	read -r received _ lo first < <(awk '
		function pid() { return match($0, /\[[0-9]+\]/) ? substr($0, RSTART + 1, RLENGTH - 2) : "" }
		function flush() {
			if (pending) {
				if (ctx) { l++; calls[ncalls]++ }
				else { r++; if (call) calls[++ncalls] = 0 }
			}
			pending = 0; ctx = 0
		}
		NR == FNR { if (/public\.credits_spend\(/) ours[pid()] = 1; next }
		/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9] / {
			p = pid()
			if (pending && p == last && / CONTEXT:  /) { ctx = 1; next }
			flush()
			if ((p in ours) && / LOG:  (statement|execute [^:]*): /) { pending = 1; last = p; call = /credits_spend\(/ }
		}
		END {
			flush()
			for (i = 1; i <= ncalls; i++) if (i == 1 || calls[i] < lo) lo = calls[i]
			print r + 0, l + 0, lo + 0, calls[1] + 0
		}' "$slice" "$slice")
	if [[ -n ${BENCH_CITUS_VERBOSE-} ]]; then
		echo "--- $1: coordinator" >&2
		grep 'issuing ' "$WORK/rt.err" | cut -c1-160 >&2
		echo "--- $1: workers" >&2
		grep -E ' (LOG:  (statement|execute)|CONTEXT: )' "$slice" | cut -c1-160 >&2
	fi
	echo "$(calc "$sent / $RT_N" "%.2g") $(calc "$received / $RT_N" "%.2g") $lo/$first"
}
read -r rt_auto_sent rt_auto_recv rt_auto_local < <(roundtrips autocommit "SELECT credits_spend('@0', 1);") ||
	die "could not count the round trips of a spend"
read -r rt_block_sent rt_block_recv _ < <(roundtrips block "BEGIN; SELECT credits_spend('@0', 1); COMMIT;") ||
	die "could not count the round trips of a spend in BEGIN ... COMMIT"
# two spends on two workers in one transaction: a two-phase commit
read -r rt_two_sent rt_two_recv _ < <(roundtrips two \
	"BEGIN; SELECT credits_spend('@0', 1); SELECT credits_spend('@1', 1); COMMIT;") ||
	die "could not count the round trips of two spends on two workers in BEGIN ... COMMIT"
for i in 0 1; do worker_sql "$i" -c "ALTER ROLE postgres RESET log_statement" >/dev/null; done
log "round trips per spend: autocommit $rt_auto_sent sent / $rt_auto_recv received," \
	"in BEGIN ... COMMIT $rt_block_sent / $rt_block_recv, two spends on two workers in BEGIN ... COMMIT" \
	"$rt_two_sent / $rt_two_recv; statements run locally on the worker (least / first): $rt_auto_local"
# a session's first spend on a worker also reads the configuration it then caches
IFS=/ read -r local_lo local_first <<<"$rt_auto_local"

# ---------------------------------------------------------------- report

printf '\nCitus: credits_spend through the coordinator (delegated) vs one plain node, this machine (%s cores)\n' "$(nproc)"
printf '%s accounts x 2 lots; pgbench -M prepared, bench/spend.pgbench, %s s x %s round(s); fsync and synchronous_commit off (scripts/lib.sh); coordinator + 2 workers + the one node + pgbench share the cores\n' \
	"$ACCOUNTS" "$SECS" "$ROUNDS"
printf '%-8s %14s %10s %15s   %s\n' "clients" "one node tps" "Citus tps" "Citus/one node" \
	"CPU per spend, us: one node (pgbench + node) | Citus (pgbench + coordinator + workers)"
for c in $CLIENTS; do
	s=$(med "${TPS[single,$c]}") d=$(med "${TPS[citus,$c]}")
	ratio=$(calc "$(pair "${TPS[citus,$c]}" "${TPS[single,$c]}")" "%.2f")
	sx=$(med "${CPU[single,$c,client]}") ss=$(med "${CPU[single,$c,single]}")
	dx=$(med "${CPU[citus,$c,client]}") dc=$(med "${CPU[citus,$c,coord]}") dw=$(med "${CPU[citus,$c,workers]}")
	printf '%-8s %14.0f %10.0f %15s   %s + %s | %s + %s + %s\n' "$c" "$s" "$d" "$ratio" "$sx" "$ss" "$dx" "$dc" "$dw"
	row "Citus spend vs one node, $c cl" "$(printf '%.0f / %.0f tps' "$d" "$s")" "$ratio"
	LAST_C=$c LAST_COORD=$dc LAST_WORKERS=$dw LAST_SINGLE=$ss
done
printf 'BEGIN; spend; COMMIT through the coordinator, 1 client: %.0f tps, latency %s ms%s\n' "$block_tps" "$block_lat" \
	"$([[ -n ${LAT[citus,1]-} ]] && echo " (the spend alone: $(med "${LAT[citus,1]}") ms)")"
printf 'round trips per spend, coordinator -> worker (commands the coordinator sent | the worker received):\n'
printf '  SELECT credits_spend(...) alone:          %s | %s  (client -> coordinator: 1)\n' "$rt_auto_sent" "$rt_auto_recv"
printf '  BEGIN; SELECT credits_spend(...); COMMIT: %s | %s  (client -> coordinator: 3; BEGIN + assign_distributed_transaction_id, the call, COMMIT)\n' \
	"$rt_block_sent" "$rt_block_recv"
printf '  BEGIN; two spends on two workers; COMMIT: %s | %s  (per worker: BEGIN + assign..., the call, PREPARE TRANSACTION, COMMIT PREPARED)\n' \
	"$rt_two_sent" "$rt_two_recv"
printf '  statements the worker runs locally for it (no further round trip): %s (%s for a session'"'"'s first spend on the worker)\n' \
	"$local_lo" "$local_first"
row "Citus round trips coordinator->worker / spend" "alone $rt_auto_sent, in BEGIN..COMMIT $rt_block_sent" ""
# What the CPU per spend at the highest client count says about more
# machines: a worker core does 1e6 / workers-us spends a second, a
# coordinator core delegates 1e6 / coordinator-us calls a second.
per_worker_core=$(calc "1000000 / $LAST_WORKERS" "%.0f")
per_coord_core=$(calc "1000000 / $LAST_COORD" "%.0f")
per_single_core=$(calc "1000000 / $LAST_SINGLE" "%.0f")
printf 'CPU per spend at %s clients: a worker %s us (the one node: %s us), the coordinator %s us per delegated call, so\n' \
	"$LAST_C" "$LAST_WORKERS" "$LAST_SINGLE" "$LAST_COORD"
printf '  a worker core spends ~%s/s (a one-node core ~%s/s), a coordinator core delegates ~%s calls/s:\n' \
	"$per_worker_core" "$per_single_core" "$per_coord_core"
printf '  W worker cores behind C coordinator cores: ~min(W x %s, C x %s) spends/s; the coordinator bounds from W = %s x C\n' \
	"$per_worker_core" "$per_coord_core" "$(calc "$per_coord_core / $per_worker_core" "%.1f")"
row "Citus CPU/spend: coordinator, worker (1 node)" "$LAST_COORD us, $LAST_WORKERS us ($LAST_SINGLE us), $LAST_C cl" ""
printf 'load average %s at the start, %s at the end; %s\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" \
	"$(date -u '+%Y-%m-%d %H:%M UTC')"
