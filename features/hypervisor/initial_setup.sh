#!/usr/bin/env bash
# Host initial setup: timezone, Proxmox apt repositories
# (no-subscription on; enterprise off unless the host has a subscription), base packages, and the
# ZFS ARC limit. Idempotent; `read` reports what differs from the parameters.
#
# Parameters (environment):
#   PHOENIX_TIMEZONE      e.g. America/New_York ("" = leave as is)
#   PHOENIX_PACKAGES      space-separated Debian package names ("" = none)
#   PHOENIX_ARC_MAX_GB    ZFS ARC limit in GiB, integer ("" = leave as is)
#   PHOENIX_SUBSCRIPTION  1 when the host has a Proxmox subscription (enterprise repo stays on)
#   PHOENIX_CODENAME      Debian codename of the repositories ("" = from /etc/os-release)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
timezone=${PHOENIX_TIMEZONE:-}
packages=${PHOENIX_PACKAGES:-}
arc_max_gb=${PHOENIX_ARC_MAX_GB:-}
subscription=${PHOENIX_SUBSCRIPTION:-0}
codename=${PHOENIX_CODENAME:-}

sources_dir=/etc/apt/sources.list.d
no_sub_list=$sources_dir/pve-no-subscription.list
zfs_conf=/etc/modprobe.d/zfs.conf
# Present while Phoenix manages the setup: delete leaves the settings but ends the management.
marker=/var/lib/phoenix/managed/initial-setup

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="initial_setup"

# phoenix-include: lib/result.sh

# Validate every parameter before it is used anywhere.
if [ -n "$timezone" ]; then
  [[ $timezone =~ ^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$ ]] || invalid "timezone '$timezone'"
  [ -f "/usr/share/zoneinfo/$timezone" ] || die "unknown timezone '$timezone' (no /usr/share/zoneinfo/$timezone)"
