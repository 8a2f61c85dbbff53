# shellcheck shell=bash
# Shared part of the stand-in tools installed into emulated containers (/usr/local/bin): each
# records its call as one line `<tool> <args...>` in /var/log/stub-calls.log and keeps what it
# "installed" under /var/lib/stubs, so a second run of an idempotent script can see it.
STUB_LOG=/var/log/stub-calls.log
STUB_STATE=/var/lib/stubs
mkdir -p "$STUB_STATE" "$(dirname "$STUB_LOG")"
stub_record() { printf '%s\n' "$*" >>"$STUB_LOG"; }
