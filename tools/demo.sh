#!/usr/bin/env bash
# The main job end to end on a fresh machine, with no download: a synthetic sign-language data set (real H.264
# videos and a WLASL-format JSON), hand-centric HDF5 shards, a small C3D trained data-parallel on 2 ranks with
# synchronized BatchNorm, then the test split classified with the best checkpoint. Run through `make demo`.
# With --static (`make demo-static`), the same for still images, as fingerspelling is photographed: hand shapes drawn
# as class folders of PNG files (the layout of Kaggle's ASL Alphabet), one-frame shards, a C3D for one frame (T=1),
# then the test split and one image file classified.
set -euo pipefail
BIN=${BIN:-.build/release}
OUT=${DEMO_DIR:-demo}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1

# The best validation top-1 of $OUT/run (8 classes: chance is 12.5%) and where the run is.
report() {
    local best
    best=$(python3 -c 'import json,sys; h=json.load(open(sys.argv[1])); print(max(r.get("val_top1",0) for r in h))' \
        "$OUT/run/history.json" 2>/dev/null || grep -o '"val_top1" : [0-9.]*' "$OUT/run/history.json" | sort -t: -k2 -n | tail -1 | grep -o '[0-9.]*$')
    echo
    echo "validation top-1 reached: $(awk -v b="$best" 'BEGIN { printf "%.1f%%", 100 * b }') (chance: 12.5%)"
    echo "run directory: $OUT/run (checkpoints/, history.csv, reports/, tensorboard/)"
}

# Fingers in a still image are a few pixels wide, so the frames stay at 48x48: from 40x40 frames (32x32 crops) the
# same run reached 74% instead of 100% validation top-1.
still() {
    OUT=${DEMO_DIR:-demo-static}
    rm -rf "$OUT"
    echo "== 1/4 synthetic still images: 8 hand shapes x 80 images, 64x64 PNG ($OUT/synth)"
    "$BIN/asl-shards" synth --static --out "$OUT/synth" --classes 8 --images-per-class 80 --size 64 --seed 1
    echo "== 2/4 shards: one-frame clips, 48x48 frames ($OUT/shards)"
    "$BIN/asl-shards" build images --root "$OUT/synth" --out "$OUT/shards" --size 48 --hand-crop none --shards 2
    echo "== 3/4 training: mpirun -np 2 asl-dist-train (C3D, width 8, 1 frame, 40x40 crops)"
    mpirun -np 2 --oversubscribe "$BIN/asl-dist-train" --train "$OUT/shards" --val "$OUT/shards" \
        --arch c3d --width 8 --frames 1 --crop-size 40 --batch-size 8 --epochs 8 --lr 0.02 --warmup-steps 16 \
        --out "$OUT/run" --log-every 56
    echo "== 4/4 test split, then one of its image files, with the best checkpoint: asl-predict"
    "$BIN/asl-predict" --weights "$OUT/run/checkpoints/best" --input "$OUT/shards" --split test \
        --top-k 3 --output "$OUT/run/test-predictions.json" >"$OUT/run/test-predictions.txt"
    tail -n 3 "$OUT/run/test-predictions.txt"
    # A test clip's line starts with its image's path under the class folders: "V/V_0012.png: V 0.981, ... [true: V]".
    image=$(grep -m 1 '\[true: ' "$OUT/run/test-predictions.txt" | cut -d: -f1)
    "$BIN/asl-predict" --weights "$OUT/run/checkpoints/best" --input "$OUT/synth/$image" --top-k 3
    report
}

case "${1:-}" in
    --static) still; exit 0 ;;
    "") ;;
    *) echo "usage: $0 [--static]" >&2; exit 64 ;;
esac

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

report
