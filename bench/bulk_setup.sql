-- bench/bulk_setup.sql: the bulk part's database.  The extension, and
-- "floor": plain copies of its tables (same columns, keys, indexes and
-- checks; no triggers, no functions in between), empty.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS credits;
DROP SCHEMA IF EXISTS floor CASCADE;
CREATE SCHEMA floor;
CREATE TABLE floor.account (LIKE credits.account INCLUDING ALL) WITH (fillfactor = 50);
CREATE SEQUENCE floor.lot_id_seq;
CREATE SEQUENCE floor.entry_id_seq;
CREATE SEQUENCE floor.event_id_seq;
CREATE TABLE floor.lot (LIKE credits.lot INCLUDING ALL) WITH (fillfactor = 80);
ALTER TABLE floor.lot ALTER lot_id SET DEFAULT nextval('floor.lot_id_seq');
CREATE TABLE floor.entry (LIKE credits.entry INCLUDING ALL);
ALTER TABLE floor.entry ALTER entry_id SET DEFAULT nextval('floor.entry_id_seq');
CREATE TABLE floor.allocation (LIKE credits.allocation INCLUDING ALL);
CREATE TABLE floor.event (LIKE credits.event INCLUDING ALL);
