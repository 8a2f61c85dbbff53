#!/usr/bin/env bash
# Host script (protocol in providers/base/types.ts): a VM snapshot taken with `qm snapshot` once
# the VM is provisioned (`vm-<vmid>-snapshot`). Parameters:
#   PHOENIX_VMID   the VM
#   PHOENIX_NAME   snapshot name (template_snapshot_name)
#   PHOENIX_AFTER  what the snapshot was taken after (a hash of the VM's user data and features);
#                  kept in the snapshot's description, so a changed value re-takes the snapshot
#                  (delete, then take again), as a re-provisioned template must be re-captured.
# Proxmox refuses to snapshot a template ("you can't take a snapshot if it's a template"); that
# error surfaces unchanged.
set -euo pipefail
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="vm snapshot ${PHOENIX_VMID:-}"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

vmid=${PHOENIX_VMID:?}
name=${PHOENIX_NAME:?}
after=${PHOENIX_AFTER:-}
valid_guest_id "$vmid" || invalid "vmid '$vmid'"
valid_snapshot_name "$name" || invalid "snapshot name '$name'"
[[ $after =~ ^[A-Za-z0-9._:-]*$ ]] || invalid "after token"

description="phoenix: taken after ${after:-provisioning}"

# The result line from key/value pairs (present and matches as booleans, the rest strings).
result_fields() {
  result '%s' "$(perl -MJSON::PP -e 'my %r = @ARGV; $r{present} = $r{present} eq "1" ? JSON::PP::true : JSON::PP::false;
    $r{matches} = $r{matches} eq "1" ? JSON::PP::true : JSON::PP::false if exists $r{matches};
    print JSON::PP->new->canonical->encode(\%r)' -- "$@")"
}

vm_exists() { qm status "$vmid" >/dev/null 2>&1; }

conf_file=/etc/pve/qemu-server/$vmid.conf
# phoenix-include: lib/guest_config.sh
# An interrupted snapshot (killed mid-way: `snapstate: prepare`, the VM `lock: snapshot`) is not
# accepted: it is removed and taken again.
incomplete() { guest_snapshot_incomplete "$conf_file" "$name"; }
lock_of_vm() { guest_config_lock "$conf_file"; }

has_snapshot() {
  # `qm listsnapshot` prints a tree: "`-> name  date  description" lines; `current` is not one.
  qm listsnapshot "$vmid" | sed -n 's/^[[:space:]]*`->[[:space:]]*\([^[:space:]]*\).*/\1/p' | grep -qxF -- "$name"
}

# The description as Proxmox prints it (percent-encoded), decoded.
snapshot_description() {
  guest_description_decode "$(qm config "$vmid" --snapshot "$name" | sed -n 's/^description: //p')"
}

case ${PHOENIX_ACTION:?} in
  read)
    if ! vm_exists || ! has_snapshot; then
      result_fields present 0 vmid "$vmid" name "$name"
      exit 0
    fi
    current=$(snapshot_description)
    seen_after=${current#phoenix: taken after }
    [ "$seen_after" != provisioning ] || seen_after=""
    matches=0
    [ "$current" = "$description" ] && ! incomplete && matches=1
    result_fields present 1 vmid "$vmid" name "$name" after "$seen_after" matches "$matches" id "$vmid/$name"
    ;;
  apply)
    vm_exists || die "VM $vmid does not exist: nothing to snapshot"
    if has_snapshot && incomplete; then
      echo "snapshot $name of VM $vmid is incomplete (interrupted): removing it to take it again"
      case $(lock_of_vm) in snapshot | snapshot-delete) qm unlock "$vmid" ;; esac
      qm delsnapshot "$vmid" "$name" --force 1
    fi
    if has_snapshot; then
      if [ "$(snapshot_description)" = "$description" ]; then
        echo "snapshot $name of VM $vmid is up to date"
        result_fields present 1 vmid "$vmid" name "$name" after "$after" matches 1 id "$vmid/$name"
        exit 0
      fi
      echo "snapshot $name of VM $vmid was taken before the VM changed: taking it again"
      qm delsnapshot "$vmid" "$name"
    fi
    qm snapshot "$vmid" "$name" --description "$description"
    result_fields present 1 vmid "$vmid" name "$name" after "$after" matches 1 id "$vmid/$name"
    ;;
  delete)
    if vm_exists && has_snapshot; then
      qm delsnapshot "$vmid" "$name"
    fi
    result_fields present 0 vmid "$vmid" name "$name"
    ;;
  *) invalid "action '$PHOENIX_ACTION'" ;;
esac
