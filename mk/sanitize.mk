# make sanitize: the whole regression suite against a build of the extension
# with AddressSanitizer and UndefinedBehaviorSanitizer (scripts/sanitize.sh).
.PHONY: sanitize
sanitize:
	bash scripts/sanitize.sh
