#!/usr/bin/env python3
"""The shard build as a plain OpenCV/h5py script, the yardstick for `asl-shards build`'s frames/s: every frame of
every video under ROOT/<class>/, centre square, INTER_AREA to --size, RGB uint8 into one HDF5 file, N processes.
Needs opencv-python-headless and h5py (benchmark only). Usage: bench_shards_python.py ROOT OUT.h5 --size 112 --workers 2"""
import argparse, glob, os, time
from multiprocessing import Pool
import cv2, h5py, numpy as np

def clip(path, size):
    cap, frames = cv2.VideoCapture(path), []
    while True:
        ok, bgr = cap.read()
        if not ok: break
        h, w = bgr.shape[:2]; s = min(h, w); y, x = (h - s) // 2, (w - s) // 2
        small = cv2.resize(bgr[y:y + s, x:x + s], (size, size), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_BGR2RGB))
    return path, np.stack(frames)

if __name__ == "__main__":
    p = argparse.ArgumentParser(); p.add_argument("root"); p.add_argument("out")
    p.add_argument("--size", type=int, default=112); p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    paths, start, total = sorted(glob.glob(os.path.join(a.root, "*", "*"))), time.perf_counter(), 0
    with Pool(a.workers) as pool, h5py.File(a.out, "w") as f:
        for i, (path, frames) in enumerate(pool.starmap(clip, [(q, a.size) for q in paths], chunksize=1)):
            f.create_dataset(f"clip{i:05d}", data=frames); total += len(frames)
    seconds = time.perf_counter() - start
    print(f"{len(paths)} videos, {total} frames in {seconds:.2f} s: {total / seconds:.1f} frames/s")
