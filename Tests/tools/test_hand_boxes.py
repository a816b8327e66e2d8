#!/usr/bin/env python3
"""Checks tools/hand_boxes.py against what `asl-shards build --hand-crop boxes:FILE` reads.

    python3 Tests/tools/test_hand_boxes.py [BIN]      # BIN: the folder of asl-shards (default .build/release)

MediaPipe is optional for the project: without it only the install message is checked and the rest is skipped.
With it, every input is made here: hands are drawn with OpenCV (an open palm, four fingers and a thumb, shaded skin
on a textured background), which MediaPipe's bundled palm and landmark models detect; blank frames are the clips
without a hand. With asl-shards and h5py, the shards built from the boxes file are checked crop by crop.
Prints each failed claim with what was seen, a closing count, and exits 1 on any failure.
"""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOOL = os.path.join(REPO, "tools", "hand_boxes.py")
BIN = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, ".build", "release"))
PIN = "mediapipe==0.10.14"

passed, failed, skipped = [], [], []


def check(name, needs=()):
    """Runs the decorated claim at once; `needs` names what it requires, a missing one skips it with the reason."""
    def run(fn):
        missing = [reason for ok, reason in needs if not ok]
        if missing:
            skipped.append(name)
            print(f"skip {name}: {'; '.join(missing)}")
            return fn
        try:
            fn()
            passed.append(name)
            print(f"ok   {name}")
        except Exception as e:  # a failed claim, or a crash in it: both fail the test and say why
            failed.append(name)
            detail = str(e) if isinstance(e, AssertionError) else traceback.format_exc()
            print(f"FAIL {name}: {detail}")
        return fn
    return run


def tool(*args, python=sys.executable, **kw):
    """Runs hand_boxes.py; returns (exit code, stdout + stderr)."""
    p = subprocess.run([python, TOOL, *args], capture_output=True, text=True, **kw)
    return p.returncode, p.stdout + p.stderr


def importable(module):
    return subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True).returncode == 0


HAVE_MP = importable("mediapipe") and importable("cv2")
HAVE_BUILDER = os.access(os.path.join(BIN, "asl-shards"), os.X_OK)
HAVE_H5PY = importable("h5py")
MP = (HAVE_MP, "needs mediapipe")
BUILDER = (HAVE_BUILDER, f"needs {BIN}/asl-shards (make build)")
H5PY = (HAVE_H5PY, "needs h5py (make deps)")


# ---- without MediaPipe ----------------------------------------------------------------------------------------------

@check("without mediapipe the tool exits non-zero and names the pip install line")
def _():
    # Hides an installed mediapipe: a None entry in sys.modules makes `import mediapipe` raise ImportError.
    code = ("import sys, runpy; sys.modules['mediapipe'] = None; "
            f"sys.argv = [{TOOL!r}, 'images', '--root', '.', '--out', 'x.json']; runpy.run_path({TOOL!r}, run_name='__main__')")
    with tempfile.TemporaryDirectory() as d:
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=d)
        assert p.returncode != 0, f"exit code 0; output: {p.stdout + p.stderr}"
        assert f"pip install {PIN}" in p.stderr, f"the message does not name 'pip install {PIN}': {p.stderr}"
        assert not os.path.exists(os.path.join(d, "x.json")), "wrote a boxes file without a detector"


@check("--help works without mediapipe and lists the builder's source kinds")
def _():
    code, out = tool("--help")
    assert code == 0, out
    for kind in ("wlasl", "videos", "images", "frames"):
        assert kind in out, f"{kind} missing from --help: {out}"


if not HAVE_MP:
    print(f"hand_boxes: the detection checks are skipped: mediapipe is not importable by {sys.executable}; "
          f"install it with: python3 -m pip install {PIN}")


# ---- synthetic inputs -----------------------------------------------------------------------------------------------

