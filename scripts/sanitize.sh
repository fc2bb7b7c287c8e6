#!/usr/bin/env bash
# scripts/sanitize.sh: the regression suite against an AddressSanitizer + UndefinedBehaviorSanitizer build of the extension.
# Usage: scripts/sanitize.sh; TESTS="amount spend" limits pg_regress, SANITIZE_CC (default gcc) picks the compiler.
# Fails on any sanitizer report or backend crash. Touches neither the installed extension nor the build tree.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SANITIZE_CC=${SANITIZE_CC:-gcc}
# PostgreSQL builds with -fwrapv, which makes signed overflow defined and so
# invisible to UBSan; -fno-wrapv puts our own arithmetic back under check.
SAN_FLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -fno-wrapv -g -O1"
REGRESS_TIMEOUT=${CREDITS_REGRESS_TIMEOUT:-1800}

# How it keeps the machine as it was: the sanitized build is made in a copy
# of the source tree and installed into a private copy of the PostgreSQL 15
# installation (PostgreSQL finds its share and lib directories relative to
# its binaries, as in its own "make check").  The throwaway cluster runs
# from that copy, so the extension installed for everyone else, and the
# objects in the shared tree, are never replaced.

CREDITS_PACKAGES+=("$SANITIZE_CC")
credits_install_packages || exit 1
case $SANITIZE_CC in
clang*) runtime=$("$SANITIZE_CC" -print-file-name=libclang_rt.asan-x86_64.so) ;;
*) runtime=$("$SANITIZE_CC" -print-file-name=libasan.so) ;;
esac
[[ -f $runtime ]] || { credits_err "no ASan runtime for $SANITIZE_CC ($runtime)"; exit 1; }

WORK=$(mktemp -d /tmp/credits-sanitize.XXXXXX)
chmod 755 "$WORK"
cleanup() {
	local rc=$?
	cluster_stop || true
	[[ -n ${SANITIZE_KEEP-} ]] || rm -rf "$WORK"
	return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. A private copy of the PostgreSQL installation.
INST=$WORK/inst
bindir=$("$PG_CONFIG" --bindir)
pkglibdir=$("$PG_CONFIG" --pkglibdir)
sharedir=$("$PG_CONFIG" --sharedir)
credits_log "copying the PostgreSQL 15 installation to $INST"
for d in "$bindir" "$pkglibdir" "$sharedir"; do
	mkdir -p "$INST$(dirname "$d")"
	cp -a "$d" "$INST$d"
done
# The normal build's bitcode is of no use to the sanitized module (and JIT
# is off in the cluster anyway).
rm -rf "$INST$pkglibdir/bitcode/credits" "$INST$pkglibdir/bitcode/credits.index.bc"

# 2. The sanitized build, from a copy of the tree.
credits_log "building the extension with $SANITIZE_CC $SAN_FLAGS"
mkdir "$WORK/src"
tar -C "$CREDITS_ROOT" --exclude=.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=results --exclude=tmp_check --exclude=log -cf - . | tar -C "$WORK/src" -xf -
log=$WORK/build.log
cflags=()
case $SANITIZE_CC in
clang*)
	# PostgreSQL's CFLAGS are gcc's; clang rejects some of them.
	cflags=("CFLAGS=-Wall -Wmissing-prototypes -Wpointer-arith -Wdeclaration-after-statement -Wendif-labels -Wformat-security -Wno-ignored-attributes -fno-strict-aliasing $SAN_FLAGS")
	;;
esac
if ! make -C "$WORK/src" -j"$(nproc)" PG_CONFIG="$PG_CONFIG" CC="$SANITIZE_CC" \
	COPT="$SAN_FLAGS" "${cflags[@]}" with_llvm=no >"$log" 2>&1 ||
	! make -C "$WORK/src" install PG_CONFIG="$PG_CONFIG" DESTDIR="$INST" \
		with_llvm=no >>"$log" 2>&1; then
	cat "$log" >&2
	credits_err "sanitized build failed"
	exit 1
fi
module=$INST$pkglibdir/credits.so
if (($(nm -D "$module" | grep -c '__asan_init') == 0)); then
	credits_err "$module is not instrumented"
	exit 1
fi

