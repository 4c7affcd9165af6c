"""Model file of the baseline archive: DetectorNet, built with no arguments as TorchServe does.

TorchServe's eager-mode loader imports this file, instantiates its only class with no
arguments and loads the archive's state dict into it. The class count and taps come from
``arch.json``, packed beside this file by bench/servers.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from ai_detector.pipeline.model import DetectorNet


class BaselineDetectorNet(DetectorNet):
    def __init__(self) -> None:
        arch = json.loads((Path(__file__).parent / "arch.json").read_text())
        super().__init__(arch["num_classes"], taps=tuple(arch["taps"]), pretrained=False)
