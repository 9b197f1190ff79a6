# qcoinf_ros — every target sets itself up: a project-local venv (.venv) with pinned
# requirements, a colcon build, and a loopback-only DDS environment (scripts/in_env.sh).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := scripts/in_env.sh
# Extra arguments for pytest under `colcon test`, e.g. make test PYTEST_ARGS='-k planner'.
PYTEST_ARGS ?=
PYTEST_BASE := -ra --timeout=600 --durations=15

.PHONY: help env build test test-all demo lint bench-planner bench-quant bench-kernels clean distclean

help:
	@echo 'make demo       run the live demo (sets everything up on first use)'
	@echo 'make test       build and run the whole default test suite (colcon test)'
	@echo 'make test-all   the same plus the slow tests (QCOINF_RUN_SLOW=1)'
	@echo 'make lint       ament_flake8 and ament_pep257 only'
	@echo 'make env        create/update the virtual environment only'
	@echo 'make build      colcon build --symlink-install'
	@echo 'make bench-planner / bench-quant / bench-kernels   the qcoinf bench commands'
	@echo 'make clean      remove build/ install/ log/ (distclean: also .venv)'

env:
	@scripts/setup_env.sh
	@scripts/setup_toolchains.sh

build: env
	@$(ENV) colcon build --symlink-install --event-handlers console_cohesion- summary+

# colcon test exits non-zero on a failure (--return-code-on-test-failure); test-result runs
# either way so the log lists what ran, and the first non-zero exit code is kept.
# As root (CI), the cross-ISA kernel tests must run: setup_toolchains.sh installed what they need.
# pytest loads only the plugins the suite uses (scripts/pytest_plugins.py): a system ROS 2's
# launch_testing plugin would otherwise stop pytest 9 at start-up.
test: build
	@start=$$(date +%s); rc=0; \
	if [ "$$(id -u)" = 0 ]; then export QCOINF_REQUIRE_TOOLCHAINS=1; fi; \
	export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; plugins=$$($(ENV) python scripts/pytest_plugins.py); \
	$(ENV) colcon test --return-code-on-test-failure --event-handlers console_direct+ \
	  --pytest-args $(PYTEST_BASE) $$plugins $(PYTEST_ARGS) || rc=$$?; \
	$(ENV) colcon test-result --all --verbose || { [ $$rc -ne 0 ] || rc=$$?; }; \
	echo "make test: tests took $$(( $$(date +%s) - start )) s, exit code $$rc"; exit $$rc

test-all:
	@QCOINF_RUN_SLOW=1 $(MAKE) --no-print-directory test

lint: build
	@export PYTEST_DISABLE_PLUGIN_AUTOLOAD=1; plugins=$$($(ENV) python scripts/pytest_plugins.py); \
	$(ENV) colcon test --return-code-on-test-failure --event-handlers console_direct+ \
	  --pytest-args -m linter $$plugins $(PYTEST_ARGS)

demo: build
	@$(ENV) qcoinf demo

bench-planner: build
	@$(ENV) qcoinf bench planner

bench-quant: build
	@$(ENV) qcoinf bench quant

bench-kernels: build
	@$(ENV) qcoinf bench kernels

clean:
	rm -rf build install log

distclean: clean
	rm -rf .venv
