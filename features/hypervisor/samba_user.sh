#!/usr/bin/env bash
# The Samba user (seed: hypervisor_feature_setup_samba.sh, `samba.user`): an existing host user
# added to Samba's password database so the shares' `valid users` can log in. The password is a
# secret parameter; without one the account gets no usable Samba password (set it by hand with
# smbpasswd, or configure phoenix:sambaPassword). Delete removes the Samba account only; the host
# user stays. Runs under the host lock `samba`.
#
# Parameters (environment):
#   PHOENIX_USERNAME  host user name
#   PHOENIX_PASSWORD  secret: the Samba password ("" = none)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
user=${PHOENIX_USERNAME:?PHOENIX_USERNAME is required}
password=${PHOENIX_PASSWORD:-}

die() { echo "samba_user $user: $*" >&2; exit 1; }

# phoenix-include: lib/result.sh

[[ $user =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "invalid user name"
[[ $password != *$'\n'* ]] || die "the password cannot contain a newline"

in_passdb() { pdbedit -L -u "$user" >/dev/null 2>&1; }

report() {
  if ! in_passdb; then printf 'PHOENIX_RESULT {"present":false}\n'; return; fi
  local matches=true host_user=true
  getent passwd "$user" >/dev/null || { host_user=false; matches=false; }
  printf 'PHOENIX_RESULT {"present":true,"matches":%s,"hostUser":%s}\n' "$matches" "$host_user"
}

apply() {
  getent passwd "$user" >/dev/null || die "is not a host user; Samba users must exist on the host (declare it in users)"
  if [ -n "$password" ]; then
    # smbpasswd -s reads the new password twice from stdin: never on a command line.
    printf '%s\n%s\n' "$password" "$password" | smbpasswd -s -a "$user" >/dev/null
    smbpasswd -e "$user" >/dev/null
  elif ! in_passdb; then
    # No password: the account exists (valid users resolve) but cannot log in until one is set.
    smbpasswd -a -n "$user" >/dev/null
    echo "Samba account $user created without a password (set one with smbpasswd)" >&2
  fi
}

delete() {
  if in_passdb; then
    pdbedit -x -u "$user" >/dev/null
    echo "removed Samba account $user (the host user stays)" >&2
  fi
  printf 'PHOENIX_RESULT {"present":false}\n'
}

run_action "$action"
