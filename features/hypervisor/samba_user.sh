#!/usr/bin/env bash
# The Samba user: an existing host user
# added to Samba's password database so the shares' `valid users` can log in. The password is a
# secret parameter. Without one (phoenix:sambaPassword unset, or removed later) the account exists
# but is disabled (`smbpasswd -d`, flag D), so valid users resolve and nobody logs in with an old or
# empty password; setting a password again enables it. Delete removes the Samba account only; the
# host user stays. Runs under the host lock `samba`.
#
# Parameters (environment):
#   PHOENIX_USERNAME  host user name
#   PHOENIX_PASSWORD  secret: the Samba password ("" = none)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
user=${PHOENIX_USERNAME:?PHOENIX_USERNAME is required}
password=${PHOENIX_PASSWORD:-}

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="samba_user $user"

# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

valid_user_name "$user" || invalid "user name"
# A system account (root above all) with a Samba password would log in to every share as root.
! system_account "$user" || invalid "user: refusing to give system account $user a Samba login"
[[ $password != *$'\n'* ]] || invalid "password: it cannot contain a newline"

in_passdb() { pdbedit -L -u "$user" >/dev/null 2>&1; }
# The account's flags (`[U          ]`; D = disabled), from pdbedit's verbose listing.
disabled() { pdbedit -L -v -u "$user" 2>/dev/null | grep -qE '^Account Flags:[[:space:]]*\[[^]]*D'; }

report() {
  if ! in_passdb; then result '{"present":false}'; return; fi
  local matches=true host_user=true is_disabled=false
  getent passwd "$user" >/dev/null || { host_user=false; matches=false; }
  disabled && is_disabled=true
  # Wanted: enabled with a password, disabled without one.
  if [ -n "$password" ] && [ "$is_disabled" = true ]; then matches=false; fi
  if [ -z "$password" ] && [ "$is_disabled" = false ]; then matches=false; fi
  result '{"present":true,"matches":%s,"hostUser":%s,"disabled":%s}' "$matches" "$host_user" "$is_disabled"
}

apply() {
  getent passwd "$user" >/dev/null || die "is not a host user; Samba users must exist on the host (declare it in users)"
  if [ -n "$password" ]; then
    # smbpasswd -s reads the new password twice from stdin: never on a command line.
    printf '%s\n%s\n' "$password" "$password" | smbpasswd -s -a "$user" >/dev/null
    smbpasswd -e "$user" >/dev/null
  else
    if ! in_passdb; then
      # Never a null password: a random one nobody knows, then disabled.
      local random
      random=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
      printf '%s\n%s\n' "$random" "$random" | smbpasswd -s -a "$user" >/dev/null
    fi
    if ! disabled; then
      smbpasswd -d "$user" >/dev/null
      echo "Samba account $user disabled: no password configured (phoenix:sambaPassword)" >&2
    fi
  fi
}

delete() {
  if in_passdb; then
    pdbedit -x -u "$user" >/dev/null
    echo "removed Samba account $user (the host user stays)" >&2
  fi
  result '{"present":false}'
}

run_action "$action"
