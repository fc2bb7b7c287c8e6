#!/usr/bin/env bash
# hijack.sh: no SECURITY DEFINER function of the extension can be made to
# run code that a non-superuser created.  As a non-superuser database owner
# that is a member of credits_admin, plant in schema public operators for
# every pair of the types the ledger uses and overloads of every function
# name it calls, each of which records that it ran (a sequence, which no
# rollback undoes, and a WARNING); then call every function of the API.
# Nothing planted may run.  HIJACK_VERSION=1.0 runs the same attack on an
# old version (which it breaks: this test can fail).
set -euo pipefail
DB=credits_hijack_$$
ATT=hj_owner_$$
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS $ATT" \
		-c "DROP ROLE IF EXISTS hj_victim_$$" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q() { "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$DB" "$@"; }

"$PGBIN/createdb" "$DB"
q -c "CREATE ROLE $ATT LOGIN" -c "ALTER DATABASE $DB OWNER TO $ATT" \
	-c "CREATE EXTENSION credits ${HIJACK_VERSION:+VERSION '$HIJACK_VERSION'}" \
	-c "GRANT credits_admin TO $ATT" -c "CREATE ROLE hj_victim_$$ NOLOGIN" >/dev/null
[[ $(q -c "SELECT rolsuper FROM pg_roles WHERE rolname = '$ATT'") == f ]] || fail "the attacker is a superuser"

# 1. The traps, planted by the database owner in public.
q -U "$ATT" >/dev/null <<'SQL'
CREATE SEQUENCE public.hj_seq;
GRANT USAGE ON SEQUENCE public.hj_seq TO PUBLIC;
CREATE FUNCTION public.hj_hit(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_catalog.nextval('public.hj_seq'::pg_catalog.regclass);
	RAISE WARNING 'HIJACKED: % ran as %', what, current_user;
END $$;
DO $$
DECLARE
	types text[] := ARRAY['credit_amount', 'integer', 'bigint', 'smallint', 'numeric', 'text',
		'name', 'timestamptz', 'interval', 'boolean', 'jsonb', 'double precision', 'date'];
	ops text[] := ARRAY['=', '<>', '<', '<=', '>', '>=', '+', '-', '*', '/', '||', '%', '->>', '?', '@>', '~'];
	names text[];
	l text; r text; op text; fname text; n int := 0; nf int := 0;
BEGIN
	FOREACH op IN ARRAY ops LOOP
		FOREACH l IN ARRAY types LOOP
			FOREACH r IN ARRAY types LOOP
				n := n + 1;
				fname := format('hj_op_%s', n);
				BEGIN
					EXECUTE format('CREATE FUNCTION public.%I(l %s, r %s) RETURNS %s LANGUAGE plpgsql AS %L',
						fname, l, r, CASE WHEN op IN ('=', '<>', '<', '<=', '>', '>=', '?', '@>', '~') THEN 'boolean' ELSE l END,
						format('BEGIN PERFORM public.hj_hit(%L); RETURN NULL; END', l || ' ' || op || ' ' || r));
					EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.%I)',
						op, l, r, fname);
				EXCEPTION WHEN OTHERS THEN NULL;	-- ours already (same schema), or not allowed
				END;
			END LOOP;
			IF op IN ('-', '+', '~') THEN
				BEGIN
					EXECUTE format('CREATE FUNCTION public.%I(r %s) RETURNS %s LANGUAGE plpgsql AS %L',
						fname || 'u', l, l, format('BEGIN PERFORM public.hj_hit(%L); RETURN NULL; END', op || l));
					EXECUTE format('CREATE OPERATOR public.%s (RIGHTARG = %s, FUNCTION = public.%I)', op, l, fname || 'u');
				EXCEPTION WHEN OTHERS THEN NULL;
				END;
			END IF;
		END LOOP;
	END LOOP;
	-- Every identifier followed by "(" in the extension's SQL code, and the
	-- functions its C code calls, overloaded for one and two arguments.
	SELECT array_agg(DISTINCT m[1]) INTO names FROM pg_proc p,
		regexp_matches(p.prosrc, '([a-z_][a-z0-9_]*)\s*\(', 'g') m
	WHERE p.prolang IN (SELECT oid FROM pg_language WHERE lanname IN ('sql', 'plpgsql'))
	  AND (p.pronamespace = 'credits'::regnamespace OR p.proname LIKE 'credits\_%');
	names := names || ARRAY['now', 'clock_timestamp', 'statement_timestamp', 'nextval', 'format',
		'jsonb_build_object', 'to_jsonb', 'round', 'ceil', 'floor', 'trunc', 'abs', 'hashtext',
		'pg_advisory_xact_lock', 'pg_notify', 'pg_current_xact_id', 'txid_current', 'set_config',
		'current_setting', 'date_trunc', 'coalesce', 'greatest', 'least', 'sum', 'count', 'min', 'max',
		'length', 'lower', 'upper', 'btrim', 'sha256', 'encode', 'array_agg', 'unnest', 'string_agg',
		'pg_snapshot_xmin', 'pg_current_snapshot', 'make_interval', 'age', 'numeric', 'int8', 'text'];
	FOREACH fname IN ARRAY names LOOP
		FOREACH l IN ARRAY types LOOP
			BEGIN
				EXECUTE format('CREATE FUNCTION public.%I(a %s) RETURNS %s LANGUAGE plpgsql AS %L',
					fname, l, l, format('BEGIN PERFORM public.hj_hit(%L); RETURN NULL; END', fname || '(' || l || ')'));
				nf := nf + 1;
			EXCEPTION WHEN OTHERS THEN NULL;
			END;
			FOREACH r IN ARRAY types LOOP
				BEGIN
					EXECUTE format('CREATE FUNCTION public.%I(a %s, b %s) RETURNS %s LANGUAGE plpgsql AS %L',
						fname, l, r, l, format('BEGIN PERFORM public.hj_hit(%L); RETURN NULL; END',
							fname || '(' || l || ', ' || r || ')'));
					nf := nf + 1;
				EXCEPTION WHEN OTHERS THEN NULL;
				END;
			END LOOP;
		END LOOP;
	END LOOP;
	RAISE NOTICE 'planted % operators and % functions',
		(SELECT count(*) FROM pg_operator WHERE oprnamespace = 'public'::regnamespace
		 AND oprcode::text LIKE '%hj\_op%'), nf;
