#!/usr/bin/env bash
# Run a command inside the project's environment: the virtual environment, the colcon install
# space (install/setup.bash) and a loopback-only DDS configuration with a per-run domain id.
#
#   scripts/in_env.sh colcon test ...
#   scripts/in_env.sh qcoinf demo
#
# Variables already set by the caller win (ROS_DOMAIN_ID, FASTDDS_DEFAULT_PROFILES_FILE,
# ROS_AUTOMATIC_DISCOVERY_RANGE), so a real two-machine setup can override them.
set -eo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
VENV=${QCOINF_VENV:-$root/.venv}
case "$VENV" in /*) ;; *) VENV="$root/$VENV" ;; esac

# shellcheck disable=SC1091
source "$VENV/bin/activate"
# The ROS 2 wheels install their ament index under the venv prefix; ROS_DISTRO names their
# distribution (as a sourced ROS 2 does: bags record it).
if [ -z "${ROS_DISTRO:-}" ]; then
  export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
  if [ -f "$VENV/.qcoinf-ros-distro" ]; then
    ROS_DISTRO="$(cat "$VENV/.qcoinf-ros-distro")"
    export ROS_DISTRO QCOINF_ROS_WHEELS=1
  fi
fi
# QCOINF_NO_INSTALL=1 leaves the install space out (make check: as on a fresh clone, before any
# colcon build; the generated messages, qcoinf_ros.msg, exist only there).
if [ "${QCOINF_NO_INSTALL:-0}" != 1 ] && [ -f "$root/install/setup.bash" ]; then
  set +u
  # shellcheck disable=SC1091
  source "$root/install/setup.bash"
fi

# The package's executables (`qcoinf` and the nodes), as `ros2 run qcoinf_ros <exe>` would find.
if [ "${QCOINF_NO_INSTALL:-0}" != 1 ] && [ -d "$root/install/qcoinf_ros/lib/qcoinf_ros" ]; then
  export PATH="$root/install/qcoinf_ros/lib/qcoinf_ros:$PATH"
fi

export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
export FASTDDS_DEFAULT_PROFILES_FILE=${FASTDDS_DEFAULT_PROFILES_FILE:-$root/config/fastdds_localhost.xml}
export ROS_AUTOMATIC_DISCOVERY_RANGE=${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}
# A per-run domain id keeps concurrent runs on one machine apart (0..101 are safe on Linux).
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}
export PYTHONUNBUFFERED=1

exec "$@"
