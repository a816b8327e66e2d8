#!/usr/bin/env python3
"""Writes the PyTorch reference fixtures of Tests/NNTests/Fixtures (run where torch + torchvision are installed;
CI only reads the files).

For tiny-width r2plus1d_18 and C3D (same architectures and state-dict keys as Sources/NN/Models) on a fixed
input it dumps the weights, train-mode logits, loss (cross-entropy, label smoothing 0.1), every parameter
gradient, running statistics after that step, eval-mode logits, and the losses of 10 SGD steps (lr 0.01,
momentum 0.9). References are computed in float64 from float32 weights, then stored as float32.

Format of each fixture `<name>.json` + `<name>.bin`:
  .bin   all tensors back to back, raw little-endian float32 (num_batches_tracked stored as float);
  .json  {"tensors": [{"name", "shape", "offset", "count"}...] (offset/count in floats, in file order),
          "scalars": {...}, "config": {...}}.
With `--full-width DIR` it instead writes `DIR/r2plus1d_18_full.{json,bin}`: torchvision's own r2plus1d_18 (7 classes)
on a 1x3x4x32x32 clip, with weights (also as `r2plus1d_18_full.st`, a safetensors state dict), logits, loss and
the gradients of a few tensors in training and in evaluation mode (the Swift test
FullWidthParityTests runs this on the fly when torch is importable). With `--autocast DIR` it writes full-width
r2plus1d_18 and c3d logits in float64 and the deviation of PyTorch's bf16 autocast from them (BF16ParityTests).

Tensor names: `weights/<state-dict key>`, `input`, `logits_train`, `logits_eval`, `grad/<key>`, `grad_eval/<key>`,
`running_after/<key>`. It also writes `r2plus1d_18_keys.json`: the full-width torchvision state-dict keys and
shapes.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
from torchvision.models.video import r2plus1d_18
from reference_models import C3D, ScaledR2Plus1D

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "NNTests", "Fixtures")


def randomize_bn(model, gen):
    """Non-trivial BN affine parameters and running statistics, so that the fixture checks them."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm3d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.4 - 0.2)
                m.running_mean.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.num_batches_tracked.fill_(3)


class Writer:
    def __init__(self, out=OUT):
        self.out, self.index, self.chunks, self.offset = out, [], [], 0

    def add(self, name, t):
        a = t.detach().cpu().to(torch.float64).numpy().astype("<f4").reshape(-1)
        self.index.append({"name": name, "shape": list(t.shape), "offset": self.offset, "count": int(a.size)})
        self.chunks.append(a)
        self.offset += a.size

    def save(self, stem, scalars, config):
        with open(os.path.join(self.out, stem + ".bin"), "wb") as f:
            f.write(np.concatenate(self.chunks).tobytes())
        with open(os.path.join(self.out, stem + ".json"), "w") as f:
            json.dump({"tensors": self.index, "scalars": scalars, "config": config}, f, indent=0)


def make(stem, model, config, shape, classes, seed):
    gen = torch.Generator().manual_seed(seed)
    randomize_bn(model, gen)
    x = torch.randn(*shape, generator=gen)
    labels = torch.tensor([i % classes for i in range(1, shape[0] + 1)])
    w = Writer()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    for k, v in model.state_dict().items():
        w.add("weights/" + k, v)
    w.add("input", x)
    model = model.double()
    xd = x.double()
    model.eval()
    with torch.no_grad():
        w.add("logits_eval", model(xd))
    model.train()
    crit = nn.CrossEntropyLoss(label_smoothing=0.1)
    logits = model(xd)
    loss = crit(logits, labels)
    loss.backward()
    w.add("logits_train", logits)
    for k, p in model.named_parameters():
        w.add("grad/" + k, p.grad)
    for k, v in model.state_dict().items():
        if "running" in k or "num_batches" in k:
            w.add("running_after/" + k, v)
    # 10 SGD steps from the same weights (train-mode losses do not depend on the running statistics), in float64
    # and in float32. Tiny r2plus1d models are chaotic under SGD (BN over a handful of values per channel), so
    # PyTorch's own float32 run leaves the float64 one after a few steps; `sgd_comparable_steps` counts the leading
    # steps where the two agree within 1e-3, and only those are a fair target for a float32 implementation.
    def sgd_losses(dtype):
        model.load_state_dict(initial)
        model.to(dtype).train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        out = []
        for _ in range(10):
            opt.zero_grad()
            l = crit(model(x.to(dtype)), labels)
            l.backward()
            opt.step()
            out.append(l.item())
        return out
    losses = sgd_losses(torch.float64)
    losses32 = sgd_losses(torch.float32)
    comparable = 0
    while comparable < 10 and abs(losses[comparable] - losses32[comparable]) <= 1e-3:
        comparable += 1
    w.save(stem, {"loss": loss.item(), "labels": labels.tolist(), "sgd_losses": losses, "sgd_losses_float32": losses32,
                  "sgd_comparable_steps": comparable,
                  "sgd_lr": 0.01, "sgd_momentum": 0.9, "label_smoothing": 0.1}, config)
    print(stem, "floats", w.offset, "loss", loss.item(), "sgd", losses[0], losses[-1], "comparable", comparable)


