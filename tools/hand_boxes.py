#!/usr/bin/env python3
"""Hand boxes from MediaPipe Hands for `asl-shards build ... --hand-crop boxes:FILE` and `asl-predict --hand-crop
boxes:FILE`.

    python3 -m pip install mediapipe==0.10.14      # its wheel carries the palm and landmark models: no download
    python3 tools/hand_boxes.py wlasl --json WLASL_v0.3.json --videos wlasl/videos --top-k 100 --out boxes.json
    python3 tools/hand_boxes.py videos --root myvideos --out boxes.json --missing nohand.txt
    python3 tools/hand_boxes.py images --root asl_alphabet_train --out boxes.json
    python3 tools/hand_boxes.py frames --root clips --out boxes.json

A clip's box is the union of the bounding boxes of every detected hand's 21 landmarks over every `--every`-th frame
of the clip's frame range (MediaPipe in still-image mode, model complexity 1, as the Python pipeline this project
replaces cropped its clips). The file is what the builder reads: `{"clip_id": [x0, y0, x1, y1], ...}` in source
pixels of the decoded frame (x1, y1 exclusive edges, clamped to the frame), keyed by the builder's clip id:

    wlasl    video_id                       frames frame_start..frame_end of <videos>/<video_id>.<ext>
    videos   <class>/<file>                 every frame; a video directly under --root: <file>
    images   <class>/<file>                 (Kaggle ASL Alphabet's doubled root is accepted); directly under --root: <file>
    frames   <split>/<class>/<clip>         the clip folder's images in name order

Keys directly under --root are how asl-predict names the videos or images of a plain folder. No margin is added:
the builder squares the box and adds its own `--margin`. A clip with no hand in any sampled frame is left out of
the file, so the builder crops it with its fallback (the centre square); such clips, and inputs that could not be
read, are listed on standard error and, with `--missing FILE`, one clip id a line in FILE.

Videos are decoded with OpenCV without applying rotation metadata, as the builder's FFmpeg decoder hands frames over;
images are read with cv2.imread like the builder's. Both files are written atomically (a temporary sibling renamed
into place).
"""
import argparse
import json
import os
import sys
from typing import Iterator, List, NamedTuple, Optional, Tuple

# As the builder's DataSources.videoExtensions and imageExtensions.
VIDEO_EXTENSIONS = {"mp4", "mkv", "webm", "avi", "mov", "m4v", "mpg", "mpeg", "flv", "swf", "ts"}
IMAGE_EXTENSIONS = {"jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff"}
SPLITS = ("train", "val", "test")
MEDIAPIPE_PIN = "mediapipe==0.10.14"

Box = Tuple[float, float, float, float]


class Clip(NamedTuple):
    """One clip as the builder plans it: its key in the boxes file and what to decode."""
    key: str
    video: Optional[str] = None      # a video file, frames start..end (1-based, inclusive; end -1 = to the end)
    start: int = 1
    end: int = -1
    images: Tuple[str, ...] = ()     # else image files, one frame each, in order


class SourceError(Exception):
    """A source that cannot be planned (missing folder, bad JSON, unknown gloss); the message says what to fix."""


def extension(name: str) -> str:
    return os.path.splitext(name)[1][1:].lower()


def subdirectories(path: str) -> List[str]:
    """Sorted visible subdirectories, as the builder lists class and clip folders."""
    return sorted(n for n in os.listdir(path) if not n.startswith(".") and os.path.isdir(os.path.join(path, n)))


# ---- sources: the same clips, keys and frame ranges as asl-shards build's DataSources -------------------------------

