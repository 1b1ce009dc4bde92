"""The CPU's facts that decide training speed, read without TensorFlow (tests and the CLI use them first).

A CPU with bfloat16 units (AVX-512 BF16 or AMX) trains in ``mixed_bfloat16``; one without trains in
float32. ``ONEDNN_MAX_CPU_ISA=AVX2`` makes a bfloat16 CPU compute as a float32-only one does (an
emulation of the commonest laptop and cloud CPUs), and these functions follow it.
"""

from __future__ import annotations

import functools
import os
import platform

# CPU features with which oneDNN runs bfloat16 matrix products in hardware (AMX tiles, AVX-512 BF16).
BF16_FLAGS = ("amx_bf16", "avx512_bf16")
# The flags that decide a CPU's training speed, as `fashion-dcgan doctor` shows them.
SPEED_FLAGS = ("avx2", "fma", "avx512f", *BF16_FLAGS, "amx_tile")
# oneDNN's ISA levels (ONEDNN_MAX_CPU_ISA) from which it may use bfloat16 instructions; a lower cap
# (AVX2, AVX512_CORE, ...) makes a bfloat16 CPU compute as a float32-only one does.
BF16_ISAS = frozenset({"ALL", "DEFAULT", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512", "AVX512_CORE_AMX",
                       "AVX10_1_512_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX_FP16"})  # fmt: skip


@functools.cache
def info() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty elsewhere)."""
    return frozenset(info().get("flags", "").split())


def model() -> str:
    return info().get("model name") or platform.processor() or "unknown CPU"


def bf16_units_unused() -> str | None:
    """Why oneDNN will not use bfloat16 units this CPU may have (set before TensorFlow starts), or None."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa and isa not in BF16_ISAS:
        return f"ONEDNN_MAX_CPU_ISA={isa} keeps oneDNN below its bfloat16 instructions"
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip() == "0":
        return "TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off"
    return None


def has_bf16_units() -> bool:
    """Whether bfloat16 matrix products run on this CPU's own units (flags present and oneDNN not capped)."""
    return any(flag in flags() for flag in BF16_FLAGS) and bf16_units_unused() is None
