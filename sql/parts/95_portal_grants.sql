/*
 * Client portals across an update (ALTER EXTENSION UPDATE: at CREATE
 * EXTENSION no portal role is registered yet, and this does nothing).
 *
 * An update that makes a portal function anew drops the grants that the
 * registered portal roles had on it (1.2: credits_spend, credits_balance
 * and credits_lots, whose parameters or columns grew): they get the portal
 * functions again here, as credits_portal_add_role() gave them.
 *
 * And every GRANT that an extension's script runs, those the update
 * replays from 90_privileges.sql included, records the object's whole
 * access list as the extension's initial privileges (pg_init_privs), which
 * pg_dump leaves out of a dump as CREATE EXTENSION's own: the portal roles'
 * grants, the agency's and not the extension's, would then be lost by a
 * dump and restore.  So they are taken out of that record again, as if
 * granted after the update.  (This part comes after 90_privileges.sql.)
 */
DO $$
DECLARE
	r regrole;
BEGIN
	IF NOT EXISTS (SELECT FROM credits.portal_role) THEN
		RETURN;
	END IF;
	FOR r IN SELECT p.role FROM credits.portal_role p LOOP
		PERFORM credits.portal_grant(r, true);
	END LOOP;
	UPDATE pg_catalog.pg_init_privs i
	SET initprivs = ARRAY(
		SELECT a FROM pg_catalog.unnest(i.initprivs) a
		WHERE NOT EXISTS (
			SELECT FROM pg_catalog.aclexplode(ARRAY[a]) x, credits.portal_role p
			WHERE x.grantee OPERATOR(pg_catalog.=) p.role::pg_catalog.oid))
	WHERE i.privtype OPERATOR(pg_catalog.=) 'e'::pg_catalog."char"
	  AND EXISTS (
		SELECT FROM pg_catalog.unnest(i.initprivs) a, pg_catalog.aclexplode(ARRAY[a]) x,
			 credits.portal_role p
		WHERE x.grantee OPERATOR(pg_catalog.=) p.role::pg_catalog.oid);
END
$$;
