"""The CPU a benchmark ran on: model name, the instruction sets that decide int8 speed,
and what the int8 probe (ai_detector.inference.sessions) decided on it.

    python -m bench.cpu
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path
from typing import Any

from ai_detector.inference.sessions import int8_saturates

log = logging.getLogger("bench")

# What makes onnxruntime's u8*s8 kernels fast and exact (VNNI, AMX) or saturating (AVX2 alone).
INT8_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """Model name, the relevant flags, VNNI yes/no and the int8 probe's decision."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    present = [flag for flag in INT8_FLAGS if flag in flags]
    return {
        "model": model,
        "cores": os.cpu_count(),
        "int8_flags": present,
        "vnni": any(flag in flags for flag in ("avx512_vnni", "avx_vnni", "amx_int8")),
        "int8_exact_sums_forced": int8_saturates(),
    }


def describe_cpu(info: dict[str, Any]) -> str:
    vnni = "VNNI yes" if info["vnni"] else "VNNI no"
    exact = "exact int8 entry forced" if info["int8_exact_sums_forced"] else "plain int8 sessions"
    return (
        f"{info['model']}, {info['cores']} cores, {vnni} ({' '.join(info['int8_flags'])}), {exact}"
    )


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log.info(describe_cpu(cpu_info()))
