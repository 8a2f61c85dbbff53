#!/usr/bin/env bash
# One NFS export in its own Phoenix-managed file,
# /etc/exports.d/phoenix-<path>.exports; exports Phoenix does not manage are never touched.
# `exportfs -ra` validates and applies the whole export table: when it rejects the new file, the
# previous file is put back and the table re-applied, so the last working configuration stays.
# Runs under the host lock `nfs` (exportfs -ra is host-wide).
#
# Parameters (environment):
#   PHOENIX_PATH     exported directory (absolute)
#   PHOENIX_CLIENTS  space-separated clients: IPs, CIDRs, host names, wildcards
#   PHOENIX_OPTIONS  comma-separated export options (rw,sync,no_subtree_check,...)
#   PHOENIX_ALLOW_HOST_PATHS  1: the stack allows exporting the host's system paths (lib/host_paths.sh)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
export_path=${PHOENIX_PATH:?PHOENIX_PATH is required}
clients=${PHOENIX_CLIENTS:?PHOENIX_CLIENTS is required}
options=${PHOENIX_OPTIONS:-}
dir=/etc/exports.d

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="nfs_export $export_path"

# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh
# phoenix-include: lib/host_paths.sh

valid_share_path "$export_path" || invalid "path (absolute, no spaces or special characters)"
[[ $export_path != *..* ]] || invalid "path (no ..)"
[[ $clients != *$'\n'* ]] || invalid "clients (one line, space-separated)"
read -r -a client_list <<<"$clients" || true
[ ${#client_list[@]} -gt 0 ] || invalid "clients: none given"
for c in "${client_list[@]}"; do
  [[ $c =~ ^[A-Za-z0-9*?.:/_-]+$ ]] || invalid "client '$c'"
done
if [ -n "$options" ]; then
  [[ $options =~ ^[a-z_]+(=[A-Za-z0-9_.:@/-]+)?(,[a-z_]+(=[A-Za-z0-9_.:@/-]+)?)*$ ]] || invalid "options '$options'"
fi

[[ $export_path == / || ( $export_path != *//* && $export_path != */ && $export_path != */./* && $export_path != */. ) ]] \
  || invalid "path (write it without //, /./ or a trailing /)"
# Never the host's system paths (/, /etc, /root, /var/lib/pve-cluster, ...), even read-only.
[ "$action" != apply ] || refuse_sensitive_share_path "$export_path"

# File name from the path, one-to-one: '_' becomes %5F ('%' never occurs in a path), then '/' becomes
# '_'. /quickOS/vm-data -> phoenix-quickOS_vm-data.exports; /srv/a_b/c and /srv/a/b_c stay apart
# (srv_a%5Fb_c, srv_a_b%5Fc); / is phoenix-_.exports. infra/components/hypervisor.ts names the
# resource after the same slug (nfsExportSlug).
slug=${export_path#/}; slug=${slug//_/%5F}; slug=${slug//\//_}; [ -n "$slug" ] || slug=_
file="$dir/phoenix-$slug.exports"
# Files of the earlier naming ('/' and '_' both became '_') are adopted when they export this path.
old_slug=${export_path#/}; old_slug=${old_slug//\//_}; [ -n "$old_slug" ] || old_slug=root
old_file="$dir/phoenix-$old_slug.exports"
if [ "$old_file" != "$file" ] && [ -f "$old_file" ] && [ ! -f "$file" ] \
  && [ "$(grep -v '^#' "$old_file" | head -n1 | awk '{ print $1 }')" = "$export_path" ]; then
  if [ "$action" = read ]; then file=$old_file; else mv -f "$old_file" "$file"; fi
fi

desired() {
  local line="$export_path" c
  for c in "${client_list[@]}"; do
    if [ -n "$options" ]; then line+=" $c($options)"; else line+=" $c"; fi
  done
  printf '# Managed by Phoenix; edits are overwritten.\n%s\n' "$line"
}

active() { exportfs -v 2>/dev/null | awk '{ print $1 }' | grep -qxF "$export_path"; }

report() {
  if [ ! -f "$file" ]; then result '{"present":false}'; return; fi
  local matches=false act=false line
  [ "$(cat "$file")" = "$(desired)" ] && matches=true
  # Not in the kernel's export table (`exportfs -u` by hand): apply exports it again, so it is drift.
  active && act=true || matches=false
  line=$(grep -v '^#' "$file" | head -n1)
  result '{"present":true,"matches":%s,"active":%s,"file":%s,"line":%s}' \
    "$matches" "$act" "$(json_str "$file")" "$(json_str "$line")"
}

# Puts $1 (a candidate file, or "" to remove) in place of $file, re-applies the export table and
# rolls back when exportfs rejects it.
activate() {
  local candidate=$1 backup="" out
  if [ -f "$file" ]; then backup="$dir/.phoenix-$slug.backup"; cp -p "$file" "$backup"; fi
  if [ -n "$candidate" ]; then mv -f "$candidate" "$file"; else rm -f "$file"; fi
  if ! out=$(exportfs -ra 2>&1); then
    if [ -n "$backup" ]; then mv -f "$backup" "$file"; else rm -f "$file"; fi
    exportfs -ra >/dev/null 2>&1 || true
    die "exportfs rejected the change; the previous exports are back in place: $out"
  fi
  [ -z "$out" ] || printf '%s\n' "$out" >&2
  rm -f "$backup"
}

apply() {
  [ -d "$export_path" ] || die "directory $export_path does not exist"
  mkdir -p "$dir"
  if [ -f "$file" ] && [ "$(cat "$file")" = "$(desired)" ] && active; then return; fi
  # Dot-prefixed candidate: exportfs only reads *.exports files.
  local candidate="$dir/.phoenix-$slug.new"
  desired >"$candidate"
  chmod 644 "$candidate"
  activate "$candidate"
  echo "exported $export_path" >&2
}

delete() {
  if [ -f "$file" ]; then
    activate ""
    echo "unexported $export_path (its data is untouched)" >&2
  elif active; then
    # A delete killed after removing the file and before exportfs -ra: the kernel still exports
    # the path. Re-reading the export files drops it (an export the operator declared elsewhere
    # stays, being in its own file).
    exportfs -ra
    echo "unexported $export_path (left exported by an interrupted run)" >&2
  fi
  # The candidate and backup of an interrupted run (exportfs reads only *.exports files).
  rm -f "$dir/.phoenix-$slug.new" "$dir/.phoenix-$slug.backup"
  result '{"present":false}'
}

run_action "$action"
