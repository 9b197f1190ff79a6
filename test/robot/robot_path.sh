#!/usr/bin/env bash
# The robot path of docs/robot.md, walked on this machine: an emulated apt ROS 2 Jazzy, then the
# page's commands verbatim, then the installed entry points started as `ros2 run` and
# `ros2 launch` start them, until a caption arrives.
#
#   test/robot/robot_path.sh WORKDIR          (test/robot/test_robot_path.py runs it)
#
# Environment: QCOINF_ROBOT_SKIP=<step> leaves one documented step out (the run must then fail);
# the steps are the names in DOC_STEPS below. QCOINF_ROBOT_CAPTION_S: how long to wait for the
# first caption (default 60 s).
#
# The emulation (this machine has no Ubuntu 24.04, no apt ROS 2 and only Python 3.11, for which
# the local torch wheel is built; so Jazzy is emulated on Python 3.11, not 3.12):
# - "/usr": the system Python. The host's python3.11 binary is copied to WORKDIR/usr/bin and its
#   standard library linked into WORKDIR/usr/lib/python3.11, so that it is a real system
#   interpreter (no pyvenv.cfg) whose system site is WORKDIR/usr/lib/python3/dist-packages, as on
#   Debian/Ubuntu. A venv made from it with --system-site-packages sees that site; one made
#   without does not. The standard library's EXTERNALLY-MANAGED marker comes along (PEP 668),
#   so `pip` outside a venv is refused as on Ubuntu 24.04.
# - "apt": that dist-packages gets what apt installs there on Ubuntu 24.04 for ROS 2 and this
#   package's rosdep keys: numpy 1.26.4, PyYAML, setuptools 68, OpenCV (opencv-python-headless
#   4.11 stands for python3-opencv 4.6), colcon (ros-dev-tools), pip, pytest and hypothesis
#   (the test_depends): test/robot/apt-noble.txt.
# - "/opt/ros/jazzy": the Jazzy core wheels (requirements/ros-jazzy.txt and what they need,
#   pinned by requirements/constraints-jazzy.txt) installed with `pip install --prefix
#   WORKDIR/opt/ros/jazzy --no-deps`: lib/python3.11/site-packages, lib/*.so, share/ament_index,
#   as the apt packages lay out /opt/ros/jazzy. Its setup.bash (written here) sets ROS_DISTRO,
#   AMENT_PREFIX_PATH, CMAKE_PREFIX_PATH, PYTHONPATH, LD_LIBRARY_PATH and PATH as the real one.
# - `ros2 run PKG EXE` is emulated by ros2_run below: the package's prefix from the ament index
#   (AMENT_PREFIX_PATH), then `exec PREFIX/lib/PKG/EXE` (its shebang picks the interpreter), which
#   is what ros2run does. `ros2 launch qcoinf_ros FILE` is the package's own runner, the installed
#   `qcoinf` entry point started the same way: `ros2_run qcoinf_ros qcoinf launch FILE`.
# Not emulated: rosdep (it needs the rosdistro index online) and cv_bridge (no wheel; the
# package's own converter is used and the camera node says so in its log).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
src="$(cd "$here/../.." && pwd)"
W="${1:?usage: robot_path.sh WORKDIR}"
mkdir -p "$W" && W="$(cd "$W" && pwd)"
skip="${QCOINF_ROBOT_SKIP:-}"
caption_s="${QCOINF_ROBOT_CAPTION_S:-60}"
py="${QCOINF_ROBOT_PYTHON:-python3.11}"
began=$(date +%s)
say() { echo "robot_path [$(( $(date +%s) - began )) s]: $*"; }

# The page's commands, verbatim (test_robot_path.py checks each is in docs/robot.md), run in
# ~/ros2_ws (here WORKDIR/ros2_ws) in one terminal.
DOC_STEPS=(
  "source_ros|source /opt/ros/jazzy/setup.bash"
  "venv|python3 -m venv --system-site-packages .venv"
  "activate|source .venv/bin/activate"
  "torch|pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
  "deps|pip install -c src/qcoinf_ros/requirements/robot/constraints.txt -r src/qcoinf_ros/requirements/robot/requirements.txt"
  "build|python -m colcon build --packages-select qcoinf_ros"
  "source_install|source install/setup.bash"
)
if [ -n "$skip" ] && ! printf '%s\n' "${DOC_STEPS[@]}" | grep -q "^$skip|"; then
  echo "robot_path: QCOINF_ROBOT_SKIP=$skip is not a step" >&2; exit 2
fi

