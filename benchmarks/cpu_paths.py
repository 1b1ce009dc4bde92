"""Training speed on each CPU machine class, against the matrix-product peak of the same cores.

    python -m benchmarks.cpu_paths [--repeats 3] [--images 3200] [--subjects NAME ...] [--out FILE.md]

Two machine classes on one CPU:

- ``native``: the CPU as it is; ``runtime.precision: auto`` (bfloat16 where the CPU has the units).
- ``float32-avx2``: oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``), float32: an emulation of a
  float32-only CPU, the commonest laptop and cloud class. It runs oneDNN's AVX2 kernels on this
  CPU's cores, clock and caches, so it shows what the instruction set costs, not a real AVX2 machine's
  speed (docs/benchmarks.md compares it with one).

For each class: images/s of the default recipe, the tutorial recipe and the seed's own loop
(``train_on_batch``, ``benchmarks.train_speed.Tutorial``), their GFLOP/s (the step's FLOPs counted from
the layers, ``benchmarks.flops``) against the float32 sgemm that numpy reaches on the same cores
(OpenBLAS's AVX2 kernels for the AVX2 class), and the oneDNN kernels that ran (``ONEDNN_VERBOSE``),
which shows whether the cap holds. ``research.float32_levers`` adds the levers tried on the float32
path to the same plan. Every measurement is a fresh process
(oneDNN reads its cap, TensorFlow its thread pools, at start-up), round-robin over the repeats, so a
slow patch of a shared machine hits every row; each row gives the median and the range over repeats.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLASSES = {"native": {}, "float32-avx2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "OPENBLAS_CORETYPE": "Haswell"}}
# What each class measures: the default and tutorial recipes through training.train, the default before round
# eight (both networks at full width), the deep networks at half width (the quick recipe), the seed's loop, sgemm.
# A child reads its recipe when it starts: a recipe edited while the benchmark runs changes the later rows.
SUBJECTS = {"default": {"kind": "recipe", "recipe": "default"}, "tutorial": {"kind": "recipe", "recipe": "tutorial"},
            "previous default": {"kind": "recipe", "recipe": "research/deep-networks"},
            "narrow": {"kind": "recipe", "recipe": "research/deep-networks-narrow"},
            "seed loop": {"kind": "seed_loop"}, "sgemm": {"kind": "sgemm"}}  # fmt: skip


def measure(spec: dict, images: int) -> dict:
    """One measurement in this process (``--child``): images/s of each timed epoch, or sgemm GFLOP/s."""
    if spec["kind"] == "sgemm":
        import numpy as np

        a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
        a @ a
        rates = []
        for _ in range(5):
            began = time.perf_counter()
            a @ a
            rates.append(2 * 2048**3 / (time.perf_counter() - began) / 1e9)
        return {"gflops": sorted(rates)[2]}
    import tensorflow as tf

    if spec.get("threads"):
        tf.config.threading.set_intra_op_parallelism_threads(spec["threads"][0])
        tf.config.threading.set_inter_op_parallelism_threads(spec["threads"][1])
    from benchmarks.flops import network_cost
    from benchmarks.train_speed import Tutorial
    from benchmarks.train_speed import images as random_images

    data = random_images(images)
    if spec["kind"] == "seed_loop":
        loop = Tutorial(data, 32)
        rates = [loop.run() for _ in range(2)]
        return {"rates": rates, "mflop": seed_loop_mflop(), "precision": "float32"}
    from benchmarks.timing import timed_epochs
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import merge, recipe
    from fashion_dcgan.data.fashion_mnist import SPLIT_SIZES
    from fashion_dcgan.data.pipeline import epoch_steps

    base = merge(recipe(spec["recipe"]), spec.get("overrides", {}))
    batch, requested = base["train"]["batch_size"], base.get("runtime", {}).get("steps_per_execution", 10)
    # The steps per call that the full data set resolves to, unless the lever sets its own.
    spe = spec.get("spe") or epoch_steps(SPLIT_SIZES["train"], batch, requested)[1]
    count = max(images // (batch * spe), 4) * batch * spe
    runtime = {"precision": spec["precision"], "monitor_samples": 0, "steps_per_execution": spe}
    params = parse_params(merge(base, {"data": {"train_limit": count}, "train": {"epochs": 3}, "runtime": runtime}))
    rates = timed_epochs(params, data[:count] if len(data) >= count else random_images(count))
    return {"rates": rates, "mflop": network_cost(params)["step_mflop"], "precision": spec["precision"]}


def seed_loop_mflop() -> float:
    """The seed loop's step: the tutorial's networks, two generator passes (4 F_G + 9 F_D per image). Counted
    from the library's networks: the loop's own discriminator nests them in a Sequential that the layer
    count would not look into."""
    from benchmarks.flops import step_flops_per_image
    from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE
    from fashion_dcgan.gan.networks import build_discriminator, build_generator

    generator, discriminator = build_generator("tutorial", 100, 128), build_discriminator("tutorial", 64, IMAGE_SHAPE)
    return step_flops_per_image(generator, discriminator) / 1e6


def from_log(log: Path) -> str:
    """The speed table again from a run's rows (``--from-log``), without measuring anything."""
    results: dict[tuple[str, str, str], list[dict]] = {}
    for line in log.read_text().splitlines():
        row = json.loads(line)
        spec = row.pop("spec")
        if spec["kind"] == "seed_loop":
            row["mflop"] = seed_loop_mflop()
        results.setdefault((row["row"], row["class"], json.dumps(spec)), []).append(row)
    return table(results)


