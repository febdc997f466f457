# Sourced by scripts/setup_env.sh and ./tatbot: TATBOT_ROS picks the ROS 2 wheels used when no
# distro is sourced, kilted (the default) or jazzy, and SUFFIX names that set's workspace beside
# the other: .venv, build, install, log, env.sh (kilted); the same names + -jazzy (jazzy).
TATBOT_ROS="${TATBOT_ROS:-kilted}"
case "$TATBOT_ROS" in
  kilted) SUFFIX="" ;;
  jazzy) SUFFIX="-jazzy" ;;
  *) printf 'error: TATBOT_ROS=%s: choose kilted (the default) or jazzy\n' "$TATBOT_ROS" >&2; exit 2 ;;
esac
