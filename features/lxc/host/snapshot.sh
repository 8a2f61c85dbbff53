#!/usr/bin/env bash
# The template snapshot of a container (`pct snapshot`/`listsnapshot`/`delsnapshot`). The
# snapshot's description carries `phoenix:<trigger>`, a hash of everything provisioned into the
# template, so re-running a template's steps re-takes its snapshot. The template is left
# STOPPED: the proxmoxve provider clones without a snapshot name, and a full clone of a stopped
# container equals its snapshot.
#   PHOENIX_CTID      container ID
#   PHOENIX_SNAPNAME  snapshot name (template_snapshot_name)
#   PHOENIX_TRIGGER   hash of the provisioned steps
#   PHOENIX_STOP      1 (default, templates): shut down first, leave stopped; 0 (lifecycle
#                     snapshots pre-configured/final-form): snapshot the container as it is
set -euo pipefail
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="lxc snapshot ${PHOENIX_CTID:-}"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

ctid=${PHOENIX_CTID:?}
snap=${PHOENIX_SNAPNAME:?}
trigger=${PHOENIX_TRIGGER:?}
stop=${PHOENIX_STOP:-1}
[[ $stop =~ ^[01]$ ]] || invalid "stop '$stop'"
valid_guest_id "$ctid" || invalid "CTID '$ctid'"
valid_snapshot_name "$snap" || invalid "snapshot name '$snap'"
[[ $trigger =~ ^[a-f0-9]{8,128}$ ]] || invalid "trigger '$trigger'"
want="phoenix:$trigger"

conf_file=/etc/pve/lxc/$ctid.conf

ct_exists() { pct status "$ctid" >/dev/null 2>&1; }
# phoenix-include: lib/guest_config.sh
# An interrupted snapshot (killed mid-copy: `snapstate: prepare`, the container `lock: snapshot`)
# is not accepted: it is removed and taken again.
incomplete() { guest_snapshot_incomplete "$conf_file" "$snap"; }
lock_of_ct() { guest_config_lock "$conf_file"; }
exists() { ct_exists && pct listsnapshot "$ctid" | awk '{print $2}' | grep -qxF -- "$snap"; }
description() { guest_description_decode "$(pct config "$ctid" --snapshot "$snap" | sed -n 's/^description: //p')"; }
running() { pct status "$ctid" 2>/dev/null | grep -q 'status: running'; }

case ${PHOENIX_ACTION:?} in
  read)
    if ! exists; then
      result '{"present":false}'
      exit 0
    fi
    matches=false complete=true
    incomplete && complete=false
    if [ "$complete" = true ] && [ "$(description)" = "$want" ] && { [ "$stop" = 0 ] || ! running; }; then matches=true; fi
    result '{"present":true,"ctid":"%s","snapname":"%s","matches":%s,"complete":%s}' "$ctid" "$snap" "$matches" "$complete"
    ;;
  apply)
    ct_exists || die "container $ctid does not exist"
    # A clean shutdown, so the snapshot holds a consistent file system.
    if [ "$stop" = 1 ] && running; then pct shutdown "$ctid" --timeout 120 --forceStop 1; fi
    taken=false
    if exists && incomplete; then
      echo "snapshot $snap of CT $ctid is incomplete (interrupted): removing it to take it again" >&2
      case $(lock_of_ct) in snapshot | snapshot-delete) pct unlock "$ctid" ;; esac
      pct delsnapshot "$ctid" "$snap" --force 1
    fi
    if exists && [ "$(description)" != "$want" ]; then pct delsnapshot "$ctid" "$snap"; fi
    if ! exists; then
      pct snapshot "$ctid" "$snap" --description "$want"
      taken=true
    fi
    result '{"present":true,"ctid":"%s","snapname":"%s","matches":true,"complete":true,"taken":%s}' "$ctid" "$snap" "$taken"
    ;;
  delete)
    if exists; then pct delsnapshot "$ctid" "$snap"; fi
    result '{"present":false}'
    ;;
  *) invalid "action '$PHOENIX_ACTION'" ;;
esac
