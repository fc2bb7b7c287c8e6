/*
 * Events: the outbox reader, pruning, low-balance thresholds, and the
 * event writer for the extension's own SQL code.
 */
CREATE FUNCTION credits.emit_event(account text, type text, aggregatetype text,
								   aggregateid text, payload jsonb)
RETURNS bigint
AS 'MODULE_PATHNAME', 'credits_emit_event_sql'
LANGUAGE C VOLATILE
SET search_path = pg_catalog, credits, pg_temp;
REVOKE ALL ON FUNCTION credits.emit_event(text, text, text, text, jsonb) FROM PUBLIC;

-- Events below this id belong to transactions that have all ended: no
-- transaction that could still commit can write an id under it.
CREATE FUNCTION credits.event_horizon() RETURNS bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, credits, pg_temp
AS $$ SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint) << 22 $$;

-- On a distributed ledger (1.2) it first publishes the events committed on
-- the workers, and pages through credits.event_log (85_distribute.sql).
CREATE FUNCTION credits_events_since(after_id bigint DEFAULT 0, max_rows int DEFAULT 1000)
RETURNS TABLE(event_id bigint, at timestamptz, type text, account text, payload jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	-- NULL: every account; a client portal sees its own account's events.
	scope text;
BEGIN
	IF after_id IS NULL OR max_rows IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN after_id IS NULL THEN 'after_id' ELSE 'max_rows' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	scope := credits.portal_scope();
	IF max_rows < 1 THEN
		RAISE EXCEPTION 'max_rows must be at least 1'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF credits.node_group() IS NOT NULL THEN
		IF credits.node_group() OPERATOR(pg_catalog.<>) 0 THEN
			RAISE EXCEPTION 'on a distributed ledger the outbox is read through the coordinator'
				USING ERRCODE = 'object_not_in_prerequisite_state',
					  DETAIL = 'This node is a Citus worker: it holds only the events it has not yet handed to the coordinator.';
		END IF;
		PERFORM credits.publish_events();
		RETURN QUERY
			SELECT l.seq, l.at, l.type, l.account, l.payload
			FROM credits.event_log l
			WHERE l.seq OPERATOR(pg_catalog.>) after_id AND (scope IS NULL OR l.account OPERATOR(pg_catalog.=) scope)
			ORDER BY l.seq
			LIMIT max_rows;
		RETURN;
	END IF;
	RETURN QUERY
		SELECT e.id, e.at, e.type, e.account, e.payload
		FROM credits.event e
		WHERE e.id > after_id AND e.id < credits.event_horizon()
		  AND (scope IS NULL OR e.account = scope)
		ORDER BY e.id
		LIMIT max_rows;
END
$$;
COMMENT ON FUNCTION credits_events_since(bigint, int) IS
	'the transactional outbox in id order: page with the last id seen, no event is ever skipped; a client portal sees its own account''s events';

CREATE FUNCTION credits_prune_events(older_than interval DEFAULT '30 days')
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
DECLARE
	n bigint;
	nlog bigint;
BEGIN
	IF older_than IS NULL THEN
		RAISE EXCEPTION 'older_than must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	IF older_than < interval '0' THEN
		RAISE EXCEPTION 'older_than must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	DELETE FROM credits.event WHERE at < now() - older_than;
	GET DIAGNOSTICS n = ROW_COUNT;
	-- distributed: the events the coordinator has published too
	IF credits.node_group() IS NOT NULL THEN
		DELETE FROM credits.event_log l WHERE l.at < now() - older_than;
		GET DIAGNOSTICS nlog = ROW_COUNT;
		n := n + nlog;
	END IF;
	RETURN n;
END
$$;
COMMENT ON FUNCTION credits_prune_events(interval) IS
	'deletes outbox events older than the retention interval; returns how many';

CREATE FUNCTION credits_set_low_balance(account text, threshold @extschema@.credit_amount,
										credit_type text DEFAULT 'CRD')
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, credits, pg_temp
AS $$
BEGIN
	IF account IS NULL OR credit_type IS NULL THEN
		RAISE EXCEPTION '% must not be null', CASE WHEN account IS NULL THEN 'account' ELSE 'credit_type' END
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF account = '' THEN
		RAISE EXCEPTION 'account must not be empty' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF threshold IS NOT NULL AND threshold <= 0 THEN
		RAISE EXCEPTION 'threshold must be greater than zero'
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM credits.check_access(NULL, 'agency');
	PERFORM credits.type_scale(credit_type);
	INSERT INTO credits.account AS a (account, credit_type, low_threshold)
	VALUES (account, credit_type, threshold)
	ON CONFLICT ON CONSTRAINT account_pkey DO UPDATE SET low_threshold = excluded.low_threshold;
END
$$;
COMMENT ON FUNCTION credits_set_low_balance(text, @extschema@.credit_amount, text) IS
	'sets (or with NULL removes) the threshold below which an account.credits.low_balance event is emitted';

