#!/usr/bin/env bash
# Makes room for the proxmoxve provider's rule list where Proxmox already holds rules: the
# provider creates a rule list only where the target has none ("Existing rules detected.
# Aborting...", bpg/terraform-provider-proxmox proxmoxtf/resource/firewall/rules.go RulesCreate).
#
#   PHOENIX_TARGET=<vmid>, PHOENIX_TEMPLATE=<vmid>: a clone's <vmid>.fw that Proxmox copied from
#     its template on clone (pve-firewall PVE::Firewall::Helpers::clone_vmfw_conf). Its [RULES]
#     are removed while they are still exactly the template's, so the clone gets exactly the rules
#     it declares; once they differ (the declared rules are in place) nothing is touched.
#   PHOENIX_TARGET=cluster, PHOENIX_PHASE=park: the rules /etc/pve/firewall/cluster.fw already
#     holds (the Bash tool wrote every host and guest rule there) move to the top of every node's
#     host.fw, /etc/pve/nodes/<node>/host.fw, which pve-firewall applies before the cluster rules
#     (Firewall.pm compile_iptables_filter: "add host rules first"); each keeps its line, its
#     comment gains the mark `phoenix-takeover:`. Traffic is decided as before at every moment:
#     the lines are in host.fw before they leave cluster.fw. Done once: a record in
#     /etc/pve/firewall/phoenix-takeover.done (pve-firewall reads only *.fw there) says so.
#   PHOENIX_TARGET=cluster, PHOENIX_PHASE=unpark: removes the marked lines from every host.fw
#     (the takeover mode `replace`, once the declared cluster rules are in place).
# Each file is edited under pve-firewall's own lock (PVE::Cluster::cfs_lock_firewall: the lock
# directory /etc/pve/priv/lock/firewall-<scope>) and written atomically.
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
target=${PHOENIX_TARGET:?PHOENIX_TARGET is required}
template=${PHOENIX_TEMPLATE:-}
phase=${PHOENIX_PHASE:-}
fwdir=/etc/pve/firewall
mark="phoenix-takeover:"
record=$fwdir/phoenix-takeover.done

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="firewall_takeover $target"

# phoenix-include: lib/result.sh

if [ "$target" = cluster ]; then
  [[ $phase == park || $phase == unpark ]] || invalid "phase '$phase' (park or unpark)"
else
  [[ $target =~ ^[1-9][0-9]{2,8}$ ]] || invalid "target '$target' (cluster or a VMID)"
  [[ $template =~ ^[1-9][0-9]{2,8}$ ]] || invalid "template '$template' (a VMID)"
fi

# pve-firewall's lock for <scope> (cluster, vm-<vmid>, host-<node>): mkdir in pmxcfs's lock folder.
lock() {
  local dir=/etc/pve/priv/lock/firewall-$1 _
  mkdir -p /etc/pve/priv/lock
  for _ in $(seq 1 100); do
    if mkdir "$dir" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  die "cannot take pve-firewall's lock firewall-$1 (held over 10 s)"
}
unlock() { rmdir "/etc/pve/priv/lock/firewall-$1" 2>/dev/null || true; }

# The [RULES] lines of a .fw file (no blank or comment lines), in order.
rules_of() {
  [ -f "$1" ] || return 0
  awk '/^\[/ { s = (tolower($0) ~ /^\[rules\][ \t]*$/) ? 1 : 0; next } s && $0 !~ /^[ \t]*(#|$)/ { print }' "$1"
}

# Writes FILE with its [RULES] section holding the lines of $2 before its own, keeping every other
# section; lines matching the ERE $3 (when given) are dropped from the section first.
rewrite() {
  local file=$1 top=$2 drop=${3:-} tmp
  tmp=$(mktemp "$(dirname "$file")/.phoenix-fw.XXXXXX")
  touch "$file"
  TOP=$top DROP=$drop awk '
    BEGIN { n = split(ENVIRON["TOP"], top, "\n"); done = 0 }
    function put_top(  i) { for (i = 1; i <= n; i++) if (top[i] != "") print top[i]; done = 1 }
    /^\[/ {
      if (s && !done) put_top()
      s = (tolower($0) ~ /^\[rules\][ \t]*$/) ? 1 : 0
      print; if (s) { print ""; put_top() }
      next
    }
    s && ENVIRON["DROP"] != "" && $0 ~ ENVIRON["DROP"] { next }
    s && $0 ~ /^[ \t]*$/ { next }
    { print }
    END { if (!done && n > 0 && top[1] != "") { print ""; print "[RULES]"; print ""; put_top() } }
  ' "$file" >"$tmp"
  chmod 640 "$tmp"
  mv -f "$tmp" "$file"
}

# A rule line with the takeover mark at the front of its comment.
marked() { sed -E "s/^([^#]*[^# ])[ ]*(# ?(.*))?$/\\1 # $mark \\3/; s/ +$//"; }

nodes() { find /etc/pve/nodes -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort; }

report() {
  local n
  if [ "$target" = cluster ]; then
    n=0
    for node in $(nodes); do n=$((n + $(rules_of "/etc/pve/nodes/$node/host.fw" | grep -c -F "# $mark" || true))); done
    result '{"parked":%s,"done":%s}' "$n" "$([ -f "$record" ] && echo true || echo false)"
  else
    result '{"rules":%s}' "$(rules_of "$fwdir/$target.fw" | wc -l)"
  fi
}

apply() {
  if [ "$target" != cluster ]; then
    local own copied
    own=$(rules_of "$fwdir/$target.fw")
    copied=$(rules_of "$fwdir/$template.fw")
    [ -n "$own" ] && [ "$own" = "$copied" ] || return 0
    lock "vm-$target"
    # Drop every rule line of the section (the copy); options, aliases and IP sets stay.
    if [ "$(rules_of "$fwdir/$target.fw")" = "$copied" ]; then rewrite "$fwdir/$target.fw" "" '.'; fi
    unlock "vm-$target"
    echo "removed the $(printf '%s\n' "$copied" | wc -l) rule(s) $target copied from $template on clone" >&2
    return 0
  fi
  if [ "$phase" = park ]; then
    [ ! -f "$record" ] || return 0
    lock cluster
    local existing
    existing=$(rules_of "$fwdir/cluster.fw")
    if [ -n "$existing" ]; then
      local node
      for node in $(nodes); do
        lock "host-$node"
        rewrite "/etc/pve/nodes/$node/host.fw" "$(printf '%s\n' "$existing" | marked)"
        unlock "host-$node"
      done
      rewrite "$fwdir/cluster.fw" "" '.'
      echo "moved $(printf '%s\n' "$existing" | wc -l) existing cluster rule(s) to the top of each node's host.fw (marked '$mark')" >&2
    fi
    date -u +%FT%TZ >"$record"
    unlock cluster
  else
    local node
    for node in $(nodes); do
      [ -n "$(rules_of "/etc/pve/nodes/$node/host.fw" | grep -F "# $mark" || true)" ] || continue
      lock "host-$node"
      rewrite "/etc/pve/nodes/$node/host.fw" "" "# $mark"
      unlock "host-$node"
      echo "removed the parked rules from $node's host.fw" >&2
    done
  fi
}

delete() { result '{}'; }

run_action "$action"
