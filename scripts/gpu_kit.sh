#!/usr/bin/env bash
# Assembles .gpu/, what scripts/gpu_checks.sh carries to a GPU machine that has torch, timm and
# Lightning but no network: wheels/ (the rest of what it runs), fashion_mnist/ (the four idx .gz
# files) and lightly_simclr.py (the lightly reference with lightly_simclr_backbone.patch: a
# --backbone option, so ResNet-50 rows compare like with like).
#
#   bash scripts/gpu_kit.sh            # needs the package index; PEER: the reference script
set -euo pipefail
KIT=${KIT:-.gpu}
PEER=${PEER:-../shared/peers/lightly_simclr.py}
mkdir -p "$KIT/wheels" "$KIT/fashion_mnist"
# pip wheel, not download: antlr4-python3-runtime 4.9.3 (omegaconf's pin) is only an sdist.
# No dependencies beyond these (lightly's would bring torch); the bounds are hydra-core 1.3's.
python3 -m pip wheel -q --no-deps -w "$KIT/wheels" "hydra-core>=1.3,<1.4" "omegaconf>=2.2,<2.4" \
  "antlr4-python3-runtime==4.9.*" faiss-cpu lightly lightly-utils aenum
python3 - "$KIT/fashion_mnist" <<'PY'
import shutil, sys
from ssl_app.data.fashion_mnist import locate
for split in ("train", "test"):
    for path in locate(split, None):  # data/fashion_mnist, or Debian's dataset-fashion-mnist
        if path.suffix != ".gz":
            sys.exit(f"error: {path} is not gzipped; gpu_checks.sh reads the .gz files")
        shutil.copy(path, sys.argv[1])
PY
patch -s -o "$KIT/lightly_simclr.py" "$PEER" scripts/lightly_simclr_backbone.patch
du -sh "$KIT"
