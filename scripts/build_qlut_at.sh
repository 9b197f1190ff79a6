#!/usr/bin/env bash
# Build the kernel library (qcoinf_ros/core/lut/csrc) as it was at a git revision, for
# `qcoinf bench kernels --envelope --baseline-library OUT` (the same flags as setup.py).
#
#   scripts/build_qlut_at.sh 78ecc35 /tmp/qlut_78ecc35.so
set -euo pipefail

rev=${1:?usage: scripts/build_qlut_at.sh REV OUT.so}
out=${2:?usage: scripts/build_qlut_at.sh REV OUT.so}
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$(mktemp -d)"
trap 'rm -rf "$src"' EXIT
for f in qlut.cpp qlut.h; do
  git -C "$root" show "$rev:qcoinf_ros/core/lut/csrc/$f" > "$src/$f"
done
"${CXX:-g++}" -O3 -std=c++17 -ffp-contract=off -fvisibility=hidden -DQLUT_EXPORT=1 -fPIC \
  -shared -pthread -I"$src" "$src/qlut.cpp" -o "$out"
echo "built $out from $rev"
