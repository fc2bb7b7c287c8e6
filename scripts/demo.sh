#!/usr/bin/env bash
# scripts/demo.sh: quick start; builds and installs credits, then plays scripts/demo.sql on a throwaway cluster.
# Usage: bash scripts/demo.sh   (KEEP_CLUSTER=1 leaves the cluster running afterwards to explore it)
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

credits_setup
cluster_start

createdb demo
psql -X -q -v ON_ERROR_STOP=1 -d demo -c 'CREATE EXTENSION credits'
echo 'Database "demo" has the credits extension installed.'
psql -X -q -v ON_ERROR_STOP=1 -d demo -f "$CREDITS_ROOT/scripts/demo.sql"

cluster_stop
