-- credits_lots() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.lots_rows(text, text, boolean)
RETURNS TABLE(lot_id bigint, credit_type text, amount @extschema@.credit_amount,
			  remaining @extschema@.credit_amount, granted_at timestamptz,
			  expires_at timestamptz, source text, reason text, reference text,
			  voided_at timestamptz, priority int, applies_to text[])
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
BEGIN
	PERFORM credits.check_access($1, 'client');
	PERFORM credits.type_scale($2);
	RETURN QUERY
	SELECT l.lot_id, l.credit_type, l.amount::@extschema@.credit_amount,
		   CASE WHEN l.is_open AND (l.expires_at IS NULL OR l.expires_at > now())
				THEN l.remaining ELSE 0 END::@extschema@.credit_amount,
		   l.granted_at, l.expires_at, l.source, l.reason, l.reference, l.voided_at,
		   l.priority, l.applies_to
	FROM credits.lot l
	WHERE l.account = $1 AND l.credit_type = $2
	  AND ($3 OR (l.is_open AND (l.expires_at IS NULL OR l.expires_at > now())))
	ORDER BY l.priority, l.expires_at, l.granted_at, l.lot_id;
END
$$;
REVOKE ALL ON FUNCTION credits.lots_rows(text, text, boolean) FROM PUBLIC;

/*
 * Lookups an application's screens need (1.1): an account's lots, the
 * credit types, and one summary row per credit type of an account.  They
 * only read; client portals may call credits_lots and credits_summary for
 * their own account.  NULL arguments answer no rows, like the other reads.
 */

-- An account's lots in spend order (lowest priority first, then soonest
-- expiry, never-expiring last, then oldest grant, then lot id), with their
-- priority and the services they may pay for (applies_to; NULL: any, 1.2).
-- Without include_closed only the lots a spend could take from now (a
-- spend for a service only those that apply to it or to any); with it
-- every lot, closed ones in the same order, with remaining 0 (voided,
-- emptied, or past their expiry whether or not the expiry was recorded
-- yet).
CREATE FUNCTION credits_lots(account text, credit_type text DEFAULT 'CRD',
							 include_closed boolean DEFAULT false)
RETURNS TABLE(lot_id bigint, credit_type text, amount @extschema@.credit_amount,
			  remaining @extschema@.credit_amount, granted_at timestamptz,
			  expires_at timestamptz, source text, reason text, reference text,
			  voided_at timestamptz, priority int, applies_to text[])
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.lots_rows($1, $2, $3)
$$;
COMMENT ON FUNCTION credits_lots(text, text, boolean) IS
	'an account''s lots in spend order, with their priority and services (applies_to); closed ones too (remaining 0) with include_closed';

-- The credit types, the implicit CRD included (not for client portals).
CREATE FUNCTION credits_types()
RETURNS TABLE(code text, name text, scale int, currency text)
LANGUAGE sql STABLE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT credits.check_access(NULL, 'agency');
	SELECT t.code, t.name, t.scale, t.currency FROM credits.credit_types t ORDER BY t.code
$$;
COMMENT ON FUNCTION credits_types() IS 'the credit types (code, name, scale, currency), CRD included';

-- credits_summary() reads through this PL/pgSQL function, as credits_invoices() does.
CREATE FUNCTION credits.summary_rows(text)
RETURNS TABLE(credit_type text, name text, available @extschema@.credit_amount,
			  held @extschema@.credit_amount, expiring_30_days @extschema@.credit_amount)
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, credits, pg_temp
AS $$
#variable_conflict use_column
DECLARE
	own jsonb;
BEGIN
	PERFORM credits.check_access($1, 'client');
	-- The account's rows first, then the names of their types: on a
	-- distributed ledger the first statement runs on the account's shard
	-- and the second on the configuration, which every node has.
	SELECT jsonb_agg(jsonb_build_object('credit_type', s.credit_type,
										'available', s.balance - coalesce(s.expired, 0),
										'held', s.held, 'expiring', coalesce(s.expiring, 0)))
	INTO own
	FROM (SELECT a.credit_type, a.balance::numeric AS balance, a.held::numeric AS held,
				 sum(l.remaining::numeric) FILTER (WHERE l.expires_at <= now()) AS expired,
				 sum(l.remaining::numeric) FILTER (WHERE l.expires_at > now()) AS expiring
		  FROM credits.account a
		  LEFT JOIN credits.lot l
			  ON l.account = a.account AND l.credit_type = a.credit_type AND l.is_open
			 AND l.expires_at <= now() + interval '30 days'
		  WHERE a.account = $1
		  GROUP BY a.credit_type, a.balance, a.held) s;
	RETURN QUERY
	SELECT o.credit_type, coalesce(t.name, o.credit_type),
		   o.available::@extschema@.credit_amount, o.held::@extschema@.credit_amount,
		   o.expiring::@extschema@.credit_amount
	FROM jsonb_to_recordset(own)
		AS o(credit_type text, available numeric, held numeric, expiring numeric)
	LEFT JOIN credits.credit_types t ON t.code = o.credit_type
	ORDER BY o.credit_type;
END
$$;
REVOKE ALL ON FUNCTION credits.summary_rows(text) FROM PUBLIC;

-- One row per credit type the account has ever had, even at 0: what is
-- available now (expired credits never count, recorded or not), what is
-- held, and the available part of lots expiring within 30 days.
CREATE FUNCTION credits_summary(account text)
RETURNS TABLE(credit_type text, name text, available @extschema@.credit_amount,
			  held @extschema@.credit_amount, expiring_30_days @extschema@.credit_amount)
LANGUAGE sql STABLE STRICT SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
	SELECT * FROM credits.summary_rows($1)
$$;
COMMENT ON FUNCTION credits_summary(text) IS
	'per credit type of an account: available, held, and available credits expiring within 30 days';
