"""The `fashion-dcgan` command: draw samples from a trained generator, or restore a tracked run's params."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from fashion_dcgan.errors import ParamsError, PipelineError, entry_point


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


# An .npy of this many images is 3.1 GB; a PNG grid of this many is about 9,000 pixels a side.
MAX_SAMPLES = {".npy": 1_000_000, ".png": 10_000}
BATCH = 1000


def cmd_sample(args: argparse.Namespace) -> None:
    import shutil

    from fashion_dcgan.dataset import IMAGE_SHAPE

    out = Path(args.out)
    if out.suffix not in MAX_SAMPLES:
        raise ParamsError(f"--out {out}: unknown suffix {out.suffix!r}; use .png (a grid) or .npy (an array)")
    if args.n > MAX_SAMPLES[out.suffix]:
        raise ParamsError(f"--n {args.n:,}: at most {MAX_SAMPLES[out.suffix]:,} samples for a {out.suffix} file")
    needed = args.n * math.prod(IMAGE_SHAPE) * 4
    free = shutil.disk_usage(out.parent if str(out.parent) else ".").free if out.parent.exists() else None
    if out.suffix == ".npy" and free is not None and needed > free:
        raise ParamsError(
            f"--n {args.n:,}: {out} needs {needed / 1e6:,.1f} MB but {out.parent} has {free / 1e6:,.1f} MB free"
        )

    from fashion_dcgan.modelfiles import latent_dim, load_generator

    generator = load_generator(args.model)
    batches = _generated_batches(generator, args.seed, args.n, latent_dim(generator))
    if out.suffix == ".npy":
        _write_npy(out, batches, (args.n, *IMAGE_SHAPE))
    else:
        import numpy as np

        from fashion_dcgan.imaging import make_grid, save_png, to_uint8

        images = np.concatenate([to_uint8(batch) for batch in batches])
        save_png(out, make_grid(images, cols=args.cols or math.ceil(math.sqrt(args.n))))
    print(f"wrote {args.n} samples to {out}")


def _generated_batches(generator, seed: int, count: int, dim: int):
    from tqdm import tqdm

    from fashion_dcgan.sampling import generate, latent_batches

    with tqdm(total=count, unit="image", disable=None, leave=False) as bar:
        for latents in latent_batches(seed, count, dim, BATCH):
            images = generate(generator, latents, BATCH)
            bar.update(len(images))
            yield images


def _write_npy(path: Path, batches, shape: tuple[int, ...]) -> None:
    """Stream float32 batches into an .npy file: memory holds one batch, the file appears only when complete."""
    import numpy as np

    from fashion_dcgan.files import atomic_path

    header = {"descr": np.lib.format.dtype_to_descr(np.dtype("<f4")), "fortran_order": False, "shape": shape}
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.lib.format.write_array_header_2_0(handle, header)
        for batch in batches:
            handle.write(np.ascontiguousarray(batch, "<f4").tobytes())


def params_from_run(flat: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Rebuild the params.yaml sections from a run's logged ``section.key`` params."""
    import yaml

    from fashion_dcgan.config import Params

    known = {
        section: set(model.model_fields)
        for section, model in ((name, Params.model_fields[name].annotation) for name in Params.model_fields)
    }
    nested: dict[str, dict[str, Any]] = {}
    for name, text in flat.items():
        section, _, key = name.partition(".")
        if key in known.get(section, ()):
            nested.setdefault(section, {})[key] = yaml.safe_load(text)
    return nested


def cmd_reproduce(args: argparse.Namespace) -> None:
    from ruamel.yaml import YAML

    from fashion_dcgan.config import parse_params
    from fashion_dcgan.files import atomic_path
    from fashion_dcgan.tracking import EPOCHS_TAG, RunLogger, tracking_uri

    run = RunLogger(tracking_uri(), reopen=False, run_id=args.run_id)
    if not run.resumed:
        raise PipelineError(f"MLflow run {args.run_id} not found in {tracking_uri()}")
    info = run.client.get_run(args.run_id)
    restored = params_from_run(dict(info.data.params))
    if EPOCHS_TAG in info.data.tags:  # a resumed run trained longer than its logged train.epochs
        restored["train"]["epochs"] = int(info.data.tags[EPOCHS_TAG])
    parse_params(restored, f"params of run {args.run_id}")

    yaml = YAML()  # round-trip: keeps the comments in params.yaml
    path = Path(args.params)
    try:
        document = yaml.load(path.read_text()) if path.exists() else {}
    except Exception as error:
        raise ParamsError(f"{path}: cannot read ({error})") from None
    for section, values in restored.items():
        document.setdefault(section, {})
        for key, value in values.items():
            document[section][key] = value
    with atomic_path(path) as tmp, open(tmp, "w") as handle:
        yaml.dump(document, handle)

    tags = info.data.tags
    print(f"wrote the params of run {args.run_id} to {path}")
    commit = tags.get("git_commit", "unknown")
    print(f"git commit: {commit}  (to get that code: git checkout {commit} -- src dvc.yaml)")
    for key in sorted(k for k in tags if k.startswith("data.sha256.")):
        print(f"{key.removeprefix('data.sha256.')}: sha256 {tags[key]}")
    print("now run: dvc repro")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fashion-dcgan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="draw images from a trained generator")
    sample.add_argument(
        "--model", default="models/generator.keras", help="generator .keras file (default: %(default)s)"
    )
    sample.add_argument("--n", type=_positive, default=64, help="number of images (default: %(default)s)")
    sample.add_argument("--seed", type=int, default=0, help="latent noise seed (default: %(default)s)")
    sample.add_argument("--cols", type=_positive, default=None, help="grid columns (default: square)")
    sample.add_argument(
        "--out", default="samples.png", help=".png grid or .npy array in [-1, 1] (default: %(default)s)"
    )
    sample.set_defaults(func=cmd_sample)

    reproduce = commands.add_parser("reproduce", help="write an MLflow run's params to params.yaml")
    reproduce.add_argument("run_id", help="MLflow run id (see `mlflow ui` or reports/train_metrics.json)")
    reproduce.add_argument("--params", default="params.yaml", help="file to update (default: %(default)s)")
    reproduce.set_defaults(func=cmd_reproduce)
    return parser


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
