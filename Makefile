# pgqrs: PGXS build, install and tests.
#
#   make                 build the versioned install script
#   make install         put the extension into the server's extension directory
#   make installcheck    pg_regress and isolation tests against a running server
#   make demo            a throwaway server with pgqrs and jobs flowing (tools/demo.sh)
#   make test            everything, on a throwaway server (see tools/test.sh)
#   make bench           pgqrs, pgmq and plain SQL side by side (see bench/bench.py)
#   make checkver        META.json and the control file agree on the version; META.json is valid for PGXN
#   make bump-version VERSION=x.y.z   start the next version (tools/bump-version.sh)
#   make dist            the PGXN distribution pgqrs-<version>.zip, in DIST_DIR (tools/dist.py)
#   make docs            the documentation site into site/ (mkdocs build --strict; pip install './python[docs]')
#   make docs-serve      a preview of the site that rebuilds on every save

EXTENSION  = pgqrs
EXTVERSION = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" pgqrs.control)

# The install script is built from the fragments listed, in order, in
# extension/sql/fragments.txt. The upgrade script to this version is built from
# its hand-written part in extension/upgrade/ and the fragments that hold
# functions and views (between the "functions" lines of fragments.txt), so no
# function is written twice. The scripts of released versions, install and
# upgrade, are frozen in extension/released/.
FRAGMENTS  = $(addprefix extension/sql/,$(shell grep -v '^\#' extension/sql/fragments.txt))
FUNCTION_FRAGMENTS = $(addprefix extension/sql/,$(shell sed -n '/^\# -- functions$$/,/^\# -- end of functions$$/{/^\#/d;p;}' extension/sql/fragments.txt))
UPGRADES   = $(patsubst extension/upgrade/%,extension/%,$(wildcard extension/upgrade/pgqrs--*--$(EXTVERSION).sql))
DATA_built = extension/pgqrs--$(EXTVERSION).sql $(UPGRADES)
DATA       = $(wildcard extension/released/pgqrs--*.sql)
ifneq ($(wildcard extension/released/pgqrs--$(EXTVERSION).sql),)
ifeq ($(filter bump-version,$(MAKECMDGOALS)),)
$(error $(EXTVERSION) is released already (extension/released/): make bump-version VERSION=...)
endif
endif

TEST_OUTPUT ?= extension/test/results
REGRESS      = upgrade setup queues enqueue dequeue acknowledge dead_letters positions ordering workers metrics reads named roles hardening catalog results cancel schedules topics unique
REGRESS_OPTS = --inputdir=extension/test --outputdir=$(TEST_OUTPUT)/regress
ISOLATION    = concurrent_dequeue rollback_dequeue position_rollback group_order group_lock_order rate_limit lease_fencing concurrent_create drop_during_enqueue stop_during_dequeue purge_during_move concurrent_schedules cancel_during_dequeue cancel_during_archive publish_during_bind concurrent_dedupe
ISOLATION_OPTS = --inputdir=extension/test --outputdir=$(TEST_OUTPUT)/isolation --load-extension=pgqrs

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
# `make test` installs what it needs itself, so it must work without PGXS.
ifneq ($(wildcard $(PGXS)),)
include $(PGXS)
else ifeq ($(filter test demo bench bump-version dist docs docs-serve,$(MAKECMDGOALS)),)
$(error PGXS not found: install postgresql-server-dev-15, or set PG_CONFIG)
endif

extension/pgqrs--$(EXTVERSION).sql: pgqrs.control extension/sql/fragments.txt $(FRAGMENTS)
	sed 's/@PGQRS_VERSION@/$(EXTVERSION)/g' $(FRAGMENTS) > $@

# The hand-written part up to its marker line, the function fragments, the rest.
# (python/hatch_build.py builds the same text for the Python package.)
extension/pgqrs--%--$(EXTVERSION).sql: extension/upgrade/pgqrs--%--$(EXTVERSION).sql pgqrs.control \
		extension/sql/fragments.txt $(FUNCTION_FRAGMENTS)
	sed '/^-- pgqrs:functions$$/,$$d' $< > $@
	sed -e 's/^CREATE FUNCTION /CREATE OR REPLACE FUNCTION /' -e 's/^CREATE VIEW /CREATE OR REPLACE VIEW /' \
		-e 's/@PGQRS_VERSION@/$(EXTVERSION)/g' $(FUNCTION_FRAGMENTS) >> $@
	sed '1,/^-- pgqrs:functions$$/d' $< >> $@

installcheck: | test-output
.PHONY: test-output
test-output:
	mkdir -p $(TEST_OUTPUT)/regress $(TEST_OUTPUT)/isolation

.PHONY: checkver
checkver:
	@python3 tools/dist.py --check && echo "version $(EXTVERSION) agrees"

.PHONY: bump-version
bump-version:
	tools/bump-version.sh $(VERSION)

.PHONY: dist
DIST_DIR ?= .
dist:
	python3 tools/dist.py --out $(DIST_DIR)

.PHONY: demo
demo:
	tools/demo.sh

.PHONY: test
test:
	tools/test.sh

.PHONY: bench
bench:
	bench/run.sh $(BENCH_ARGS)

# The documentation site (mkdocs.yml): the guides in docs/ and the reference pages that
# docs/_hooks/reference.py generates from the sources; no server and no network needed.
MKDOCS ?= mkdocs
export NO_MKDOCS_2_WARNING = 1
.PHONY: docs docs-serve
docs:
	$(MKDOCS) build --strict --site-dir site

docs-serve:
	$(MKDOCS) serve
