#!/usr/bin/env python3
"""Reference fixtures for the NN training pieces (weights files, optimizers, LR schedules), made with PyTorch.

Run from the repository root where torch and safetensors are installed:
    python3 tools/make_nn_train_fixtures.py
Writes small files under Tests/NNTests/Fixtures/ that the Swift tests only read. Safetensors fixtures carry the
extension .st-fixture because *.safetensors is git-ignored.
"""
import json
import math
import os

import torch
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "NNTests", "Fixtures")


def flat(t):
    return [float(v) for v in t.detach().double().flatten().tolist()]


def tiny_state_dict():
    """A torchvision-shaped miniature: stem conv + BN with running stats + a linear head."""
    torch.manual_seed(0)

    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Sequential(torch.nn.Conv3d(3, 4, (1, 3, 3), bias=False), torch.nn.BatchNorm3d(4))
            self.fc = torch.nn.Linear(4, 5)

    m = Tiny()
    m.train()
    for _ in range(3):  # non-trivial running stats and num_batches_tracked = 3
        m.stem(torch.randn(2, 3, 2, 5, 5))
    sd = m.state_dict()
    meta = {"arch": "tiny", "classes": json.dumps(["hello", "thanks", "yes", "no", "please"]),
            "frames": "2", "crop": "5", "mean": "[0.43216, 0.394666, 0.37645]", "std": "[0.22803, 0.22145, 0.216989]"}
    save_file(sd, os.path.join(OUT, "tiny_state_dict.st-fixture"), metadata=meta)
    expected = {k: {"shape": list(v.shape), "dtype": str(v.dtype), "values": flat(v)} for k, v in sd.items()}
    with open(os.path.join(OUT, "tiny_state_dict.json"), "w") as f:
        json.dump({"tensors": expected, "metadata": meta}, f)

    # Half, bfloat16 and double tensors, converted to Float on read.
    g = torch.Generator().manual_seed(1)
    base = torch.randn(7, generator=g) * 3
    base[0], base[1] = 6.0e-8, -65504.0  # a half subnormal and the most negative finite half
    mixed = {"half": base.half(), "bfloat": base.bfloat16(), "double": base.double().reshape(1, 7)}
    save_file(mixed, os.path.join(OUT, "float_dtypes.st-fixture"))
    with open(os.path.join(OUT, "float_dtypes.json"), "w") as f:
        json.dump({k: flat(v) for k, v in mixed.items()}, f)


def optimizer_trajectories():
    """Five steps of torch.optim.SGD and AdamW on a small model with fixed gradients and four parameter groups."""
    g = torch.Generator().manual_seed(2)
    shapes = {"backbone.conv.weight": (2, 3), "backbone.bn.weight": (3,), "backbone.bn.bias": (3,),
              "fc.weight": (2, 3), "fc.bias": (2,)}
    initial = {k: torch.randn(s, generator=g) for k, s in shapes.items()}
    grads = [{k: torch.randn(s, generator=g) for k, s in shapes.items()} for _ in range(5)]
    groups = [
        {"names": ["backbone.conv.weight"], "lr": 0.01, "weight_decay": 1e-3},
        {"names": ["backbone.bn.weight", "backbone.bn.bias"], "lr": 0.01, "weight_decay": 0.0},
        {"names": ["fc.weight"], "lr": 0.1, "weight_decay": 1e-3},
        {"names": ["fc.bias"], "lr": 0.1, "weight_decay": 0.0},
    ]
    configs = {
        "sgd_nesterov": ("sgd", {"momentum": 0.9, "dampening": 0.0, "nesterov": True}),
        "sgd_dampening": ("sgd", {"momentum": 0.8, "dampening": 0.3, "nesterov": False}),
        "adamw": ("adamw", {"betas": [0.9, 0.999], "eps": 1e-8}),
    }
    runs = {}
    for name, (kind, hyper) in configs.items():
        params = {k: v.clone().requires_grad_(True) for k, v in initial.items()}
        pg = [{"params": [params[n] for n in gr["names"]], "lr": gr["lr"], "weight_decay": gr["weight_decay"]}
              for gr in groups]
        if kind == "sgd":
            opt = torch.optim.SGD(pg, lr=0.0, foreach=False, **hyper)
        else:
            opt = torch.optim.AdamW(pg, lr=0.0, betas=tuple(hyper["betas"]), eps=hyper["eps"], foreach=False)
        traj = []
        for step in range(5):
            for k, p in params.items():
                p.grad = grads[step][k].clone()
            opt.step()
            traj.append({k: flat(p) for k, p in params.items()})
        runs[name] = {"kind": kind, "hyper": hyper, "trajectory": traj}
    with open(os.path.join(OUT, "optimizer_trajectories.json"), "w") as f:
        json.dump({"shapes": {k: list(s) for k, s in shapes.items()},
                   "initial": {k: flat(v) for k, v in initial.items()},
                   "gradients": [{k: flat(v) for k, v in gs.items()} for gs in grads],
                   "groups": groups, "runs": runs}, f)


def lr_schedules():
    """Learning rates torch's schedulers give at steps 0..N-1 (the LR each optimizer step uses)."""
    def run(make, steps, base=0.1):
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.SGD([p], lr=base)
        sched = make(opt)
        lrs = []
        for _ in range(steps):
            lrs.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return lrs

    out = {
        "step": {"base": 0.1, "step_size": 3, "gamma": 0.5,
                 "lrs": run(lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), 10)},
        "warmup_cosine": {"base": 0.1, "warmup_steps": 4, "start_factor": 0.1, "total_steps": 10, "min_factor": 0.01,
                          "lrs": run(lambda o: torch.optim.lr_scheduler.SequentialLR(o, [
                              torch.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=4),
                              torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=6, eta_min=0.1 * 0.01)],
                              milestones=[4]), 11)},
    }
    with open(os.path.join(OUT, "lr_schedules.json"), "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    tiny_state_dict()
    optimizer_trajectories()
    lr_schedules()
