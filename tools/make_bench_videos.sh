#!/bin/sh
# Makes the shard-build benchmark videos: 3 class folders × 6 H.264 videos, 132 frames each at 1280×720, 30 fps,
# from FFmpeg's own generators (a moving test pattern, a zooming fractal, drifting gradients) with a fixed grain
# over them, so that the content has texture and motion like a camera's and every run makes the same bytes.
# Usage: tools/make_bench_videos.sh DIR   (needs the ffmpeg program with libx264; about a minute on 2 cores)
set -eu
out=${1:?usage: $0 DIR}
grain="noise=alls=8:allf=u"   # no temporal flag: the grain is fixed, so it adds texture but not motion
for k in 0 1 2 3 4 5; do
    mkdir -p "$out/pattern" "$out/fractal" "$out/gradient"
    ffmpeg -v error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" -ss "$k" -frames:v 132 -vf "$grain" \
        -c:v libx264 -preset medium -crf 20 -pix_fmt yuv420p "$out/pattern/p$k.mp4"
    ffmpeg -v error -y -f lavfi -i "mandelbrot=size=1280x720:rate=30:start_scale=$((2 + k)):end_scale=0.2" \
        -frames:v 132 -vf "$grain" -c:v libx264 -preset medium -crf 20 -pix_fmt yuv420p "$out/fractal/f$k.mp4"
    ffmpeg -v error -y -f lavfi -i "gradients=size=1280x720:rate=30:speed=0.0$((2 + k)):seed=$k" \
        -frames:v 132 -vf "$grain" -c:v libx264 -preset medium -crf 20 -pix_fmt yuv420p "$out/gradient/g$k.mp4"
done