def drawn_hand(width, height, cx, cy, scale, skin=(150, 180, 230), background=(90, 110, 80), seed=0):
    """A BGR frame with an open right palm (fingers up, thumb to the left) whose palm centre is (cx, cy); and the
    points every box around that hand must contain (finger and thumb tips, the palm's lower edge) with the
    hand's extent (x0, y0, x1, y1) above the forearm."""
    import cv2
    import numpy as np
    frame = blank(width, height, background, seed)
    mask = np.zeros((height, width), np.uint8)
    s = scale

    def capsule(p0, p1, r):
        p0, p1 = tuple(int(round(v)) for v in p0), tuple(int(round(v)) for v in p1)
        cv2.line(mask, p0, p1, 255, max(1, int(2 * r)), cv2.LINE_AA)
        cv2.circle(mask, p1, int(r), 255, -1, cv2.LINE_AA)

    cv2.ellipse(mask, (int(cx), int(cy)), (int(62 * s), int(72 * s)), 0, 0, 360, 255, -1, cv2.LINE_AA)
    cv2.rectangle(mask, (int(cx - 45 * s), int(cy + 40 * s)), (int(cx + 45 * s), height), 255, -1)  # forearm
    tips = []
    for base_x, length, degrees in [(-45, 95, -12), (-16, 112, -4), (14, 115, 3), (42, 100, 11)]:
        a = math.radians(degrees)
        p0 = (cx + base_x * s, cy - 55 * s)
        p1 = (p0[0] + math.sin(a) * length * s, p0[1] - math.cos(a) * length * s)
        capsule(p0, p1, 13 * s)
        tips.append(p1)
    thumb = [(cx - 50 * s, cy + 20 * s), (cx - 95 * s, cy - 25 * s), (cx - 120 * s, cy - 65 * s)]
    capsule(thumb[0], thumb[1], 17 * s)
    capsule(thumb[1], thumb[2], 14 * s)
    tips.append(thumb[2])
    # Rounded shading (darker towards the outline), which the palm detector needs to see a hand, not a silhouette.
    depth = cv2.distanceTransform((mask > 128).astype(np.uint8), cv2.DIST_L2, 5)
    shade = np.clip(depth / (18 * s), 0, 1) ** 0.5
    colour = np.array(skin, float)[None, None, :] * (0.65 + 0.35 * shade[..., None])
    alpha = (mask / 255.0)[..., None]
    frame = (frame * (1 - alpha) + colour * alpha).astype(np.uint8)
    inside = tips + [(cx, cy)]
    extent = (cx - 134 * s, min(p[1] for p in tips) - 13 * s, cx + 42 * s + math.sin(math.radians(11)) * 100 * s + 13 * s,
              cy + 72 * s)
    return frame, inside, extent


def blank(width, height, background=(90, 110, 80), seed=1):
    """A BGR frame of `background` with ±8 levels of noise: the texture behind the drawn hands, and a no-hand clip."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return np.clip(np.full((height, width, 3), background, np.int32) + rng.integers(-8, 9, (height, width, 3)), 0, 255).astype(np.uint8)


def write_video(path, frames, fps=25):
    import cv2
    h, w = frames[0].shape[:2]
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert out.isOpened(), f"OpenCV cannot write {path}"
    for f in frames:
        out.write(f)
    out.release()


def read_boxes(path):
    """The file as the builder parses it (ClipOptions.loadBoxes): a JSON object of 4-number arrays."""
    with open(path, encoding="utf-8") as f:
        boxes = json.load(f)
    assert isinstance(boxes, dict), f"{path} is not a JSON object: {type(boxes).__name__}"
    for key, box in boxes.items():
        assert isinstance(key, str), f"key {key!r} is not a string"
        assert isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box), \
            f"{key}: {box!r} is not [x0, y0, x1, y1]"
        # The builder falls back to the centre square unless x1 > x0 and y1 > y0.
        assert box[2] > box[0] and box[3] > box[1], f"{key}: {box} is empty"
    return boxes


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def assert_around(key, box, inside, extent, tolerance):
    """The box contains the hand's tips and palm centre (landmarks sit a little inside the outline, so `tolerance`
    pixels of slack) and stays within `tolerance` of the hand's extent."""
    x0, y0, x1, y1 = box
    for (x, y) in inside:
        assert x0 - tolerance <= x <= x1 + tolerance and y0 - tolerance <= y <= y1 + tolerance, \
            f"{key}: box {box} misses the hand point ({x:.0f}, {y:.0f})"
    ex0, ey0, ex1, ey1 = extent
    assert x0 >= ex0 - tolerance and y0 >= ey0 - tolerance and x1 <= ex1 + tolerance and y1 <= ey1 + tolerance, \
        f"{key}: box {box} reaches beyond the hand's extent ({ex0:.0f}, {ey0:.0f}, {ex1:.0f}, {ey1:.0f})"


