#!/usr/bin/env bash
# A ZFS dataset with its properties. Creates it when
# missing, sets properties that differ (drift made by hand is restored), and reports each declared
# property's actual value on read. Delete destroys the dataset only when it holds no data or
# PHOENIX_ALLOW_DESTROY=1.
# Creation-only properties (casesensitivity, normalization, utf8only, encryption, keyformat,
# pbkdf2iters, volblocksize: zfsprops(7) "can only be set when the dataset is created") that differ
# on an existing dataset are never `zfs set` (it would fail on every run): the settable ones are
# still applied, and apply and read report `needsRecreation` with one message naming them.
#
# Parameters (environment):
#   PHOENIX_POOL        pool name
#   PHOENIX_NAME        dataset name inside the pool (may contain /)
#   PHOENIX_PROPERTIES  one key=value per line, e.g. recordsize=16K (may be empty)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
pool=${PHOENIX_POOL:?PHOENIX_POOL is required}
name=${PHOENIX_NAME:?PHOENIX_NAME is required}
properties=${PHOENIX_PROPERTIES:-}
allow_destroy=${PHOENIX_ALLOW_DESTROY:-0}
full="$pool/$name"

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="zfs_dataset $full"

# phoenix-include: lib/result.sh
# phoenix-include: lib/zfs.sh
# phoenix-include: lib/checks.sh

valid_zfs_pool "$pool" || invalid "pool name"
valid_zfs_dataset "$name" || invalid "dataset name"
keys=()
values=()
while IFS= read -r line; do
  [ -n "${line//[[:space:]]/}" ] || continue
  [[ $line =~ ^([a-z][a-z0-9_:.]*)=([A-Za-z0-9_./:@+-]+)$ ]] || invalid "property '$line' (key=value)"
  keys+=("${BASH_REMATCH[1]}")
  values+=("${BASH_REMATCH[2]}")
  # ZFS's own sharing bypasses the checked NFS export and Samba share scripts.
  case ${keys[-1]}=${values[-1]} in
    sharenfs=off | sharesmb=off) ;;
    sharenfs=* | sharesmb=*) invalid "property '$line': exports and shares go through nfs_export and samba_share" ;;
  esac
done <<<"$properties"

exists() { zfs list -H -o name "$full" >/dev/null 2>&1; }

CREATION_ONLY=" casesensitivity normalization utf8only encryption keyformat pbkdf2iters volblocksize "
creation_only() { [[ $CREATION_ONLY == *" $1 "* ]]; }

# Sizes compare as bytes (16K = 16k = 16384); everything else compares as text.
to_bytes() {
  awk -v v="$1" 'BEGIN {
    if (v == "none") { print 0; exit }
    if (!match(v, /^[0-9]+(\.[0-9]+)?[KMGTPEkmgtpe]?[Bb]?$/)) { print "x"; exit }
    n = v + 0; u = toupper(substr(v, length(v), 1)); if (u == "B") u = toupper(substr(v, length(v) - 1, 1))
    i = index("KMGTPE", u); while (i-- > 0) n *= 1024; printf "%.0f\n", n }'
}

prop_matches() { # property, wanted value
  local got raw want
  got=$(zfs get -H -o value "$1" "$full")
  [ "$got" = "$2" ] && return 0
  raw=$(zfs get -Hp -o value "$1" "$full")
  want=$(to_bytes "$2")
  [ "$want" != x ] && [ "$raw" = "$want" ] && return 0
  [ "$want" != x ] && [ "$(to_bytes "$got")" = "$want" ]
}

report() {
  if ! exists; then result '{"present":false}'; return; fi
  # properties mirrors the parameter: declared values where they match, actual values where not.
  # Creation-only properties that differ are not drift an apply could fix (that would update on
  # every run): they go to needsRecreation, with one message.
  local obs="" actual_json="" drift_json="" recreate_json="" message="" i got mp
  for i in "${!keys[@]}"; do
    got=$(zfs get -H -o value "${keys[$i]}" "$full")
    if prop_matches "${keys[$i]}" "${values[$i]}"; then
      obs+="${keys[$i]}=${values[$i]}"$'\n'
    elif creation_only "${keys[$i]}"; then
      obs+="${keys[$i]}=${values[$i]}"$'\n'
      recreate_json+="${recreate_json:+,}$(json_str "${keys[$i]}")"
      message+="${message:+, }${keys[$i]}=${values[$i]} (is $got)"
    else
      obs+="${keys[$i]}=$got"$'\n'
      drift_json+="${drift_json:+,}$(json_str "${keys[$i]}")"
    fi
    actual_json+="${actual_json:+,}$(json_str "${keys[$i]}"):$(json_str "$got")"
  done
  [ -z "$message" ] || message="dataset $full needs re-creation: $message can only be set when a dataset is created; move its data to a new dataset created with them (Phoenix never destroys it for that)"
  mp=$(zfs get -H -o value mountpoint "$full")
  local matches=true
  [ -z "$drift_json" ] || matches=false
  result '{"present":true,"matches":%s,"pool":%s,"name":%s,"properties":%s,"actual":{%s},"drift":[%s],"needsRecreation":[%s],"message":%s,"mountpoint":%s}' \
    "$matches" "$(json_str "$pool")" "$(json_str "$name")" "$(json_str "${obs%$'\n'}")" "$actual_json" "$drift_json" "$recreate_json" "$(json_str "$message")" "$(json_str "$mp")"
}

apply() {
  local i
  if ! exists; then
    zpool list -H -o name "$pool" >/dev/null 2>&1 || die "pool $pool does not exist"
    local args=()
    for i in "${!keys[@]}"; do args+=(-o "${keys[$i]}=${values[$i]}"); done
    zfs create -p "${args[@]}" "$full" >&2
    echo "created dataset $full" >&2
    return
  fi
  local later=""
  for i in "${!keys[@]}"; do
    if ! prop_matches "${keys[$i]}" "${values[$i]}"; then
      if creation_only "${keys[$i]}"; then
        later+="${later:+, }${keys[$i]}"
        continue
      fi
      zfs set "${keys[$i]}=${values[$i]}" "$full" >&2
      echo "set ${keys[$i]}=${values[$i]} on $full" >&2
    fi
  done
  [ -z "$later" ] || echo "warning: $full needs re-creation for $later (creation-only properties); the other properties are applied" >&2
}

delete() {
  exists || { result '{"present":false}'; return; }
  if [ "$allow_destroy" != 1 ] && zfs_holds_data "$full"; then
    die "holds data; not destroyed. Set phoenix:allowDataDestruction true to destroy it"
  fi
  local flags=() try
  [ "$allow_destroy" = 1 ] && flags=(-r)
  # A dataset can be briefly busy right after a mount or a write (zfs-fuse notably): unmount
  # first, and retry a few times before giving up.
  for try in 1 2 3 4 5 6; do
    zfs unmount "$full" >/dev/null 2>&1 || true
    zfs destroy "${flags[@]}" "$full" >&2 && break
    [ "$try" -lt 6 ] || die "could not be destroyed"
    sleep 1
  done
  echo "destroyed dataset $full" >&2
  result '{"present":false}'
}

run_action "$action"
