#!/usr/bin/env bash
# The host ids a container's completed id map hands to it beyond root's default range (the
# well-known idmap recipe's second half): `root:<id>:<count>` lines in /etc/subuid and
# /etc/subgid, without which `lxc.idmap = g 33 33 1` makes the container fail to start
# (newgidmap refuses ids root was not delegated). Runs under the host lock `subids`.
# A record per container (/var/lib/phoenix/subids/<ctid>) says what it needs; lines Phoenix
# added are listed in /var/lib/phoenix/subids/added and removed again once no record needs them.
# Lines that were already there are never removed. Every file change is a temp file + rename.
#   PHOENIX_CTID     container ID
#   PHOENIX_ENTRIES  one `uid|gid <host id> <count>` per line
#   PHOENIX_ALLOW_RAW_LXC  1: the stack sets phoenix:allowRawLxc (ranges may hold privileged accounts)
set -euo pipefail

ctid=${PHOENIX_CTID:?}
entries=${PHOENIX_ENTRIES:-}
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="subids $ctid"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh
valid_guest_id "$ctid" || invalid "CTID"
while IFS= read -r e; do
  [ -z "$e" ] || [[ $e =~ ^(uid|gid)\ [0-9]{1,10}\ [1-9][0-9]{0,9}$ ]] || invalid "entry '$e'"
done <<<"$entries"
# The host's own accounts and groups in the delegated ranges, by name as this host numbers them
# (kvm, render, docker... are numbered at install time, so validate could only judge Debian's
# fixed ids): a container holding one of these ids holds what the account may do on the host.
privileged_names='^(root|daemon|bin|sys|adm|tty|disk|kmem|tape|sudo|operator|shadow|utmp|staff|kvm|docker|lxd|libvirt|wheel|systemd-journal)$'
privileged_in() { # uid|gid, first id, count: prints `name(id)` of each privileged account in the range
  local db=group
  [ "$1" = gid ] || db=passwd
  getent "$db" | awk -F: -v lo="$2" -v hi="$(($2 + $3 - 1))" -v re="$privileged_names" '$3 >= lo && $3 <= hi && $1 ~ re { printf "%s(%s) ", $1, $3 }'
}
if [ "${PHOENIX_ACTION:-}" = apply ] && [ "${PHOENIX_ALLOW_RAW_LXC:-}" != 1 ]; then
  while read -r type id count; do
    [ -n "$type" ] || continue
    hits=$(privileged_in "$type" "$id" "$count")
    [ -z "$hits" ] || die "refusing to delegate host ${type}s $id-$((id + count - 1)) to container $ctid: they hold the host's ${hits% } (a stack that needs it sets phoenix:allowRawLxc: true)"
  done <<<"$entries"
fi

dir=/var/lib/phoenix/subids
record=$dir/$ctid
added=$dir/added

file_of() { [ "$1" = uid ] && echo /etc/subuid || echo /etc/subgid; }
line_of() { printf 'root:%s:%s' "$2" "$3"; }
has_line() { [ -f "$1" ] && grep -qxF -- "$2" "$1"; }

# Replaces file $1 by stdin atomically, keeping its mode (0644 when new).
replace() {
  local tmp
  tmp=$(mktemp "$1.phoenix.XXXXXX")
  cat >"$tmp"
  if [ -f "$1" ]; then chmod --reference="$1" "$tmp"; else chmod 0644 "$tmp"; fi
  mv -f "$tmp" "$1"
}

report() {
  if [ ! -f "$record" ]; then result '{"present":false}'; return; fi
  local matches=true type id count
  [ "$(cat "$record")" = "$entries" ] || matches=false
  while read -r type id count; do
    [ -n "$type" ] || continue
    has_line "$(file_of "$type")" "$(line_of "$type" "$id" "$count")" || matches=false
  done <"$record"
  result '{"present":true,"ctid":"%s","matches":%s}' "$ctid" "$matches"
}

apply() {
  mkdir -p "$dir"
  printf '%s\n' "$entries" | replace "$record"
  local type id count file line
  while read -r type id count; do
    [ -n "$type" ] || continue
    file=$(file_of "$type")
    line=$(line_of "$type" "$id" "$count")
    has_line "$file" "$line" && continue
    { if [ -f "$file" ]; then cat "$file"; fi; printf '%s\n' "$line"; } | replace "$file"
    { if [ -f "$added" ]; then cat "$added"; fi; printf '%s %s\n' "$file" "$line"; } | sort -u | replace "$added"
  done <<<"$entries"
}

delete() {
  rm -f "$record"
  [ -f "$added" ] || { result '{"present":false}'; return; }
  local file line keep=() type id count needed
  while read -r file line; do
    [ -n "$file" ] || continue
    needed=false
    for other in "$dir"/[0-9]*; do
      [ -f "$other" ] || continue
      while read -r type id count; do
        [ -n "$type" ] || continue
        if [ "$(file_of "$type")" = "$file" ] && [ "$(line_of "$type" "$id" "$count")" = "$line" ]; then needed=true; fi
      done <"$other"
    done
    if [ "$needed" = true ]; then keep+=("$file $line"); continue; fi
    if has_line "$file" "$line"; then grep -vxF -- "$line" "$file" | replace "$file" || true; fi
  done <"$added"
  if [ "${#keep[@]}" -gt 0 ]; then printf '%s\n' "${keep[@]}" | replace "$added"; else rm -f "$added"; fi
  result '{"present":false}'
}

case ${PHOENIX_ACTION:?} in
  read) report ;;
  apply) apply; report ;;
  delete) delete ;;
  *) die "unknown action $PHOENIX_ACTION" ;;
esac
