#!/usr/bin/env bash
# Feature vllm: vLLM in a virtualenv (/opt/vllm) and a systemd service serving the model, built
# from the container's vllm_* keys. Expects the nvidia feature (from the GPU template).
# Without vllm_model (templates configured through vllm_engine_config, as the Bash orchestrator's
# GPU templates were) it installs vLLM, keeps the engine configuration and serves nothing.
#   PHOENIX_VLLM_MODEL, PHOENIX_VLLM_ENGINE_CONFIG (JSON, kept in /etc/vllm/engine_config.json),
#   PHOENIX_VLLM_PORT (8000), PHOENIX_VLLM_SERVED_MODEL_NAME,
#   PHOENIX_VLLM_QUANTIZATION, PHOENIX_VLLM_MAX_MODEL_LEN, PHOENIX_VLLM_GPU_MEMORY_UTILIZATION,
#   PHOENIX_VLLM_TENSOR_PARALLEL_SIZE, PHOENIX_VLLM_TRUST_REMOTE_CODE (true|false),
#   PHOENIX_VLLM_ARGS (extra arguments, one per line), PHOENIX_VLLM_VERSION (optional pin)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

model=${PHOENIX_VLLM_MODEL:-}
# A Hugging Face id or a local path; never something vllm would read as an option.
[ -z "$model" ] || [[ $model =~ ^[A-Za-z0-9/][A-Za-z0-9._/:@-]*$ ]] || die "invalid vllm_model '$model'"
[ -z "${PHOENIX_VLLM_VERSION:-}" ] || [[ $PHOENIX_VLLM_VERSION =~ ^[0-9][0-9A-Za-z.+-]*$ ]] || die "invalid vllm_version '$PHOENIX_VLLM_VERSION'"
port=${PHOENIX_VLLM_PORT:-8000}
[[ $port =~ ^[0-9]+$ ]] || die "invalid vllm_port '$port'"
venv=/opt/vllm

apt_install python3 python3-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
installed=$("$venv/bin/pip" show vllm 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ -z "$installed" ] || { [ -n "${PHOENIX_VLLM_VERSION:-}" ] && [ "$installed" != "$PHOENIX_VLLM_VERSION" ]; }; then
  log "installing vllm${PHOENIX_VLLM_VERSION:+ $PHOENIX_VLLM_VERSION}"
  "$venv/bin/pip" install --quiet "vllm${PHOENIX_VLLM_VERSION:+==$PHOENIX_VLLM_VERSION}"
fi
if [ -n "${PHOENIX_VLLM_ENGINE_CONFIG:-}" ]; then
  mkdir -p /etc/vllm
  printf '%s\n' "$PHOENIX_VLLM_ENGINE_CONFIG" | write_if_changed /etc/vllm/engine_config.json 0644 || true
fi
if [ -z "$model" ]; then
  log "vllm installed without a model (no vllm_model): no service"
  exit 0
fi

# The command line: model and listener, then one flag per structured key unless vllm_args
# already gives that flag, then vllm_args as given.
extra=()
if [ -n "${PHOENIX_VLLM_ARGS:-}" ]; then mapfile -t extra <<<"$PHOENIX_VLLM_ARGS"; fi
has_flag() {
  local a
  for a in "${extra[@]}"; do [ "$a" = "$1" ] && return 0; done
  return 1
}
args=(serve "$model" --host 0.0.0.0 --port "$port")
add_flag() { if [ -n "$2" ] && ! has_flag "$1"; then args+=("$1" "$2"); fi; }
add_flag --served-model-name "${PHOENIX_VLLM_SERVED_MODEL_NAME:-}"
add_flag --quantization "${PHOENIX_VLLM_QUANTIZATION:-}"
add_flag --max-model-len "${PHOENIX_VLLM_MAX_MODEL_LEN:-}"
add_flag --gpu-memory-utilization "${PHOENIX_VLLM_GPU_MEMORY_UTILIZATION:-}"
add_flag --tensor-parallel-size "${PHOENIX_VLLM_TENSOR_PARALLEL_SIZE:-}"
if [ "${PHOENIX_VLLM_TRUST_REMOTE_CODE:-false}" = true ] && ! has_flag --trust-remote-code; then args+=(--trust-remote-code); fi
args+=("${extra[@]}")

exec_start="$venv/bin/vllm"
for a in "${args[@]}"; do exec_start+=" $(systemd_quote "$a")"; done

changed=0
write_if_changed /etc/systemd/system/vllm.service 0644 <<UNIT && changed=1
# Managed by Phoenix (feature vllm): edits are overwritten.
[Unit]
Description=vLLM OpenAI-compatible server
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
ExecStart=$exec_start
Restart=on-failure
RestartSec=10

[Install]
WantedBy=multi-user.target
UNIT
service_up vllm.service "$changed"
log "vllm serving ${model} on port $port"
