#!/usr/bin/env bash
# Host script (protocol in providers/base/types.ts): waits until a VM's first boot is finished
# (`vm-<vmid>-cloud-init`): the QEMU guest agent answers, then `cloud-init status --wait` run in the
# guest through `qm guest exec` reports done. Fails with cloud-init's own `status --long` output
# when cloud-init ended in error or is still running at the deadline. Parameters:
#   PHOENIX_VMID              the VM
#   PHOENIX_TIMEOUT_SECONDS   overall deadline (guest agent and cloud-init together)
#   PHOENIX_USER_DATA_SHA256  the user data the VM booted with: recorded, so `read` can tell
#                             whether the completion it saw belongs to the current user data.
# The outcome is recorded on the host in /var/lib/phoenix/vm/<vmid>/cloud-init (`<sha256> <status>`):
# `read` reports it (and whether the VM still exists), `delete` forgets it.
set -euo pipefail
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="vm cloud_init ${PHOENIX_VMID:-}"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

vmid=${PHOENIX_VMID:?}
timeout_s=${PHOENIX_TIMEOUT_SECONDS:-1800}
user_data=${PHOENIX_USER_DATA_SHA256:-}
valid_guest_id "$vmid" || invalid "vmid '$vmid'"
[[ $timeout_s =~ ^[1-9][0-9]{0,5}$ ]] || invalid "timeout '$timeout_s'"
[[ $user_data =~ ^[0-9a-f]*$ ]] || invalid "user data hash"

record_dir=/var/lib/phoenix/vm/$vmid
record=$record_dir/cloud-init

# The result line from key/value pairs (present and matches as booleans, the rest strings).
result_fields() {
  result '%s' "$(perl -MJSON::PP -e 'my %r = @ARGV; for my $k (qw(present matches)) {
      $r{$k} = $r{$k} eq "1" ? JSON::PP::true : JSON::PP::false if exists $r{$k} }
    print JSON::PP->new->canonical->encode(\%r)' -- "$@")"
}

vm_exists() { qm status "$vmid" >/dev/null 2>&1; }

# Runs a command in the guest; prints "<exitcode>" (empty while still running) then the output.
guest_exec() {
  local json rc=0
  # The guest command's own exit code is in the JSON; qm's exit code only says whether it ran.
  json=$(qm guest exec "$vmid" "$@") || rc=$?
  if [[ $json != *"{"* ]]; then
    echo "VM $vmid: qm guest exec failed (exit $rc)" >&2
    return 1
  fi
  perl -MJSON::PP -e 'local $/; my $r = JSON::PP->new->decode(<STDIN>);
    print((exists $r->{exited} && $r->{exited} ? $r->{exitcode} : ""), "\n");
    print $r->{"out-data"} // ""; print $r->{"err-data"} // ""' <<<"$json"
}

cloud_init_report() {
  guest_exec --timeout 30 -- cloud-init status --long 2>&1 | tail -n +2 || true
}

case ${PHOENIX_ACTION:?} in
  read)
    if ! vm_exists || [ ! -f "$record" ]; then
      result_fields present 0 vmid "$vmid"
      exit 0
    fi
    read -r seen_hash seen_status <"$record" || true
    matches=0
    [ "$seen_hash" = "$user_data" ] && matches=1
    result_fields present 1 vmid "$vmid" status "${seen_status:-unknown}" user_data_sha256 "$seen_hash" matches "$matches" id "vm-$vmid-cloud-init"
    ;;
  apply)
    vm_exists || die "VM $vmid does not exist"
    deadline=$((SECONDS + timeout_s))
    until qm guest cmd "$vmid" ping >/dev/null 2>&1; do
      if [ "$SECONDS" -ge "$deadline" ]; then
        echo "VM $vmid: the QEMU guest agent did not answer within ${timeout_s}s" >&2
        qm guest cmd "$vmid" ping >&2 || true
        exit 1
      fi
      sleep 2
    done
    echo "VM $vmid: guest agent is up; waiting for cloud-init"
    while :; do
      left=$((deadline - SECONDS))
      if [ "$left" -le 0 ]; then
        echo "VM $vmid: cloud-init still running after ${timeout_s}s:" >&2
        cloud_init_report >&2
        exit 1
      fi
      [ "$left" -le 300 ] || left=300
      out=$(guest_exec --timeout "$left" -- cloud-init status --wait)
      code=$(head -n 1 <<<"$out")
      case $code in
        "") sleep 1 ;; # the exec timed out in the guest: cloud-init is still running
        0) status="done"; break ;;
        2) status=degraded; echo "VM $vmid: cloud-init finished with recoverable errors:"; cloud_init_report; break ;;
        *)
          echo "VM $vmid: cloud-init failed (exit $code):" >&2
          tail -n +2 <<<"$out" >&2
          cloud_init_report >&2
          exit 1
          ;;
      esac
    done
    mkdir -p "$record_dir"
    printf '%s %s\n' "$user_data" "$status" >"$record.tmp"
    mv "$record.tmp" "$record"
    echo "VM $vmid: cloud-init $status"
    result_fields present 1 vmid "$vmid" status "$status" user_data_sha256 "$user_data" matches 1 id "vm-$vmid-cloud-init"
    ;;
  delete)
    rm -f "$record"
    rmdir "$record_dir" 2>/dev/null || true
    result_fields present 0 vmid "$vmid"
    ;;
  *) invalid "action '$PHOENIX_ACTION'" ;;
esac
