# qcoinf_ros — every target sets itself up: a project-local venv (.venv) with pinned
# requirements, a colcon build, and a loopback-only DDS environment (scripts/in_env.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := scripts/in_env.sh
# Extra arguments for pytest under `colcon test`, e.g. make test PYTEST_ARGS='-k planner'.
PYTEST_ARGS ?=
PYTEST_BASE := -ra --timeout=600 --durations=15

.PHONY: help env build check test test-all demo docs lint bench-planner bench-quant bench-kernels \
	bench-gpu clean distclean

help: ## this list (from the Makefile's own comments)
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "} {printf "make %-14s %s\n", $$1, $$2}'

env: ## create/update the virtual environment only
	@scripts/setup_env.sh
	@scripts/setup_toolchains.sh
	@scripts/setup_web.sh

# The message types (msg/) are generated in the build (setup.py, rosidl): required here.
build: env ## colcon build --symlink-install
	@QCOINF_REQUIRE_INTERFACES=1 $(ENV) colcon build --symlink-install \
	  --event-handlers console_cohesion- summary+

# The fast inner loop: flake8 and pep257 on the tree, mypy on the whole package (setup.cfg
# [mypy]), the Python 3.10 check (Humble: test/lint/test_python310.py), then the tests marked
# `check` (pytest marker, setup.cfg): the pure core's unit tests and static checks, from the venv
# and the source tree (no colcon build, no ROS graph: test/lint/test_check_selection.py); the
# install space is left out (QCOINF_NO_INSTALL=1), so it runs here as on a fresh clone.
CHECK_MARKERS := check and not ros

check: ## flake8 + pep257, mypy on the package, the tests marked check, from the venv (no build)
	@scripts/setup_env.sh
	@start=$$(date +%s); export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 QCOINF_NO_INSTALL=1; \
	$(ENV) python -m mypy --no-error-summary & types=$$!; \
	$(ENV) python -m flake8 --max-line-length 99 qcoinf_ros test scripts launch setup.py && \
	wait $$types && \
	$(ENV) python -m pytest -q -p no:cacheprovider -p pytest_timeout --timeout=120 \
	  -m '$(CHECK_MARKERS)' test; rc=$$?; \
	echo "make check: $$(( $$(date +%s) - start )) s, exit code $$rc"; exit $$rc

# The test folders that run no ROS code (no rclpy, no node, no launch: test/lint/test_test_scope.py
# checks it): the core wing's, but for bags, launching and monitor (tested against ROS 2's own
# bags, launch and aggregator), and the paper's evaluation. They run the same code on every ROS
# distribution (the non-ROS pins of the Jazzy and Kilted locks are identical), so a second
# distribution's pass can skip them: make test TEST_SCOPE=ros (what .ci/run does for Kilted).
CORE_TEST_DIRS := $(addprefix core/,actuation captioner codec failover imaging lut models planner \
	quant scenario scenes serving system theory viewing) tools/experiments
TEST_SCOPE ?= all
ifeq ($(TEST_SCOPE),ros)
# Each is quoted with a leading space: colcon's own parser would take a bare --ignore=... for
# an abbreviation of its --ignore-user-meta ("Arguments matching other options must be prefixed
# by a space", colcon test --help); colcon strips the space before pytest sees it.
SCOPE_ARGS := $(foreach d,$(CORE_TEST_DIRS),' --ignore=$(CURDIR)/test/$(d)')
else ifeq ($(TEST_SCOPE),all)
SCOPE_ARGS :=
else
$(error TEST_SCOPE must be all or ros, got $(TEST_SCOPE))
endif

# colcon test exits non-zero on a failure (--return-code-on-test-failure); test-result runs
# either way so the log lists what ran, and the first non-zero exit code is kept.
# As root (CI), the cross-ISA kernel tests must run: setup_toolchains.sh installed what they need.
# pytest loads only the plugins the suite uses (scripts/pytest_plugins.py): a system ROS 2's
# launch_testing plugin would otherwise stop pytest 9 at start-up.
test: build ## build and run the whole default test suite (colcon test), as CI does
	@start=$$(date +%s); rc=0; \
	if [ "$$(id -u)" = 0 ]; then export QCOINF_REQUIRE_TOOLCHAINS=1; fi; \
	export QCOINF_REQUIRE_ROS=1; export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; \
	plugins=$$($(ENV) python scripts/pytest_plugins.py); \
	$(ENV) colcon test --return-code-on-test-failure --event-handlers console_direct+ \
	  --pytest-args $(PYTEST_BASE) $$plugins $(SCOPE_ARGS) $(PYTEST_ARGS) || rc=$$?; \
	$(ENV) colcon test-result --all --verbose || { [ $$rc -ne 0 ] || rc=$$?; }; \
	echo "make test: tests took $$(( $$(date +%s) - start )) s, exit code $$rc"; exit $$rc

test-all: ## the same plus the slow tests (QCOINF_RUN_SLOW=1)
	@QCOINF_RUN_SLOW=1 $(MAKE) --no-print-directory test

lint: build ## ament_flake8 and ament_pep257 under colcon test
	@export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; plugins=$$($(ENV) python scripts/pytest_plugins.py); \
	$(ENV) colcon test --return-code-on-test-failure --event-handlers console_direct+ \
	  --pytest-args -m linter $$plugins $(PYTEST_ARGS)

demo: build ## run the live demo (sets everything up on first use)
	@$(ENV) qcoinf demo

# The node parameter tables of docs/parameters.md, from each node's PARAMS
# (qcoinf_ros/ros/param_docs.py; test/lint/test_parameter_tables.py checks them).
docs: ## regenerate docs/parameters.md's parameter tables from the code
	@scripts/setup_env.sh
	@$(ENV) python -c "from qcoinf_ros.ros.param_docs import write_page; \
	  print('docs/parameters.md:', 'rewritten' if write_page('docs/parameters.md') else 'current')"

bench-planner: build ## qcoinf bench planner
	@$(ENV) qcoinf bench planner

bench-quant: build ## qcoinf bench quant
	@$(ENV) qcoinf bench quant

bench-kernels: build ## qcoinf bench kernels
	@$(ENV) qcoinf bench kernels

bench-gpu: build ## the GPU check: gpu tests, CUDA fp16 vs CPU decode, N agents (scripts/bench_gpu.sh)
	@scripts/bench_gpu.sh

clean: ## remove build/ install/ log/
	rm -rf build install log

distclean: clean ## also remove the virtual environments
	rm -rf .venv
