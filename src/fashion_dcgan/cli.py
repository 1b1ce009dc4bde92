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


def cmd_sample(args: argparse.Namespace) -> None:
    import numpy as np

    from fashion_dcgan.files import atomic_path
    from fashion_dcgan.imaging import make_grid, save_png, to_uint8
    from fashion_dcgan.modelfiles import latent_dim, load_generator
    from fashion_dcgan.sampling import generate, latents

    generator = load_generator(args.model)
    images = generate(generator, latents(args.seed, args.n, latent_dim(generator)))
    out = Path(args.out)
    if out.suffix == ".npy":
        with atomic_path(out) as tmp:
            np.save(tmp, images)
    else:
        save_png(out, make_grid(to_uint8(images), cols=args.cols or math.ceil(math.sqrt(args.n))))
    print(f"wrote {args.n} samples to {out}")


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