# 3. A throwaway cluster from the private installation, restarted with the
# sanitizer runtime preloaded into the postmaster (the module is loaded
# with dlopen, so the runtime must be there first).  LeakSanitizer is off:
# memory contexts free in bulk, which it reports as leaks.
#
# The stub: a preloaded runtime initialises itself at the first malloc, and
# in postgres that comes from libgpg-error's constructor (through libsystemd
# and libgcrypt) while it holds glibc's gettext lock.  ASan's start-up then
# looks up the optional symbol swift_demangle; the failed lookup formats its
# error with gettext, which unlocks that lock from inside, and the process
# hangs in its next bindtextdomain().  A swift_demangle that demangles
# nothing makes the lookup succeed.
cat >"$WORK/swift_demangle_stub.c" <<'EOF_STUB'
#include <stddef.h>
#include <stdint.h>
char *swift_demangle(const char *name, size_t len, char *buf, size_t *buflen, uint32_t flags);
char *swift_demangle(const char *name, size_t len, char *buf, size_t *buflen, uint32_t flags)
{
	return NULL;
}
EOF_STUB
"$SANITIZE_CC" -shared -fPIC -O2 "$WORK/swift_demangle_stub.c" -o "$WORK/swift_demangle_stub.so"
PGBIN=$INST$bindir
export PGBIN PATH="$INST$bindir:$PATH"
cluster_start jit=off || exit 1
trap cleanup EXIT	# cluster_start set its own
SANLOG=$CREDITS_TMP/sanitizer
run_as_pg_owner mkdir -p "$SANLOG"
_credits_stop_cluster "$CREDITS_TMP" fast
credits_log "restarting the cluster with $runtime preloaded"
LD_PRELOAD="$runtime:$WORK/swift_demangle_stub.so" \
	ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$SANLOG/asan" \
	UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1:log_path=$SANLOG/ubsan" \
	_credits_start_cluster "$CREDITS_TMP" || exit 1

# The backends really run the sanitized module under the runtime.
maps=$(psql -X -q -t -A -v ON_ERROR_STOP=1 -d postgres \
	-c "LOAD 'credits'" -c "SELECT pg_read_file('/proc/self/maps')") || exit 1
if ! grep -qF "$module" <<<"$maps" || ! grep -qF "$(basename "$runtime")" <<<"$maps"; then
	credits_err "the backend did not load $module with the sanitizer runtime"
	exit 1
fi

# 4. The regression suite.
args=(installcheck PG_CONFIG="$PG_CONFIG")
if [[ -n ${TESTS-} ]]; then
	args+=("REGRESS=$(tr -s ' \t' '\n' <<<"$TESTS" | sed '/^$/d' | sort -u | paste -sd ' ')")
fi
credits_log "running pg_regress under the sanitizers"
rc=0
credits_run_limited "$REGRESS_TIMEOUT" make -C "$WORK/src" --no-print-directory "${args[@]}" \
	>"$WORK/regress.out" 2>&1 || rc=$?
sed -n '/^=* running regression test queries/,$p' "$WORK/regress.out"
if ((rc != 0)); then
	grep -q '^=* running regression test queries' "$WORK/regress.out" || cat "$WORK/regress.out"
	[[ -s $WORK/src/regression.diffs ]] && head -n 200 "$WORK/src/regression.diffs"
fi

# 5. The verdict: any sanitizer report, or any backend that died, fails.
findings=0
for f in "$SANLOG"/*; do
	[[ -s $f ]] || continue
	findings=$((findings + 1))
	echo "=== sanitizer report $(basename "$f")"
	head -n 60 "$f"
done
if grep -nE 'AddressSanitizer|runtime error:|terminated by signal|was terminated by' \
	"$CREDITS_TMP/postgres.log" >"$WORK/crashes"; then
	findings=$((findings + 1))
	echo "=== from the server log"
	head -n 40 "$WORK/crashes"
fi
echo
if ((findings > 0)); then
	echo "sanitize: FAILED: $findings sanitizer report(s) or crash(es)"
	exit 1
fi
if ((rc != 0)); then
	echo "sanitize: FAILED: pg_regress failed (exit $rc) without a sanitizer report"
	exit 1
fi
echo "sanitize: passed: no sanitizer report"
