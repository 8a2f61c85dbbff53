#!/usr/bin/env bash
# Prints, as a JSON array, the stacks a change between two commits touches:
#   stacks/Pulumi.<stack>.yaml, stacks/<stack>/**, policy/config.<stack>.json -> that stack;
#   docs, Markdown, tests -> none;
#   anything else (program, providers, feature scripts, policies, dependencies, workflows) -> every stack.
# A missing or all-zero base (first push of a branch) means every stack.
# usage: changed-stacks.sh BASE_SHA HEAD_SHA
set -euo pipefail

base="${1:-}"
head="${2:-HEAD}"

all_stacks=()
for f in stacks/Pulumi.*.yaml; do
  [ -e "$f" ] || continue
  s="${f#stacks/Pulumi.}"
  s="${s%.yaml}"
  [[ "$s" =~ ^[A-Za-z0-9_.-]+$ ]] || { echo "changed-stacks: bad stack name '$s'" >&2; exit 1; }
  all_stacks+=("$s")
done

is_stack() {
  local s
  for s in "${all_stacks[@]}"; do [ "$s" = "$1" ] && return 0; done
  return 1
}

print_json() {
  local out="" s
  for s in "$@"; do out+="${out:+,}\"$s\""; done
  printf '[%s]\n' "$out"
}

if [ -z "$base" ] || [[ "$base" =~ ^0+$ ]] || ! git cat-file -e "${base}^{commit}" 2>/dev/null; then
  print_json "${all_stacks[@]}"
  exit 0
fi

declare -A hit=()
while IFS= read -r file; do
  [ -n "$file" ] || continue
  case "$file" in
    stacks/Pulumi.*.yaml)
      s="${file#stacks/Pulumi.}"; s="${s%.yaml}"
      is_stack "$s" && hit[$s]=1 ;;
    stacks/*/*)
      s="${file#stacks/}"; s="${s%%/*}"
      is_stack "$s" && hit[$s]=1 ;;
    policy/config.*.json)
      s="${file#policy/config.}"; s="${s%.json}"
      is_stack "$s" && hit[$s]=1 ;;
    docs/* | test/* | *.md | LICENSE) ;;
    *)
      print_json "${all_stacks[@]}"
      exit 0 ;;
  esac
done < <(git diff --name-only "$base" "$head")

selected=()
for s in "${all_stacks[@]}"; do
  [ -n "${hit[$s]:-}" ] && selected+=("$s")
done
print_json "${selected[@]}"
