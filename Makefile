# tatbot workspace. A fresh clone needs only `make test` or `make demo`.
.PHONY: setup build test lint clean help demo

SHELL := /bin/bash
# TATBOT_ROS=jazzy: the ROS 2 Jazzy wheels instead of Kilted (no distro sourced), in a workspace of
# its own beside the default one (.venv-jazzy, install-jazzy, env-jazzy.sh)
TATBOT_ROS := $(or $(TATBOT_ROS),kilted)
export TATBOT_ROS
ACTIVATE := set +u; eval "$$(./tatbot env)" || exit 1; set -u;  # env.sh or env-jazzy.sh
PYTEST_ARGS ?=

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

setup:  ## venv, ROS 2 (distro or wheels; TATBOT_ROS=jazzy), pinned deps, FFmpeg, colcon build, env.sh (idempotent)
	@bash scripts/setup_env.sh

build: setup  ## force a colcon build of every package
	@bash scripts/setup_env.sh --force-build

test: setup  ## run the whole test suite (unit, node and integration tests)
	@$(ACTIVATE) python -m pytest $(PYTEST_ARGS)

demo: setup  ## record → convert → train → deploy → score on the simulated robot (QUICK=1: a few minutes; POLICY=smolvla; DESIGN=file.svg; DAGGER=1: then DAgger rounds)
	@$(ACTIVATE) ./tatbot run tatbot_bringup demo $(if $(QUICK),--quick) $(if $(POLICY),--policy $(POLICY)) $(if $(DESIGN),--design $(DESIGN)) $(if $(DAGGER),--dagger)

lint: setup  ## ruff check and format check
	@$(ACTIVATE) ruff check . && ruff format --check .

clean:  ## remove build outputs and the venvs (both ROS wheel sets)
	rm -rf build install log .venv env.sh build-jazzy install-jazzy log-jazzy .venv-jazzy env-jazzy.sh \
	  .pytest_cache .ruff_cache .hypothesis