WORK = tempfile.mkdtemp(prefix="hand-boxes-test-")
W, H = 320, 240
SCALE = 0.42  # the drawn hand is about 100 × 120 pixels in a 320 × 240 frame


@check("a drawn hand in a still image gets a box around it from the bundled models", needs=[MP])
def _():
    import cv2
    root = os.path.join(WORK, "one")
    os.makedirs(os.path.join(root, "A"))
    frame, inside, extent = drawn_hand(480, 480, 240, 280, 1.0)
    cv2.imwrite(os.path.join(root, "A", "palm.png"), frame)
    out = os.path.join(WORK, "one.json")
    code, log = tool("images", "--root", root, "--out", out)
    assert code == 0, log
    boxes = read_boxes(out)
    assert list(boxes) == ["A/palm.png"], f"keys {list(boxes)}, expected ['A/palm.png']; log: {log}"
    assert_around("A/palm.png", boxes["A/palm.png"], inside, extent, tolerance=15)
    print(f"     MediaPipe's box around the drawn hand: {boxes['A/palm.png']} (hand extent "
          f"{tuple(round(v) for v in extent)})")


IMAGES = os.path.join(WORK, "alphabet")
IMAGE_HANDS = {}


@check("images: keys are <class>/<file> under Kaggle's doubled root, and the no-hand images are listed", needs=[MP])
def _():
    import cv2
    root = os.path.join(IMAGES, "alphabet")  # asl_alphabet_train/asl_alphabet_train/<class>, as Kaggle ships it
    for cls, name, place in [("A", "a1.png", (150, 140)), ("A", "a2.jpg", None), ("B", "b1.png", (180, 130)),
                             ("B", "b2.png", None)]:
        os.makedirs(os.path.join(root, cls), exist_ok=True)
        if place:
            frame, inside, extent = drawn_hand(W, H, place[0], place[1], SCALE)
            IMAGE_HANDS[f"{cls}/{name}"] = (inside, extent)
        else:
            frame = blank(W, H)
        cv2.imwrite(os.path.join(root, cls, name), frame)
    out, missing = os.path.join(WORK, "images.json"), os.path.join(WORK, "images-missing.txt")
    code, log = tool("images", "--root", IMAGES, "--out", out, "--missing", missing)
    assert code == 0, log
    boxes = read_boxes(out)
    assert sorted(boxes) == ["A/a1.png", "B/b1.png"], f"keys {sorted(boxes)}; log: {log}"
    for key, (inside, extent) in IMAGE_HANDS.items():
        assert_around(key, boxes[key], inside, extent, tolerance=8)
    assert read_lines(missing) == ["A/a2.jpg", "B/b2.png"], f"missing list {read_lines(missing)}"
    assert "no hand found in 2 clip(s)" in log and "A/a2.jpg" in log, f"the summary does not list them: {log}"


VIDEOS = os.path.join(WORK, "videos")
MOVES = {}  # key -> (first and last hand's inside points, first hand's extent, last hand's extent)


@check("videos: the box is the union over the clip, <class>/<file> keys, a blank video listed", needs=[MP])
def _():
    for cls, name, xs in [("hello", "left-right.mp4", (90, 210)), ("hello", "empty.mp4", None),
                          ("bye", "right-left.mp4", (220, 110))]:
        os.makedirs(os.path.join(VIDEOS, cls), exist_ok=True)
        if xs:
            frames, ends = [], []
            for i in range(10):
                x = xs[0] + (xs[1] - xs[0]) * i / 9
                frame, inside, extent = drawn_hand(W, H, x, 130, SCALE, seed=i)
                frames.append(frame)
                if i in (0, 9):
                    ends.append((inside, extent))
            MOVES[f"{cls}/{name}"] = ends
        else:
            frames = [blank(W, H, seed=i) for i in range(10)]
        write_video(os.path.join(VIDEOS, cls, name), frames)
    out, missing = os.path.join(WORK, "videos.json"), os.path.join(WORK, "videos-missing.txt")
    code, log = tool("videos", "--root", VIDEOS, "--out", out, "--missing", missing, "--every", "1")
    assert code == 0, log
    boxes = read_boxes(out)
    assert sorted(boxes) == ["bye/right-left.mp4", "hello/left-right.mp4"], f"keys {sorted(boxes)}; log: {log}"
    for key, ((inside0, extent0), (inside9, extent9)) in MOVES.items():
        union = (min(extent0[0], extent9[0]), min(extent0[1], extent9[1]), max(extent0[2], extent9[2]),
                 max(extent0[3], extent9[3]))
        assert_around(key, boxes[key], inside0 + inside9, union, tolerance=10)
    assert read_lines(missing) == ["hello/empty.mp4"], f"missing list {read_lines(missing)}"


