#!/usr/bin/env bash
# Pretrain with torchrun: one process per GPU on this node, or one node of a multi-node job
# (static rendezvous: every node runs this script with the same MASTER_ADDR/MASTER_PORT/NNODES
# and RUN_DIR, and its own NODE_RANK).
set -euo pipefail

usage() {
  cat <<'USAGE'
Usage: scripts/launch/torchrun.sh [--dry-run] [--help] [HYDRA_OVERRIDE ...]

Runs `ssl-pretrain trainer=multinode` under torchrun; overrides go to ssl-pretrain,
e.g. data=cifar10 model=resnet18 optim.batch_size=256 (per GPU).

Environment (defaults in brackets):
  NPROC_PER_NODE  processes (GPUs) on this node [number of GPUs nvidia-smi lists, else 1]
  NNODES          number of nodes [1]
  NODE_RANK       this node's index, 0 .. NNODES-1 [0]
  MASTER_ADDR     address of node 0, reachable from every node [none: single node,
                  torchrun --standalone picks a free local port]
  MASTER_PORT     free TCP port on node 0 [29500]
  RUN_DIR         run directory, the same path on every node (shared file system)
                  [outputs/pretrain/torchrun-<date_time>; set it explicitly when NNODES > 1]
  PYTHON          interpreter with ssl_app installed [python]
  DRY_RUN=1       same as --dry-run: print the command instead of running it

Examples:
  scripts/launch/torchrun.sh data=cifar10 model=resnet18
  # two nodes with 8 GPUs each; on node 0 (10.0.0.1) and node 1:
  NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 RUN_DIR=/shared/runs/r1 scripts/launch/torchrun.sh
  NNODES=2 NODE_RANK=1 MASTER_ADDR=10.0.0.1 RUN_DIR=/shared/runs/r1 scripts/launch/torchrun.sh
  # a restarted job continues from RUN_DIR's newest checkpoint: add resume=auto
USAGE
}

gpu_count() {
  local count=0
  if command -v nvidia-smi >/dev/null 2>&1; then
    count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  fi
  echo $((count > 0 ? count : 1))
}

main() {
  local dry_run="${DRY_RUN:-0}" args=()
  for arg in "$@"; do
    case "$arg" in
      -h | --help) usage; return 0 ;;
      --dry-run) dry_run=1 ;;
      *) args+=("$arg") ;;
    esac
  done
  local nproc="${NPROC_PER_NODE:-$(gpu_count)}" nnodes="${NNODES:-1}" rendezvous=(--standalone)
  if [[ "$nnodes" != 1 || -n "${MASTER_ADDR:-}" ]]; then
    if [[ -z "${MASTER_ADDR:-}" || -z "${RUN_DIR:-}" ]]; then
      echo "NNODES=$nnodes: set MASTER_ADDR (node 0's address) and RUN_DIR (a shared path)" >&2
      return 2
    fi
    rendezvous=(--node-rank="${NODE_RANK:-0}" --master-addr="$MASTER_ADDR"
      --master-port="${MASTER_PORT:-29500}")
  fi
  local run_dir="${RUN_DIR:-outputs/pretrain/torchrun-$(date +%Y-%m-%d_%H-%M-%S)}"
  local cmd=(
    "${PYTHON:-python}" -m torch.distributed.run
    --nnodes="$nnodes" --nproc-per-node="$nproc" "${rendezvous[@]}"
    -m ssl_app.pretrain trainer=multinode
    trainer.num_nodes="$nnodes" trainer.devices="$nproc" hydra.run.dir="$run_dir"
    "${args[@]}"
  )
  if [[ "$dry_run" == 1 ]]; then
    printf '%q ' "${cmd[@]}" | sed 's/ $//'
    echo
  else
    exec "${cmd[@]}"
  fi
}

main "$@"
