/*
 * Set-based movements over many accounts (src/bulk.c).
 */
CREATE FUNCTION credits.new_event_id(type text) RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_new_event_id'
LANGUAGE C VOLATILE STRICT;
REVOKE ALL ON FUNCTION credits.new_event_id(text) FROM PUBLIC;

CREATE FUNCTION credits_grant_many(accounts text[], amount @extschema@.credit_amount,
								   credit_type text DEFAULT 'CRD',
								   expires_at timestamptz DEFAULT NULL,
								   reason text DEFAULT NULL,
								   reference text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_grant_many'
LANGUAGE C VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp;
COMMENT ON FUNCTION credits_grant_many(text[], @extschema@.credit_amount, text, timestamptz, text, text) IS
	'grants the same lot to every listed account (set-based; an account listed twice gets two lots); returns how many lots';

