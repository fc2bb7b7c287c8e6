/* credits: a prepaid-credits ledger.  Install script, version 1.2. */

\echo Use "CREATE EXTENSION credits" to load this file. \quit