END $$;
SQL
planted=$(q -c "SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace AND prosrc LIKE '%hj_hit%'")
((planted > 2000)) || fail "only $planted traps were planted"

# 2. The attacker (a member of credits_admin) calls every function of the API.
calls=$(mktemp)
cat >"$calls" <<'SQL'
\set ON_ERROR_STOP 1
SELECT credits_define_type(code => 'HRS'::text, name => 'Hours'::text, scale => 2::int, currency => NULL::text);
SELECT credits_define_type(code => 'EUR'::text, name => 'Euro credit'::text, scale => 2::int, currency => 'EUR'::text);
SELECT credits_set_enabled(enabled => true);
SELECT credits_enabled();
SELECT credits_set_rate(currency => 'USD'::text, credits_per_unit => 10::numeric);
SELECT credits_rate(currency => 'USD'::text);
SELECT count(*) FROM credits_rates();
SELECT credits_convert(price => 3.51::numeric, currency => 'USD'::text);
SELECT credits_define_package(name => 'Starter'::text, credits => '500'::credit_amount, currency => 'USD'::text,
	price => 50::numeric, expires_after => '30 days'::interval);
SELECT count(*) FROM credits_packages();
SELECT credits_define_price_tier(product => 'blocks'::text, min_quantity => 1::int, unit_price => 100::numeric, currency => 'USD'::text);
SELECT credits_define_price_tier(product => 'blocks'::text, min_quantity => 5::int, unit_price => 85::numeric, currency => 'USD'::text);
SELECT credits_price(product => 'blocks'::text, quantity => 5::int);
SELECT count(*) FROM credits_price_tiers();
SELECT credits_grant(account => 'a'::text, amount => '100'::credit_amount, expires_at => '2030-01-01 00:00+00'::timestamptz,
	reason => 'r'::text, reference => 'g1'::text, idempotency_key => 'k1'::text);
SELECT credits_grant(account => 'a'::text, amount => '100'::credit_amount, expires_at => '2030-01-01 00:00+00'::timestamptz,
	reason => 'r'::text, reference => 'g1'::text, idempotency_key => 'k1'::text);
SELECT credits_grant(account => 'a'::text, amount => '50'::credit_amount);
SELECT credits_grant_many(accounts => ARRAY['b', 'c']::text[], amount => '20'::credit_amount);
SELECT credits_spend(account => 'a'::text, amount => '30'::credit_amount, reference => 'o1'::text) AS spend1 \gset
SELECT credits_spend(account => 'a'::text, amount => '1'::credit_amount, idempotency_key => 'k2'::text);
SELECT credits_balance(account => 'a'::text);
SELECT credits_balance(account => 'a'::text, at => now() - interval '1 hour');
SELECT count(*) FROM credits_history(account => 'a'::text);
SELECT count(*) FROM credits_history_page(account => 'a'::text, max_rows => 2::int, newest_first => true);
SELECT count(*) FROM credits_statement(account => 'a'::text, from_at => now() - interval '1 day');
SELECT credits_reverse(entry_id => :spend1::bigint, reason => 'oops'::text);
SELECT credits_grant(account => 'v'::text, amount => '5'::credit_amount) AS vlot \gset
SELECT credits_void(lot_id => :vlot::bigint, reason => 'mistake'::text);
SELECT credits_expire();
SELECT credits_define_rule(service => 'pro'::text, credits => '100'::credit_amount, mode => 'reset'::text,
	expires_after => '30 days'::interval);
