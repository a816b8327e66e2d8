#!/usr/bin/env python3
"""Reference numbers from PyTorch on the same machine, for comparison with `asl-dist-train bench`.

Runs where torch and torchvision are installed (never needed by asl-dist-train):

    python3 tools/bench_pytorch.py --arch r2plus1d_18 --batch-size 8 --frames 16 --crop-size 112 --steps 2
    # PyTorch's fastest CPU mode: bf16 autocast with channels_last_3d tensors
    python3 tools/bench_pytorch.py --arch c3d --batch-size 2 --precision bf16 --channels-last

Times training steps (forward, cross-entropy, backward, SGD step) and evaluation forwards on random clips with
torch's CPU threads set to --threads, and prints clips/s and peak RSS (ru_maxrss), the last line as JSON.
The C3D is the seed pipeline's (eight conv-BN-ReLU blocks, spatial-only max pooling, mean over H,W then T).
"""
import argparse
import json
import resource
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--arch", default="r2plus1d_18", choices=["r2plus1d_18", "c3d"])
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--crop-size", type=int, default=112)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="bf16: forward under torch.autocast('cpu', dtype=torch.bfloat16)")
    p.add_argument("--channels-last", action="store_true", help="model and input in torch.channels_last_3d")
    a = p.parse_args()

    import torch
    torch.set_num_threads(a.threads)
    if a.arch == "c3d":
        from reference_models import C3D
        model = C3D(64, a.classes)
    else:
        from torchvision.models.video import r2plus1d_18
        model = r2plus1d_18(num_classes=a.classes)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(a.batch_size, 3, a.frames, a.crop_size, a.crop_size)
    if a.channels_last:
        model = model.to(memory_format=torch.channels_last_3d)
        x = x.contiguous(memory_format=torch.channels_last_3d)
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if a.precision == "bf16" else None

    def forward():
        if autocast is None:
            return model(x)
        with autocast():
            return model(x)
    y = torch.randint(0, a.classes, (a.batch_size,))
    loss_fn = torch.nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss_fn(forward().float(), y).backward()
        opt.step()

    model.train()
    train_step()
    t = time.perf_counter()
    for _ in range(a.steps):
        train_step()
    train_s = (time.perf_counter() - t) / a.steps
    model.eval()
    with torch.no_grad():
        forward()
        t = time.perf_counter()
        for _ in range(a.steps):
            forward()
        eval_s = (time.perf_counter() - t) / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"arch": a.arch, "batch_size": a.batch_size, "frames": a.frames, "crop_size": a.crop_size,
           "threads": a.threads, "precision": a.precision, "channels_last": a.channels_last, "torch": torch.__version__, "train_clips_per_s": a.batch_size / train_s,
           "eval_clips_per_s": a.batch_size / eval_s, "peak_rss_bytes": rss}
    mode = a.precision + (" channels_last_3d" if a.channels_last else "")
    print(f"pytorch {torch.__version__} {a.arch} {mode} batch {a.batch_size}x{a.frames}x{a.crop_size}: "
          f"train {out['train_clips_per_s']:.3f} clips/s, eval {out['eval_clips_per_s']:.3f} clips/s, "
          f"peak RSS {rss / 2**20:.0f} MiB")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