@check("--every K detects on frames 1, 1+K, ...: a hand only in frame 2 is missed at K=2 and found at K=1", needs=[MP])
def _():
    root = os.path.join(WORK, "every")
    os.makedirs(os.path.join(root, "c"))
    hand, inside, extent = drawn_hand(W, H, 160, 130, SCALE)
    write_video(os.path.join(root, "c", "v.mp4"), [blank(W, H, seed=i) if i != 1 else hand for i in range(6)])
    out = os.path.join(WORK, "every.json")
    code, log = tool("videos", "--root", root, "--out", out, "--every", "2")
    assert code == 0, log
    assert read_boxes(out) == {}, f"--every 2 found a box in frames 1, 3, 5: {read_boxes(out)}"
    code, log = tool("videos", "--root", root, "--out", out, "--every", "1")
    assert code == 0, log
    boxes = read_boxes(out)
    assert list(boxes) == ["c/v.mp4"], f"--every 1 found {boxes}"
    assert_around("c/v.mp4", boxes["c/v.mp4"], inside, extent, tolerance=10)


WLASL = os.path.join(WORK, "wlasl")
WLASL_HANDS = {}


@check("wlasl: video_id keys, only frame_start..frame_end (1-based, -1 = to the end), --glosses, absent videos",
       needs=[MP])
def _():
    os.makedirs(os.path.join(WLASL, "videos"))
    # Frames 1-6: hand on the left; 7-12: on the right; 13-18: no hand.
    left, left_in, left_ext = drawn_hand(W, H, 100, 130, SCALE)
    right, right_in, right_ext = drawn_hand(W, H, 220, 130, SCALE)
    frames = [left] * 6 + [right] * 6 + [blank(W, H, seed=i) for i in range(6)]
    for vid in ("00001", "00002", "00003"):
        write_video(os.path.join(WLASL, "videos", vid + ".mp4"), frames)
    whole = tuple(min(a, b) if i < 2 else max(a, b) for i, (a, b) in enumerate(zip(left_ext, right_ext)))
    WLASL_HANDS.update({"00001": (right_in, right_ext), "00002": (left_in + right_in, whole)})
    entries = [
        {"gloss": "book", "instances": [
            {"video_id": "00001", "frame_start": 7, "frame_end": 12, "split": "train", "signer_id": 1},
            {"video_id": "00002", "frame_start": 1, "frame_end": -1, "split": "train", "signer_id": 2},
            {"video_id": "00099", "frame_start": 1, "frame_end": -1, "split": "test", "signer_id": 1}]},
        {"gloss": "drink", "instances": [
            {"video_id": "00003", "frame_start": 13, "frame_end": 18, "split": "train", "signer_id": 3}]}]
    with open(os.path.join(WLASL, "WLASL.json"), "w") as f:
        json.dump(entries, f)
    out, missing = os.path.join(WORK, "wlasl.json"), os.path.join(WORK, "wlasl-missing.txt")
    code, log = tool("wlasl", "--json", os.path.join(WLASL, "WLASL.json"), "--videos", os.path.join(WLASL, "videos"),
                     "--out", out, "--missing", missing, "--every", "1")
    assert code == 0, log
    boxes = read_boxes(out)
    assert sorted(boxes) == ["00001", "00002"], f"keys {sorted(boxes)}; log: {log}"
    for key, (inside, extent) in WLASL_HANDS.items():
        assert_around(key, boxes[key], inside, extent, tolerance=10)
    assert boxes["00001"][0] > 160, f"00001 (frames 7-12, hand on the right) has a box reaching left: {boxes['00001']}"
    assert read_lines(missing) == ["00003"], f"missing list {read_lines(missing)}"
    assert "1 WLASL video(s) not in the videos folder" in log, f"the absent 00099 is not reported: {log}"
    code, log = tool("wlasl", "--json", os.path.join(WLASL, "WLASL.json"), "--videos", os.path.join(WLASL, "videos"),
                     "--out", os.path.join(WORK, "drink.json"), "--glosses", "drink")
    assert code == 0 and read_boxes(os.path.join(WORK, "drink.json")) == {}, f"--glosses drink: {log}"
    code, log = tool("wlasl", "--json", os.path.join(WLASL, "WLASL.json"), "--videos", os.path.join(WLASL, "videos"),
                     "--out", os.path.join(WORK, "x.json"), "--glosses", "cat")
    assert code != 0 and 'unknown gloss "cat"' in log, f"an unknown gloss: exit {code}, {log}"


