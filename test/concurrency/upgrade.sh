#!/usr/bin/env bash
# upgrade.sh: every older shipped version of the extension, installed and then
# updated with ALTER EXTENSION credits UPDATE, must match a fresh install of
# the newest version: same functions, types, operators, casts, tables,
# columns, constraints, indexes and triggers.
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
FRESH=credits_upgrade_fresh_$$
OLD=credits_upgrade_old_$$
fail() { echo "FAIL: $*"; exit 1; }
PORTAL=regress_upgrade_portal_$$
cleanup() {
	"$PGBIN/dropdb" --if-exists "$FRESH" >/dev/null 2>&1 || true
	"$PGBIN/dropdb" --if-exists "$OLD" >/dev/null 2>&1 || true
	"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $PORTAL" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q() { local db=$1; shift; "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# One line per object of the extension, with everything that defines it.
FINGERPRINT=$(cat <<'SQL'
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'credits'),
members AS (
	SELECT d.classid, d.objid FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT objid AS oid FROM members WHERE classid = 'pg_class'::regclass)
SELECT line FROM (
	SELECT 'object ' || pg_describe_object(m.classid, m.objid, 0) AS line FROM members m
	UNION ALL
	SELECT format('function %s: %s %s %s %s %s %s %s %s %s', p.oid::regprocedure,
		pg_get_userbyid(p.proowner), p.prokind,
		p.provolatile, p.proisstrict, p.prosecdef, p.proparallel, p.proconfig,
		pg_get_function_result(p.oid), md5(p.prosrc || coalesce(p.probin, '')))
		|| ' args ' || pg_get_function_arguments(p.oid)
	FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	UNION ALL
	SELECT format('column %s.%s %s %s %s', a.attrelid::regclass, a.attname,
		format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(ad.adbin, ad.adrelid))
	FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
	LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT format('reloptions %s %s %s %s', c.oid::regclass, c.relkind, c.reloptions,
		pg_get_userbyid(c.relowner))
	FROM pg_class c JOIN rels r ON r.oid = c.oid
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(i.indexrelid)
	FROM pg_index i JOIN rels r ON r.oid = i.indrelid
	UNION ALL
	SELECT format('constraint %s %s', co.conrelid::regclass, pg_get_constraintdef(co.oid))
	FROM pg_constraint co JOIN rels r ON r.oid = co.conrelid
	UNION ALL
	SELECT format('domain constraint %s %s %s %s', co.contypid::regtype, co.conname,
		pg_get_constraintdef(co.oid), co.convalidated)
	FROM pg_constraint co JOIN members m ON m.classid = 'pg_type'::regclass AND m.objid = co.contypid
	UNION ALL
	SELECT format('trigger %s %s', t.tgenabled, pg_get_triggerdef(t.oid))
	FROM pg_trigger t JOIN rels r ON r.oid = t.tgrelid WHERE NOT t.tgisinternal
	UNION ALL
	SELECT format('view %s %s', c.oid::regclass, md5(pg_get_viewdef(c.oid)))
	FROM pg_class c JOIN rels r ON r.oid = c.oid WHERE c.relkind IN ('v', 'm')
	UNION ALL
	SELECT format('acl %s %s', c.oid::regclass, c.relacl)
	FROM pg_class c JOIN rels r ON r.oid = c.oid
	UNION ALL
	SELECT format('function acl %s %s', p.oid::regprocedure, p.proacl)
	FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	UNION ALL
	SELECT format('initial privileges %s %s %s', pg_describe_object(ip.classoid, ip.objoid, ip.objsubid),
		ip.privtype, ip.initprivs)
	FROM pg_init_privs ip JOIN members m ON m.classid = ip.classoid AND m.objid = ip.objoid
	UNION ALL
	SELECT format('operator %s %s', o.oid::regoperator, o.oprcode)
	FROM pg_operator o JOIN members m ON m.classid = 'pg_operator'::regclass AND m.objid = o.oid
	UNION ALL
	SELECT format('comment %s %s', pg_describe_object(m.classid, m.objid, 0),
		md5(coalesce(obj_description(m.objid, m.classid::regclass::text), '')))
	FROM members m
) f ORDER BY line;
SQL
)

"$PGBIN/createdb" "$FRESH"
q "$FRESH" -c "CREATE EXTENSION credits"
newest=$(q "$FRESH" -c "SELECT extversion FROM pg_extension WHERE extname = 'credits'")
fresh=$(q "$FRESH" -c "$FINGERPRINT")
[[ $(wc -l <<<"$fresh") -gt 50 ]] || fail "the fingerprint of a fresh install is suspiciously small"

older=$(q "$FRESH" -c "SELECT string_agg(version, ' ' ORDER BY version) FROM pg_available_extension_versions
                       WHERE name = 'credits' AND version <> '$newest'")
if [[ -z $older ]]; then
	echo "only version $newest is shipped: no upgrade path to check yet"
	echo "PASS"
	exit 0
fi
for v in $older; do
	"$PGBIN/dropdb" --if-exists "$OLD" >/dev/null 2>&1
	"$PGBIN/createdb" "$OLD"
	# An old ledger with data in it, written by this library through the old
	# SQL: it must come through the update intact, and a session that saw the
	# old tables must work with the new ones right after the update.
	q "$OLD" -c "CREATE EXTENSION credits VERSION '$v'" \
		-c "SELECT credits_grant('u-1', 100), credits_spend('u-1', 30)" >/dev/null
	# An idempotency key as 1.0 stored it: the expiry as text in the writing
	# session's time zone.
	keyed=$(q "$OLD" -c "SELECT credits_grant('u-2', 5, expires_at => '2031-03-01 12:00+00',
	                                          idempotency_key => 'old-key')")
	q "$OLD" -c "UPDATE credits.idempotency SET request = '5:grant;3:CRD;1:5;22:2031-03-01 13:00:00+01;-;-;'
	             WHERE account = 'u-2' AND idempotency_key = 'old-key'"
	# A clawback whose shortfall the old version recorded (with this
	# library, before the update: as 1.0 did).
	spent=$(q "$OLD" -c "SELECT credits_define_rule('pack', 100, 'add')" \
		-c "SELECT credits_issue('u-3', 'pack', 'INV-U3')" -c "SELECT credits_spend('u-3', 100)" | tail -1)
	[[ $(q "$OLD" -c "SELECT shortfall FROM credits_clawback('INV-U3')") == 100 ]] \
		|| fail "$v: the clawback before the update"
	# A monthly subscription made under TimeZone CET, as 1.0 stored it (its
	# first period granted): 1.0 read the zone CET as the abbreviation's
	# fixed offset, so the second period, in summer time, starts at 10:00
	# local time.  The update counts it by the zone's rules: 09:00.
	# (Skipped where tzdata no longer ships the zone CET: no session can use it.)
	# Only 1.0 stored schedules that way; 1.1 and later keep the zone's rules.
	has_cet=0
	[[ $v == 1.0 ]] && has_cet=$(q "$OLD" -c "SELECT count(*) FROM pg_timezone_names WHERE name = 'CET'")
	((has_cet)) && q "$OLD" -c "SET TimeZone = 'CET'" \
		-c "SELECT credits_grant('u-5', 1)" \
		-c "UPDATE credits.lot SET source = 'subscription' WHERE account = 'u-5'" \
		-c "INSERT INTO credits.subscription (account, credit_type, credits, every, mode, starts_at,
				time_zone, next_period, next_period_at)
			SELECT 'u-5', 'CRD', 1, '1 month', 'add', s, 'CET', 1,
				((s AT TIME ZONE 'CET') + interval '1 month') AT TIME ZONE 'CET'
			FROM (SELECT make_timestamptz(extract(year FROM now())::int - 1, 3, 20, 9, 0, 0) AS s) x" \
		-c "INSERT INTO credits.subscription_period (account, subscription_id, period, starts_at, outcome, lot_id)
			SELECT s.account, s.subscription_id, 0, s.starts_at, 'granted', l.lot_id
			FROM credits.subscription s JOIN credits.lot l ON l.account = s.account" >/dev/null
	if ((has_cet)); then
		[[ $(q "$OLD" -c "SET TimeZone = 'CET'" -c "SELECT to_char(next_period_at, 'MM-DD HH24:MI')
			FROM credits.subscription WHERE account = 'u-5'") == "04-20 10:00" ]] || fail "$v: unexpected 1.0 schedule"
	fi
	# A payment (this library answers the old declaration's columns: three
	# in 1.0, four since 1.1) and a pending credit request for a package,
	# made before the update.
	paid=$(q "$OLD" -c "SELECT credits_set_rate('USD', 10) > 0" \
		-c "SELECT row(p.*)::text FROM credits_pay('u-6', 1.00, 'USD', 'INV-U4', partial => true) p" | tail -1)
	[[ $paid == "(0,0.00,1.00)" && $v == 1.0 || $paid == "(0,0.00,1.00,)" && $v != 1.0 ]] \
		|| fail "$v: a payment before the update: $paid"
	request=$(q "$OLD" -c "SELECT credits_define_package('Old', 10, 'USD', 1.00)" \
		-c "SELECT request_id FROM credits_purchase('u-6', 'Old', 'bank_transfer')" | tail -1)
	# A reset made before the update (this library on the old tables: the
	# whole balance) with credits held across it, and a reset subscription:
	# after the update the reset's mark still closes its lots, and both
	# reset as they did unless told to keep something.
	hold_r1=$(q "$OLD" -c "SELECT credits_grant('u-r1', 50)" -c "SELECT credits_define_rule('plan', 100, 'reset')" \
		-c "SELECT credits_hold('u-r1', 20, 'H-UR1')" | tail -1)
	q "$OLD" -c "SELECT credits_issue('u-r1', 'plan', 'INV-UR1')" >/dev/null
	# (This library subscribes on the tables of 1.1, not of 1.0: they have no
	# subscription.failure.)
	[[ $v == 1.0 ]] || q "$OLD" -c "SELECT credits_subscribe('u-r2', 10, '1 month', 'reset')" >/dev/null
	[[ $(q "$OLD" -c "SELECT credits_balance('u-r1')") == 100 ]] || fail "$v: the reset before the update"
	# A client portal registered before the update (portals came with 1.1).
	if [[ $v != 1.0 ]]; then
		q "$OLD" -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS $PORTAL" -c "CREATE ROLE $PORTAL" \
			-c "SELECT credits_portal_add_role('$PORTAL')" >/dev/null
	fi
	# A session that saw the old tables keeps working right after the update,
	# its kept statements made anew for the new tables (the spend's fast path
	# and lot order of 1.2: priorities and lots restricted to services).
	q "$OLD" -c "SELECT credits_grant_many(ARRAY['u-4'], 5), credits_expire()" \
		-c "SELECT credits_balance('u-1', at => now() - interval '1 s')" \
		-c "SELECT credits_grant('u-7', 10), credits_spend('u-7', 1), credits_hold('u-7', 1, 'h-u7')" \
		-c "SELECT credits_grant(a, 50), credits_spend(a, 1), credits_spend(a, 1, idempotency_key => 'k')
		    FROM unnest(ARRAY['u-8', 'u-9']) a" \
		-c "ALTER EXTENSION credits UPDATE" \
		-c "SELECT credits_spend('u-4', 1), credits_grant_many(ARRAY['u-4'], 1)" \
		-c "SELECT credits_spend('u-7', 2), credits_hold('u-7', 1, 'h-u7b'),
				   credits_grant('u-7', 5, applies_to => ARRAY['ai'], priority => -1),
				   credits_spend('u-7', 3), credits_spend('u-7', 4, service => 'ai')" \
		-c "SELECT credits_set_auto_topup(a, 40, 'Old', 'stripe') FROM unnest(ARRAY['u-8', 'u-9']) a" \
		-c "SELECT credits_spend('u-8', 10), credits_spend('u-9', 10, idempotency_key => 'k2')" >/dev/null
	# (the spends of u-8 and u-9, by the fast path and by the general one,
	# were planned on tables without auto top-up: now they request top-ups)
	[[ $(q "$OLD" -c "SELECT string_agg(account || ' ' || status, ', ' ORDER BY account) FROM credits_requests()
	                  WHERE reference = 'auto-topup'") == "u-8 pending, u-9 pending" ]] \
		|| fail "$v: a session that saw the old tables requested no top-up after the update"
	[[ $(q "$OLD" -c "SELECT credits_balance('u-1')") == 70 ]] || fail "$v: balance changed by the update"
	[[ $(q "$OLD" -c "SELECT credits_balance('u-4')") == 5 ]] || fail "$v: u-4 has the wrong balance"
	got=$(q "$OLD" -c "SELECT credits_balance('u-7') || ' ' || credits_balance('u-7', service => 'ai') || ' '
	                   || string_agg(remaining || coalesce(applies_to::text, ''), ',' ORDER BY lot_id)
	                   FROM credits_lots('u-7')")
	[[ $got == "3 3 2,1{ai}" ]] || fail "$v: spends after the update took the wrong lots: $got"
	if [[ $v != 1.0 ]]; then
		got=$(q "$OLD" -c "SET credits.portal_account = 'u-7'" -c "SET ROLE $PORTAL" \
			-c "SELECT credits_spend('u-7', 1, service => 'ai') > 0" \
			-c "SELECT credits_balance('u-7', service => 'ai'), (SELECT count(*) FROM credits_lots('u-7'))" | tr '\n' ' ')
		[[ $got == "t 2|1 " ]] || fail "$v: a portal registered before the update cannot spend and read after it: $got"
		# (its grants out of the catalog compared below)
		q "$OLD" -c "SELECT credits_portal_remove_role('$PORTAL')" >/dev/null
	fi
	# That request is accepted after the update.
	[[ $(q "$OLD" -c "SELECT credits_accept_request($request) > 0" -c "SELECT credits_balance('u-6')" | tail -1) \
		== 10 ]] || fail "$v: a request made before the update was not granted after it"
	# That shortfall is due after the update: a reversal settles it.
	q "$OLD" -c "SELECT credits_reverse($spent)" >/dev/null
	[[ $(q "$OLD" -c "SELECT credits_balance('u-3') || ' ' || shortfall_due FROM credits_invoices('u-3')") == "0 0" ]] \
		|| fail "$v: a shortfall recorded before the update was not settled by a reversal after it"
	again=$(q "$OLD" -c "SET TimeZone = 'America/Chicago'" \
		-c "SELECT credits_grant('u-2', 5, expires_at => '2031-03-01 12:00+00', idempotency_key => 'old-key')")
	[[ $again == "$keyed" ]] || fail "$v: a key stored before the update is not the same call after it"
	# The old reset's held credits are forfeited when released; a rule that
	# keeps 40 keeps 40; the old subscription keeps nothing.
	[[ $(q "$OLD" -c "SELECT credits_release($hold_r1)" -c "SELECT credits_balance('u-r1')" | tail -1) == 100 ]] \
		|| fail "$v: credits held across a reset before the update came back after it"
	[[ $(q "$OLD" -c "SELECT credits_define_rule('plan', 100, 'reset', rollover => 40)" \
		-c "SELECT credits_issue('u-r1', 'plan', 'INV-UR1b')" -c "SELECT credits_balance('u-r1')" | tail -1) == 140 ]] \
		|| fail "$v: a reset with a rollover after the update"
	[[ $v == 1.0 || $(q "$OLD" -c "SELECT coalesce(rollover::text, '-') || ' ' || reset_scope
		FROM credits_subscriptions('u-r2')") == "- type" ]] \
		|| fail "$v: a reset subscription of before the update keeps something"
	[[ $(q "$OLD" -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "$v: credits_verify() after the update"
	if ((has_cet)); then
		[[ $(q "$OLD" -c "SET TimeZone = 'CET'" \
			-c "SELECT to_char(next_renewal_at, 'MM-DD HH24:MI') FROM credits_subscriptions('u-5')") == "04-20 09:00" ]] \
			|| fail "$v: the CET subscription does not renew at 09:00 local time after the update"
		q "$OLD" -c "SELECT * FROM credits_run_due()" >/dev/null
		[[ $(q "$OLD" -c "SET TimeZone = 'CET'" -c "SELECT count(*) FROM credits.subscription_period
			WHERE account = 'u-5' AND to_char(starts_at, 'DD HH24:MI') <> '20 09:00'") == 0 ]] \
			|| fail "$v: the CET subscription renewed off its local schedule after the update"
		[[ $(q "$OLD" -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "$v: credits_verify() after renewals"
	elif [[ $v == 1.0 ]]; then
		echo "$v: no zone CET in this tzdata; the CET upgrade case is skipped"
	fi
	got=$(q "$OLD" -c "SELECT extversion FROM pg_extension WHERE extname = 'credits'")
	[[ $got == "$newest" ]] || fail "$v updated to $got, not $newest"
	updated=$(q "$OLD" -c "$FINGERPRINT")
	if [[ $updated != "$fresh" ]]; then
		{ diff <(echo "$fresh") <(echo "$updated") || true; } | head -40
		fail "$v + ALTER EXTENSION UPDATE differs from a fresh install of $newest"
	fi
	echo "$v -> $newest: identical to a fresh install ($(wc -l <<<"$fresh") catalog lines compared)"
done
echo "PASS"
