#!/usr/bin/env bash
# An administrator account on the host: user and
# group, password hash (secret; empty = no password: the account's password is locked), a sudoers
# drop-in validated with `visudo -c -f` before it is put in place, and the configured SSH keys in a
# Phoenix-managed block of authorized_keys (keys added by hand stay).
# Delete removes the drop-in, the managed keys and the account; the home directory is kept unless
# PHOENIX_ALLOW_DESTROY=1.
#
# Parameters (environment):
#   PHOENIX_USERNAME         user (and primary group) name
#   PHOENIX_SUDO             1 = full sudo (without password when no password hash is set), 0 = none
#   PHOENIX_SSH_PUBLIC_KEYS  OpenSSH public keys, one per line ("" = none)
#   PHOENIX_SHELL            login shell (default /bin/bash)
#   PHOENIX_PASSWORD_HASH    secret: crypt(3) hash, "" = no password
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
user=${PHOENIX_USERNAME:?PHOENIX_USERNAME is required}
sudo_access=${PHOENIX_SUDO:-0}
keys=${PHOENIX_SSH_PUBLIC_KEYS:-}
shell=${PHOENIX_SHELL:-/bin/bash}
password_hash=${PHOENIX_PASSWORD_HASH:-}
allow_destroy=${PHOENIX_ALLOW_DESTROY:-0}
sudoers_file=/etc/sudoers.d/phoenix-$user
begin_marker="# BEGIN Phoenix-managed keys"
end_marker="# END Phoenix-managed keys"

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="admin_user $user"

# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

valid_user_name "$user" || invalid "user name"
! system_account "$user" || invalid "user: refusing to manage system account $user"
[[ $sudo_access =~ ^[01]$ ]] || invalid "sudo '$sudo_access' (0 or 1)"
{ valid_dir_path "$shell" && [ -x "$shell" ]; } || invalid "shell '$shell'"
if [ -n "$password_hash" ]; then
  # crypt(3) hashes: $id$[rounds=N$]salt$hash (no ':' or newline: /etc/shadow field).
  [[ $password_hash =~ ^\$[0-9a-z]+\$[./A-Za-z0-9=\$,]+$ ]] || invalid "password hash: not a crypt(3) hash"
fi
key_lines=()
while IFS= read -r line; do
  [ -n "${line//[[:space:]]/}" ] || continue
  [[ $line =~ ^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+)\ [A-Za-z0-9+/=]+(\ [^[:cntrl:]]*)?$ ]] ||
    invalid "SSH public key (type base64 [comment])"
  key_lines+=("$line")
done <<<"$keys"

home_of() { getent passwd "$user" | cut -d: -f6; }
exists() { getent passwd "$user" >/dev/null; }

sudoers_content() {
  printf '# Managed by Phoenix: administrator %s\n' "$user"
  if [ -n "$password_hash" ]; then printf '%s ALL=(ALL:ALL) ALL\n' "$user"
  else printf '%s ALL=(ALL:ALL) NOPASSWD: ALL\n' "$user"; fi
}

managed_keys() { # the keys in the managed block of authorized_keys
  local f
  f="$(home_of)/.ssh/authorized_keys"
  [ -f "$f" ] || return 0
  awk -v b="$begin_marker" -v e="$end_marker" '$0 == b { on = 1; next } $0 == e { on = 0; next } on' "$f"
}

password_state() {
  local field
  field=$(getent shadow "$user" | cut -d: -f2)
  if [ -n "$password_hash" ] && [ "$field" = "$password_hash" ]; then echo configured
  elif [[ $field == '!'* || $field == '*'* ]]; then echo locked
  elif [ -z "$field" ]; then echo empty
  else echo other; fi
}