FRAMES = os.path.join(WORK, "frames")
FRAME_HANDS = {}


@check("frames: keys are <split>/<class>/<clip>, every K-th image of the clip's folder, a blank clip listed", needs=[MP])
def _():
    import cv2
    for split, clip, xs in [("train", "c1", (100, 200)), ("test", "c2", None)]:
        folder = os.path.join(FRAMES, split, "wave", clip)
        os.makedirs(folder)
        for i in range(4):
            frame = blank(W, H, seed=i)
            if xs and i % 2 == 0:  # frames 1 and 3 are the ones --every 2 reads
                frame, inside, extent = drawn_hand(W, H, xs[i // 2], 130, SCALE, seed=i)
                FRAME_HANDS.setdefault(f"{split}/wave/{clip}", []).append((inside, extent))
            cv2.imwrite(os.path.join(folder, f"frame_{i + 1:03d}.png"), frame)
    out, missing = os.path.join(WORK, "frames.json"), os.path.join(WORK, "frames-missing.txt")
    code, log = tool("frames", "--root", FRAMES, "--out", out, "--missing", missing, "--every", "2")
    assert code == 0, log
    boxes = read_boxes(out)
    assert list(boxes) == ["train/wave/c1"], f"keys {list(boxes)}; log: {log}"
    (in0, ext0), (in2, ext2) = FRAME_HANDS["train/wave/c1"]
    both = (min(ext0[0], ext2[0]), min(ext0[1], ext2[1]), max(ext0[2], ext2[2]), max(ext0[3], ext2[3]))
    assert_around("train/wave/c1", boxes["train/wave/c1"], in0 + in2, both, tolerance=10)
    assert read_lines(missing) == ["test/wave/c2"], f"missing list {read_lines(missing)}"


@check("a video with rotation metadata gets the box of its frames as stored, which is what the builder crops",
       needs=[MP, (shutil.which("ffmpeg") is not None, "needs the ffmpeg program")])
def _():
    root = os.path.join(WORK, "rotated")
    os.makedirs(os.path.join(root, "hello"))
    # A stream copy with a 90° display rotation: the pixels are the original's; OpenCV would turn them by default,
    # FFmpeg's decoder (the builder's) hands them over as stored.
    p = subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", os.path.join(VIDEOS, "hello", "left-right.mp4"),
                        "-c", "copy", "-metadata:s:v:0", "rotate=90", os.path.join(root, "hello", "left-right.mp4")],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    out = os.path.join(WORK, "rotated.json")
    code, log = tool("videos", "--root", root, "--out", out, "--every", "1")
    assert code == 0, log
    want = read_boxes(os.path.join(WORK, "videos.json"))["hello/left-right.mp4"]
    assert read_boxes(out) == {"hello/left-right.mp4": want}, f"rotated: {read_boxes(out)}, stored frames: {want}"


@check("--workers 2 writes the same file as one process", needs=[MP])
def _():
    one, two = os.path.join(WORK, "videos.json"), os.path.join(WORK, "videos-2.json")
    code, log = tool("videos", "--root", VIDEOS, "--out", two, "--every", "1", "--workers", "2")
    assert code == 0, log
    with open(one) as a, open(two) as b:
        assert a.read() == b.read(), "the files differ"


# ---- the builder reads the file -------------------------------------------------------------------------------------

def rounded(x):
    """Swift's `.rounded()`: to nearest, halves away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def square_around(box, w, h, margin):
    """SquareCrop.around(...).box: the builder's square for a box, as x0, y0, x1, y1."""
    bx0, bx1, by0, by1 = min(box[0], box[2]), max(box[0], box[2]), min(box[1], box[3]), max(box[1], box[3])
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    side = max(1, min(rounded(max(bx1 - bx0, by1 - by0) * (1 + 2 * margin)), max(w, h)))

    def place(centre, extent):
        if side >= extent:
            return int((extent - side) / 2)  # Swift's Int division truncates towards zero
        return min(max(rounded(centre - side / 2), 0), extent - side)
    x0, y0 = place(cx, w), place(cy, h)
    return [x0, y0, x0 + side, y0 + side]


def centre_square(w, h):
    side = min(w, h)
    return [(w - side) // 2, (h - side) // 2, (w - side) // 2 + side, (h - side) // 2 + side]


def shard_boxes(folder):
    """clip id -> the crop box the builder stored, over every shard in `folder`; and the shards' hand_crop."""
    import h5py
    stored, rules = {}, set()
    for name in sorted(os.listdir(folder)):
        if name.endswith(".h5"):
            with h5py.File(os.path.join(folder, name), "r") as f:
                rules.add(f.attrs["hand_crop"])
                ids = [i.decode() if isinstance(i, bytes) else i for i in f["clip_ids"][:]]
                for clip, box in zip(ids, f["boxes"][:]):
                    stored[clip] = [float(v) for v in box]
    return stored, rules


def build(source_args, boxes_file, out):
    cmd = [os.path.join(BIN, "asl-shards"), "build", *source_args, "--out", out, "--hand-crop", f"boxes:{boxes_file}",
           "--size", "32", "--shards", "1", "--workers", "1", "--margin", "0.1"]
    p = subprocess.run(cmd, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}): {p.stdout}{p.stderr}"
    return p.stdout + p.stderr


def assert_builder_used(boxes_file, shards, all_ids):
    """Every clip the file lists is cropped around its box; every other clip around the centre square."""
    boxes = read_boxes(boxes_file)
    stored, rules = shard_boxes(shards)
    assert rules == {f"boxes:{boxes_file}"}, f"the shards record hand_crop {rules}"
    assert sorted(stored) == sorted(all_ids), f"the shards hold {sorted(stored)}, expected {sorted(all_ids)}"
    for clip, got in stored.items():
        want = square_around(boxes[clip], W, H, 0.1) if clip in boxes else centre_square(W, H)
        assert got == want, f"{clip}: the builder cropped {got}, expected {want} " \
                            f"({'around ' + str(boxes[clip]) if clip in boxes else 'the centre square'})"


@check("asl-shards build images/videos/wlasl/frames --hand-crop boxes:FILE crops each listed clip around its box",
       needs=[MP, BUILDER, H5PY])
def _():
    assert IMAGE_HANDS and MOVES and WLASL_HANDS and FRAME_HANDS, "the source checks above did not make their data"
    build(["images", "--root", IMAGES, "--val-fraction", "0", "--test-fraction", "0"],
          os.path.join(WORK, "images.json"), os.path.join(WORK, "shards-images"))
    assert_builder_used(os.path.join(WORK, "images.json"), os.path.join(WORK, "shards-images"),
                        ["A/a1.png", "A/a2.jpg", "B/b1.png", "B/b2.png"])
    build(["videos", "--root", VIDEOS, "--val-fraction", "0", "--test-fraction", "0"],
          os.path.join(WORK, "videos.json"), os.path.join(WORK, "shards-videos"))
    assert_builder_used(os.path.join(WORK, "videos.json"), os.path.join(WORK, "shards-videos"),
                        ["hello/left-right.mp4", "hello/empty.mp4", "bye/right-left.mp4"])
    build(["wlasl", "--json", os.path.join(WLASL, "WLASL.json"), "--videos", os.path.join(WLASL, "videos")],
          os.path.join(WORK, "wlasl.json"), os.path.join(WORK, "shards-wlasl"))
    assert_builder_used(os.path.join(WORK, "wlasl.json"), os.path.join(WORK, "shards-wlasl"), ["00001", "00002", "00003"])
    build(["frames", "--root", FRAMES, "--val-fraction", "0"], os.path.join(WORK, "frames.json"),
          os.path.join(WORK, "shards-frames"))
    assert_builder_used(os.path.join(WORK, "frames.json"), os.path.join(WORK, "shards-frames"),
                        ["train/wave/c1", "test/wave/c2"])


def logits(path):
    import csv
    with open(path) as f:
        return {row[0]: [float(x) for x in row[1:]] for row in list(csv.reader(f))[1:]}


@check("asl-predict crops raw videos around the file's boxes as the shards were (equal logits), by clip id and by "
       "file name", needs=[MP, BUILDER, H5PY])
def _():
    shards = os.path.join(WORK, "shards-videos")
    assert os.path.isdir(shards), "the builder check above did not build the video shards"
    run, boxes = os.path.join(WORK, "run"), os.path.join(WORK, "videos.json")
    steps = [[os.path.join(BIN, "asl-dist-train"), "--threads", "1", "--arch", "c3d", "--width", "4", "--frames", "4",
              "--crop-size", "24", "--batch-size", "3", "--seed", "3", "--train", shards, "--steps", "1", "--out", run],
             [os.path.join(BIN, "asl-predict"), "--weights", os.path.join(run, "checkpoints", "last"), "--input", shards,
              "--logits-out", os.path.join(WORK, "shards.csv")],
             # the class-folder root, keyed <class>/<file> as built, with the build's rule read from the weights
             [os.path.join(BIN, "asl-predict"), "--weights", os.path.join(run, "checkpoints", "last"), "--input", VIDEOS,
              "--logits-out", os.path.join(WORK, "root.csv")],
             # one video given alone: its id is its file name, which the file matches as <folder>/<name>
             [os.path.join(BIN, "asl-predict"), "--weights", os.path.join(run, "checkpoints", "last"), "--input",
              os.path.join(VIDEOS, "hello", "left-right.mp4"), "--hand-crop", f"boxes:{boxes}",
              "--logits-out", os.path.join(WORK, "one.csv")]]
    for cmd in steps:
        p = subprocess.run(cmd, capture_output=True, text=True)
        assert p.returncode == 0, f"{' '.join(cmd)} failed ({p.returncode}): {p.stdout}{p.stderr}"
    built, raw, one = (logits(os.path.join(WORK, n)) for n in ("shards.csv", "root.csv", "one.csv"))
    assert sorted(raw) == sorted(built), f"asl-predict ids {sorted(raw)}, shard ids {sorted(built)}"
    worst = max(abs(a - b) for k in built for a, b in zip(built[k], raw[k]))
    assert worst <= 1e-5, f"raw videos' logits differ from their shards' by {worst:.2e}"
    worst = max(abs(a - b) for a, b in zip(built["hello/left-right.mp4"], one["left-right.mp4"]))
    assert worst <= 1e-5, f"the single video's logits differ from its shard's by {worst:.2e}"
    # The centre square would give other logits: the single video was cropped around its box, not the fallback.
    centre = subprocess.run([os.path.join(BIN, "asl-predict"), "--weights", os.path.join(run, "checkpoints", "last"),
                             "--input", os.path.join(VIDEOS, "hello", "left-right.mp4"), "--hand-crop", "none",
                             "--logits-out", os.path.join(WORK, "none.csv")], capture_output=True, text=True)
    assert centre.returncode == 0, centre.stdout + centre.stderr
    apart = max(abs(a - b) for a, b in zip(one["left-right.mp4"], logits(os.path.join(WORK, "none.csv"))["left-right.mp4"]))
    assert apart > 1e-4, f"the centre-square crop gives the same logits ({apart:.2e}): the check cannot tell them apart"


@check("asl-shards synth: every clip the builder plans is either in the boxes file or in the missing list",
       needs=[MP, BUILDER])
def _():
    synth = os.path.join(WORK, "synth")
    p = subprocess.run([os.path.join(BIN, "asl-shards"), "synth", "--out", synth, "--classes", "2",
                        "--clips-per-class", "3", "--frames", "8"], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    out, missing = os.path.join(WORK, "synth.json"), os.path.join(WORK, "synth-missing.txt")
    code, log = tool("wlasl", "--json", os.path.join(synth, "WLASL_synth.json"), "--videos",
                     os.path.join(synth, "videos"), "--out", out, "--missing", missing)
    assert code == 0, log
    with open(os.path.join(synth, "WLASL_synth.json")) as f:
        ids = sorted(i["video_id"] for e in json.load(f) for i in e["instances"])
    listed = sorted(list(read_boxes(out)) + read_lines(missing))
    assert listed == ids, f"boxes + missing = {listed}, the JSON's clips {ids}"
    print(f"     synthetic signs (drawn shapes, not hands): {len(read_boxes(out))} of {len(ids)} clips got a box")


print(f"hand_boxes: {len(passed)} passed, {len(failed)} failed" + (f", {len(skipped)} skipped" if skipped else ""))
if not failed:
    shutil.rmtree(WORK, ignore_errors=True)
else:
    print(f"inputs and outputs kept in {WORK}")
sys.exit(1 if failed else 0)
