#!/usr/bin/env bash
# The GPU checks of the VLA issue in one call on a lent CUDA machine (device tool `run`), from the
# repo root: the published-size VLA bench in bf16 (with and without torch.compile for the flow-matching
# policies), the node's policy bench, and the GPU tests (published-size pi0/pi0.5 streamed by the node). Needs the environment `make setup` builds (the lent machine
# reaches no package index: set it up there only if its image has the packages, or carry the venv).
set -euo pipefail
set +u; source ./env.sh; set -u
python bench/vla_bench.py --device cuda --iterations 20
python bench/vla_bench.py --device cuda --iterations 20 --compile --policies smolvla pi0 pi05
python bench/policy_bench.py --device cuda --dtype bfloat16
python -m pytest -q --run-gpu -m gpu -p no:cacheprovider
