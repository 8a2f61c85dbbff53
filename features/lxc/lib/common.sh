# shellcheck shell=bash
# Shared helpers of the in-container feature scripts (features/lxc/*.sh, steps/*.sh). The host wrapper
# (host/run_in_container.sh) pushes this file into the container and each script sources it
# through $PHOENIX_LIB. Every helper is idempotent: it changes nothing when the container is
# already in the wanted state, so a second run of a feature does nothing new.

export DEBIAN_FRONTEND=noninteractive

log() { printf 'phoenix[%s]: %s\n' "${PHOENIX_STEP:-step}" "$*"; }

die() {
  printf 'phoenix[%s]: error: %s\n' "${PHOENIX_STEP:-step}" "$*" >&2
  exit 1
}

# Fails unless every named PHOENIX_* variable is set and non-empty.
require() {
  local name
  for name in "$@"; do
    [ -n "${!name:-}" ] || die "parameter $name is required"
  done
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

APT_UPDATED=0
# Installs the Debian packages that are missing (apt-get update once, only when needed).
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do pkg_installed "$pkg" || missing+=("$pkg"); done
  [ ${#missing[@]} -gt 0 ] || return 0
  if [ "$APT_UPDATED" = 0 ]; then
    apt-get update -qq
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# Writes stdin to PATH with MODE when the content differs; returns 0 when it changed the file.
write_if_changed() {
  local path=$1 mode=$2 tmp
  mkdir -p "$(dirname "$path")"
  tmp=$(mktemp "$path.XXXXXX")
  cat >"$tmp"
  if [ -f "$path" ] && cmp -s "$tmp" "$path"; then
    rm -f "$tmp"
    return 1
  fi
  chmod "$mode" "$tmp"
  mv "$tmp" "$path"
  log "wrote $path"
  return 0
}

# Quotes one argument for a systemd ExecStart= line (systemd.service(5), "Command lines").
systemd_quote() {
  local v=$1
  # A line break would end the ExecStart= line and start a directive of the value's choosing.
  [[ $v != *[$'\n\r']* ]] || die "a value for a systemd command line contains a line break"
  v=${v//\\/\\\\}
  v=${v//\"/\\\"}
  v=${v//%/%%}
  v=${v//\$/\$\$}
  printf '"%s"' "$v"
}

# Enables and starts a unit; restarts it when RESTART is 1 (its unit or config changed).
service_up() {
  local unit=$1 restart=${2:-0}
  if [ "$restart" = 1 ]; then systemctl daemon-reload; fi
  systemctl is-enabled --quiet "$unit" 2>/dev/null || systemctl enable "$unit"
  if ! systemctl is-active --quiet "$unit" 2>/dev/null; then
    systemctl start "$unit"
  elif [ "$restart" = 1 ]; then
    systemctl restart "$unit"
  fi
}

# Downloads URL to PATH unless PATH exists (and matches SHA256 when given).
download() {
  local url=$1 path=$2 sha=${3:-}
  [[ $url =~ ^https?://[^[:space:]]+$ ]] || die "not an http(s) URL: '$url'"
  if [ -f "$path" ] && { [ -z "$sha" ] || echo "$sha  $path" | sha256sum -c - >/dev/null 2>&1; }; then
    return 0
  fi
  mkdir -p "$(dirname "$path")"
  curl -fsSL --retry 3 -o "$path.part" "$url"
  if [ -n "$sha" ]; then
    echo "$sha  $path.part" | sha256sum -c - >/dev/null || die "checksum mismatch for $url"
  fi
  mv "$path.part" "$path"
}
