# shellcheck shell=bash
# Shared by the hypervisor feature scripts. A script includes it with the line
# `# phoenix-include: lib/result.sh`, which features/registry.ts replaces by this text when it
# loads the script: the host receives one self-contained script.

# A JSON string literal for the PHOENIX_RESULT line: control characters other than tab, newline
# and carriage return are dropped, the rest escaped.
json_str() {
  local s
  s=$(printf '%s' "$1" | tr -d '\000-\010\013\014\016-\037')
  s=${s//\\/\\\\}; s=${s//\"/\\\"}; s=${s//$'\n'/\\n}; s=${s//$'\t'/\\t}; s=${s//$'\r'/\\r}
  printf '"%s"' "$s"
}

# The feature-script protocol's dispatch for scripts whose apply ends with a fresh report: runs the
# script's own report, apply and delete functions; die is the script's own (its message names it).
run_action() {
  case $1 in
    read) report ;;
    apply) apply; report ;;
    delete) delete ;;
    *) die "unknown action '$1'" ;;
  esac
}
