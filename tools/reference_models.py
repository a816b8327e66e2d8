"""PyTorch reference models the tools compare asl-dist-train against (needs torch and torchvision).

- ScaledR2Plus1D: torchvision's r2plus1d_18 built from torchvision's own blocks at any width (64 = torchvision's).
- C3D: the seed pipeline's C3D (eight conv-BN-ReLU blocks, spatial-only max pooling, mean over H,W then T).
"""
import torch
import torch.nn as nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D


class ScaledR2Plus1D(nn.Module):
    """torchvision's VideoResNet(BasicBlock, Conv2Plus1D, [2,2,2,2], R2Plus1dStem) with channels scaled by width/64
    and its module nesting (hence its state-dict keys); temporal_stride 1 keeps T through the strided blocks."""

    def __init__(self, width, classes, temporal_stride=2):
        super().__init__()
        stem_mid = max(1, (45 * width + 32) // 64)
        self.stem = nn.Sequential(
            nn.Conv3d(3, stem_mid, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False), nn.BatchNorm3d(stem_mid),
            nn.ReLU(inplace=True),
            nn.Conv3d(stem_mid, width, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(width),
            nn.ReLU(inplace=True))
        self.inplanes = width
        for i, planes in enumerate([width, 2 * width, 4 * width, 8 * width]):
            setattr(self, f"layer{i + 1}", self._make_layer(planes, 1 if i == 0 else 2, temporal_stride))
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(8 * width, classes)

    def _make_layer(self, planes, stride, ts):
        blocks = []
        for b in range(2):
            s = stride if b == 0 else 1
            downsample = None
            if s != 1 or self.inplanes != planes:
                downsample = nn.Sequential(
                    nn.Conv3d(self.inplanes, planes, 1, stride=(ts if s == 2 else 1, s, s), bias=False),
                    nn.BatchNorm3d(planes))
            block = BasicBlock(self.inplanes, planes, Conv2Plus1D, s, downsample)
            if s == 2 and ts == 1:  # keep T: the temporal conv of conv1 gets stride 1
                block.conv1[0][3].stride = (1, 1, 1)
            blocks.append(block)
            self.inplanes = planes
        return nn.Sequential(*blocks)

    def forward(self, x):
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


class C3DBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class C3D(nn.Module):
    NAMES = ["conv1", "conv2", "conv3a", "conv3b", "conv4a", "conv4b", "conv5a", "conv5b"]
    MULT = [1, 2, 4, 4, 8, 8, 8, 8]
    POOL = {"conv1", "conv2", "conv3b", "conv4b"}

    def __init__(self, width, classes):
        super().__init__()
        cin = 3
        for name, m in zip(self.NAMES, self.MULT):
            setattr(self, name, C3DBlock(cin, width * m))
            cin = width * m
        self.pool = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        for name in self.NAMES:
            x = getattr(self, name)(x)
            if name in self.POOL:
                x = self.pool(x)
        return self.fc(x.mean((3, 4)).mean(2))
