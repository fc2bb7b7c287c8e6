#!/usr/bin/env bash
# privileges.sh: who may call what, checked against the catalog.  Every
# function of the extension must have a row in the README's function
# reference naming the lowest role that may call it and what a client
# portal may do with it; the grants in the catalog must say exactly that,
# for PUBLIC, each of the three roles and a registered portal role.  A
# function added later without that decision fails here.  Also: who owns
# what, pinned search_paths, table privileges, roles reused by a second
# database, and a role without grants refused (42501).
set -euo pipefail
DB=credits_priv_$$
DB2=credits_priv2_$$
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "FAIL: $*"; exit 1; }
cleanup() {
	"$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true
	"$PGBIN/dropdb" --if-exists "$DB2" >/dev/null 2>&1 || true
	"$PGBIN/psql" -X -q -d postgres -c "DROP ROLE IF EXISTS priv_nobody_$$" \
		-c "DROP ROLE IF EXISTS priv_portal_$$" >/dev/null 2>&1 || true
}
trap cleanup EXIT
q() { local db=$1; shift; "$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -d "$db" "$@"; }

# The README's function reference: name, lowest role, portal rule.
decisions=$(awk -F' [|] ' '
	/^### Functions/ { on = 1; next }
	on && /^##/ { on = 0 }
	on && /^[|] `credits_[a-z_]*\(/ {
		name = $1; sub(/^[|] `/, "", name); sub(/\(.*/, "", name)
		role = $3; gsub(/`/, "", role)
		print name "\t" role "\t" $4
	}' "$ROOT/README.md")
[[ $(wc -l <<<"$decisions") -gt 40 ]] || fail "could not read the function reference from README.md"

"$PGBIN/createdb" "$DB"
q "$DB" -c "CREATE EXTENSION credits"
q "$DB" -c "CREATE ROLE priv_nobody_$$ LOGIN" -c "CREATE ROLE priv_portal_$$ NOLOGIN" \
	-c "SELECT credits_portal_add_role('priv_portal_$$')" >/dev/null

problems=$(q "$DB" <<SQL
CREATE TEMP TABLE decision (name text, role text, portal text);
COPY decision FROM STDIN;
$decisions
\.
WITH fn AS (
	SELECT p.oid, p.proname::text AS name, p.pronamespace = 'credits'::regnamespace AS internal,
		p.prosecdef, p.proconfig, p.proowner
	FROM pg_proc p
	JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid
		AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'credits'
), rank(role, r) AS (
	VALUES ('public', 0), ('credits_reader', 1), ('credits_operator', 2), ('credits_admin', 3)
), checks AS (
	-- every API function has a decision, and every decision a function
	SELECT 'no README role for ' || f.oid::regprocedure AS problem
	FROM fn f WHERE f.name LIKE 'credits\_%' AND NOT f.internal
	  AND NOT EXISTS (SELECT FROM decision d WHERE d.name = f.name)
	UNION ALL
	SELECT 'README names ' || d.name || ', which does not exist' FROM decision d
	WHERE NOT EXISTS (SELECT FROM fn f WHERE f.name = d.name AND NOT f.internal)
	UNION ALL
	SELECT 'README role of ' || d.name || ' is not one of the three: ' || d.role FROM decision d
	WHERE d.role NOT IN ('credits_reader', 'credits_operator', 'credits_admin')
	UNION ALL
	-- EXECUTE for exactly the decided role and those above it
	SELECT format('%s: EXECUTE for %s is %s, README says the lowest role is %s',
		f.oid::regprocedure, k.role, has_function_privilege(k.role, f.oid, 'EXECUTE'), d.role)
	FROM fn f JOIN decision d ON d.name = f.name AND NOT f.internal
	CROSS JOIN rank k JOIN rank need ON need.role = d.role
	WHERE has_function_privilege(k.role, f.oid, 'EXECUTE') <> (k.r >= need.r)
	UNION ALL
	-- a registered portal role may call exactly the portal functions
	SELECT format('%s: EXECUTE for a portal role is %s, README says portal "%s"',
		f.oid::regprocedure, has_function_privilege('priv_portal_$$', f.oid, 'EXECUTE'), d.portal)
	FROM fn f JOIN decision d ON d.name = f.name AND NOT f.internal
	WHERE has_function_privilege('priv_portal_$$', f.oid, 'EXECUTE') <> (d.portal <> 'no')
	UNION ALL
	-- internal functions: nobody but their owner (the row filter of the
	-- view credits_balances runs as the view's reader)
	SELECT format('internal %s is executable by %s', f.oid::regprocedure, k.role)
	FROM fn f CROSS JOIN rank k
	WHERE f.internal AND has_function_privilege(k.role, f.oid, 'EXECUTE')
	  AND NOT (f.oid IN ('credits.portal_scope()'::regprocedure, 'credits.balances_distributed()'::regprocedure)
			   AND k.r >= 1)
	UNION ALL
	SELECT 'credits.portal_scope() is not executable by credits_reader'
	WHERE NOT has_function_privilege('credits_reader', 'credits.portal_scope()', 'EXECUTE')
	UNION ALL
	SELECT format('internal %s is executable by a portal role', f.oid::regprocedure)
	FROM fn f WHERE f.internal AND has_function_privilege('priv_portal_$$', f.oid, 'EXECUTE')
	  AND f.oid NOT IN ('credits.portal_scope()'::regprocedure, 'credits.balances_distributed()'::regprocedure)
	UNION ALL
	-- functions of the type stay public
	SELECT format('%s of the type is not executable by PUBLIC', f.oid::regprocedure)
	FROM fn f WHERE NOT f.internal AND f.name NOT LIKE 'credits\_%'
	  AND NOT has_function_privilege('public', f.oid, 'EXECUTE')
	UNION ALL
	-- definer code: owned by credits_owner (never a superuser), pinned path
	SELECT format('%s is owned by %s', f.oid::regprocedure, pg_get_userbyid(f.proowner))
	FROM fn f WHERE (f.name LIKE 'credits\_%' OR f.internal)
	  AND pg_get_userbyid(f.proowner) <> 'credits_owner'
	UNION ALL
	SELECT format('SECURITY DEFINER %s runs as superuser %s', f.oid::regprocedure, pg_get_userbyid(f.proowner))
	FROM fn f JOIN pg_roles r ON r.oid = f.proowner WHERE f.prosecdef AND r.rolsuper
	UNION ALL
	SELECT format('%s has search_path %s', f.oid::regprocedure, f.proconfig)
	FROM fn f WHERE (f.prosecdef OR (f.name LIKE 'credits\_%' AND NOT f.internal))
	  AND f.proconfig IS DISTINCT FROM ARRAY['search_path=pg_catalog, credits, pg_temp']
	UNION ALL
	-- tables, views and sequences: owned by credits_owner, no other privilege
	SELECT format('%s is owned by %s', c.oid::regclass, pg_get_userbyid(c.relowner))
	FROM pg_class c WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'v', 'S')
	  AND pg_get_userbyid(c.relowner) <> 'credits_owner'
	UNION ALL
	SELECT format('%s: %s may %s', c.oid::regclass, k.role, p.priv)
	FROM pg_class c CROSS JOIN (SELECT role FROM rank UNION ALL SELECT 'priv_portal_$$') k
	CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) p(priv)
	WHERE c.relnamespace = 'credits'::regnamespace AND c.relkind IN ('r', 'v')
	  AND has_table_privilege(k.role, c.oid, p.priv)
	UNION ALL
	SELECT format('credits_balances: %s may %s', k.role, p.priv)
	FROM rank k CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) p(priv)
	WHERE has_table_privilege(k.role, 'credits_balances', p.priv) <> (p.priv = 'SELECT' AND k.r >= 1)
	UNION ALL
	-- the roles
	SELECT format('role %s: login %s, superuser %s', r.rolname, r.rolcanlogin, r.rolsuper)
	FROM pg_roles r WHERE r.rolname IN ('credits_reader', 'credits_operator', 'credits_admin', 'credits_owner')
	  AND (r.rolcanlogin OR r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls)
	UNION ALL
	SELECT format('%s is not a member of %s', a, b)
	FROM (VALUES ('credits_operator', 'credits_reader'), ('credits_admin', 'credits_operator')) m(a, b)
	WHERE NOT pg_has_role(a, b, 'MEMBER')
	UNION ALL
	SELECT 'credits_owner has members or memberships' FROM pg_auth_members m
	WHERE 'credits_owner'::regrole IN (m.roleid, m.member)
)
SELECT problem FROM checks ORDER BY 1;
SQL
)
[[ -z $problems ]] || { echo "$problems" | head -60; fail "$(wc -l <<<"$problems") privilege problems"; }
echo "every function has a role and a portal rule, and the catalog agrees with the README"

# A role without grants can mint nothing and switch nothing off.
out=$(q "$DB" -v ON_ERROR_STOP=0 -v VERBOSITY=sqlstate -U "priv_nobody_$$" \
	-c "SELECT credits_grant('me', 9000000000000)" -c "SELECT credits_set_enabled(false)" \
	-c "SELECT credits_balance('me')" -c "SELECT * FROM credits.lot" 2>&1 || true)
[[ $(grep -c '42501' <<<"$out") == 4 ]] || { echo "$out"; fail "a role without grants was not refused"; }
[[ $(q "$DB" -c "SELECT count(*) FROM credits.lot") == 0 && $(q "$DB" -c "SELECT credits_enabled()") == t ]] ||
	fail "a role without grants changed the ledger"
echo "a role without grants gets 42501 and changes nothing"

# A second database of the cluster reuses the roles.
"$PGBIN/createdb" "$DB2"
q "$DB2" -c "CREATE EXTENSION credits" -c "GRANT credits_operator TO priv_nobody_$$"
out=$(q "$DB2" -U "priv_nobody_$$" -c "SELECT credits_grant('me', 5) > 0" -c "SELECT credits_balance('me')" | paste -sd '|')
[[ $out == "t|5" ]] || fail "credits_operator in a second database: $out"
q "$DB2" -c "REVOKE credits_operator FROM priv_nobody_$$"
[[ $(q "$DB" -c "SELECT count(*) FROM credits_verify()") == 0 ]] || fail "credits_verify() found problems"
q "$DB" -c "SELECT credits_portal_remove_role('priv_portal_$$')" >/dev/null
echo "a second database reuses the roles"
echo "PASS"
