"""FLOPs of one GAN training step, counted from the layers, and the machine's FP32 peak, estimated.

Counted: the multiply-adds of Dense, Conv2D and Conv2DTranspose layers (2 FLOPs each); batch norm,
activations, dropout and the optimizer update are elementwise and left out (under 2% here). A
backward pass costs twice its forward pass (gradients with respect to inputs and to weights).

One step of the tutorial's algorithm, per real image in the batch:
  discriminator update: G forward (1 F_G) + D forward and backward on real and fake (3 F_D x 2)
  generator update:     G forward and backward (3 F_G) + D forward and backward (3 F_D)
  total:                4 F_G + 9 F_D
The tutorial's loop and ours do exactly this work, so the same count serves both.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import keras


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one image's forward pass through the model's Dense and (transposed) convolution layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += 2 * int(layer.kernel.shape[0]) * layer.units
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            # Every input pixel scatters a k x k x out kernel: count by the input's spatial size.
            _, height, width, channels = layer.input.shape
            kernel = math.prod(layer.kernel_size)
            total += 2 * height * width * kernel * channels * layer.filters
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, _ = layer.output.shape
            channels = layer.input.shape[-1]
            total += 2 * height * width * math.prod(layer.kernel_size) * channels * layer.filters
    return total


def step_flops_per_image(generator: keras.Model, discriminator: keras.Model) -> int:
    """FLOPs of one training step, per real image of the batch (see the module docstring)."""
    return 4 * forward_flops(generator) + 9 * forward_flops(discriminator)


def network_cost(params) -> dict[str, float]:
    """Parameter counts of the recipe's generator and discriminator, each one's forward MFLOP per image,
    and the training step's MFLOP per real image: 4 F_G + 9 F_D, or 3 F_G + 9 F_D with one generator
    pass per step (``train.reuse_fakes``). The lazy R1 penalty's double backward pass, on one step in
    ``every``, is left out, as are the elementwise layers."""
    from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE, NUM_CLASSES
    from fashion_dcgan.gan.networks import build_discriminator, build_generator

    model = params.model
    classes = NUM_CLASSES if model.conditional else None
    generator = build_generator(model.variant, model.latent_dim, model.generator_width, classes, model.conditioning)
    discriminator = build_discriminator(model.variant, model.discriminator_width, IMAGE_SHAPE, classes)
    forward_g, forward_d = forward_flops(generator), forward_flops(discriminator)
    passes = 3 if params.train.reuse_fakes else 4
    return {
        "g_params": generator.count_params(),
        "d_params": discriminator.count_params(),
        "g_mflop": forward_g / 1e6,
        "d_mflop": forward_d / 1e6,
        "step_mflop": (passes * forward_g + 9 * forward_d) / 1e6,
    }


def _cpu_info() -> dict[str, str]:
    path = Path("/proc/cpuinfo")
    if not path.exists():
        return {}
    info: dict[str, str] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        info.setdefault(key.strip(), value.strip())
    return info


def fp32_peak() -> tuple[float, str]:
    """(GFLOP/s, how it was estimated): cores x clock x FP32 lanes x 2 (fused multiply-add) x FMA units."""
    info = _cpu_info()
    cores = os.cpu_count() or 1
    flags = set(info.get("flags", "").split())
    mhz = float(info.get("cpu MHz", "0") or 0)
    model = re.sub(r"\s+", " ", info.get("model name", "unknown CPU"))
    lanes, isa = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2") if "avx2" in flags else (4, "SSE")
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    units = 2  # server cores with AVX-512 have two FMA units; an upper bound (some have one)
    if not mhz:
        return float("nan"), f"{model}: clock unknown, no peak estimate"
    peak = cores * mhz / 1000 * lanes * fma * units
    how = (
        f"{model}: {cores} cores x {mhz / 1000:.2f} GHz x {lanes} FP32 lanes ({isa}) x {fma} (FMA) x {units} FMA "
        f"units = {peak:.0f} GFLOP/s (an upper bound: turbo ignored, two FMA units assumed)"
    )
    return peak, how


def bf16_peak() -> tuple[float, str]:
    """(GFLOP/s, how it was estimated) of bfloat16 matrix products: AMX tiles where the CPU has them
    (Intel gives 1,024 BF16 FLOP per cycle per core for Sapphire Rapids' AMX-TMUL), else AVX512-BF16's
    VDPBF16PS (32 products summed in pairs per 512-bit instruction: 64 FLOP, on two FMA units)."""
    info = _cpu_info()
    cores = os.cpu_count() or 1
    flags = set(info.get("flags", "").split())
    mhz = float(info.get("cpu MHz", "0") or 0)
    if "amx_bf16" in flags:
        per_cycle, how = 1024, "AMX-BF16 tiles, 1,024 FLOP/cycle/core"
    elif "avx512_bf16" in flags:
        per_cycle, how = 128, "AVX512-BF16 (VDPBF16PS), 64 FLOP x 2 units/cycle/core"
    else:
        return float("nan"), "no bfloat16 units (amx_bf16 or avx512_bf16) in /proc/cpuinfo"
    if not mhz:
        return float("nan"), f"{how}: clock unknown, no peak estimate"
    peak = cores * mhz / 1000 * per_cycle
    return peak, f"{cores} cores x {mhz / 1000:.2f} GHz x {how} = {peak:.0f} GFLOP/s (turbo ignored)"
