# make fuzz: libFuzzer runs of credit_amount's text and binary input
# (scripts/fuzz.sh; FUZZ_SECONDS per target, default 60).
.PHONY: fuzz
fuzz:
	bash scripts/fuzz.sh
