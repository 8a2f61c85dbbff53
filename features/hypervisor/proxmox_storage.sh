#!/usr/bin/env bash
# Registers a ZFS dataset (zfspool) or a directory (dir) as Proxmox storage through `pvesm`.
# State is read from /etc/pve/storage.cfg (Proxmox's section format); changes go through pvesm.
# Delete unregisters the storage; the data stays.
#
# Parameters (environment):
#   PHOENIX_ID       storage id
#   PHOENIX_TYPE     zfspool | dir
#   PHOENIX_CONTENT  comma-separated content types (images,rootdir,iso,vztmpl,backup,snippets)
#   PHOENIX_TARGET   zfspool: pool/dataset; dir: absolute path
#   PHOENIX_NODES    optional: a cluster's registration, restricted to these comma-separated
#                    Proxmox nodes (storage.cfg `nodes`, one file for the whole cluster); empty:
#                    every node (a single-node stack)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
id=${PHOENIX_ID:?PHOENIX_ID is required}
type=${PHOENIX_TYPE:?PHOENIX_TYPE is required}
content=${PHOENIX_CONTENT:?PHOENIX_CONTENT is required}
target=${PHOENIX_TARGET:?PHOENIX_TARGET is required}
nodes=${PHOENIX_NODES:-}
cfg=/etc/pve/storage.cfg

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="proxmox_storage $id"

# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

valid_storage_id "$id" || invalid "storage id"
[[ $content =~ ^[a-z]+(,[a-z]+)*$ ]] || invalid "content '$content'"
if [ -n "$nodes" ]; then
  IFS=, read -ra node_list <<<"$nodes"
  for n in "${node_list[@]}"; do valid_node_name "$n" || invalid "node '$n'"; done
  [[ $nodes != *,,* && $nodes != ,* && $nodes != *, ]] || invalid "nodes '$nodes'"
fi
case $type in
  zfspool) { valid_zfs_pool "${target%%/*}" && { [[ $target != */* ]] || valid_zfs_dataset "${target#*/}"; }; } || invalid "zfs dataset '$target'"; target_key=pool ;;
  dir) valid_dir_path "$target" || invalid "path '$target'"; target_key=path ;;
  *) invalid "storage type '$type' (zfspool or dir)" ;;
esac

sorted() { tr ',' '\n' <<<"$1" | sed '/^$/d' | sort -u | paste -sd, -; }

# Prints "type|target|content|nodes|is_mountpoint" of the storage from storage.cfg, or nothing
# (separated by the ASCII unit separator: `read` would merge adjacent tabs of empty fields).
current() {
  [ -f "$cfg" ] || return 0
  awk -v id="$id" '
    /^[a-z]+: / { split($0, a, ": "); cur = a[2]; if (cur == id) t = a[1]; next }
    cur == id && /^[ \t]+[^ \t]/ { sub(/^[ \t]+/, ""); k = $1; v = substr($0, length(k) + 2); conf[k] = v }
    END { if (t != "") printf "%s\037%s\037%s\037%s\037%s\n", t, (t == "dir" ? conf["path"] : conf["pool"]), conf["content"], conf["nodes"], conf["is_mountpoint"] }' "$cfg"
}

# A dir storage is offline while nothing is mounted on its path (apply sets is_mountpoint): without
# it Proxmox writes into the empty directory under an unmounted dataset.
mountpoint_ok() { [ "$type" != dir ] || [ "$1" = yes ] || [ "$1" = 1 ]; }

report() {
  local cur t tg c n m
  cur=$(current)
  if [ -z "$cur" ]; then result '{"present":false}'; return; fi
  IFS=$'\037' read -r t tg c n m <<<"$cur"
  local matches=true
  { [ "$t" = "$type" ] && [ "$tg" = "$target" ] && [ "$(sorted "$c")" = "$(sorted "$content")" ] && [ "$(sorted "$n")" = "$(sorted "$nodes")" ] && mountpoint_ok "$m"; } || matches=false
  result '{"present":true,"matches":%s,"id":%s,"type":%s,"target":%s,"content":%s,"nodes":%s}' \
    "$matches" "$(json_str "$id")" "$(json_str "$t")" "$(json_str "$tg")" "$(json_str "$c")" "$(json_str "$n")"
}

apply() {
  local cur t tg c n m
  cur=$(current)
  if [ -z "$cur" ]; then
    if [ "$type" = zfspool ]; then
      zfs list -H -o name "$target" >/dev/null 2>&1 || die "ZFS dataset $target does not exist"
    fi
    local extra=()
    # A dir storage on a dataset: Proxmox treats it as offline while the dataset is not mounted,
    # instead of writing into the empty directory underneath (pvesm(1), is_mountpoint).
    [ "$type" = dir ] && extra=(--is_mountpoint yes)
    [ -n "$nodes" ] && extra+=(--nodes "$nodes")
    pvesm add "$type" "$id" "--$target_key" "$target" --content "$content" "${extra[@]}" >&2
    echo "registered storage $id ($type $target, $content)" >&2
    return
  fi
  IFS=$'\037' read -r t tg c n m <<<"$cur"
  { [ "$t" = "$type" ] && [ "$tg" = "$target" ]; } ||
    die "is registered as $t $tg, not $type $target; remove it first (a changed type or target replaces the resource)"
  if ! mountpoint_ok "$m"; then
    pvesm set "$id" --is_mountpoint yes >&2
    echo "storage $id offline while its path is not mounted (is_mountpoint yes)" >&2
  fi
  if [ "$(sorted "$c")" != "$(sorted "$content")" ]; then
    pvesm set "$id" --content "$content" >&2
    echo "storage $id content set to $content" >&2
  fi
  # A cluster's registration follows the nodes whose files register it (a node added or gone).
  if [ -n "$nodes" ] && [ "$(sorted "$n")" != "$(sorted "$nodes")" ]; then
    pvesm set "$id" --nodes "$nodes" >&2
    echo "storage $id restricted to nodes $nodes" >&2
  elif [ -z "$nodes" ] && [ -n "$n" ]; then
    # No node list declared: every node (read reports a restriction as drift, so apply lifts it).
    pvesm set "$id" --delete nodes >&2
    echo "storage $id no longer restricted to nodes $n" >&2
  fi
}

delete() {
  if [ -n "$(current)" ]; then
    pvesm remove "$id" >&2
    echo "unregistered storage $id (its data is untouched)" >&2
  fi
  result '{"present":false}'
}

run_action "$action"
