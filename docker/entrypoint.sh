#!/usr/bin/env bash
# Arguments are Hydra overrides for ssl-pretrain (`docker run IMAGE data=cifar10 trainer=ddp`);
# a first argument naming another program runs that instead (ssl-eval, ssl-export, torchrun,
# python, bash, ...).
set -euo pipefail
if [[ $# -gt 0 && "$1" != *=* && "$1" != -* ]] && command -v "$1" >/dev/null 2>&1; then
  exec "$@"
fi
exec ssl-pretrain "$@"
