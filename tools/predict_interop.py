#!/usr/bin/env python3
"""PyTorch side of the asl-predict interop tests (Tests/PredictTests/TorchInteropTests.swift runs it when torch,
torchvision and safetensors are importable; nothing else needs it).

    # our weights into torchvision: strict load, eval logits (float64) on the `input` tensor of INPUT
    python3 tools/predict_interop.py logits --weights W.safetensors --input INPUT.safetensors --out logits.json
    # torchvision's r2plus1d_18(num_classes=K) with random weights and BN statistics, saved as a .pth state dict,
    # plus a random input and its eval logits, for converting with tools/convert_torchvision.py --pth
    python3 tools/predict_interop.py export --classes K --out DIR

`logits` builds torchvision's own r2plus1d_18 for width 64 and temporal stride 2 (the file's metadata `width` and
`temporal_stride`, else inferred as asl-predict does); for other widths it builds the same VideoResNet from
torchvision's BasicBlock and Conv2Plus1D with every channel count scaled by width/64 (torchvision hard-codes 64).
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torchvision.models.video import r2plus1d_18
from reference_models import ScaledR2Plus1D


def logits(args):
    state = load_file(args.weights)
    with safe_open(args.weights, framework="pt") as f:
        meta = f.metadata() or {}
    width = int(meta.get("width", state["stem.3.weight"].shape[0]))
    ts = int(meta.get("temporal_stride", 2))
    classes = state["fc.weight"].shape[0]
    if width == 64 and ts == 2:
        model, kind = r2plus1d_18(num_classes=classes), "torchvision r2plus1d_18"
    else:
        model, kind = ScaledR2Plus1D(width, classes, ts), f"VideoResNet at width {width}"
    model.load_state_dict(state, strict=True)
    model = model.double().eval()
    x = load_file(args.input)["input"].double()
    with torch.no_grad():
        out = model(x)
    with open(args.out, "w") as f:
        json.dump({"model": kind, "logits": out.tolist()}, f)
    print(f"{kind}: loaded {len(state)} tensors strictly, logits {list(out.shape)}")


def export(args):
    torch.manual_seed(args.seed)
    model = r2plus1d_18(num_classes=args.classes)
    # Non-trivial BN affine parameters and statistics, so that the comparison exercises them.
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            with torch.no_grad():
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.num_batches_tracked.fill_(7)
    with torch.no_grad():
        model.fc.weight.normal_(0, 0.1)
        model.fc.bias.uniform_(-0.1, 0.1)
    os.makedirs(args.out, exist_ok=True)
    torch.save(model.state_dict(), os.path.join(args.out, "model.pth"))
    x = torch.randn(1, 3, args.frames, args.crop, args.crop)
    save_file({"input": x.contiguous()}, os.path.join(args.out, "input.safetensors"))
    model = model.double().eval()
    with torch.no_grad():
        out = model(x.double())
    with open(os.path.join(args.out, "logits.json"), "w") as f:
        json.dump({"model": "torchvision r2plus1d_18", "logits": out.tolist()}, f)
    print(f"exported r2plus1d_18({args.classes} classes) and logits {list(out.shape)} to {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("logits")
    a.add_argument("--weights", required=True)
    a.add_argument("--input", required=True)
    a.add_argument("--out", required=True)
    b = sub.add_parser("export")
    b.add_argument("--classes", type=int, required=True)
    b.add_argument("--frames", type=int, default=4)
    b.add_argument("--crop", type=int, default=32)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", required=True)
    args = p.parse_args()
    logits(args) if args.command == "logits" else export(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
