#!/usr/bin/env bash
# The 6B architecture at 4 layers through pretraining, SFT, reward and PPO steps on one GPU (< 10 min on an
# H100/H200): tokens/s, MFU and peak memory per stage. Extra flags go to gpu_check.py, for example
#   bash benchmarks/gpu_check.sh --attn_implementation flash_attention_2 --layers 8
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 10m python benchmarks/gpu_check.py --output outputs/gpu_check/gpu_check.json "$@"
