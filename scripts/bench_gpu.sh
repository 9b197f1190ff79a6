#!/usr/bin/env bash
# The whole GPU check of the edge server and the agent (`make bench-gpu`), in minutes:
#   1. the gpu-marked tests (decoder fp16 on CUDA, agent reference kernel on CUDA, NVML energy);
#   2. a GIT-base-sized random checkpoint (`qcoinf make random-git`: ViT-B/16 tower, 12-layer
#      decoder), decoded through ROS 2 and in-process on CUDA fp16 and on the CPU in fp32
#      (`qcoinf bench pipeline`);
#   3. captions/s of N = 1, 2, 4, 8 agents sharing the decoder on CUDA fp16, with and without
#      batching (`qcoinf bench agents`).
# Writes everything it prints to $OUT (default bench-gpu/) as well. Exit 2 when this machine or
# this venv has no CUDA (the default venv holds torch's CPU build: install a CUDA build of the
# same version into it first, e.g. `.venv/bin/pip install torch==2.13.0 --index-url
# https://download.pytorch.org/whl/cu128`).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench-gpu}
FRAMES=${FRAMES:-10}
mkdir -p "$OUT"
run() { scripts/in_env.sh "$@"; }
if ! run python -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  run python -c 'import torch; print(f"bench-gpu: no CUDA device for torch {torch.__version__} '\
'(CUDA build: {torch.version.cuda})")'
  exit 2
fi
run python -c 'import torch; print("bench-gpu:", torch.__version__, torch.cuda.get_device_name(0))' \
  | tee "$OUT/device.txt"
rc=0
PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 run python -m pytest -q -p no:cacheprovider -p pytest_timeout \
  --timeout=600 -m gpu -ra test 2>&1 | tee "$OUT/gpu-tests.txt" || rc=1
ckpt="$OUT/git-base-random"
[ -d "$ckpt" ] || run qcoinf make random-git "$ckpt" || exit 1
for where in "cuda float16" "cpu float32"; do
  set -- $where
  run qcoinf bench pipeline --model "git:$ckpt" --device "$1" --dtype "$2" \
    --frames "$FRAMES" --size 224 2>&1 | tee "$OUT/pipeline-$1.txt" || rc=1
done
run qcoinf bench agents --model "git:$ckpt" --device cuda --dtype float16 --agents 1,2,4,8 \
  --duration 5 2>&1 | tee "$OUT/agents-cuda.txt" || rc=1
echo "bench-gpu: results in $OUT/ (exit $rc)"
exit $rc