SELECT credits_define_rule(service => 'basic'::text, credits => '10'::credit_amount, mode => 'add'::text);
SELECT credits_issue(account => 'a'::text, service => 'pro'::text, reference => 'INV-1'::text);
SELECT credits_issue(account => 'a'::text, service => 'basic'::text, reference => 'INV-2'::text, quantity => 3::int);
SELECT * FROM credits_clawback(reference => 'INV-2'::text);
SELECT credits_define_rule(service => 'keep'::text, credits => '100'::credit_amount, mode => 'reset'::text,
	expires_after => '30 days'::interval, rollover => '30'::credit_amount, reset_scope => 'own'::text);
SELECT credits_define_rule(service => 'keep'::text, credits => '100'::credit_amount, mode => 'reset'::text,
	variant => 'type'::text, rollover => '40'::credit_amount, reset_scope => 'type'::text);
SELECT credits_grant(account => 'k'::text, amount => '80'::credit_amount, expires_at => now() + interval '5 days');
SELECT credits_issue(account => 'k'::text, service => 'keep'::text, reference => 'INV-K1'::text);
SELECT credits_hold(account => 'k'::text, amount => '90'::credit_amount, reference => 'qk'::text) AS holdk \gset
SELECT credits_issue(account => 'k'::text, service => 'keep'::text, reference => 'INV-K2'::text);
SELECT credits_issue(account => 'k'::text, service => 'keep'::text, reference => 'INV-K3'::text, variant => 'type'::text);
SELECT credits_release(hold_id => :holdk::bigint);
SELECT count(*) FROM credits_rules(service => 'pro'::text);
SELECT count(*) FROM credits_invoices(account => 'a'::text, reference => 'INV-2'::text);
SELECT * FROM credits_purchase(account => 'a'::text, package => 'Starter'::text, method => 'stripe'::text, reference => 'ch_1'::text);
SELECT request_id AS req1 FROM credits_purchase(account => 'a'::text, package => 'Starter'::text, method => 'bank_transfer'::text) \gset
SELECT request_id AS req2 FROM credits_purchase(account => 'a'::text, package => 'Starter'::text, method => 'crypto'::text) \gset
SELECT credits_accept_request(request_id => :req1::bigint);
SELECT credits_transfer(from_account => 'a'::text, to_account => 'b'::text, amount => '25'::credit_amount,
	reference => 't1'::text, credit_type => 'CRD'::text, idempotency_key => 'k3'::text);
SELECT credits_transfer(from_account => 'a'::text, to_account => 'b'::text, amount => '25'::credit_amount,
	reference => 't1'::text, credit_type => 'CRD'::text, idempotency_key => 'k3'::text);
SELECT credits_reject_request(request_id => :req2::bigint, reason => 'no'::text);
SELECT count(*) FROM credits_requests();
SELECT * FROM credits_pay(account => 'a'::text, amount => 1.50::numeric, currency => 'USD'::text, reference => 'inv-9'::text);
SELECT * FROM credits_pay(account => 'a'::text, amount => 100000::numeric, currency => 'USD'::text, reference => 'inv-10'::text, partial => true);
SELECT credits_grant(account => 'h'::text, amount => '100'::credit_amount, expires_at => now() + interval '5 days');
SELECT credits_hold(account => 'h'::text, amount => '40'::credit_amount, reference => 'q1'::text) AS hold1 \gset
SELECT credits_hold(account => 'h'::text, amount => '10'::credit_amount, reference => 'q2'::text) AS hold2 \gset
SELECT credits_transfer(from_account => 'h'::text, to_account => 'a'::text, amount => '5'::credit_amount);
SELECT credits_capture(hold_id => :hold1::bigint, amount => '15'::credit_amount);
SELECT credits_release(hold_id => :hold2::bigint);
SELECT count(*) FROM credits_holds();
SELECT credits_subscribe(account => 's'::text, credits => '10'::credit_amount, every => '1 month'::interval,
	mode => 'reset'::text, starts_at => now() - interval '40 days', expires_after => '1 month'::interval);
