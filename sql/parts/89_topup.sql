/*
 * Auto top-up (1.2).  An account (and credit type) may name a threshold, a
 * package and a payment method: when a movement that takes credits leaves
 * its available balance below the threshold while no top-up of it is
 * pending, a credit request for the package is created -- always pending,
 * whatever the method, since the application charges the client (a saved
 * card, say) and then accepts or rejects it with credits_accept_request /
 * credits_reject_request.  The settings live on the account row (columns
 * topup_*, 20_schema.sql), so the movement that reads the row anyway pays a
 * comparison (src/topup.c); a call decides once, by the balance it leaves
 * (a reset and its new credits, due expirations and a grant ask for
 * nothing), and waits for a due renewal of a credit subscription, which
 * refills first.  topup_request names the pending top-up, and a partial
 * unique index on credits.request keeps it to one per account and type,
 * however many movements race.  A top-up that cannot be requested never
 * fails the movement: it is reported (event account.credits.topup_failed, a
 * WARNING) and tried again by the next movement.
 */

-- Request the top-up of an account and type whose call, at the ledger
-- instant at, left the balance at balance, below the threshold since
-- entry_id; the caller holds the account lock.  Returns what it did:
-- 'requested'; 'pending' (a top-up is pending already), 'off', 'above' (the
-- balance is not below the threshold): nothing to do; 'waiting': a renewal
-- of a credit subscription of the account is due, which refills it first
-- (credits_run_due records expirations, then renews: the caller asks again
-- after the renewal); 'failed' (reported, never raised).
CREATE FUNCTION credits.request_topup(account text, credit_type text,
									  balance @extschema@.credit_amount,
									  entry_id bigint, at timestamptz)
RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	a credits.account%ROWTYPE;
	p credits.package%ROWTYPE;
	r credits.request%ROWTYPE;
	pending bigint;
	st text;
	msg text;
	det text;
BEGIN
	SELECT * INTO a FROM credits.account x
	WHERE x.account = request_topup.account AND x.credit_type = request_topup.credit_type;
	IF a.topup_below IS NULL THEN
		RETURN 'off';
	ELSIF a.topup_request IS NOT NULL THEN
		RETURN 'pending';
	ELSIF balance >= a.topup_below THEN
		RETURN 'above';
	END IF;
	IF EXISTS (SELECT FROM credits.subscription s
			   WHERE s.account = a.account AND s.credit_type = a.credit_type
				 AND s.credits IS NOT NULL AND s.status <> 'cancelled'
				 AND s.next_period_at <= request_topup.at) THEN
		RETURN 'waiting';
	END IF;
	BEGIN
		-- as a purchase: not while the agency has switched credits off
		PERFORM credits.pricing_require_enabled('an auto top-up');
		p := credits.package_named(a.topup_package);
		IF p.credit_type <> a.credit_type THEN
			RAISE EXCEPTION 'package "%" is of credit type "%", not "%"', p.name,
				p.credit_type, a.credit_type
				USING ERRCODE = 'invalid_parameter_value';
		END IF;
		-- One pending top-up per account and type (request_topup_pending):
		-- one the account row does not name yet is named, and no second
		-- one is made.
		INSERT INTO credits.request (account, package_id, package, credit_type, credits,
									 amount, currency, expires_after, method, reference,
									 auto_topup)
		VALUES (a.account, p.package_id, p.name, a.credit_type, p.credits, p.price,
				p.currency, p.expires_after, a.topup_method, 'auto-topup', true)
		ON CONFLICT (account, credit_type) WHERE status = 'pending' AND auto_topup
		DO NOTHING
		RETURNING * INTO r;
		IF r.request_id IS NULL THEN
			SELECT x.request_id INTO pending FROM credits.request x
			WHERE x.account = a.account AND x.credit_type = a.credit_type
			  AND x.status = 'pending' AND x.auto_topup;
			UPDATE credits.account x SET topup_request = pending
			WHERE x.account = a.account AND x.credit_type = a.credit_type;
			RETURN 'pending';
		END IF;
		UPDATE credits.account x SET topup_request = r.request_id
		WHERE x.account = a.account AND x.credit_type = a.credit_type;
		INSERT INTO credits.event (id, account, at, type, aggregatetype, aggregateid,
								   payload, entry_id)
		VALUES (credits.new_event_id('account.credits.topup_requested'), a.account, at,
				'account.credits.topup_requested', 'account', a.account,
				jsonb_build_object('account', a.account, 'credit_type', a.credit_type,
								   'request_id', r.request_id, 'package', r.package,
								   'credits', r.credits::numeric, 'amount', r.amount,
								   'currency', r.currency, 'method', r.method,
								   'reference', r.reference, 'status', r.status,
								   'balance', balance::numeric,
								   'threshold', a.topup_below::numeric,
								   'entry_id', entry_id),
				entry_id);
		RETURN 'requested';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
			det = PG_EXCEPTION_DETAIL;
	END;
	-- Not requested: the movement stands, and the failure is told where
	-- the application looks (the outbox) and in the server log.
	INSERT INTO credits.event (id, account, at, type, aggregatetype, aggregateid,
							   payload, entry_id)
	VALUES (credits.new_event_id('account.credits.topup_failed'), a.account, at,
			'account.credits.topup_failed', 'account', a.account,
			jsonb_build_object('account', a.account, 'credit_type', a.credit_type,
							   'package', a.topup_package, 'method', a.topup_method,
							   'balance', balance::numeric,
							   'threshold', a.topup_below::numeric,
							   'entry_id', entry_id, 'sqlstate', st, 'message', msg),
			entry_id);
	RAISE WARNING 'auto top-up of account "%" (credit type %) could not be requested: %',
		a.account, a.credit_type, msg
		USING DETAIL = coalesce(nullif(det, ''), format('SQLSTATE %s.', st)),
			  HINT = 'The movement was recorded; the next one that leaves the balance below the threshold tries again.';
	RETURN 'failed';
