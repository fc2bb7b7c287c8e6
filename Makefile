# credits: a prepaid-credits ledger for PostgreSQL (PGXS build)

EXTENSION = credits
MODULE_big = credits
EXTVERSION = 1.0

OBJS = $(patsubst %.c,%.o,$(sort $(wildcard src/*.c)))

# The install script is assembled from one fragment per concern.
DATA_built = sql/$(EXTENSION)--$(EXTVERSION).sql

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

sql/$(EXTENSION)--$(EXTVERSION).sql: $(sort $(wildcard sql/parts/*.sql))
	cat $^ > $@

.PHONY: bench demo check-all
bench:
	bash bench/run.sh

demo:
	bash scripts/demo.sh

check-all:
	bash scripts/test.sh
-include mk/*.mk
