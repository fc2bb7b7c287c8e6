# scratch_db.bash: the set-up of the multi-session tests that drive their
# sessions with psql in the background (sourced, not run).  The sourcing
# script sets DB first; this creates that database and a scratch directory
# $WORK, defines psql (on $DB, stopping at the first error) and fail, and
# drops the database and the directory at exit.
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$DB" "$@"; }
fail() { echo "FAIL: $*"; exit 1; }
cleanup() { "$PGBIN/dropdb" --if-exists "$DB" >/dev/null 2>&1 || true; rm -rf "$WORK"; }
WORK=$(mktemp -d)
trap cleanup EXIT

"$PGBIN/createdb" "$DB"