def wlasl_clips(json_path: str, videos: str, top_k: Optional[int], glosses: Optional[List[str]]) -> Tuple[List[Clip], List[str]]:
    """Instances of the chosen glosses whose video is on disk, and the video_ids that are not."""
    try:
        with open(json_path, encoding="utf-8") as f:
            entries = json.load(f)
    except (OSError, ValueError) as e:
        raise SourceError(f"{json_path}: cannot read the WLASL JSON ({e})")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and "gloss" in e and "instances" in e for e in entries):
        raise SourceError(f'{json_path}: not a WLASL JSON (expected [{{"gloss": ..., "instances": [...]}}])')
    if not os.path.isdir(videos):
        raise SourceError(f"{videos}: the videos directory does not exist (check --videos)")
    if glosses:
        by_gloss = {}
        for e in entries:
            by_gloss.setdefault(e["gloss"], e)
        unknown = [g for g in glosses if g not in by_gloss]
        if unknown:
            raise SourceError(f'{json_path}: unknown gloss "{unknown[0]}"')
        chosen = [by_gloss[g] for g in glosses]
    else:
        k = len(entries) if top_k is None else top_k
        if not 1 <= k <= len(entries):
            raise SourceError(f"--top-k {k} but {json_path} has {len(entries)} glosses")
        chosen = entries[:k]
    # video_id -> file: .mp4 first, then a known video extension, then the first name in sorted order.
    files = {}
    for name in sorted(os.listdir(videos)):
        if name.startswith("."):
            continue
        stem, ext = os.path.splitext(name)
        rank = 0 if ext.lower() == ".mp4" else (1 if ext[1:].lower() in VIDEO_EXTENSIONS else 2)
        if stem not in files or files[stem][1] > rank:
            files[stem] = (name, rank)
    clips, not_found = [], []
    for entry in chosen:
        for inst in entry["instances"]:
            vid = inst.get("video_id") if isinstance(inst, dict) else None
            if not isinstance(vid, str):
                raise SourceError(f'{json_path}: an instance of gloss "{entry["gloss"]}" has no video_id')
            if vid not in files:
                not_found.append(vid)
                continue
            start = inst.get("frame_start")
            end = inst.get("frame_end")
            clips.append(Clip(vid, video=os.path.join(videos, files[vid][0]),
                              start=max(1, start if start is not None else 1), end=end if end is not None else -1))
    return clips, not_found


def class_folder_clips(root: str, extensions: set, video: bool) -> List[Clip]:
    """`root/<class>/<file>` keyed `<class>/<file>`, and files directly under root keyed `<file>`."""
    if not os.path.isdir(root):
        raise SourceError(f"{root}: the root folder does not exist (check --root)")
    clips = []

    def add(folder: str, prefix: str) -> None:
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if extension(name) in extensions and os.path.isfile(path):
                clips.append(Clip(prefix + name, video=path) if video else Clip(prefix + name, images=(path,)))

    add(root, "")
    for cls in subdirectories(root):
        add(os.path.join(root, cls), cls + "/")
    if not clips:
        raise SourceError(f"{root}: no {'videos' if video else 'images'} in root/<class>/ or root/")
    return clips


def image_clips(root: str) -> List[Clip]:
    doubled = os.path.join(root, os.path.basename(os.path.normpath(root)))
    return class_folder_clips(doubled if os.path.isdir(doubled) else root, IMAGE_EXTENSIONS, video=False)


def frame_clips(root: str) -> List[Clip]:
    """`root/{train,val,test}/<class>/<clip>/*.png` keyed `<split>/<class>/<clip>`."""
    splits = [s for s in SPLITS if os.path.isdir(os.path.join(root, s))]
    if not splits:
        raise SourceError(f"{root}: no train/val/test folder (expected root/{{train,test}}/<class>/<clip>/frame_*.png)")
    clips = []
    for split in splits:
        for cls in subdirectories(os.path.join(root, split)):
            for clip in subdirectories(os.path.join(root, split, cls)):
                folder = os.path.join(root, split, cls, clip)
                files = sorted(n for n in os.listdir(folder) if extension(n) in IMAGE_EXTENSIONS)
                if files:
                    clips.append(Clip(f"{split}/{cls}/{clip}", images=tuple(os.path.join(folder, n) for n in files)))
    return clips


# ---- decoding and detection -----------------------------------------------------------------------------------------

class ClipReadError(Exception):
    pass


def sampled_frames(cv2, clip: Clip, every: int) -> Iterator:
    """RGB frames [H, W, 3] uint8: every `every`-th frame of the clip's range, the range's first frame first."""
    if clip.video is None:
        for path in clip.images[::every]:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)  # applies EXIF orientation, as the builder's cv::imread does
            if bgr is None:
                raise ClipReadError(f"cannot read image {path}")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        return
    cap = cv2.VideoCapture(clip.video)
    try:
        if not cap.isOpened():
            raise ClipReadError(f"cannot open video {clip.video}")
        # The builder crops the frames as decoded, without the container's rotation: boxes must be in those pixels.
        if hasattr(cv2, "CAP_PROP_ORIENTATION_AUTO"):
            cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        number, kept = 0, 0
        while clip.end < 0 or number < clip.end:
            if not cap.grab():
                break
            number += 1
            if number < clip.start or (number - clip.start) % every:
                continue
            ok, bgr = cap.retrieve()
            if not ok:
                raise ClipReadError(f"cannot decode frame {number} of {clip.video}")
            kept += 1
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        if kept == 0:
            raise ClipReadError(f"no frame in the range {clip.start}..{clip.end} of {clip.video} ({number} frames)")
    finally:
        cap.release()


