#!/usr/bin/env python3
"""Side-by-side shard-build benchmark: `asl-shards build videos` (one or more binaries, each --hand-crop mode) and
bench_shards_python.py on the same videos, interleaved round by round so that a busy machine slows all alike.
Prints each run and the median frames/s (frames written / wall seconds of the whole command, start-up included).

    tools/bench_shards_side_by_side.py VIDEOS --repeats 5 --bin before=/tmp/asl-shards-old --bin after=.build/release/asl-shards
"""
import argparse, os, re, shutil, statistics, subprocess, sys, tempfile, time

here = os.path.dirname(os.path.abspath(__file__))
p = argparse.ArgumentParser()
p.add_argument("videos")
p.add_argument("--bin", action="append", default=[], help="NAME=PATH of an asl-shards binary (repeatable)")
p.add_argument("--modes", default="none,motion")
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--size", type=int, default=112)
p.add_argument("--workers", type=int, default=2)
a = p.parse_args()
scratch = tempfile.mkdtemp(prefix="bench-shards-")
runs = {}

def timed(name, command, frames_of):
    start = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    seconds = time.perf_counter() - start
    frames = frames_of(out)
    runs.setdefault(name, []).append(frames / seconds)
    print(f"{name:24s} {seconds:6.2f} s  {frames} frames  {frames / seconds:6.1f} frames/s", flush=True)

def ours_frames(out): return sum(int(n) for n in re.findall(r"clips, (\d+) frames", out))
def python_frames(out): return int(re.search(r"(\d+) frames in", out).group(1))

for r in range(a.repeats):
    for spec in a.bin:
        name, path = spec.split("=", 1)
        for mode in a.modes.split(","):
            out = os.path.join(scratch, "shards")
            shutil.rmtree(out, ignore_errors=True)
            timed(f"{name} {mode}", [path, "build", "videos", "--root", a.videos, "--size", str(a.size),
                                     "--workers", str(a.workers), "--hand-crop", mode, "--out", out], ours_frames)
    timed("python centre", [sys.executable, os.path.join(here, "bench_shards_python.py"), a.videos,
                            os.path.join(scratch, "py.h5"), "--size", str(a.size), "--workers", str(a.workers)], python_frames)
shutil.rmtree(scratch, ignore_errors=True)
python = statistics.median(runs["python centre"])
print("\nmedian frames/s over", a.repeats, "rounds:")
for name, values in runs.items():
    m = statistics.median(values)
    print(f"  {name:24s} {m:6.1f}  ({m / python:.2f}× python; runs {', '.join(f'{v:.0f}' for v in values)})")
