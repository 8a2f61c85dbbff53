#!/usr/bin/env bash
# Test kind for the provider base: manages /etc/phoenix-test/<name> (content and mode).
# Protocol of providers/base/types.ts: PHOENIX_ACTION=read|apply|delete, PHOENIX_<PARAM>.
dir=/etc/phoenix-test
file="$dir/$PHOENIX_NAME"
want_sha=$(printf '%s' "$PHOENIX_CONTENT" | sha256sum | cut -d' ' -f1)

state() {
  if [ ! -f "$file" ]; then
    echo 'PHOENIX_RESULT {"present":false}'
    return
  fi
  local sha mode matches=false
  sha=$(sha256sum < "$file" | cut -d' ' -f1)
  mode=$(stat -c %a "$file")
  if [ "$sha" = "$want_sha" ] && [ "$mode" = "$PHOENIX_MODE" ]; then matches=true; fi
  printf 'PHOENIX_RESULT {"present":true,"sha256":"%s","mode":"%s","matches":%s}\n' "$sha" "$mode" "$matches"
}

case "$PHOENIX_ACTION" in
  read) state ;;
  apply)
    mkdir -p "$dir"
    tmp=$(mktemp "$dir/.$PHOENIX_NAME.XXXXXX")
    printf '%s' "$PHOENIX_CONTENT" > "$tmp"
    chmod "$PHOENIX_MODE" "$tmp"
    mv -f "$tmp" "$file"
    state
    ;;
  delete)
    if [ -f "$file" ] && [ "${PHOENIX_PROTECTED:-0}" = 1 ] && [ "$PHOENIX_ALLOW_DESTROY" != 1 ]; then
      echo "refusing to delete protected $file (allowDestroy is off)" >&2
      exit 3
    fi
    rm -f "$file"
    echo 'PHOENIX_RESULT {"present":false}'
    ;;
  *) echo "unknown PHOENIX_ACTION $PHOENIX_ACTION" >&2; exit 2 ;;
esac