def landmark_box(hands, rgb) -> Optional[Box]:
    """The box around every detected hand's landmarks in one frame, in pixels clamped to the frame; None if no hand."""
    h, w = rgb.shape[:2]
    result = hands.process(rgb)
    if not result.multi_hand_landmarks:
        return None
    xs = [min(max(p.x * w, 0.0), w) for hand in result.multi_hand_landmarks for p in hand.landmark]
    ys = [min(max(p.y * h, 0.0), h) for hand in result.multi_hand_landmarks for p in hand.landmark]
    return min(xs), min(ys), max(xs), max(ys)


def union(a: Optional[Box], b: Optional[Box]) -> Optional[Box]:
    if a is None or b is None:
        return a or b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def clip_box(cv2, hands, clip: Clip, every: int) -> Optional[Box]:
    """The union of the sampled frames' hand boxes, in pixels to 2 decimals; None when no frame shows a hand (or only
    a sliver at an edge, which the builder would reject as an empty box)."""
    box = None
    for rgb in sampled_frames(cv2, clip, every):
        box = union(box, landmark_box(hands, rgb))
    if box is None:
        return None
    box = tuple(round(v, 2) for v in box)
    return box if box[2] > box[0] and box[3] > box[1] else None


# ---- MediaPipe, per process -----------------------------------------------------------------------------------------

def import_mediapipe():
    """(mediapipe, cv2), or exits with the install line."""
    import warnings
    warnings.filterwarnings("ignore", message=r"SymbolDatabase\.GetPrototype\(\) is deprecated")
    try:
        import cv2
        import mediapipe as mp
        mp.solutions.hands  # noqa: B018 -- the legacy API whose graph uses the models inside the wheel
    except (ImportError, AttributeError) as e:
        sys.exit(f"hand_boxes.py needs MediaPipe Hands and OpenCV ({e}).\n"
                 f"Install them with: python3 -m pip install {MEDIAPIPE_PIN}")
    return mp, cv2


_worker = None  # (cv2, hands, every) in each worker process


def open_detector(max_hands: int, min_confidence: float):
    mp, cv2 = import_mediapipe()
    import numpy as np
    # Still-image mode: every sampled frame is detected afresh (frames `--every` apart are not a track to follow).
    hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=max_hands, model_complexity=1,
                                     min_detection_confidence=min_confidence)
    # The first frame starts TensorFlow Lite, which logs its set-up to file descriptor 2 (a few lines per process);
    # a blank frame takes that start with the log muted. Errors still raise.
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            hands.process(np.zeros((64, 64, 3), np.uint8))
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return cv2, hands


def init_worker(max_hands: int, min_confidence: float, every: int) -> None:
    global _worker
    cv2, hands = open_detector(max_hands, min_confidence)
    _worker = (cv2, hands, every)


def detect(clip: Clip):
    """(key, box or None, error or None) for one clip, in a worker set up by init_worker."""
    cv2, hands, every = _worker
    try:
        return clip.key, clip_box(cv2, hands, clip, every), None
    except ClipReadError as e:
        return clip.key, None, str(e)


# ---- output ---------------------------------------------------------------------------------------------------------

