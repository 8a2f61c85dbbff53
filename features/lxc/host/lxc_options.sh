#!/usr/bin/env bash
# Raw LXC options and the AppArmor profile of one container, its bind mounts (`lxc.mount.entry`)
# and its NVIDIA GPUs (device nodes bind-mounted, their character devices allowed): lines
# `lxc.<key>: <value>` in the current section of /etc/pve/lxc/<ctid>.conf, which the Proxmox API
# cannot write (and bind mounts or devices it allows only to root@pam, never to a token). Edited under
# Proxmox's own config lock (the one pct takes), so it never races a `pct set`. Lines this
# resource wrote are recorded in /var/lib/phoenix/lxc/<ctid>.lxc-options so an update removes
# the ones no longer wanted and delete removes them all. The container is restarted only when a
# line actually changed and it is running.
#   PHOENIX_CTID     container ID
#   PHOENIX_OPTIONS  desired lines, one `lxc.key=value` per line, in order
#   PHOENIX_GPUS     GPU indexes, comma-separated (empty: none): adds the dynamic device majors
set -euo pipefail

ctid=${PHOENIX_CTID:?}
[[ $ctid =~ ^[1-9][0-9]{2,8}$ ]] || { echo "invalid CTID '$ctid'" >&2; exit 2; }
conf=/etc/pve/lxc/$ctid.conf
record=/var/lib/phoenix/lxc/$ctid.lxc-options
lock=/run/lock/lxc/pve-config-$ctid.lock

# Desired lines in Proxmox's `key: value` form.
desired=""
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^(lxc\.[a-z0-9_.-]+)=(.*)$ ]] || { echo "invalid LXC option line '$line' (want lxc.key=value)" >&2; exit 2; }
  desired+="${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"$'\n'
done <<<"${PHOENIX_OPTIONS:-}"

# GPUs: the options carry the device nodes' bind mounts and the NVIDIA major (195); the majors of
# nvidia-uvm and nvidia-caps are assigned when the host loads those modules: read /proc/devices.
if [ -n "${PHOENIX_GPUS:-}" ]; then
  [[ $PHOENIX_GPUS =~ ^[0-9]{1,2}(,[0-9]{1,2})*$ ]] || { echo "invalid GPU list '$PHOENIX_GPUS'" >&2; exit 2; }
  for name in nvidia-uvm nvidia-caps; do
    major=$(awk -v n="$name" '$2 == n {print $1}' /proc/devices)
    [ -z "$major" ] || desired+="lxc.cgroup2.devices.allow: c $major:* rwm"$'\n'
  done
fi

json_lines() {
  local first=1 l out="["
  while IFS= read -r l; do
    [ -n "$l" ] || continue
    l=${l//\\/\\\\}
    l=${l//\"/\\\"}
    [ $first = 1 ] || out+=","
    out+="\"$l\""
    first=0
  done <<<"$1"
  printf '%s]' "$out"
}

# The current (non-snapshot) section of the config.
current_section() { awk '/^\[/{exit} {print}' "$conf"; }

is_running() { pct status "$ctid" 2>/dev/null | grep -q 'status: running'; }

# `pct reboot` shuts the container down and starts it again, applying the changed config.
restart() { pct reboot "$ctid"; }

# Rewrites the current section without the old managed lines and with the desired ones at the
# end (raw LXC keys follow the Proxmox keys); prints "changed" when the file content changed.
rewrite() {
  local old_managed=$1 want=$2 tmp
  # Temp files of a run killed mid-rewrite: safe to remove, this run holds the config lock.
  rm -f -- "$conf".phoenix.??????
  tmp=$(mktemp "$conf.phoenix.XXXXXX")
  {
    # Through the environment: awk -v would interpret backslashes in the values.
    current_section | PHOENIX_DROP="$old_managed$want" awk '
      BEGIN { n = split(ENVIRON["PHOENIX_DROP"], d, "\n"); for (i = 1; i <= n; i++) if (d[i] != "") skip[d[i]] = 1 }
      NF > 0 && !($0 in skip) { print }'
    printf '%s' "$want"
    awk 'BEGIN{p=0} /^\[/{if(!p){print ""}; p=1} p{print}' "$conf"
  } >"$tmp"
  if cmp -s "$tmp" "$conf"; then
    rm -f "$tmp"
  else
    chmod --reference="$conf" "$tmp" 2>/dev/null || true
    mv "$tmp" "$conf"
    echo changed
  fi
}

present_lines() {
  # Which desired lines are in the current section, in order.
  local want=$1 have
  have=$(current_section)
  while IFS= read -r l; do
    [ -n "$l" ] || continue
    grep -qxF -- "$l" <<<"$have" && printf '%s\n' "$l"
  done <<<"$want"
}

mkdir -p "$(dirname "$record")" "$(dirname "$lock")"

case ${PHOENIX_ACTION:?} in
  read)
    if [ ! -f "$conf" ] || [ ! -f "$record" ]; then
      echo 'PHOENIX_RESULT {"present":false}'
      exit 0
    fi
    have=$(present_lines "$desired")
    matches=false
    [ "$have" = "${desired%$'\n'}" ] && matches=true
    printf 'PHOENIX_RESULT {"present":true,"ctid":"%s","matches":%s,"lines":%s}\n' "$ctid" "$matches" "$(json_lines "$have")"
    ;;
  apply)
    [ -f "$conf" ] || { echo "container $ctid does not exist ($conf missing)" >&2; exit 1; }
    old=""
    [ -f "$record" ] && old=$(cat "$record")$'\n'
    exec 8>>"$lock"
    flock -w 60 8 || { echo "config of CT $ctid is locked" >&2; exit 1; }
    changed=$(rewrite "$old" "$desired")
    printf '%s' "$desired" >"$record"
    exec 8>&-
    restarted=false
    if [ "$changed" = changed ] && is_running; then
      restart
      restarted=true
    fi
    printf 'PHOENIX_RESULT {"present":true,"ctid":"%s","matches":true,"changed":%s,"restarted":%s,"lines":%s}\n' \
      "$ctid" "$([ "$changed" = changed ] && echo true || echo false)" "$restarted" "$(json_lines "$desired")"
    ;;
  delete)
    if [ -f "$conf" ] && [ -f "$record" ]; then
      exec 8>>"$lock"
      flock -w 60 8 || { echo "config of CT $ctid is locked" >&2; exit 1; }
      changed=$(rewrite "$(cat "$record")"$'\n' "")
      exec 8>&-
      if [ "$changed" = changed ] && is_running; then restart; fi
    fi
    rm -f "$record"
    echo 'PHOENIX_RESULT {"present":false}'
    ;;
  *) echo "unknown action $PHOENIX_ACTION" >&2; exit 2 ;;
esac
