#!/usr/bin/env python3
"""Convert a torchvision video model checkpoint into safetensors that asl-dist-train and asl-predict load.

Runs wherever torch and torchvision are installed (not needed by asl-dist-train itself):

    # torchvision's Kinetics-400 R(2+1)D-18 (downloads the weights through torchvision's cache)
    python3 tools/convert_torchvision.py --kinetics400 --out r2plus1d_18_k400.safetensors
    # any state dict saved with torch.save(model.state_dict(), "x.pth") (or a {"state_dict": ...} / {"model": ...} dict)
    python3 tools/convert_torchvision.py --pth x.pth --arch r2plus1d_18 --out x.safetensors

Keys are kept exactly (torchvision's state-dict keys are ours); tensors are stored as float32 (num_batches_tracked
as int64). The metadata records the architecture and, for Kinetics-400, its normalization, 16 frames and crop 112.
"""
import argparse
import json
import sys


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--kinetics400", action="store_true", help="torchvision r2plus1d_18(weights=KINETICS400_V1)")
    src.add_argument("--pth", help="a .pth file holding a state dict")
    p.add_argument("--arch", default="r2plus1d_18", choices=["r2plus1d_18", "c3d"])
    p.add_argument("--out", required=True, help="output .safetensors file")
    args = p.parse_args()

    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as e:
        print(f"convert_torchvision.py: {e}: this tool needs torch, torchvision and safetensors "
              "(pip install torch torchvision safetensors); asl-dist-train itself does not", file=sys.stderr)
        return 2

    meta = {"arch": args.arch}
    if args.kinetics400:
        from torchvision.models.video import R2Plus1D_18_Weights, r2plus1d_18
        weights = R2Plus1D_18_Weights.KINETICS400_V1
        try:
            state = r2plus1d_18(weights=weights).state_dict()
        except OSError as e:  # urllib's URLError, socket errors and a refused connection are all OSErrors
            reason = getattr(e, "reason", e)
            print(f"convert_torchvision.py: cannot download torchvision's Kinetics-400 weights from {weights.url}: "
                  f"{reason}.\nOffline? Fetch that file on a machine with internet and either put it in torch's cache "
                  f"($TORCH_HOME/hub/checkpoints/, by default ~/.cache/torch/hub/checkpoints/) and run this again, or "
                  f"convert it directly with --pth {weights.url.rsplit('/', 1)[-1]} --arch r2plus1d_18 "
                  f"(then give asl-predict --frames 16 --crop-size 112 and Kinetics-400's --mean/--std).",
                  file=sys.stderr)
            return 2
        categories = weights.meta["categories"]
        meta.update({"classes": json.dumps(categories), "frames": "16", "crop": "112",
                     "mean": json.dumps([0.43216, 0.394666, 0.37645]),
                     "std": json.dumps([0.22803, 0.22145, 0.216989])})
    else:
        state = torch.load(args.pth, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model"):
            if isinstance(state, dict) and key in state and isinstance(state[key], dict):
                state = state[key]
        # Checkpoints saved from DataParallel/DDP wrappers prefix every key with "module.".
        state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}

    tensors = {}
    for k, v in state.items():
        v = v.detach().cpu().contiguous()
        tensors[k] = v.to(torch.int64) if k.endswith("num_batches_tracked") else v.to(torch.float32)
    save_file(tensors, args.out, metadata=meta)
    print(f"wrote {len(tensors)} tensors to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
