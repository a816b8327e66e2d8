#!/usr/bin/env bash
# The path a new user takes, from raw videos to a trustworthy prediction, run through the binaries: a raw video given
# to asl-predict with default flags gets the logits of the shard built from it (for each hand-crop rule, with weights
# from a real training run), a used --out is never overwritten, and each message about a common mistake names the
# file or flag at fault and the way out. Prints "user-path: N passed, N failed"; exits non-zero on failure.
set -u
BIN=${1:-.build/release}
source "$(dirname "$0")/../mpi/common.sh"
T="$BIN/asl-dist-train"; P="$BIN/asl-predict"; S="$BIN/asl-shards"
# A tiny C3D trained for one step: what matters here is that the weights carry the build's preprocessing.
TRAIN="--threads 1 --arch c3d --width 4 --frames 4 --crop-size 24 --batch-size 4 --seed 3 --log-every 1"

# The synthetic videos as class folders (root/<gloss>/<video_id>.mp4), as `asl-shards build videos` reads them.
python3 - "$work/synth/WLASL_synth.json" "$work/synth/videos" "$work/classes" "$work/boxes.json" <<'PY'
import json, os, shutil, sys
entries = json.load(open(sys.argv[1])); boxes = {}
for e in entries:
    os.makedirs(os.path.join(sys.argv[3], e["gloss"]), exist_ok=True)
    for i in e["instances"]:
        shutil.copy(os.path.join(sys.argv[2], i["video_id"] + ".mp4"), os.path.join(sys.argv[3], e["gloss"], i["video_id"] + ".mp4"))
        boxes[i["video_id"]] = i["bbox"]
json.dump(boxes, open(sys.argv[4], "w"))
PY

# same_logits A.csv B.csv: every clip of A is in B (ids compared without a .mp4 extension) within 1e-5.
same_logits() {
    python3 - "$1" "$2" <<'PY'
import csv, sys
def read(p):
    rows = list(csv.reader(open(p)))[1:]
    return {r[0].rsplit("/", 1)[-1].removesuffix(".mp4"): [float(x) for x in r[1:]] for r in rows}
a, b = read(sys.argv[1]), read(sys.argv[2])
worst = max(max(abs(x - y) for x, y in zip(a[k], b[k])) for k in a) if a and set(a) <= set(b) else float("inf")
print(f"{len(a)} clips, max |diff| {worst:.2e}")
sys.exit(0 if worst <= 1e-5 else 1)
PY
}

# 1. Train/serve parity for each hand-crop rule: shards built at 32x32 keeping every 2nd frame, one training step,
#    then asl-predict on the shards and on the raw videos with default flags (the checkpoint directory as --weights).
#    For bbox, the weights name the WLASL JSON the boxes came from, and asl-predict reads a raw video's box there.
#    `reference` is the none rule built with --conversion reference (the whole-frame conversion), which the weights
#    record too.
for rule in none motion "boxes:$work/boxes.json" bbox reference; do
    name=${rule%%:*}; d="$work/rule-$name"; conversion=fused
    if [ "$rule" = reference ]; then rule=none; conversion=reference; fi
    if [ "$rule" = bbox ]; then
        "$S" build wlasl --json "$work/synth/WLASL_synth.json" --videos "$work/synth/videos" --out "$d/shards" \
            --size 32 --stride 2 --hand-crop bbox --shards 1 >"$d.build.log" 2>&1
        raw="$work/synth/videos"; extra=()
    else
        "$S" build videos --root "$work/classes" --out "$d/shards" --size 32 --stride 2 --hand-crop "$rule" \
            --conversion $conversion --shards 1 >"$d.build.log" 2>&1
        raw="$work/classes"; extra=()
    fi
    "$T" $TRAIN --train "$d/shards" --steps 1 --out "$d/run" >"$d.train.log" 2>&1 &&
    "$P" --weights "$d/run/checkpoints/last" --input "$d/shards" --split test --logits-out "$d/shards.csv" >"$d.p1.log" 2>&1 &&
    "$P" --weights "$d/run/checkpoints/last" --input "$raw" "${extra[@]}" --logits-out "$d/raw.csv" >"$d.p2.log" 2>&1 &&
    same_logits "$d/shards.csv" "$d/raw.csv" >"$d.cmp" 2>&1
    if [ $? -eq 0 ]; then pass "--hand-crop $rule --conversion $conversion: raw videos through asl-predict with default flags give their shards' logits ($(cat "$d.cmp"))"
    else fail "--hand-crop $name: raw videos give their shards' logits" "$d.build.log" "$d.train.log" "$d.p1.log" "$d.p2.log" "$d.cmp"; fi
