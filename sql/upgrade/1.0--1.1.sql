/* credits: upgrade from version 1.0 to 1.1 (hand-written part). */

\echo Use "ALTER EXTENSION credits UPDATE TO '1.1'" to load this file. \quit

/*
 * 1.1 is the security release: roles and grants (90_privileges.sql), definer
 * functions owned by credits_owner with a search_path that no one but the
 * superuser can write to (25_private_operators.sql), portal isolation in
 * every function, caches that are never stale.  Changes to tables come
 * here; scripts/gen_upgrade.py appends the new parts and every function.
 */
