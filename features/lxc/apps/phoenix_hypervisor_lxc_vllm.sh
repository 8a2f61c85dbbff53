#!/usr/bin/env bash
# Application script of vLLM containers: the vllm feature has written and started vllm.service;
# this makes sure it runs now and after every boot, and waits until the port answers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

port=${PHOENIX_VLLM_PORT:-8000}
[[ $port =~ ^[0-9]+$ ]] || die "invalid vllm_port '$port'"
service_up vllm.service
log "vllm.service is up; serving on port $port"
