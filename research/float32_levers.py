"""The levers tried to make the float32 path faster (issue 39, 2026-12-07), each a change to the default's
step, measured on the float32 class beside the machine classes of ``benchmarks.cpu_paths``.

    python -m research.float32_levers [--repeats 3] [--images 1920] [--out FILE.md]

None reached the 1.3x that would have kept it; the figures are in docs/benchmarks.md.
"""

from __future__ import annotations

from benchmarks import cpu_paths

# The levers tried on the float32 path, each a change to the default's step (speed only: the algorithm is
# the same unless the row says otherwise). Left out to keep the sweep under half an hour: oneDNN off (half
# the speed of the tutorial's networks) and intra-op 1 / inter-op 2 threads (0.90x there), both in the CPU
# attempts of docs/benchmarks.md; batch 128, between the rows of 64 and 256.
LEVERS = {
    "default as on the full data (10 steps per call; the epoch's last call takes the 7 left)": {},
    "XLA (runtime.jit_compile: true)": {"overrides": {"runtime": {"jit_compile": True}}},
    "thread pools: intra-op 2, inter-op 1": {"threads": [2, 1]},
    "batch 256 (same rate; changes the algorithm)": {"overrides": {"train": {"batch_size": 256}}},
    "steps_per_execution 1 (what 937 steps resolved to before an epoch's last call could be short)": {
        "overrides": {"runtime": {"steps_per_execution": 1}}, "spe": 1},
    "resize-then-conv instead of Conv2DTranspose (changes the networks)": {"patch": "resize_conv"},
    "oneDNN primitive cache off (ONEDNN_PRIMITIVE_CACHE_CAPACITY=0)": {"env": {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "0"}},
}  # fmt: skip


def resize_then_conv(channels: int, kernel: int, init):
    """The generator's upsampling block as nearest-neighbour resize and a 3x3 convolution (Odena et al., 2016)."""
    from keras import layers

    return [layers.UpSampling2D(2), layers.Conv2D(channels, 3, padding="same", use_bias=False,
                                                  kernel_initializer=init),
            layers.BatchNormalization(), layers.ReLU()]  # fmt: skip


def apply(spec: dict) -> None:
    """What a lever asks beyond the keys ``cpu_paths.measure`` reads: a different upsampling block."""
    if spec.get("patch") == "resize_conv":
        from fashion_dcgan.gan import networks

        networks._upsampling = resize_then_conv  # a study of a variant the library does not offer


def main(argv: list[str] | None = None) -> None:
    cpu_paths.main(argv, levers=LEVERS, module="research.float32_levers", before_child=apply)


if __name__ == "__main__":
    main()