def kernel_counts(verbose: str) -> tuple[str, dict[str, int]]:
    """From ONEDNN_VERBOSE output: the ISA oneDNN chose, and how often each (primitive, implementation) ran."""
    isa, counts = "?", {}
    for line in verbose.splitlines():
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or len(fields) < 5:
            continue
        if fields[2] == "info" and fields[4].startswith("isa:"):
            isa = fields[4].removeprefix("isa:")
        elif fields[2:4] == ["primitive", "exec"] and len(fields) > 6:
            kernel = f"{fields[5]} {fields[6] or '(library gemm)'}"
            counts[kernel] = counts.get(kernel, 0) + 1
    return isa, counts


def onednn_kernels(env: dict[str, str]) -> tuple[str, dict[str, int]]:
    """The ISA and the oneDNN kernels that ran in a few steps of the default under ``env``."""
    spec = {"kind": "recipe", "recipe": "default", "precision": precision(env)}
    command = [sys.executable, "-m", "benchmarks.cpu_paths", "--child", json.dumps(spec), "--images", "640"]
    done = subprocess.run(command, cwd=REPO, env={**os.environ, **env, "ONEDNN_VERBOSE": "1"}, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    return kernel_counts(done.stdout)


def precision(env: dict[str, str]) -> str:
    return "float32" if env.get("ONEDNN_MAX_CPU_ISA") else "auto"


def child(spec: dict, env: dict[str, str], images: int, module: str = "benchmarks.cpu_paths") -> dict:
    """One measurement in a fresh process: ``python -m MODULE --child SPEC`` (a study may measure its own
    variants through its own module)."""
    done = subprocess.run([sys.executable, "-m", module, "--child", json.dumps(spec), "--images",
                           str(images)], cwd=REPO, env={**os.environ, **env, **spec.get("env", {})},
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise SystemExit(f"{spec}: the measurement failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def spread(values: list[float], digits: str = ".0f") -> str:
    values = sorted(values)
    return f"{values[len(values) // 2]:{digits}} ({values[0]:{digits}}-{values[-1]:{digits}})"


def run(
    repeats: int,
    images: int,
    log: Path,
    steps_per_call: bool = False,
    levers: dict[str, dict] | None = None,
    module: str = "benchmarks.cpu_paths",
    subjects: list[str] | None = None,
) -> str:
    """Every row of the plan ``repeats`` times, round-robin; each result is appended to ``log`` as it comes.
    ``steps_per_call``: only the default at 1 and at 10 steps per compiled call, on each class. ``levers``:
    also each of these changes to the default's step on the float32 class, measured by ``module``.
    ``subjects``: only these of :data:`SUBJECTS` (all by default)."""
    plan = [(name, name, {**spec, "precision": precision(env)}, env) for name, env in CLASSES.items()
            for subject, spec in SUBJECTS.items() if subjects is None or subject in subjects]  # fmt: skip
    if steps_per_call:
        plan = [(f"default, {spe} step(s) per call", name,
                 {"kind": "recipe", "recipe": "default", "precision": precision(env), "spe": spe,
                  "overrides": {"runtime": {"steps_per_execution": spe}}}, env)
                for name, env in CLASSES.items() for spe in (1, 10)]  # fmt: skip
    if levers:
        plan += [(f"lever: {name}", "float32-avx2", {"kind": "recipe", "recipe": "default", "precision": "float32",
                                                     **spec}, CLASSES["float32-avx2"])
                 for name, spec in levers.items()]  # fmt: skip
    results: dict[tuple[str, str, str], list[dict]] = {}
    for repeat in range(repeats):
        for row, machine, spec, env in plan:
            result = child(spec, env, images, module)
            results.setdefault((row, machine, json.dumps(spec)), []).append(result)
            with log.open("a") as handle:
                handle.write(
                    json.dumps({"row": row, "class": machine, "spec": spec, "repeat": repeat, **result}) + "\n"
                )
    return table(results) + "\n\n" + kernels_table()


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def table(results: dict[tuple[str, str, str], list[dict]]) -> str:
    """One row per class and subject, then per lever: images/s, GFLOP/s and the share of the class's sgemm."""
    peaks = {machine: median([r["gflops"] for r in rs]) for (_, machine, _), rs in results.items() if "gflops" in rs[0]}
    lines = ["| class or lever | what | precision | images/s (median, min-max) | MFLOP/image | GFLOP/s | "
             "share of sgemm | ms/step at batch 64 |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for (row, machine, spec_text), rs in results.items():
        if "gflops" in rs[0]:
            lines.append(f"| {row} | sgemm 2048x2048 (numpy) | float32 | | | {spread([r['gflops'] for r in rs])} | | |")
            continue
        spec, rates = json.loads(spec_text), [median(r["rates"]) for r in rs]
        gflops = median(rates) * rs[0]["mflop"] / 1e3
        what = spec.get("recipe", "the seed's train_on_batch loop, batch 32")
        lines.append(f"| {row} | {what} | {rs[0]['precision']} | {spread(rates)} | {rs[0]['mflop']:.0f} | "
                     f"{gflops:.0f} | {f'{gflops / peaks[machine]:.0%}' if machine in peaks else 'not run'} | "
                     f"{64 / median(rates) * 1000:.0f} |")  # fmt: skip
    return "\n".join(lines)


def kernels_table() -> str:
    lines = ["| class | oneDNN's ISA | the kernels that ran most (ONEDNN_VERBOSE, a few steps of the default) |",
             "|---|---|---|"]  # fmt: skip
    for name, env in CLASSES.items():
        isa, counts = onednn_kernels(env)
        top = sorted(counts.items(), key=lambda item: -item[1])[:6]
        lines.append(f"| {name} | {isa} | {', '.join(f'{kernel} x{count}' for kernel, count in top) or 'none'} |")
    return "\n".join(lines)


def main(
    argv: list[str] | None = None,
    levers: dict[str, dict] | None = None,
    module: str = "benchmarks.cpu_paths",
    before_child: Callable[[dict], None] | None = None,
) -> None:
    """The command. A study passes its ``levers`` (changes to the default's step on the float32 class), its own
    ``module`` to run them, and ``before_child`` to apply what a spec asks beyond the keys ``measure`` reads."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=3200, help="images per timed epoch (about 10 s at 300/s)")
    parser.add_argument("--steps-per-call", action="store_true",
                        help="instead: the default at 1 and 10 steps per compiled call on each class")  # fmt: skip
    parser.add_argument("--subjects", nargs="+", choices=list(SUBJECTS), help="measure only these (default: all)")
    parser.add_argument("--out", type=Path, help="also write the tables here (Markdown)")
    parser.add_argument("--from-log", type=Path, metavar="JSONL", help="print the speed table of a run's rows and exit")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.from_log:
        print(from_log(args.from_log))
        return
    if args.child:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        spec = json.loads(args.child)
        if spec.get("precision") == "auto":
            from fashion_dcgan.training.runtime import resolve_precision

            spec["precision"] = resolve_precision("auto")
        if before_child is not None:
            before_child(spec)
        print("RESULT " + json.dumps(measure(spec, args.images)), flush=True)
        return
    log = (args.out or Path("cpu_paths.md")).with_suffix(".jsonl")
    text = run(args.repeats, args.images, log, args.steps_per_call, levers, module, args.subjects)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