END
$$;
REVOKE ALL ON FUNCTION credits.request_topup(text, text, @extschema@.credit_amount, bigint,
											 timestamptz) FROM PUBLIC;

CREATE FUNCTION credits_set_auto_topup(account text, below @extschema@.credit_amount,
									   package text, method text,
									   credit_type text DEFAULT 'CRD')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	p credits.package%ROWTYPE;
BEGIN
	IF account IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN account IS NULL THEN 'account' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF below IS NOT NULL AND (package IS NULL OR method IS NULL) THEN
		RAISE EXCEPTION '% must not be null',
			CASE WHEN package IS NULL THEN 'package' ELSE 'method' END
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'A NULL below turns auto top-up off; any other names the package and the method.';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF account = '' THEN
		RAISE EXCEPTION 'account must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- 42704 for an unknown type; its scale holds until this transaction ends
	PERFORM credits.lock_type(credit_type);

	IF below IS NULL THEN
		-- Off.  A pending top-up stays pending: the application may be
		-- charging it; it is decided as any request.
		UPDATE credits.account x
		SET topup_below = NULL, topup_package = NULL, topup_method = NULL
		WHERE x.account = credits_set_auto_topup.account
		  AND x.credit_type = credits_set_auto_topup.credit_type;
		RETURN;
	END IF;

	PERFORM credits.check_credits(below, credit_type, 'below');
	PERFORM credits.check_method(method, 'A method is stripe, paypal, bank_transfer or crypto; an auto top-up is a pending credit request whatever the method: the application charges the client, then accepts or rejects it.');
	p := credits.package_named(package);
	IF p.credit_type <> credit_type THEN
		RAISE EXCEPTION 'package "%" is of credit type "%", not "%"', package,
			p.credit_type, credit_type
			USING ERRCODE = 'invalid_parameter_value',
				  DETAIL = 'An auto top-up buys credits of the type whose balance it watches.';
	END IF;

	-- The account row, which every movement locks and reads: the setting
	-- takes effect with the next one.
	INSERT INTO credits.account AS a (account, credit_type, topup_below, topup_package,
									  topup_method)
	VALUES (credits_set_auto_topup.account, credits_set_auto_topup.credit_type, below,
			p.name, method)
	ON CONFLICT ON CONSTRAINT account_pkey DO UPDATE
		SET topup_below = excluded.topup_below, topup_package = excluded.topup_package,
			topup_method = excluded.topup_method;