fi
read -r -a package_list <<<"$packages" || true
for p in "${package_list[@]}"; do
  [[ $p =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || invalid "package name '$p'"
done
if [ -n "$arc_max_gb" ]; then
  [[ $arc_max_gb =~ ^[0-9]{1,5}$ ]] || invalid "arc_max_gb '$arc_max_gb' (whole GiB)"
fi
[[ $subscription =~ ^[01]$ ]] || invalid "subscription '$subscription' (0 or 1)"
if [ -z "$codename" ] && [ -r /etc/os-release ]; then
  # shellcheck source=/dev/null # the host's own file
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
fi
[[ $codename =~ ^[a-z]+$ ]] || die "cannot determine the Debian codename (set codename)"

arc_bytes=""
[ -n "$arc_max_gb" ] && arc_bytes=$((arc_max_gb * 1024 * 1024 * 1024))
no_sub_line="deb http://download.proxmox.com/debian/pve $codename pve-no-subscription"

current_timezone() {
  if [ -r /etc/timezone ]; then head -n1 /etc/timezone
  elif [ -L /etc/localtime ]; then readlink /etc/localtime | sed 's#^.*/zoneinfo/##'
  fi
}

missing_packages() {
  local p
  for p in "${package_list[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || printf '%s\n' "$p"
  done
}

no_sub_enabled() { [ -f "$no_sub_list" ] && grep -qxF "$no_sub_line" "$no_sub_list"; }

# Enterprise repositories: one-line .list files and deb822 .sources files (Proxmox 9).
enterprise_files() {
  grep -lsE 'enterprise\.proxmox\.com' "$sources_dir"/*.list "$sources_dir"/*.sources 2>/dev/null || true
}
enterprise_enabled() {
  local f
  for f in $(enterprise_files); do
    case $f in
      *.list) grep -qE '^[[:space:]]*deb[[:space:]].*enterprise\.proxmox\.com' "$f" && return 0 ;;
      *.sources) grep -qiE '^Enabled:[[:space:]]*no' "$f" || return 0 ;;
    esac
  done
  return 1
}

current_arc_bytes() {
  [ -f "$zfs_conf" ] && sed -n 's/^[[:space:]]*options[[:space:]]\+zfs[[:space:]].*zfs_arc_max=\([0-9]\+\).*$/\1/p' "$zfs_conf" | tail -n1
  return 0
}

report() {
  if [ ! -f "$marker" ]; then result '{"present":false}'; return; fi
  local tz missing pkg_json="" first=1 p repos_ok=true arc
  tz=$(current_timezone)
  missing=$(missing_packages)
  for p in $missing; do
    [ $first -eq 1 ] || pkg_json+=","
    pkg_json+=$(json_str "$p"); first=0
  done
  no_sub_enabled || repos_ok=false
  if [ "$subscription" = 0 ] && enterprise_enabled; then repos_ok=false; fi
  arc=$(current_arc_bytes)
  local drift=()
  [ -n "$timezone" ] && [ "$tz" != "$timezone" ] && drift+=('"timezone"')
  [ -n "$missing" ] && drift+=('"packages"')
  [ "$repos_ok" = true ] || drift+=('"repositories"')
  [ -n "$arc_bytes" ] && [ "$arc" != "$arc_bytes" ] && drift+=('"arc_max_gb"')
  local drift_json
  drift_json=$(IFS=,; printf '%s' "${drift[*]}")
  local enterprise=false
  enterprise_enabled && enterprise=true
  local tz_obs=$timezone arc_obs=$arc_max_gb pk_obs=$packages
  [ -n "$timezone" ] && [ "$tz" != "$timezone" ] && tz_obs=$tz
  [ -n "$arc_bytes" ] && [ "$arc" != "$arc_bytes" ] && arc_obs="bytes:${arc:-unset}"
  [ -n "$missing" ] && pk_obs="missing:$(printf '%s' "$missing" | tr '\n' ' ')"
  local matches=true
  [ ${#drift[@]} -eq 0 ] || matches=false
  result '{"present":true,"matches":%s,"timezone":%s,"packages":%s,"arc_max_gb":%s,"missingPackages":[%s],"noSubscriptionRepo":%s,"enterpriseRepo":%s,"arcMaxBytes":%s,"drift":[%s]}' \
    "$matches" "$(json_str "$tz_obs")" "$(json_str "$pk_obs")" "$(json_str "$arc_obs")" "$pkg_json" \
    "$(no_sub_enabled && echo true || echo false)" "$enterprise" "$(json_str "$arc")" "$drift_json"
}

apply() {
  local changed_repos=0 f
  if [ -n "$timezone" ] && [ "$(current_timezone)" != "$timezone" ]; then
    ln -sfn "/usr/share/zoneinfo/$timezone" /etc/localtime
    printf '%s\n' "$timezone" >/etc/timezone.phoenix-new && mv -f /etc/timezone.phoenix-new /etc/timezone
    echo "timezone set to $timezone" >&2
  fi

  mkdir -p "$sources_dir"
  if ! no_sub_enabled; then
    printf '# Managed by Phoenix: Proxmox VE no-subscription repository\n%s\n' "$no_sub_line" >"$no_sub_list.phoenix-new"
    mv -f "$no_sub_list.phoenix-new" "$no_sub_list"
    changed_repos=1
  fi
  if [ "$subscription" = 0 ]; then
    for f in $(enterprise_files); do
      case $f in
        *.list)
          if grep -qE '^[[:space:]]*deb[[:space:]]' "$f"; then
            sed 's/^\([[:space:]]*deb[[:space:]]\)/# disabled by Phoenix (no subscription): \1/' "$f" >"$f.phoenix-new"
            mv -f "$f.phoenix-new" "$f"; changed_repos=1
          fi ;;
        *.sources)
          if ! grep -qiE '^Enabled:[[:space:]]*no' "$f"; then
            { grep -viE '^Enabled:' "$f"; echo "Enabled: no"; } >"$f.phoenix-new"
            mv -f "$f.phoenix-new" "$f"; changed_repos=1
          fi ;;
      esac
    done
  fi

  local missing
  missing=$(missing_packages)
  if [ -n "$missing" ] || [ $changed_repos = 1 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  fi
  if [ -n "$missing" ]; then
    # shellcheck disable=SC2086 # one word per package, validated above
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >&2
  fi

  if [ -n "$arc_bytes" ] && [ "$(current_arc_bytes)" != "$arc_bytes" ]; then
    mkdir -p /etc/modprobe.d
    { [ -f "$zfs_conf" ] && grep -vE '^[[:space:]]*options[[:space:]]+zfs[[:space:]].*zfs_arc_max=' "$zfs_conf"
      printf 'options zfs zfs_arc_max=%s\n' "$arc_bytes"; } >"$zfs_conf.phoenix-new" || true
    mv -f "$zfs_conf.phoenix-new" "$zfs_conf"
    # Takes effect now where the module is loaded; at boot through modprobe.d. A ZFS root reads
    # it from the initramfs, which therefore has to be rebuilt (Proxmox admin guide, "Limit ZFS Memory Usage").
    if [ -w /sys/module/zfs/parameters/zfs_arc_max ]; then
      echo "$arc_bytes" >/sys/module/zfs/parameters/zfs_arc_max || echo "could not set the live ARC limit" >&2
    fi
    if [ "$(findmnt -n -o FSTYPE / 2>/dev/null || true)" = zfs ] && command -v update-initramfs >/dev/null; then
      update-initramfs -u -k all >&2
    fi
  fi
}

case $action in
  read) report ;;
  apply) apply; mkdir -p "$(dirname "$marker")"; : >"$marker"; report ;;
  # Nothing to undo safely: the timezone, repositories, packages and ARC limit stay as they are.
  delete) rm -f "$marker"
          echo "initial_setup: host settings left in place" >&2
          result '{"present":false,"leftInPlace":true}' ;;
  *) invalid "action '$action'" ;;
esac
