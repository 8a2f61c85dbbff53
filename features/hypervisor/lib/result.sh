# shellcheck shell=bash
# The result protocol of every host script (features/hypervisor/*.sh, features/lxc/host/*.sh,
# features/vm/host/*.sh; the lxc and vm lib/result.sh link to this file). A script sets `what`
# (how its messages begin, e.g. `what="zfs_pool $name"`) and includes this file with the line
# `# phoenix-include: lib/result.sh`, which features/registry.ts replaces by this text.
#
# Exit codes, read by providers/base/host-script.ts (HOST_SCRIPT_EXIT):
#   0  done; the last line printed is `PHOENIX_RESULT {json object}` (result)
#   1  failed: the host's state refuses the action or a command failed (die, or any failing
#      command under `set -euo pipefail`); the message on stderr says why
#   2  invalid: a parameter failed the script's own check (invalid) or the action is unknown.
#      Phoenix validates every value before it reaches a host, so this is a bug in that validation
# The wrapper that runs the script exits 75 when it cannot take the host lock in time.

# Fails the action: one line `<what>: <message>` on stderr, exit 1.
die() { printf '%s: %s\n' "${what:-phoenix}" "$*" >&2; exit 1; }

# Refuses a parameter: one line `<what>: invalid <message>` on stderr (`invalid "pool name 'x'"`), exit 2.
invalid() { printf '%s: invalid %s\n' "${what:-phoenix}" "$*" >&2; exit 2; }

# Prints the result line: `result FORMAT [ARGS...]` is `printf FORMAT ARGS` after the marker, so
# the format is a JSON object with %s where json_str (or a number, true, false) goes.
result() {
  local format=$1
  shift
  # shellcheck disable=SC2059 # the format is the caller's JSON template
  printf "PHOENIX_RESULT $format\n" "$@"
}

# A JSON string literal for the result line: control characters other than tab, newline and
# carriage return are dropped, the rest escaped.
json_str() {
  local s
  s=$(printf '%s' "$1" | tr -d '\000-\010\013\014\016-\037')
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

# The dispatch for scripts whose apply ends with a fresh report: runs the script's own report,
# apply and delete functions.
run_action() {
  case $1 in
    read) report ;;
    apply) apply; report ;;
    delete) delete ;;
    *) invalid "unknown action '$1'" ;;
  esac
}
