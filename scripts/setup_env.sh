#!/usr/bin/env bash
# Create or reuse the project-local virtual environment (.venv) and install the pinned
# requirements into it. Re-installs only when a requirements file (or the ROS mode) changed.
#
# ROS mode: when a system ROS 2 is sourced (ROS_DISTRO set and rclpy importable) the venv sees
# the system site-packages and the ROS 2 wheels are not installed; otherwise the ROS 2 core wheels
# of ROS_DISTRO_WHEELS (jazzy, the default, or kilted) are installed into the venv, under that
# distribution's lock (requirements/constraints-<distro>.txt). The venv remembers its choice
# ($VENV/.qcoinf-ros-distro): another choice re-creates it.
set -euo pipefail

cd "$(dirname "$0")/.."
VENV=${QCOINF_VENV:-.venv}
PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
  done
fi
[ -n "$PYTHON" ] || { echo "setup_env: no python3 found" >&2; exit 1; }

ros_mode=wheels
distro=${ROS_DISTRO_WHEELS:-jazzy}
# (scripts/in_env.sh sets ROS_DISTRO for the wheels too, and QCOINF_ROS_WHEELS: not a system ROS)
if [ "${QCOINF_ROS_WHEELS:-}" = 1 ]; then
  distro=${ROS_DISTRO_WHEELS:-${ROS_DISTRO:-jazzy}}
elif [ -n "${ROS_DISTRO:-}" ] && "$PYTHON" -c 'import rclpy' >/dev/null 2>&1; then
  ros_mode=system
  distro=$ROS_DISTRO
fi
case "$ros_mode:$distro" in
  system:*|wheels:jazzy|wheels:kilted) ;;
  *) echo "setup_env: ROS_DISTRO_WHEELS=$distro is not one of: jazzy, kilted" >&2; exit 2 ;;
esac
lock=requirements/constraints-$distro.txt
[ "$ros_mode" = wheels ] || lock=requirements/constraints-jazzy.txt  # the non-ROS pins

stamp="$VENV/.qcoinf-installed"
want="$(cat requirements/*.txt | sha256sum | cut -d' ' -f1) ros=$ros_mode distro=$distro"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

start=$(date +%s)
echo "setup_env: creating $VENV (ROS from: $ros_mode, $distro)"
rm -rf "$VENV"
if [ "$ros_mode" = system ]; then
  "$PYTHON" -m venv --system-site-packages "$VENV"
else
  "$PYTHON" -m venv "$VENV"
fi
pip_install() {
  # Some machines list find-links folders that do not exist; pip warns once per package.
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2>&1 \
    | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
}
# torch first and alone (a CPU wheel); everything after runs under constraints pinning it.
pip_install -r requirements/torch.txt
pip_install -c "$lock" -r requirements/base.txt
if [ "$ros_mode" = wheels ]; then
  pip_install -c "$lock" -r "requirements/ros-$distro.txt"
fi
"$VENV/bin/python" -c 'import torch; assert torch.__version__.startswith("2.13.0"), torch.__version__'
echo "$distro" > "$VENV/.qcoinf-ros-distro"
echo "$want" > "$stamp"
echo "setup_env: done in $(( $(date +%s) - start )) s"