done
# The frame-folder layout (root/{train,test}/<class>/<clip>/frame_*.png) as asl-shards build frames and asl-predict
# read it: the test clips' logits from the folders equal those from their shards.
for c in $(ls "$work/classes"); do
    n=0
    for v in $(ls "$work/classes/$c" | head -5); do
        split=train; [ $n -ge 3 ] && split=test
        mkdir -p "$work/frames/$split/$c/${v%.mp4}"
        ffmpeg -loglevel error -i "$work/classes/$c/$v" "$work/frames/$split/$c/${v%.mp4}/frame_%03d.png"
        n=$((n + 1))
    done
done
d="$work/layout-frames"
"$S" build frames --root "$work/frames" --out "$d/shards" --size 32 --hand-crop motion --val-fraction 0 --shards 1 >"$d.build.log" 2>&1 &&
"$T" $TRAIN --train "$d/shards" --steps 1 --out "$d/run" >"$d.train.log" 2>&1 &&
"$P" --weights "$d/run/checkpoints/last" --input "$d/shards" --split test --logits-out "$d/shards.csv" >"$d.p1.log" 2>&1 &&
"$P" --weights "$d/run/checkpoints/last" --input "$work/frames" --split test --logits-out "$d/raw.csv" >"$d.p2.log" 2>&1 &&
same_logits "$d/shards.csv" "$d/raw.csv" >"$d.cmp" 2>&1
if [ $? -eq 0 ] && [ "$(wc -l <"$d/raw.csv")" = 9 ]; then pass "frame folders through asl-predict --split test give their shards' logits ($(cat "$d.cmp"))"
else fail "frame folders give their shards' logits" "$d.build.log" "$d.train.log" "$d.p2.log" "$d.cmp"; fi

# A video at twice the frame rate (each frame shown twice, re-encoded losslessly) is read at twice the stride: its
# frames, and so its logits, are those of the original's shard.
clip=$(sed -n 2p "$work/rule-none/shards.csv" | cut -d, -f1)
mkdir -p "$work/fps50"
ffmpeg -loglevel error -y -i "$work/classes/$clip" -vf fps=50 -c:v libx264 -qp 0 -pix_fmt yuv420p "$work/fps50/$(basename "$clip")" &&
"$P" --weights "$work/rule-none/run/checkpoints/last" --input "$work/fps50" --logits-out "$work/fps50.csv" >"$work/fps50.log" 2>&1 &&
same_logits "$work/fps50.csv" "$work/rule-none/shards.csv" >"$work/fps50.cmp" 2>&1
if [ $? -eq 0 ] && grep -q "runs at 50 fps and the training frames at 12.5: keeping every 4th frame" "$work/fps50.log"; then
    pass "a 50 fps video for 25 fps training videos at stride 2 is read at stride 4 and gets its shard's logits ($(cat "$work/fps50.cmp"))"
else fail "a video at another frame rate is read at the matching stride" "$work/fps50.log" "$work/fps50.cmp"; fi
if grep -q "no val split\|warning" "$work/rule-none.build.log"; then fail "a build with val clips warns of nothing" "$work/rule-none.build.log"; fi
if grep -q "note: cropping around the boxes of $work/synth/WLASL_synth.json" "$work/rule-bbox.p2.log"; then
    pass "bbox-trained weights read a raw video's box from the WLASL JSON the shards were built from, and say so"
else fail "bbox-trained weights say where a raw video's box comes from" "$work/rule-bbox.p2.log"; fi
mv "$work/synth/WLASL_synth.json" "$work/WLASL.away"
"$P" --weights "$work/rule-bbox/run/checkpoints/last" --input "$work/synth/videos" >"$work/bbox-default.log" 2>&1
mv "$work/WLASL.away" "$work/synth/WLASL_synth.json"
if grep -q "note: the training shards were cropped around the source's own boxes (bbox) from .*, which is not here" "$work/bbox-default.log"; then
    pass "bbox-trained weights without their JSON: the crop falls back to motion and says how to give the box"
else fail "bbox-trained weights without their JSON say what crop they use" "$work/bbox-default.log"; fi
"$P" --weights "$work/rule-none/run/checkpoints/last" --input "$work/classes" --size 48 >"$work/override.log" 2>&1
if grep -q "note: --size 48 departs from the training shards' 32" "$work/override.log" &&
    grep -q "labelled inputs: top-1" "$work/override.log"; then
    pass "an override that departs from the build is printed once; class folders are scored by their names"
else fail "an override that departs from the build is printed" "$work/override.log"; fi
if "$S" inspect "$work/rule-none/shards" | grep -q "frame stride 2, 12.5 fps, hand crop none (margin 0.1)"; then
    pass "inspect shows a video build's real frame rate (25 fps / stride 2) and its crop rule"
else fail "inspect shows the real fps" <("$S" inspect "$work/rule-none/shards"); fi

