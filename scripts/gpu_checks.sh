#!/usr/bin/env bash
# One-shot GPU checks and benchmarks for a borrowed GPU machine (no internet there).
# Carries: wheels/ (hydra-core, omegaconf, antlr4, faiss-cpu wheels) and data/fashion_mnist.
# Usage: OUT=/some/dir bash scripts/gpu_checks.sh     (results: $OUT/*.json, $OUT/*.log)
set -uo pipefail
OUT=${OUT:-benchmarks/tmp}
TMP=$(mktemp -d)
mkdir -p "$OUT"
export PYTHONPATH=$PWD
log() { echo "== $*" | tee -a "$OUT/summary.log"; }

python3 -m pip install -q --no-deps --no-index wheels/*.whl >"$OUT/bench.log" 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >>"$OUT/summary.log"
python3 -c "import torch, torchvision, timm, pytorch_lightning as pl, faiss; print('torch', torch.__version__, 'tv', torchvision.__version__, 'timm', timm.__version__, 'pl', pl.__version__, 'faiss', faiss.__version__, 'faiss gpus', faiss.get_num_gpus())" >>"$OUT/summary.log" 2>&1

bench() {  # name, timeout, overrides...
  local name=$1 limit=$2; shift 2
  log "bench_train $name"
  timeout "$limit" python3 scripts/bench_train.py --steps 30 --json "$TMP/train_$name.json" \
    trainer=gpu data=synthetic data.pin_memory=true data.num_workers=14 "$@" \
    >>"$OUT/bench.log" 2>&1 || log "FAILED/timeout: $name"
  cat "$TMP/train_$name.json" >>"$OUT/train.jsonl" 2>/dev/null
}
bench r18_32 75 model=resnet18 data.image_size=32 optim.batch_size=512
bench r50_32 75 model=resnet50 data.image_size=32 optim.batch_size=512
bench r18_224 100 model=resnet18 data.image_size=224 optim.batch_size=256 data.dataset_kwargs.size=16384
bench r50_224 100 model=resnet50 data.image_size=224 optim.batch_size=256 data.dataset_kwargs.size=16384

log "bench_knn cuda (torch) vs FAISS CPU"
timeout 90 python3 scripts/bench_knn.py --device cuda --skip-sklearn --repeats 2 --bank 200000 \
  >"$OUT/bench_knn.log" 2>&1 || log "FAILED/timeout: bench_knn"

log "pretrain fashion_mnist resnet18 on 1 GPU"
timeout 150 python3 -m ssl_app.pretrain data=fashion_mnist data.root=data/fashion_mnist \
  model=resnet18 trainer=gpu optim.batch_size=512 epochs=10 eval.every_n_epochs=5 \
  eval.linear=false data.num_workers=14 data.pin_memory=true trainer.enable_progress_bar=false \
  hydra.run.dir="$TMP/fmnist" >"$OUT/pretrain_fmnist.log" 2>&1 || log "FAILED/timeout: fmnist"
cp "$TMP/fmnist/results.json" "$OUT/fmnist_results.json" 2>/dev/null
cp "$TMP/fmnist/metrics.csv" "$OUT/fmnist_metrics.csv" 2>/dev/null
log "done"
