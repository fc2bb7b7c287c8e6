#!/usr/bin/env bash
# dump_restore.sh: pg_dump/pg_restore keep every ledger row and sequence
# position, and the portal roles (by name); the restored database keeps
# working without id collisions, and its seals stay valid (in another time
# zone too) and go on from where they were.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SRC=credits_dump_src_$$
DST=credits_dump_dst_$$
# A portal role whose name needs quoting (roles belong to the cluster).
PORTAL="Dump Portal $$"
WORK=$(mktemp -d)
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	"$PGBIN/dropdb" --if-exists "$SRC" >/dev/null 2>&1 || true
	"$PGBIN/dropdb" --if-exists "$DST" >/dev/null 2>&1 || true
	"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS \"$PORTAL\"" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT
q() { local db=$1; shift; "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

"$PGBIN/createdb" "$SRC"
q "$SRC" >/dev/null <<'SQL'
CREATE EXTENSION credits;
SELECT credits_define_type('CRD', 'Points');
SELECT credits_define_type('HRS', 'Hours', 2);
SELECT credits_set_low_balance('acme', 100);
SELECT credits_grant('acme', 500, expires_at => now() + interval '1 year', reason => 'package', reference => 'INV-1');
SELECT credits_grant('acme', 25, reason => 'welcome', idempotency_key => 'welcome-acme');
SELECT credits_spend('acme', 36, 'ORD-1');
SELECT credits_spend('acme', 450, 'ORD-2', idempotency_key => 'ord-2');
SELECT credits_grant('beta', '7.5', 'HRS');
SELECT credits_grant('gamma', 3, expires_at => clock_timestamp() + interval '1 s');
SELECT pg_sleep(1.1);
SELECT credits_expire();
SELECT credits_seal();
SELECT credits_set_enabled(false);
SQL
q "$SRC" -c "CREATE ROLE \"$PORTAL\" NOLOGIN" -c "SELECT credits_portal_add_role('$PORTAL')" >/dev/null

# A digest of everything the ledger holds.
fingerprint() { q "$1" -c "SELECT credits_fingerprint()"; }
seqs() {
	q "$1" -c "SELECT string_agg(format('%s=%s', sequencename, last_value), ' ' ORDER BY sequencename)
	           FROM pg_sequences WHERE schemaname = 'credits'"
}

before=$(fingerprint "$SRC")
seq_before=$(seqs "$SRC")
"$PGBIN/pg_dump" -Fc -f "$WORK/credits.dump" "$SRC"
"$PGBIN/createdb" "$DST"
"$PGBIN/pg_restore" --exit-on-error -d "$DST" "$WORK/credits.dump" \
	|| fail "pg_restore failed"

after=$(fingerprint "$DST")
seq_after=$(seqs "$DST")
[[ $before == "$after" ]] || fail "restored ledger differs from the original"
[[ $seq_before == "$seq_after" ]] || fail "sequence positions differ: '$seq_before' vs '$seq_after'"
[[ $(q "$DST" -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() on the restored database"
[[ $(PGTZ=Asia/Kolkata q "$DST" -c "SELECT count(*) FROM credits_verify()") == 0 ]] \
	|| fail "credits_verify() on the restored database in another time zone"
[[ $(q "$DST" -c "SELECT (SELECT count(*) FROM credits.seal) = (SELECT count(*) FROM credits.entry)") == t ]] \
	|| fail "the seals were not restored"
[[ $(q "$DST" -c "SELECT credits_enabled()") == f ]] || fail "the switch was not restored"
[[ $(q "$DST" -c "SELECT name FROM credits.credit_types WHERE code = 'CRD'") == Points ]] \
	|| fail "the renamed default type was not restored"
[[ $(q "$DST" -c "SELECT role = '\"$PORTAL\"'::regrole FROM credits.portal_role") == t ]] \
	|| fail "the portal role was not restored"

# The restored ledger goes on: new ids do not collide, keys still hold.
q "$DST" >/dev/null <<'SQL'
SELECT credits_set_enabled(true);
SELECT credits_grant('acme', 10, reason => 'after restore');
SELECT credits_spend('acme', 5, 'ORD-3');
SELECT credits_grant('delta', 1);
SQL
[[ $(q "$DST" -c "SELECT credits_grant('acme', 25, reason => 'welcome', idempotency_key => 'welcome-acme') = (SELECT min(lot_id) FROM credits.lot WHERE reason = 'welcome')") == t ]] \
	|| fail "an idempotency key was forgotten by the restore"
[[ $(q "$DST" -c "SELECT credits_balance('acme')") == 44 ]] || fail "unexpected balance after restore"
[[ $(q "$DST" -c "SELECT credits_seal()") == 3 ]] || fail "the restored ledger did not seal its 3 new entries"
[[ $(q "$DST" -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() after new work"
echo "dump of $(q "$SRC" -c "SELECT count(*) FROM credits.entry") entries restored identically; sequences kept ($seq_after); new work fine"
echo "PASS"