def write_atomically(path: str, text: str) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def boxes_json(boxes: dict) -> str:
    """One clip a line, keys sorted."""
    lines = [f"  {json.dumps(k, ensure_ascii=False)}: [{', '.join(json.dumps(v) for v in boxes[k])}]"
             for k in sorted(boxes)]
    return "{\n" + ",\n".join(lines) + ("\n" if lines else "") + "}\n"


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="Feed the file to: asl-shards build <source> ... --hand-crop boxes:FILE, "
                                       "or asl-predict ... --hand-crop boxes:FILE.")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", required=True, help="boxes JSON to write ({clip_id: [x0, y0, x1, y1]}, source pixels)")
    common.add_argument("--missing", help="also write the clip ids without a box (no hand, or unreadable), one a line")
    common.add_argument("--every", type=int, default=2,
                        help="detect on every K-th frame of each clip's range (default: 2, as the Python pipeline)")
    common.add_argument("--max-hands", type=int, default=2, help="hands per frame MediaPipe looks for (default: 2)")
    common.add_argument("--min-detection-confidence", type=float, default=0.5,
                        help="MediaPipe's palm-detection threshold, 0-1 (default: 0.5)")
    common.add_argument("--workers", type=int, default=1,
                        help="processes, each with its own detector (default: 1; the file is the same for any value)")
    sub = p.add_subparsers(dest="source", required=True, metavar="{wlasl,videos,images,frames}")
    w = sub.add_parser("wlasl", parents=[common], help="a WLASL JSON and a folder of <video_id>.<ext> videos")
    w.add_argument("--json", required=True, help="WLASL JSON file ([{gloss, instances: [{video_id, frame_start, ...}]}])")
    w.add_argument("--videos", required=True, help="folder of the videos, named <video_id>.<ext>")
    chosen = w.add_mutually_exclusive_group()
    chosen.add_argument("--top-k", type=int, help="only the first K glosses of the file, as the build's --top-k")
    chosen.add_argument("--glosses", help="only these glosses, comma-separated, as the build's --glosses")
    for name, text in [("videos", "class folders of videos: ROOT/<class>/<video>"),
                       ("images", "class folders of still images: ROOT/<class>/*.jpg|png"),
                       ("frames", "frame folders: ROOT/{train,val,test}/<class>/<clip>/frame_*.png")]:
        s = sub.add_parser(name, parents=[common], help=text)
        s.add_argument("--root", required=True, help="folder of class folders" if name != "frames" else "folder of split folders")
    args = p.parse_args(argv)
    if args.every < 1:
        p.error("--every must be at least 1")
    if args.max_hands < 1:
        p.error("--max-hands must be at least 1")
    if not 0 <= args.min_detection_confidence <= 1:
        p.error("--min-detection-confidence must be between 0 and 1")
    if args.workers < 1:
        p.error("--workers must be at least 1")
    return args


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    import_mediapipe()  # the install line before anything else
    try:
        not_found: List[str] = []
        if args.source == "wlasl":
            glosses = [g.strip() for g in args.glosses.split(",") if g.strip()] if args.glosses else None
            clips, not_found = wlasl_clips(args.json, args.videos, args.top_k, glosses)
        elif args.source == "videos":
            clips = class_folder_clips(args.root, VIDEO_EXTENSIONS, video=True)
        elif args.source == "images":
            clips = image_clips(args.root)
        else:
            clips = frame_clips(args.root)
    except SourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not clips:
        print("error: no clip to detect hands in", file=sys.stderr)
        return 2

    boxes, no_hand, unreadable = {}, [], []
    tty = sys.stderr.isatty()

    def collect(results) -> None:
        for i, (key, box, error) in enumerate(results, 1):
            if error:
                unreadable.append((key, error))
            elif box is None:
                no_hand.append(key)
            else:
                # A clip id listed twice (WLASL instances of one video) gets one box for all its ranges.
                boxes[key] = union(boxes.get(key), box)
            if tty:
                print(f"\rhand boxes: {i}/{len(clips)} clips", end="", file=sys.stderr, flush=True)
            elif i % 500 == 0:
                print(f"hand boxes: {i}/{len(clips)} clips", file=sys.stderr, flush=True)
        if tty:
            print(file=sys.stderr)

    if args.workers == 1:
        init_worker(args.max_hands, args.min_detection_confidence, args.every)
        collect(map(detect, clips))
    else:
        import multiprocessing
        # Each worker builds its own graph; the parent never does, so forking cannot copy a running one.
        with multiprocessing.Pool(args.workers, init_worker,
                                  (args.max_hands, args.min_detection_confidence, args.every)) as pool:
            collect(pool.imap(detect, clips))

    # A key with a box for one instance is not missing because another instance of it had none.
    no_hand = sorted(set(no_hand) - boxes.keys())
    write_atomically(args.out, boxes_json(boxes))
    if args.missing:
        missing = sorted((set(no_hand) | {k for k, _ in unreadable}) - boxes.keys())
        write_atomically(args.missing, "".join(k + "\n" for k in missing))

    print(f"{args.out}: boxes for {len(boxes)} of {len(clips)} clips (--every {args.every})", file=sys.stderr)
    if no_hand:
        shown = ", ".join(no_hand[:10]) + (f", ... ({len(no_hand) - 10} more)" if len(no_hand) > 10 else "")
        print(f"  no hand found in {len(no_hand)} clip(s), which the builder crops with its fallback: {shown}",
              file=sys.stderr)
    for key, error in unreadable:
        print(f"  could not read {key}: {error}", file=sys.stderr)
    if not_found:
        print(f"  {len(not_found)} WLASL video(s) not in the videos folder (the builder skips them too)", file=sys.stderr)
    if args.missing:
        print(f"  clip ids without a box: {args.missing}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
