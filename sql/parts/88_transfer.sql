/*
 * Transfers between accounts (src/transfer.c).  The credits leave the
 * source account as a spend without a service takes them (in spend order,
 * only lots that any service may use) in a transfer_out entry, and arrive
 * in the destination account as new lots, one per source lot drawn from,
 * with that lot's expiry, its priority and its share of the lot's cost
 * basis, in a transfer_in entry whose related entry is the transfer_out.  The new lots' origin is their allocation to the
 * transfer_in entry, as a granted lot's is its grant entry.
 */
CREATE FUNCTION credits_transfer(from_account text, to_account text,
								 amount @extschema@.credit_amount,
								 reference text DEFAULT NULL,
								 credit_type text DEFAULT 'CRD',
								 idempotency_key text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_transfer'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_transfer(text, text, @extschema@.credit_amount, text, text, text) IS
	'moves credits to another account, all or nothing (CR001): taken in spend order from the lots any service may use, received as new lots with the same expiries and priorities and their share of the cost basis; returns the transfer''s out entry id';

-- The invariants of transfers, for credits_verify(): both sides of every
-- transfer exist and match, and the credits kept their expiries (and their
-- purchase currency) on the way.
CREATE FUNCTION credits.verify_transfers()
RETURNS TABLE(check_name text, account text, detail text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	-- Each transfer_out entry has exactly one transfer_in entry naming it,
	-- of the same credit type and amount, in another account; each
	-- transfer_in names a transfer_out.
	RETURN QUERY
	WITH o AS MATERIALIZED (
		SELECT e.account, e.credit_type, e.entry_id, e.amount
		FROM credits.entry e
		WHERE e.kind = 'transfer_out'),
	i AS MATERIALIZED (
		SELECT e.account, e.credit_type, e.entry_id, e.amount, e.related_id,
			   count(*) OVER (PARTITION BY e.related_id) AS n
		FROM credits.entry e
		WHERE e.kind = 'transfer_in')
	SELECT 'transfer_sides_match', coalesce(o.account, i.account),
		   CASE WHEN i.entry_id IS NULL
				THEN format('type %s: transfer out entry %s of %s has no transfer in entry',
							o.credit_type, o.entry_id, o.amount)
				WHEN o.entry_id IS NULL
				THEN format('type %s: transfer in entry %s of %s names no transfer out entry (%s)',
							i.credit_type, i.entry_id, i.amount, coalesce(i.related_id::text, 'none'))
				ELSE format('transfer out entry %s (%s %s, account %s) has transfer in entry %s (%s %s, account %s), one of %s',
							o.entry_id, o.amount, o.credit_type, o.account,
							i.entry_id, i.amount, i.credit_type, i.account, i.n) END
	FROM o FULL JOIN i ON i.related_id = o.entry_id
	WHERE o.entry_id IS NULL OR i.entry_id IS NULL OR i.n > 1
	   OR o.amount <> i.amount OR o.credit_type <> i.credit_type OR o.account = i.account;

	-- The credits of a transfer keep their expiries: per expiry and purchase
	-- currency, what left the source lots is what the new lots received.
	RETURN QUERY
	WITH o AS MATERIALIZED (
		SELECT e.account, e.entry_id AS transfer,
			   coalesce(l.expires_at, 'infinity') AS expires_at,
			   coalesce(l.cost_currency, '') AS currency, sum(al.amount::numeric) AS amount
		FROM credits.entry e
		JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
		JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
		WHERE e.kind = 'transfer_out'
		GROUP BY 1, 2, 3, 4),
	i AS MATERIALIZED (
		SELECT e.account, e.entry_id, e.related_id AS transfer,
			   coalesce(l.expires_at, 'infinity') AS expires_at,
			   coalesce(l.cost_currency, '') AS currency, sum(al.amount::numeric) AS amount
		FROM credits.entry e
		JOIN credits.allocation al ON al.account = e.account AND al.entry_id = e.entry_id
		JOIN credits.lot l ON l.account = al.account AND l.lot_id = al.lot_id
		WHERE e.kind = 'transfer_in'
		GROUP BY 1, 2, 3, 4, 5)
	SELECT 'transfer_keeps_expiries', coalesce(o.account, i.account),
		   format('transfer %s: %s credits expiring %s (purchase currency %s) left, %s arrived',
				  coalesce('out entry ' || coalesce(o.transfer, i.transfer),
						   'in entry ' || i.entry_id || ' (of no out entry)'),
				  coalesce(o.amount, 0),
				  CASE WHEN coalesce(o.expires_at, i.expires_at) = 'infinity' THEN 'never'
					   ELSE coalesce(o.expires_at, i.expires_at)::text END,
				  coalesce(nullif(coalesce(o.currency, i.currency), ''), 'none'),
				  coalesce(i.amount, 0))
	FROM o FULL JOIN i
		ON i.transfer = o.transfer AND i.expires_at = o.expires_at AND i.currency = o.currency
	WHERE o.amount IS DISTINCT FROM i.amount;
END
$$;
REVOKE ALL ON FUNCTION credits.verify_transfers() FROM PUBLIC;

-- Owned by credits_owner and not for PUBLIC, like every function of the
-- extension (90_privileges.sql does it at CREATE EXTENSION; this serves
-- ALTER EXTENSION UPDATE, as in 85_distribute.sql).
DO $$
BEGIN
	IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'credits_owner'::pg_catalog.name) THEN
		ALTER FUNCTION credits_transfer(text, text, @extschema@.credit_amount, text, text, text) OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits_transfer(text, text, @extschema@.credit_amount, text, text, text) FROM PUBLIC;
		ALTER FUNCTION credits.verify_transfers() OWNER TO credits_owner;
		REVOKE ALL ON FUNCTION credits.verify_transfers() FROM PUBLIC;
	END IF;
END
$$;
