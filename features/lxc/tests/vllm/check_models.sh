#!/usr/bin/env bash
# tests.health_checks "vllm/check_models.sh": the OpenAI-compatible API lists the served model.
set -euo pipefail
port=${PHOENIX_VLLM_PORT:-8000}
models=$(curl -fsS "http://localhost:$port/v1/models")
grep -q '"id"' <<<"$models" || { echo "no model listed by /v1/models: $models" >&2; exit 1; }
echo "vLLM lists: $models"