# 2. A used --out is refused without --resume, leaving the first run's files byte-identical.
run="$work/rule-none/run"
before=$(cd "$run" && find . -type f -exec sha256sum {} + | sort)
"$T" $TRAIN --train "$work/rule-none/shards" --steps 2 --out "$run" >"$work/again.log" 2>&1
rc=$?
after=$(cd "$run" && find . -type f -exec sha256sum {} + | sort)
if [ $rc -ne 0 ] && grep -q "already holds a run" "$work/again.log" && grep -q "\-\-resume auto" "$work/again.log" &&
    [ "$before" = "$after" ]; then pass "a second run into a used --out is refused (exit $rc) and leaves the first run's files byte-identical"
else fail "a second run into a used --out is refused and changes nothing (exit $rc)" "$work/again.log"; fi

# 3. Resuming with another global batch, or other classes, fails naming both; another --steps is stated.
expect "--resume with another global batch names both batches" "global batch of 4" "these flags give 2" -- \
    "$T" $TRAIN --batch-size 2 --train "$work/rule-none/shards" --steps 2 --out "$run" --resume auto
mkdir -p "$work/classes3"; for c in $(ls "$work/classes" | head -3); do ln -s "$work/classes/$c" "$work/classes3/$c"; done
"$S" build videos --root "$work/classes3" --out "$work/shards3" --size 32 --stride 2 --hand-crop none --shards 1 >/dev/null 2>&1
expect "--resume onto other classes names both class lists" "trained on other classes" "it has 4 classes (before" "the data 3 (before" -- \
    "$T" $TRAIN --train "$work/shards3" --steps 2 --out "$run" --resume auto
"$T" $TRAIN --train "$work/rule-none/shards" --steps 3 --out "$run" --resume auto >"$work/steps.log" 2>&1
if grep -q "this run plans 3 steps, the checkpoint's run 1" "$work/steps.log"; then pass "a resume with another --steps says the schedule is reshaped"
else fail "a resume with another --steps says the schedule is reshaped" "$work/steps.log"; fi
grep -q "no --val: checkpoints/best will not be written" "$work/rule-none.train.log" &&
    pass "training without --val says at start that best will not be written" ||
    fail "training without --val says best will not be written" "$work/rule-none.train.log"

# 4. Messages that name the file or flag at fault and what to do.
expect "too few clips for one global batch names the largest batch that fits" "fewer than one global batch of 512" \
    "the largest batch that fits is --batch-size" -- "$T" $TRAIN --batch-size 512 --train "$work/shards" --steps 1 --out "$work/big"
printf 'epoch: 2\nbatch-size: 4\n' >"$work/typo.yaml"
expect "a config-file typo names the file and the closest option" "config file $work/typo.yaml" "key 'epoch'" "did you mean 'epochs'" -- \
    "$T" --config "$work/typo.yaml" --train "$work/shards" --out "$work/typo"
expect "weights of another width say so and name --width" "narrower\|wider" "\-\-width" -- \
    "$P" --weights "$run/checkpoints/last" --width 8 --input "$work/classes"
expect "a directory without weights as --weights says what to pass" "without model.safetensors" "checkpoints/best" -- \
    "$P" --weights "$run" --input "$work/classes"
python3 - "$run/checkpoints/last/model.safetensors" "$work/fewer.safetensors" <<'PY'
import json, struct, sys
data = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", data[:8])[0]; header = json.loads(data[8:8 + n])
body = data[8 + n:]; drop = "fc.bias"; keep = {k: v for k, v in header.items() if k != drop}
out, parts, off = {}, [], 0
for k, v in keep.items():
    if k == "__metadata__": out[k] = v; continue
    b, e = v["data_offsets"]; parts.append(body[b:e]); out[k] = dict(v, data_offsets=[off, off + e - b]); off += e - b
h = json.dumps(out).encode(); h += b" " * (-len(h) % 8)
open(sys.argv[2], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(parts))
PY
expect "compare-weights on files with other keys reports them and exits 1" "missing from $work/fewer.safetensors: 1 key(s): fc.bias" -- \
    "$T" compare-weights "$work/fewer.safetensors" "$run/checkpoints/last/model.safetensors"
"$T" compare-weights "$work/fewer.safetensors" "$run/checkpoints/last/model.safetensors" >/dev/null 2>&1
[ $? -eq 1 ] && pass "compare-weights exits 1 (not 64) for files with other keys" || fail "compare-weights exits 1 for other keys" "$work/e.log"
expect "--sampling local with fewer shards than ranks names the rank and both ways out" "rank 2 of 4 owns no shard" \
    "\-\-sampling global" "\-\-shards 4" -- \
    mpirun -np 4 --oversubscribe "$T" $TRAIN --train "$work/shards" --sampling local --steps 1 --out "$work/local"