# ---------------------------------------------------------------- the emulated machine
say "emulating Ubuntu 24.04 + apt ROS 2 Jazzy (Python 3.11) in $W"
rm -rf "$W/usr" "$W/opt" "$W/ros2_ws" "$W/hostbin" "$W/tools"
real="$(readlink -f "$(command -v "$py")")"
stdlib="$("$real" -c 'import sysconfig; print(sysconfig.get_paths()["stdlib"])')"
mkdir -p "$W/usr/bin" "$W/usr/lib/python3.11" "$W/usr/lib/python3/dist-packages" "$W/hostbin"
cp "$real" "$W/usr/bin/python3.11"
ln -s python3.11 "$W/usr/bin/python3"
for f in "$stdlib"/*; do
  case "$(basename "$f")" in site-packages|dist-packages) ;; *) ln -s "$f" "$W/usr/lib/python3.11/" ;; esac
done
dist="$W/usr/lib/python3/dist-packages"
# python3-dev (rosdep's, for rosidl_generator_py: the package's messages compile against
# Python.h): the host interpreter's headers.
mkdir -p "$W/usr/include"
ln -s "$("$real" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')" \
  "$W/usr/include/python3.11"
"$W/usr/bin/python3" -c "import site, sys; assert '$dist' in site.getsitepackages(), site.getsitepackages(); assert sys.prefix == sys.base_prefix"

# The host's tools, without its Pythons, pips, colcon or ros2: only the emulated ones are found.
for f in /usr/local/bin/* /usr/bin/* /bin/*; do
  case "$(basename "$f")" in python*|pip*|colcon*|ros2*|pydoc*|2to3*|idle*) continue ;; esac
  [ -e "$W/hostbin/$(basename "$f")" ] || ln -s "$f" "$W/hostbin/"
done

# pip for the emulation itself (what apt and the ROS packages would have put there).
"$py" -m venv "$W/tools"
tools_pip=("$W/tools/bin/python" -m pip install --quiet --disable-pip-version-check
           --no-warn-script-location)
say "apt: $(grep -vc '^#' "$here/apt-noble.txt") packages into $dist"
"${tools_pip[@]}" --target "$dist" -r "$here/apt-noble.txt" 2>&1 | { grep -v 'is ignored: it is neither' || true; }
rm -rf "$dist/bin"
cat > "$W/usr/bin/colcon" <<EOF
#!$W/usr/bin/python3
import sys
from colcon_core.command import main
sys.exit(main())
EOF
cat > "$W/usr/bin/pip" <<EOF
#!$W/usr/bin/python3
import sys
from pip._internal.cli.main import main
sys.exit(main())
EOF
chmod +x "$W/usr/bin/colcon" "$W/usr/bin/pip"
ln -s pip "$W/usr/bin/pip3"

opt="$W/opt/ros/jazzy"
grep -E '^ros-' "$src/requirements/constraints-jazzy.txt" | grep -v '^ros-wheels-bootstrapper' > "$W/ros-jazzy-debs.txt"
say "/opt/ros/jazzy: $(wc -l < "$W/ros-jazzy-debs.txt") ROS 2 packages"
"${tools_pip[@]}" --prefix "$opt" --no-deps --ignore-installed -r "$W/ros-jazzy-debs.txt" 2>&1 | { grep -v 'is ignored: it is neither' || true; }
site="$opt/lib/python3.11/site-packages"
[ -d "$site/rclpy" ] || { echo "robot_path: no rclpy in $site" >&2; exit 1; }
libs="$opt/lib"
for d in "$site"/ros_*.libs; do [ -d "$d" ] && libs="$libs:$d"; done
cat > "$opt/local_setup.bash" <<EOF
# Emulated /opt/ros/jazzy/local_setup.bash (test/robot/robot_path.sh)
export ROS_DISTRO=jazzy ROS_VERSION=2 ROS_PYTHON_VERSION=3
export AMENT_PREFIX_PATH="$opt\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
export CMAKE_PREFIX_PATH="$opt\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
export PYTHONPATH="$site\${PYTHONPATH:+:\$PYTHONPATH}"
export LD_LIBRARY_PATH="$libs\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export PATH="$opt/bin:\$PATH"
EOF
cp "$opt/local_setup.bash" "$opt/local_setup.sh"
printf '# Emulated /opt/ros/jazzy/setup.bash\nsource "%s/local_setup.bash"\n' "$opt" > "$opt/setup.bash"
rm -rf "$W/tools"

# ---------------------------------------------------------------- a fresh clone
mkdir -p "$W/ros2_ws/src/qcoinf_ros"
# What `git clone` of this tree gives: tracked and new files, nothing ignored (.venv, build...).
(cd "$src" && git ls-files -co --exclude-standard -z | xargs -0 tar cf - 2>/dev/null) \
  | tar xf - -C "$W/ros2_ws/src/qcoinf_ros"

# ---------------------------------------------------------------- the page, verbatim
ros2_run() {  # ros2 run PKG EXE [ARGS]: the package's prefix from the ament index, then exec
  # (call it in a subshell: it replaces the shell it runs in)
  local pkg=$1 exe=$2 prefix='' p
  shift 2
  local IFS=:
  for p in ${AMENT_PREFIX_PATH:-}; do
    if [ -f "$p/share/ament_index/resource_index/packages/$pkg" ]; then prefix=$p; break; fi
  done
  unset IFS
  [ -n "$prefix" ] || { echo "Package '$pkg' not found" >&2; return 1; }
  [ -x "$prefix/lib/$pkg/$exe" ] || { echo "No executable found" >&2; return 1; }
  exec "$prefix/lib/$pkg/$exe" "$@"
}

run_steps() {
  cd "$W/ros2_ws"
  local entry name cmd torch_before=''
  for entry in "${DOC_STEPS[@]}"; do
    name=${entry%%|*}; cmd=${entry#*|}
    if [ "$name" = "$skip" ]; then say "step $name: LEFT OUT"; continue; fi
    cmd=${cmd//\/opt\/ros\/jazzy/$opt}
    # This machine reaches no download.pytorch.org: the same CPU wheel lies on local disk.
    cmd=${cmd/ --index-url https:\/\/download.pytorch.org\/whl\/cpu/}
    say "step $name: $cmd"
    if [ "$name" = deps ]; then
      # The torch of the torch step must be the one kept: a dependency that pulls torch from
      # the index (PyPI's CUDA build, several GB) means the documented order was broken.
      PIP_CONSTRAINT="$W/guard.txt" eval "$cmd" > "$W/deps.log" 2>&1 \
        || { tail -30 "$W/deps.log"; return 1; }
      grep -E '^(Successfully installed|ERROR)' "$W/deps.log" || true
      if grep -qiE '^Successfully installed.* torch-' "$W/deps.log"; then
        echo "robot_path: the dependencies pulled torch from the index: install torch first" >&2
        return 1
      fi
    else
      eval "$cmd"
    fi
  done
}
# pip may take the local CPU torch wheel only: it never downloads a CUDA build here.
echo 'torch==2.13.0' > "$W/guard.txt"
set +u  # as in an interactive shell (setup.bash files read unset variables)
export PATH="$W/usr/bin:$W/hostbin"
run_steps

# ---------------------------------------------------------------- checks, as a user would run
cd "$W/ros2_ws"
exe=install/qcoinf_ros/lib/qcoinf_ros/camera_node
say "shebang of $exe: $(head -1 "$exe")"
say "python3 on PATH: $(command -v python3)"
[ "$(head -1 "$exe")" = '#!/usr/bin/env python3' ] || { echo "robot_path: unexpected shebang" >&2; exit 1; }

messages=$(python3 -c '
from rclpy.serialization import deserialize_message, serialize_message
from qcoinf_ros.msg import Caption
c = Caption(text="a red cube", bit_width=4)
c.header.frame_id = "camera"
back = deserialize_message(serialize_message(c), Caption)
assert back == c, back
print("qcoinf_ros/msg/Caption round-trips:", back.header.frame_id, back.text, back.bit_width)
') || { echo "robot_path: the package's messages do not import or round-trip" >&2; exit 1; }
say "the package's messages: $messages"

say 'ros2 launch qcoinf_ros coinference.launch.xml (no arguments)'
launch_log="$W/launch.log"
set +e
set -m  # the launch in its own process group, with SIGINT (Ctrl-C) not ignored
(ros2_run qcoinf_ros qcoinf launch coinference.launch.xml --timeout $(( caption_s + 120 ))) \
  > "$launch_log" 2>&1 &
launch_pid=$!
set +m
python3 "$here/first_caption.py" --timeout "$caption_s" --pid "$launch_pid"
caption_rc=$?
kill -INT "$launch_pid" 2>/dev/null
wait "$launch_pid"
launch_rc=$?
set -e
echo "---- launch log (excerpt)"
grep -E 'no camera configured|image converter|configured .*torch|Traceback|Error|qcoinf launch|exit' \
  "$launch_log" | head -20 || true
echo "----"
if [ "$caption_rc" != 0 ]; then
  tail -40 "$launch_log"
  echo "robot_path: no caption within $caption_s s" >&2; exit 1
fi
[ "$(grep -c 'no camera configured' "$launch_log")" = 1 ] \
  || { echo "robot_path: expected one 'no camera configured' log line" >&2; exit 1; }
grep -q 'image converter: .*numpy 1\.26\.' "$launch_log" \
  || { echo "robot_path: the camera node does not run on numpy 1.26" >&2; exit 1; }
grep -q 'torch 2\.13\.0.*numpy 1\.26\.' "$launch_log" \
  || { echo "robot_path: the agent node does not run torch 2.13.0 on numpy 1.26" >&2; exit 1; }
[ "$launch_rc" = 0 ] || { echo "robot_path: qcoinf launch exited $launch_rc" >&2; exit 1; }

say 'the pure core unit tests under numpy 1.26, from the workspace'
(cd src/qcoinf_ros && PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 python3 -m pytest -q -p no:cacheprovider \
  test/core/codec/test_codec_json.py test/core/quant/test_quant_packing.py test/core/imaging/test_imaging.py \
  test/core/planner/test_planner_core.py test/core/planner/test_planner_exact.py 2>&1 | tail -3) \
  || { echo "robot_path: unit tests failed under numpy 1.26" >&2; exit 1; }
say 'OK: the robot path captions'
