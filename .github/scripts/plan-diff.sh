#!/usr/bin/env bash
# `phoenix plan --diff` for one stack in a pull request: plans the stack offline at the merge base
# with the target branch (GITHUB_BASE_REF) and at the pull request's head, and writes the diff as
# Markdown to $RUNNER_TEMP/plan-diff.md and the job summary. Needs no secret and no host.
# Exit 0 when the plans compare (changes or none), 1 when a side does not plan.
# Usage: plan-diff.sh STACK
set -euo pipefail
stack=${1:?usage: plan-diff.sh STACK}
out=${RUNNER_TEMP:?RUNNER_TEMP is not set}

set +e
npx phoenix plan --stack "$stack" --diff >"$out/plan-diff.txt" 2>"$out/plan-diff.err"
code=$?
set -e
cat "$out/plan-diff.txt" "$out/plan-diff.err"
case $code in
  0) verdict="no changes" ;;
  3) verdict="changes pending" ;;
  *) verdict="failed (exit $code)" ;;
esac
{
  echo "### phoenix plan --diff: \`$stack\` ($verdict)"
  echo
  echo '```diff'
  cat "$out/plan-diff.txt"
  grep -v '^warning: ' "$out/plan-diff.err" || true
  echo '```'
} >"$out/plan-diff.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out/plan-diff.md" >>"$GITHUB_STEP_SUMMARY"; fi
[ "$code" -eq 0 ] || [ "$code" -eq 3 ]
