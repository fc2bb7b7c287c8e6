# credits: a prepaid-credits ledger for PostgreSQL (PGXS build)

EXTENSION = credits
MODULE_big = credits
EXTVERSION = 1.2

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one fragment per concern; the
# scripts of earlier versions are kept as shipped, and each upgrade script
# is a hand-written part (sql/upgrade/) plus what scripts/gen_upgrade.py
# takes from the parts.
PARTS = $(sort $(wildcard sql/parts/*.sql))
DATA = sql/$(EXTENSION)--1.0.sql sql/$(EXTENSION)--1.1.sql sql/$(EXTENSION)--1.0--1.1.sql
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql sql/$(EXTENSION)--1.1--1.2.sql
# Parts that are new in 1.2: the upgrade from 1.1 runs them whole (a
# placeholder name when there is none).
NEW_PARTS_1.2 = 83_rollover.sql,84_scope.sql,85_distribute.sql,86_finance.sql,87_seal.sql,88_transfer.sql,89_topup.sql,95_portal_grants.sql

REGRESS = $(basename $(notdir $(sort $(wildcard test/sql/*.sql))))
REGRESS_OPTS = --inputdir=test

PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-sign-compare \
	-Wno-missing-field-initializers
PG_CPPFLAGS = -I$(srcdir)/src

EXTRA_CLEAN = results regression.diffs regression.out tmp_check

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# PGXS tracks no header dependencies: rebuild everything when a header changes.
$(OBJS): $(wildcard src/*.h)

sql/$(EXTENSION)--$(EXTVERSION).sql: $(PARTS)
	cat $^ > $@

sql/$(EXTENSION)--1.1--1.2.sql: sql/upgrade/1.1--1.2.sql $(PARTS) scripts/gen_upgrade.py
	python3 scripts/gen_upgrade.py $< $(NEW_PARTS_1.2) $(PARTS) > $@

.PHONY: bench demo check-all
bench:
	bash bench/run.sh

demo:
	bash scripts/demo.sh

check-all:
	bash scripts/test.sh
-include mk/*.mk
