#!/usr/bin/env bash
# `phoenix doctor` for one stack in the pipeline: reads the stack's SSH key and the id of its API
# token with the Pulumi CLI (they are stack secrets; the token's secret part never leaves this
# script), runs the read-only preflight, and writes its table as Markdown to $RUNNER_TEMP/doctor.md
# and the job summary. Exit 0 whatever doctor found: `exit=<code>` in $GITHUB_OUTPUT carries the verdict, so
# the preview still runs and the table still reaches the PR comment.
# Usage: doctor.sh STACK
set -euo pipefail
stack=${1:?usage: doctor.sh STACK}
out=${RUNNER_TEMP:?RUNNER_TEMP is not set}

PHOENIX_SSH_PRIVATE_KEY=$(pulumi config get --stack "$stack" phoenix:sshPrivateKey 2>/dev/null || true)
export PHOENIX_SSH_PRIVATE_KEY
args=(--stack "$stack")
token=$(pulumi config get --stack "$stack" proxmoxve:apiToken 2>/dev/null || true)
if [ -n "$token" ]; then args+=(--api-token-id "${token%%=*}"); fi
unset token

set +e
npx phoenix doctor "${args[@]}" >"$out/doctor.txt" 2>"$out/doctor.err"
code=$?
set -e
cat "$out/doctor.txt" "$out/doctor.err"
{
  echo "### phoenix doctor: \`$stack\` (exit $code)"
  echo
  echo '```'
  cat "$out/doctor.txt" "$out/doctor.err"
  echo '```'
} >"$out/doctor.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out/doctor.md" >>"$GITHUB_STEP_SUMMARY"; fi
echo "exit=$code" >>"${GITHUB_OUTPUT:-/dev/null}"
