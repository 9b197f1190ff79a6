#!/usr/bin/env bash
# Toolchains the kernel tests use beyond the C++ compiler that builds the package:
#   g++-aarch64-linux-gnu + qemu-user  cross-compile the NEON kernels and run them on qemu
#   libsimde-dev                       run the AVX2/AVX-512 kernels on SIMDe's portable intrinsics
# Installed with apt-get (Debian/Ubuntu) when missing and this runs as root; otherwise it says
# what is missing and the tests that need it are skipped with that reason (make test, as root,
# requires them: QCOINF_REQUIRE_TOOLCHAINS=1). A no-op once everything is there.
set -uo pipefail

missing=()
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v aarch64-linux-gnu-g++ >/dev/null 2>&1 || missing+=(g++-aarch64-linux-gnu)
command -v qemu-aarch64 >/dev/null 2>&1 || missing+=(qemu-user)
[ -f /usr/include/simde/x86/avx512.h ] || missing+=(libsimde-dev)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "setup_toolchains: installing ${missing[*]}"
  start=$(date +%s)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
    apt-get update -qq >/dev/null 2>&1 || true
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
      || echo "setup_toolchains: apt-get could not install ${missing[*]}" >&2
  fi
  echo "setup_toolchains: done in $(( $(date +%s) - start )) s"
else
  echo "setup_toolchains: missing ${missing[*]} (install them to run the cross-ISA kernel" \
       "tests; they are skipped otherwise)" >&2
fi
exit 0