SELECT credits_subscribe_service(account => 's'::text, service => 'seo'::text, price => '3'::credit_amount,
	every => '1 day'::interval) AS sub2 \gset
SELECT credits_cancel_subscription(subscription_id => :sub2::bigint);
SELECT credits_subscribe(account => 's'::text, credits => '10'::credit_amount, every => '1 month'::interval,
	mode => 'reset'::text, starts_at => now() - interval '40 days', expires_after => '1 month'::interval,
	rollover => '4'::credit_amount, reset_scope => 'own'::text);
SELECT count(*) FROM credits_subscriptions();
SELECT * FROM credits_run_due();
SELECT credits_set_low_balance(account => 'a'::text, threshold => '5'::credit_amount);
SELECT credits_set_low_balance(account => 'a'::text, threshold => NULL::credit_amount);
SELECT credits_define_package(name => 'Topup'::text, credits => '10'::credit_amount, currency => 'USD'::text,
	price => 1::numeric);
SELECT credits_grant(account => 't'::text, amount => '10'::credit_amount);
SELECT credits_set_auto_topup(account => 't'::text, below => '5'::credit_amount, package => 'Topup'::text,
	method => 'stripe'::text, credit_type => 'CRD'::text);
SELECT credits_spend(account => 't'::text, amount => '6'::credit_amount);
SELECT credits_accept_request(request_id => r.request_id) FROM credits_requests(account => 't'::text, status => 'pending'::text) r;
SELECT credits_spend(account => 't'::text, amount => '10'::credit_amount);
SELECT credits_reject_request(request_id => r.request_id, reason => 'declined'::text)
FROM credits_requests(account => 't'::text, status => 'pending'::text) r;
SELECT credits_define_package(name => 'Topup'::text, credits => '10'::credit_amount, currency => 'USD'::text,
	price => 1::numeric, credit_type => 'HRS'::text);
SELECT credits_spend(account => 't'::text, amount => '1'::credit_amount);
SELECT credits_set_auto_topup(account => 't'::text, below => NULL::credit_amount, package => NULL::text,
	method => NULL::text);
SELECT count(*) FROM credits_events_since(after_id => 0::bigint, max_rows => 100::int);
SELECT count(*) FROM credits_usage(from_at => now() - interval '1 day', to_at => now() + interval '1 day');
SELECT count(*) FROM credits_expiring(within => '30 days'::interval);
SELECT count(*) FROM credits_liability();
SELECT count(*) FROM credits_liability(at => now() - interval '1 minute');
SELECT * FROM credits_revenue(from_at => now() - interval '1 day', to_at => now() + interval '1 day');
SELECT count(*) FROM credits_journal(from_at => now() - interval '1 day', to_at => now() + interval '1 day');
SELECT credits_seal();
SELECT count(*) FROM credits_seal_heads();
SELECT credits_seal_hash(account => 'a'::text, seal_position => 1::bigint) IS NOT NULL;
SELECT count(*) FROM credits_verify();
SELECT length(credits_fingerprint()) > 0;
SELECT credits_prune_events(older_than => '30 days'::interval);
SELECT count(*) FROM credits_balances;
SELECT credits_portal_add_role(role_name => :'victim'::name);
SELECT credits_portal_remove_role(role_name => :'victim'::name);
CREATE TABLE public.hj_invoice (number text, account text, service text, status text);
CREATE TRIGGER hj_issue AFTER INSERT OR UPDATE ON public.hj_invoice
	FOR EACH ROW EXECUTE FUNCTION credits_issue_trigger('reference=number');
INSERT INTO public.hj_invoice VALUES ('INV-7', 'a', 'basic', 'paid'), ('INV-8', 'a', 'basic', 'open'),
	('INV-9', 'a', 'no-rule', 'paid');
UPDATE public.hj_invoice SET status = 'paid' WHERE number = 'INV-8';
SQL
# (An old version breaks on the traps; go on past its errors to see what ran.)
[[ -n ${HIJACK_VERSION-} ]] && sed -i 's/^\\set ON_ERROR_STOP 1/\\set ON_ERROR_STOP 0/' "$calls"
out=$(q -U "$ATT" -v victim="hj_victim_$$" -f "$calls" 2>&1) || { rm -f "$calls"; echo "$out" | tail -20; fail "an API call failed"; }
rm -f "$calls"
if grep -q HIJACKED <<<"$out" || [[ $(q -c "SELECT is_called FROM public.hj_seq") != f ]]; then
	grep HIJACKED <<<"$out" | sort | uniq -c | head -20
	fail "planted code ran inside the extension's functions"
fi
[[ $(q -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
echo "$planted planted functions and operators; none ran in any API call"
echo "PASS"