report() {
  if ! exists; then result '{"present":false}'; return; fi
  local matches=true sudo_ok=false keys_ok=false pw want_pw=locked groups
  if [ "$sudo_access" = 1 ]; then
    [ -f "$sudoers_file" ] && [ "$(cat "$sudoers_file")" = "$(sudoers_content)" ] && sudo_ok=true
  else
    [ -f "$sudoers_file" ] || sudo_ok=true
  fi
  [ "$(managed_keys)" = "$( [ ${#key_lines[@]} -eq 0 ] || printf '%s\n' "${key_lines[@]}")" ] && keys_ok=true
  # apply writes authorized_keys owned by the user, mode 600: sshd (StrictModes) ignores a file
  # others may write, so the keys would not log in.
  local auth
  auth="$(home_of)/.ssh/authorized_keys"
  if [ -f "$auth" ] && [ "$(stat -c '%U %a' "$auth")" != "$user 600" ]; then keys_ok=false; fi
  pw=$(password_state)
  [ -n "$password_hash" ] && want_pw=configured
  { [ "$sudo_ok" = true ] && [ "$keys_ok" = true ] && [ "$pw" = "$want_pw" ] && [ "$(getent passwd "$user" | cut -d: -f7)" = "$shell" ]; } || matches=false
  groups=$(id -nG "$user")
  result '{"present":true,"matches":%s,"username":%s,"home":%s,"groups":%s,"sudo":%s,"sshKeys":%s,"password":%s}' \
    "$matches" "$(json_str "$user")" "$(json_str "$(home_of)")" "$(json_str "$groups")" "$sudo_ok" "$keys_ok" "$(json_str "$pw")"
}

apply() {
  getent group "$user" >/dev/null || groupadd "$user"
  if ! exists; then
    useradd --create-home --gid "$user" --shell "$shell" "$user"
    echo "created user $user" >&2
  elif [ "$(getent passwd "$user" | cut -d: -f7)" != "$shell" ]; then
    usermod --shell "$shell" "$user"
  fi

  # Password: through chpasswd's stdin, never on a command line.
  if [ -n "$password_hash" ]; then
    [ "$(password_state)" = configured ] || printf '%s:%s\n' "$user" "$password_hash" | chpasswd -e
  else
    [ "$(password_state)" = locked ] || usermod --lock "$user"
  fi

  if [ "$sudo_access" = 1 ]; then
    if [ ! -f "$sudoers_file" ] || [ "$(cat "$sudoers_file")" != "$(sudoers_content)" ]; then
      mkdir -p /etc/sudoers.d
      # sudo skips files whose name contains a dot, so the candidate is inert until renamed.
      local candidate="/etc/sudoers.d/.phoenix-$user.new" out
      sudoers_content >"$candidate"
      chmod 0440 "$candidate"
      if ! out=$(visudo -c -f "$candidate" 2>&1); then
        rm -f "$candidate"
        die "visudo rejected the sudoers drop-in; the previous one stays in place: $out"
      fi
      mv -f "$candidate" "$sudoers_file"
    fi
  else
    rm -f "$sudoers_file"
  fi

  local home ssh_dir auth tmp
  home=$(home_of)
  ssh_dir="$home/.ssh"; auth="$ssh_dir/authorized_keys"
  [ -d "$ssh_dir" ] || install -d -m 700 -o "$user" -g "$user" "$ssh_dir"
  tmp="$auth.phoenix-new"
  { [ ! -f "$auth" ] || awk -v b="$begin_marker" -v e="$end_marker" '$0 == b { on = 1; next } $0 == e { on = 0; next } !on' "$auth"
    if [ ${#key_lines[@]} -gt 0 ]; then
      printf '%s\n' "$begin_marker"; printf '%s\n' "${key_lines[@]}"; printf '%s\n' "$end_marker"
    fi; } >"$tmp"
  chown "$user:$user" "$tmp"; chmod 600 "$tmp"
  mv -f "$tmp" "$auth"
}

delete() {
  if exists; then
    rm -f "$sudoers_file"
    if [ "$allow_destroy" = 1 ]; then
      userdel --remove "$user" 2>&1 | grep -v 'mail spool' >&2 || true
      echo "removed user $user and its home directory" >&2
    else
      userdel "$user"
      echo "removed user $user; its home directory is kept" >&2
    fi
    if getent group "$user" >/dev/null; then groupdel "$user" 2>/dev/null || true; fi
  fi
  result '{"present":false}'
}

run_action "$action"
