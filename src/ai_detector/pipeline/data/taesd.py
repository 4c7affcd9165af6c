"""The tiny FLUX.2 autoencoder (TAEF2) of madebyollin/taesd, for content-matched fakes.

The network definition of ``taesd.py`` in https://github.com/madebyollin/taesd (MIT
licence, (c) 2023 Ollin Boer Bohan), reduced to the FLUX.2 variant (32 latent channels,
group-norm mid blocks); its weights (``taef2_encoder.pth``, ``taef2_decoder.pth``, 2.7 MB
each) are fetched from that repository at the commit configs/sources/dev.yaml records.
An image passed through it keeps its content and gets a generator's decoder traces:
:mod:`ai_detector.pipeline.data.reconstruct` labels the output AI-generated.

    auto = TinyAutoencoder.load(encoder_path, decoder_path)
    rgb01 = auto.reconstruct(rgb01)   # (N, 3, H, W) in [0, 1], H and W multiples of 8
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

LATENT_CHANNELS = 32
# Both image sides must divide by the encoder's three stride-2 convolutions.
MULTIPLE = 8


def _conv(n_in: int, n_out: int, bias: bool = True, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(n_in, n_out, 3, padding=1, bias=bias, stride=stride)


class _Clamp(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(x / 3) * 3


class _Block(nn.Module):
    def __init__(self, channels: int, midblock_norm: bool = False) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            _conv(channels, channels),
            nn.ReLU(),
            _conv(channels, channels),
            nn.ReLU(),
            _conv(channels, channels),
        )
        self.skip = nn.Identity()
        self.fuse = nn.ReLU()
        self.pool: nn.Module | None = None
        if midblock_norm:
            wide = channels * 4
            self.pool = nn.Sequential(
                nn.Conv2d(channels, wide, 1, bias=False),
                nn.GroupNorm(4, wide),
                nn.ReLU(inplace=True),
                nn.Conv2d(wide, channels, 1, bias=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool is not None:
            x = x + self.pool(x)
        return self.fuse(self.conv(x) + self.skip(x))


def _encoder() -> nn.Sequential:
    def stage(mid: bool = False) -> list[nn.Module]:
        return [_conv(64, 64, bias=False, stride=2), *(_Block(64, mid) for _ in range(3))]

    return nn.Sequential(
        _conv(3, 64),
        _Block(64),
        *stage(),
        *stage(),
        *stage(mid=True),
        _conv(64, LATENT_CHANNELS),
    )


def _decoder() -> nn.Sequential:
    def stage(mid: bool = False) -> list[nn.Module]:
        return [
            *(_Block(64, mid) for _ in range(3)),
            nn.Upsample(scale_factor=2),
            _conv(64, 64, bias=False),
        ]

    return nn.Sequential(
        _Clamp(),
        _conv(LATENT_CHANNELS, 64),
        nn.ReLU(),
        *stage(mid=True),
        *stage(),
        *stage(),
        _Block(64),
        _conv(64, 3),
    )


class TinyAutoencoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = _encoder()
        self.decoder = _decoder()

    @classmethod
    def load(cls, encoder_path: Path, decoder_path: Path) -> TinyAutoencoder:
        model = cls()
        for part, path in ((model.encoder, encoder_path), (model.decoder, decoder_path)):
            part.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        # channels_last: 2-3x faster on CPU for these full-resolution 3x3 convolutions.
        return model.eval().to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def reconstruct(self, rgb: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] through the latent space and back, clamped to [0, 1]."""
        rgb = rgb.contiguous(memory_format=torch.channels_last)
        return self.decoder(self.encoder(rgb)).clamp(0, 1)