def full_width(out):
    torch.manual_seed(0)
    model = r2plus1d_18(num_classes=7)
    gen = torch.Generator().manual_seed(4)
    randomize_bn(model, gen)
    x = torch.randn(1, 3, 4, 32, 32, generator=gen)
    labels = torch.tensor([3])
    w = Writer(out)
    for k, v in model.state_dict().items():
        w.add("weights/" + k, v)
    # The same weights as a torchvision checkpoint in safetensors form, as a user would bring them.
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, "r2plus1d_18_full.st"))
    w.add("input", x)
    model = model.double()
    params = dict(model.named_parameters())
    keys = ["fc.weight", "fc.bias", "layer4.1.conv2.1.weight", "layer3.0.downsample.0.weight",
            "layer2.0.conv1.0.0.weight", "layer1.0.conv1.0.3.weight", "stem.3.weight", "stem.0.weight"]
    # Evaluation mode first (before the train-mode forward moves the running statistics): BN is a fixed affine map,
    # so these gradients are well conditioned, unlike train-mode BN over the 4 values per channel of layer4, which
    # amplifies float32 rounding by orders of magnitude.
    model.eval()
    logits_eval = model(x.double())
    nn.CrossEntropyLoss(label_smoothing=0.1)(logits_eval, labels).backward()
    w.add("logits_eval", logits_eval.detach())
    for k in keys:
        w.add("grad_eval/" + k, params[k].grad)
    model.zero_grad()
    model.train()
    logits = model(x.double())
    loss = nn.CrossEntropyLoss(label_smoothing=0.1)(logits, labels)
    loss.backward()
    w.add("logits_train", logits)
    for k in keys:
        w.add("grad/" + k, params[k].grad)
    w.save("r2plus1d_18_full", {"loss": loss.item(), "labels": labels.tolist(), "grad_keys": keys},
           {"arch": "r2plus1d_18", "width": 64, "classes": 7})


def autocast_deviation(out):
    """Full-width r2plus1d_18 (torchvision) and c3d (the seed's), random weights with non-trivial BN, one 8x56x56
    clip: evaluation logits in float64 (the reference), and how far PyTorch's own bf16 autocast (with
    channels_last_3d) lands from them, relative to the largest logit. Writes DIR/<arch>_bf16.{json,bin,st}."""
    from safetensors.torch import save_file
    for arch in ["r2plus1d_18", "c3d"]:
        torch.manual_seed(5)
        model = r2plus1d_18(num_classes=7) if arch == "r2plus1d_18" else C3D(64, 7)
        gen = torch.Generator().manual_seed(6)
        randomize_bn(model, gen)
        model.eval()
        x = torch.randn(2, 3, 8, 56, 56, generator=gen)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, os.path.join(out, arch + "_bf16.st"))
        w = Writer(out)
        w.add("input", x)
        with torch.no_grad():
            reference = model.double()(x.double())
            model = model.float().to(memory_format=torch.channels_last_3d)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                autocast = model(x.contiguous(memory_format=torch.channels_last_3d)).double()
        w.add("logits", reference)
        deviation = ((autocast - reference).abs().max() / reference.abs().max()).item()
        w.save(arch + "_bf16", {"autocast_deviation": deviation, "torch": torch.__version__}, {"arch": arch, "classes": 7})
        print(arch, "autocast bf16 deviation", deviation)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--full-width":
        return full_width(sys.argv[2])
    if len(sys.argv) == 3 and sys.argv[1] == "--autocast":
        return autocast_deviation(sys.argv[2])
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    make("r2plus1d_18_w4", ScaledR2Plus1D(4, 5), {"arch": "r2plus1d_18", "width": 4, "classes": 5,
                                                "temporal_stride": 2}, (2, 3, 4, 32, 32), 5, 1)
    torch.manual_seed(1)
    make("r2plus1d_18_w2_ts1", ScaledR2Plus1D(2, 5, temporal_stride=1),
         {"arch": "r2plus1d_18", "width": 2, "classes": 5, "temporal_stride": 1}, (2, 3, 2, 32, 32), 5, 2)
    torch.manual_seed(2)
    make("c3d_w2", C3D(2, 5), {"arch": "c3d", "width": 2, "classes": 5}, (2, 3, 4, 32, 32), 5, 3)
    keys = [{"name": k, "shape": list(v.shape)} for k, v in r2plus1d_18(num_classes=400).state_dict().items()]
    with open(os.path.join(OUT, "r2plus1d_18_keys.json"), "w") as f:
        json.dump(keys, f, indent=0)


if __name__ == "__main__":
    sys.exit(main())