# convert_torchvision.py offline, against stand-ins for torch and torchvision whose download fails as urllib's does.
stub="$work/stub"; mkdir -p "$stub/torch" "$stub/safetensors" "$stub/torchvision/models"
: >"$stub/torch/__init__.py"; : >"$stub/safetensors/__init__.py"; : >"$stub/torchvision/__init__.py"; : >"$stub/torchvision/models/__init__.py"
echo 'def save_file(*a, **k): raise SystemExit("save_file must not be reached")' >"$stub/safetensors/torch.py"
cat >"$stub/torchvision/models/video.py" <<'PY'
import urllib.error
class R2Plus1D_18_Weights:
    class KINETICS400_V1:
        url = "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth"
        meta = {"categories": []}
def r2plus1d_18(weights=None):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
PY
expect "convert_torchvision.py --kinetics400 offline says how to get the file, no traceback" "cannot download" "Offline?" \
    "r2plus1d_18-91a641e6.pth" '!Traceback' -- env PYTHONPATH="$stub" python3 tools/convert_torchvision.py --kinetics400 --out "$work/k.safetensors"
# A small image build: too few clips per class for a val split says so.
for c in A B; do mkdir -p "$work/images/$c"; for i in 1 2 3; do
    ffmpeg -loglevel error -y -i "$work/classes/$(ls "$work/classes" | head -1)/$(ls "$work/classes/$(ls "$work/classes" | head -1)" | head -1)" \
        -vf "select=eq(n\,$i)" -frames:v 1 "$work/images/$c/$i.png"; done; done
"$S" build images --root "$work/images" --out "$work/img-shards" --size 16 >"$work/img.log" 2>&1
if grep -q "warning: no val split: with --val-fraction 0.15 a class needs at least 4 clips" "$work/img.log"; then
    pass "a build too small for a val split warns and says what it costs and how to fix it"
else fail "a build too small for a val split warns" "$work/img.log"; fi

# 5. Still images (T=1), as `make demo-static` runs them: `synth --static` class folders -> `build images` one-frame
#    shards -> two steps on 2 ranks at --frames 1 -> asl-predict gives one image file its shard's logits, and scores the
#    class folders by their names.
d="$work/static"
"$S" synth --static --out "$d/synth" --classes 3 --images-per-class 8 --size 32 --seed 4 >"$d.synth.log" 2>&1 &&
"$S" build images --root "$d/synth" --out "$d/shards" --size 24 --hand-crop none --shards 1 >"$d.build.log" 2>&1 &&
mpirun -np 2 --oversubscribe "$T" $TRAIN --frames 1 --crop-size 20 --train "$d/shards" --steps 2 --out "$d/run" >"$d.train.log" 2>&1 &&
"$P" --weights "$d/run/checkpoints/last" --input "$d/shards" --split test --logits-out "$d/shards.csv" >"$d.p1.log" 2>&1 &&
image=$(sed -n 2p "$d/shards.csv" | cut -d, -f1) &&
"$P" --weights "$d/run/checkpoints/last" --input "$d/synth/$image" --logits-out "$d/image.csv" >"$d.p2.log" 2>&1 &&
same_logits "$d/image.csv" "$d/shards.csv" >"$d.cmp" 2>&1 &&
"$P" --weights "$d/run/checkpoints/last" --input "$d/synth" >"$d.p3.log" 2>&1
if [ $? -eq 0 ] && grep -q "wrote 24 32x32 PNG images in 3 class folders" "$d.synth.log" &&
    grep -q "train: 18 clips, 18 frames" "$d.build.log" && grep -q "2 rank(s)" "$d.train.log" &&
    grep -q "1 frames at 20×20" "$d.p2.log" && grep -q "labelled inputs: top-1 .* over 24 clips" "$d.p3.log"; then
    pass "synth --static images build into one-frame shards, train at --frames 1 on 2 ranks, and an image file gets its shard's logits ($(cat "$d.cmp"))"
else fail "synth --static -> build images -> T=1 training -> asl-predict on an image" "$d.synth.log" "$d.build.log" "$d.train.log" "$d.p2.log" "$d.cmp" "$d.p3.log"; fi

# An unknown --precision is refused naming the flag and the values, before anything is written.
expect "an unknown --precision names the flag and its values; no run directory" "'--precision <precision>'" "'fp32' and 'bf16'" -- \
    "$T" --train "$work/shards" --precision fp16 --out "$work/precision-run"
[ ! -e "$work/precision-run" ] && pass "nothing is written for a bad --precision" || fail "a bad --precision wrote $work/precision-run" "$work/e.log"
expect "bf16 with weights that cannot be read names the file" "$work/missing.safetensors" -- \
    "$P" --weights "$work/missing.safetensors" --input "$work/classes" --precision bf16

echo "${TEST_LABEL:-user-path}: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