END
$$;
COMMENT ON FUNCTION credits_set_auto_topup(text, @extschema@.credit_amount, text, text, text) IS
	'sets (or with a NULL below turns off) the auto top-up of an account: when a movement leaves its available balance below "below" and no top-up is pending, a pending credit request for the package by the method is created (event account.credits.topup_requested) for the application to charge, then accept or reject';

-- The invariants of auto top-ups, for credits_verify().
CREATE FUNCTION credits.verify_topup()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- The account row names the pending top-up of its type, and there is
	-- no other: a top-up the row does not name would be one too many, and a
	-- name that is not a pending top-up would stop every later one.
	RETURN QUERY
	WITH a AS MATERIALIZED (
		SELECT x.account, x.credit_type, x.topup_request FROM credits.account x
		WHERE x.topup_request IS NOT NULL),
	r AS MATERIALIZED (
		SELECT x.account, x.credit_type, x.request_id FROM credits.request x
		WHERE x.status = 'pending' AND x.auto_topup)
	SELECT 'topup_pending', coalesce(a.account, r.account),
		   CASE WHEN r.request_id IS NULL
				THEN format('type %s: the account names request %s as its pending top-up, which is not one',
							a.credit_type, a.topup_request)
				ELSE format('type %s: pending top-up request %s is not the one the account names (%s)',
							r.credit_type, r.request_id, coalesce(n.topup_request::text, 'none')) END
	FROM a FULL JOIN r
		ON r.account = a.account AND r.credit_type = a.credit_type
		AND r.request_id = a.topup_request
	LEFT JOIN credits.account n ON n.account = r.account AND n.credit_type = r.credit_type
	WHERE a.account IS NULL OR r.account IS NULL;

	-- An auto top-up is complete (threshold above zero, package, method) and
	-- names a package of its type: otherwise no top-up can be requested.
	RETURN QUERY
	SELECT 'topup_setting', a.account,
		   format('type %s: auto top-up below %s by %s names package "%s", %s', a.credit_type,
				  a.topup_below, coalesce(a.topup_method, 'no method'),
				  coalesce(a.topup_package, '(none)'),
				  CASE WHEN a.topup_package IS NULL OR a.topup_method IS NULL
							OR a.topup_below <= 0
					   THEN 'an incomplete setting'
					   WHEN p.package_id IS NULL THEN 'which does not exist'
					   ELSE format('which is of credit type %s', p.credit_type) END
				  || ': no top-up can be requested')
	FROM credits.account a
	LEFT JOIN credits.package p ON p.name = a.topup_package
	WHERE (a.topup_below IS NOT NULL OR a.topup_package IS NOT NULL OR a.topup_method IS NOT NULL)
	  AND (a.topup_below IS NULL OR a.topup_package IS NULL OR a.topup_method IS NULL
		   OR a.topup_below <= 0 OR p.package_id IS NULL OR p.credit_type <> a.credit_type);

	-- A top-up request is a package's, marked by its reference.
	RETURN QUERY
	SELECT 'topup_request', r.account,
		   format('request %s is an auto top-up with package %s and reference %s',
				  r.request_id, coalesce(r.package, '(none)'), coalesce(r.reference, '(none)'))
	FROM credits.request r
	WHERE r.auto_topup AND (r.package_id IS NULL OR r.reference IS DISTINCT FROM 'auto-topup');
END
$$;
REVOKE ALL ON FUNCTION credits.verify_topup() FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every function of the
-- extension (90_privileges.sql does it at CREATE EXTENSION; this serves
-- ALTER EXTENSION UPDATE, as in 85_distribute.sql).
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits_set_auto_topup(text, @extschema@.credit_amount, text, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_set_auto_topup(text, @extschema@.credit_amount, text, text, text) FROM PUBLIC;
		ALTER FUNCTION credits.request_topup(text, text, @extschema@.credit_amount, bigint, timestamptz) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.request_topup(text, text, @extschema@.credit_amount, bigint, timestamptz) FROM PUBLIC;
		ALTER FUNCTION credits.verify_topup() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.verify_topup() FROM PUBLIC;
	END IF;
END
$$;
