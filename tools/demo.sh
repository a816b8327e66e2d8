#!/usr/bin/env bash
# The main job end to end on a fresh machine, with no download: a synthetic sign-language data set (real H.264
# videos and a WLASL-format JSON), hand-centric HDF5 shards, a small C3D trained data-parallel on 2 ranks with
# synchronized BatchNorm, then the test split classified with the best checkpoint. Run through `make demo`.
set -euo pipefail
BIN=${BIN:-.build/release}
OUT=${DEMO_DIR:-demo}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

rm -rf "$OUT"
echo "== 1/4 synthetic data set: 8 signs x 24 clips by 4 signers ($OUT/synth)"
"$BIN/asl-shards" synth --out "$OUT/synth" --classes 8 --clips-per-class 24 --seed 1
echo "== 2/4 shards: bounding-box hand crop, 48x48 frames ($OUT/shards)"
"$BIN/asl-shards" build wlasl --json "$OUT/synth/WLASL_synth.json" --videos "$OUT/synth/videos" \
    --out "$OUT/shards" --size 48 --shards 2
echo "== 3/4 training: mpirun -np 2 asl-dist-train (C3D, width 8, 8 frames, 40x40 crops)"
mpirun -np 2 --oversubscribe "$BIN/asl-dist-train" --train "$OUT/shards" --val "$OUT/shards" \
    --arch c3d --width 8 --frames 8 --crop-size 40 --batch-size 8 --epochs 20 --lr 0.05 --warmup-steps 16 \
    --out "$OUT/run" --log-every 40
echo "== 4/4 test split with the best checkpoint: asl-predict"
"$BIN/asl-predict" --weights "$OUT/run/checkpoints/best/model.safetensors" --input "$OUT/shards" --split test \
    --top-k 3 --output "$OUT/run/test-predictions.json" | tail -n 3

best=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print(max(r.get("val_top1",0) for r in h))' \
    "$OUT/run/history.json" 2>/dev/null || grep -o '"val_top1" : [0-9.]*' "$OUT/run/history.json" | sort -t: -k2 -n | tail -1 | grep -o '[0-9.]*$')
echo
echo "validation top-1 reached: $(awk -v b="$best" 'BEGIN { printf "%.1f%%", 100 * b }') (chance: 12.5%)"
echo "run directory: $OUT/run (checkpoints/, history.csv, reports/, tensorboard/)"
