"""The `fashion-dcgan` command: draw samples from a trained generator, serve it or try it in a demo, restore a
tracked run's params or write a named recipe, and tell how long training takes on this machine."""

from __future__ import annotations

import argparse
import math
import re
import shlex
from pathlib import Path

from fashion_dcgan.errors import ParamsError, PipelineError, entry_point


def _positive(text: str) -> int:
    """A whole number of at least 1, written in ASCII digits (``1e8``, ``2.5`` and ``²`` are refused)."""
    if not re.fullmatch(r"\s*\+?[0-9]+\s*", text) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1 (such as 64), got {text!r}")
    return int(text)


MAX_SEED = 2**31 - 1  # the latent noise's seed, as the served model and the demo take it


def _seed(text: str) -> int:
    if not re.fullmatch(r"\s*\+?[0-9]+\s*", text) or int(text) > MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_SEED:,}, got {text!r}")
    return int(text)


def _free_port(port: int) -> None:
    """A ParamsError unless ``port`` on 127.0.0.1 can be listened on (checked before anything loads)."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            raise ParamsError(
                f"--port {port}: cannot listen on 127.0.0.1:{port} ({error.strerror}); stop what uses it or pick "
                "another port with --port"
            ) from None


def _local_model(model: str) -> None:
    """A local model given by path must exist before anything heavy loads (MLflow URIs are checked on fetch)."""
    from fashion_dcgan.tracking import is_model_uri

    if not is_model_uri(model) and Path(model).suffix == ".keras":
        from fashion_dcgan.modelfiles import check_model_file

        check_model_file(model)


CHAMPION_URI = "models:/fashion-dcgan-generator@champion"  # serving.REGISTERED_MODEL @ serving.CHAMPION


def _port(text: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", text) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {text!r}")
    return int(text)


# An .npy of this many images is 3.1 GB; a PNG grid of this many is about 9,000 pixels a side.
MAX_SAMPLES = {".npy": 1_000_000, ".png": 10_000}


def cmd_sample(args: argparse.Namespace) -> None:
    import shutil

    from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE

    out = Path(args.out)
    if out.suffix not in MAX_SAMPLES:
        raise ParamsError(f"--out {out}: unknown suffix {out.suffix!r}; use .png (a grid) or .npy (an array)")
    if args.n > MAX_SAMPLES[out.suffix]:
        raise ParamsError(f"--n {args.n:,}: at most {MAX_SAMPLES[out.suffix]:,} samples for a {out.suffix} file")
    if not out.parent.is_dir():
        raise ParamsError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    needed = args.n * math.prod(IMAGE_SHAPE) * 4
    free = shutil.disk_usage(out.parent if str(out.parent) else ".").free if out.parent.exists() else None
    if out.suffix == ".npy" and free is not None and needed > free:
        raise ParamsError(
            f"--n {args.n:,}: {out} needs {needed / 1e6:,.1f} MB but {out.parent} has {free / 1e6:,.1f} MB free"
        )

    label = _requested_class(args.class_)
    _local_model(args.model)  # before TensorFlow loads: a wrong path is an instant error

    from fashion_dcgan.tracking import model_file

    path = model_file(args.model)

    from fashion_dcgan.gan.networks import is_conditional
    from fashion_dcgan.gan.sampling import write_samples
    from fashion_dcgan.modelfiles import load_generator

    generator = load_generator(path)
    if label is not None and not is_conditional(generator):
        raise ParamsError(
            f"--class: {args.model} is an unconditional generator; train one with model.conditional: true"
        )
    write_samples(generator, out, args.n, args.seed, label, args.cols)
    print(f"wrote {args.n} samples to {out}")


def _requested_class(text: str | None) -> int | None:
    from fashion_dcgan.data.fashion_mnist import class_index

    if text is None:
        return None
    try:
        return class_index(text)
    except ValueError as error:
        raise ParamsError(f"--class: {error}") from None


def cmd_serve(args: argparse.Namespace) -> None:
    _free_port(args.port)
    from fashion_dcgan.serving.server import serve

    serve(args.model, args.host, args.port, args.max_body_kb * 1024, args.timeout_s)


def cmd_walk(args: argparse.Namespace) -> None:
    """One row of images along the great circle from one seed's latent point to another's."""
    out = Path(args.out)
    if out.suffix != ".png":
        raise ParamsError(f"--out {out}: a walk is a .png row of images")
    if not out.parent.is_dir():
        raise ParamsError(f"--out {out}: the folder {out.parent} does not exist; create it first")
    _local_model(args.model)  # before TensorFlow loads: a wrong path is an instant error

    from fashion_dcgan.imaging import save_png
    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.serving.demo import Demo
    from fashion_dcgan.serving.pyfunc import BadRequest
    from fashion_dcgan.tracking import model_file

    demo = Demo(load_generator(model_file(args.model)))
    if args.class_ is not None and not demo.conditional:
        raise ParamsError(
            f"--class: {args.model} is an unconditional generator; train one with model.conditional: true"
        )
    try:
        row = demo.walk(args.start, args.end, args.steps, args.class_)
    except BadRequest as error:
        raise ParamsError(str(error)) from None
    save_png(out, row)
    print(f"wrote {args.steps} images from seed {args.start} to seed {args.end} to {out}")


def cmd_demo(args: argparse.Namespace) -> None:
    _free_port(args.port)
    _local_model(args.model)
    try:
        from fashion_dcgan.serving.demo import launch
    except ModuleNotFoundError as error:
        raise PipelineError(f"the demo needs {error.name}: pip install -e '.[demo]' (make demo installs it)") from None

    print(f"demo of {args.model} on http://127.0.0.1:{args.port} (Ctrl-C stops)")
    launch(args.model, args.port)


def cmd_reproduce(args: argparse.Namespace) -> None:
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.editing import params_from_run, write_params
    from fashion_dcgan.tracking import EPOCHS_TAG, RunLogger, tracking_uri

    run = RunLogger(tracking_uri(), reopen=False, run_id=args.run_id)  # an unknown id is an error, not a new run
    info = run.client.get_run(args.run_id)
    restored = params_from_run(dict(info.data.params))
    if EPOCHS_TAG in info.data.tags:  # a resumed run trained longer than its logged train.epochs
        restored["train"]["epochs"] = int(info.data.tags[EPOCHS_TAG])
    parse_params(restored, f"params of run {args.run_id}")
    path = Path(args.params)
    write_params(path, restored)

    tags = info.data.tags
    print(f"wrote the params of run {args.run_id} to {path}")
    commit = tags.get("git_commit", "unknown")
    print(f"git commit: {commit}  (to get that code: git checkout {commit} -- src dvc.yaml)")
    for key in sorted(k for k in tags if k.startswith("data.sha256.")):
        print(f"{key.removeprefix('data.sha256.')}: sha256 {tags[key]}")
    print("now run: dvc repro")


def cmd_preset(args: argparse.Namespace) -> None:
    from fashion_dcgan.config import load_params, yaml_value
    from fashion_dcgan.config.editing import preset_overrides, recipe_as_written, write_params
    from fashion_dcgan.config.recipes import recipe

    path = Path(args.params)
    # The whole recipe is written, every key of model and train (the seed excepted), so that no key of
    # an earlier preset survives; runtime holds machine settings, written only when asked.
    values, comments = recipe_as_written(args.name, args.runtime)
    write_params(path, values, comments)
    load_params(path)  # the result must still be valid
    settings = " ".join(shlex.quote(f"-S{key}={value}") if " " in value or '"' in value else f"-S {key}={value}"
                        for key, value in preset_overrides(args.name, args.runtime).items())  # fmt: skip
    print(f"wrote the {args.name} preset to {path}; the same as an experiment: dvc exp run {settings}")
    machine = recipe(args.name).get("runtime", {})
    if machine and not args.runtime:
        chosen = ", ".join(f"runtime.{key}: {yaml_value(value)}" for key, value in machine.items())
        print(f"left runtime as it was; the recipe was measured with {chosen} (--runtime writes it)")


def cmd_doctor(args: argparse.Namespace) -> None:
    from fashion_dcgan.config import load_params

    params = load_params(args.params)  # a bad file is one line, before TensorFlow loads
    from fashion_dcgan.training.doctor import diagnose

    print(diagnose(params).text())


def cmd_pin_classifier(args: argparse.Namespace) -> None:
    """Pin the classifier stage's trained weights (maintainers: a new feature space invalidates every FID)."""
    from fashion_dcgan.config import load_params
    from fashion_dcgan.data.fashion_mnist import SPLIT_SIZES
    from fashion_dcgan.evaluation.pinned import WEIGHTS, pin
    from fashion_dcgan.files import read_json
    from fashion_dcgan.modelfiles import load_model

    cfg = load_params(args.params, ("classifier",)).classifier
    metrics = read_json(args.metrics, "the classifier stage's metrics")
    if cfg.weights != "train" or metrics.get("weights") != "train":
        raise PipelineError(
            f"{args.model}: not trained here; set classifier.weights: train and run `dvc repro classifier`"
        )
    if metrics["train_images"] != SPLIT_SIZES["train"] or metrics["test_images"] != SPLIT_SIZES["test"]:
        raise PipelineError(
            f"{args.metrics}: trained or scored on a subset; unset data.train_limit and data.test_limit"
        )
    recipe = cfg.model_dump(exclude={"weights"})
    out = Path(args.out) if args.out else WEIGHTS
    digest = pin(load_model(args.model), recipe, metrics["test_accuracy"], metrics["train_images"], out)
    print(f"pinned {args.model} as {out} (sha256 {digest}); its recipe {recipe} must be ClassifierParams' defaults")


def build_parser() -> argparse.ArgumentParser:
    # --debug is accepted before the command and after it: `fashion-dcgan --debug sample ...`.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", help="full tracebacks instead of one-line errors")
    parser = argparse.ArgumentParser(prog="fashion-dcgan", description=__doc__, parents=[debug])
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="draw images from a trained generator", parents=[debug])
    sample.add_argument(
        "--model",
        default="models/generator.keras",
        help="generator .keras file, or an MLflow model URI such as models:/fashion-dcgan-generator@champion "
        "(default: %(default)s)",
    )
    sample.add_argument("--n", type=_positive, default=64, help="number of images (default: %(default)s)")
    sample.add_argument("--seed", type=_seed, default=0, help="latent noise seed, 0 to 2**31-1 (default: %(default)s)")
    sample.add_argument(
        "--class",
        dest="class_",
        metavar="CLASS",
        help="draw only this class (class-conditional generators): a name such as sneaker or 'ankle boot' "
        "(case-insensitive) or an index 0-9 (default: every class in turn)",
    )
    sample.add_argument("--cols", type=_positive, default=None, help="grid columns (default: square)")
    sample.add_argument(
        "--out", default="samples.png", help=".png grid or .npy array in [-1, 1] (default: %(default)s)"
    )
    sample.set_defaults(func=cmd_sample)

    walk = commands.add_parser(
        "walk", help="a row of images walking the latent space from one seed to another", parents=[debug]
    )
    walk.add_argument("--model", default="models/generator.keras",
                      help="generator .keras file or MLflow model URI (default: %(default)s)")  # fmt: skip
    walk.add_argument("--from", dest="start", type=_seed, default=0,
                      help="seed of the first image (default: %(default)s)")  # fmt: skip
    walk.add_argument("--to", dest="end", type=_seed, default=1, help="seed of the last image (default: %(default)s)")
    walk.add_argument("--steps", type=int, default=10, help="images in the row, 2 to 32 (default: %(default)s)")
    walk.add_argument("--class", dest="class_", metavar="CLASS",
                      help="the class to walk in (class-conditional generators; default: the first)")  # fmt: skip
    walk.add_argument("--out", default="walk.png", help=".png file to write (default: %(default)s)")
    walk.set_defaults(func=cmd_walk)

    serving = commands.add_parser(
        "serve", help="serve the generator over HTTP (MLflow's /invocations, request size bounded)", parents=[debug]
    )
    serving.add_argument("--model", default=CHAMPION_URI, help="MLflow model URI or directory (default: %(default)s)")
    serving.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serving.add_argument("--port", type=_port, default=5001, help="TCP port to listen on (default: %(default)s)")
    serving.add_argument(
        "--max-body-kb", type=_positive, default=64, help="larger request bodies get HTTP 413 (default: %(default)s)"
    )
    serving.add_argument(
        "--timeout-s", type=_positive, default=60,
        help="a request still working after this many seconds gets HTTP 504; the per-request maximum of images "
        "is set at start-up so that requests finish well within it here (default: %(default)s)",
    )  # fmt: skip
    serving.set_defaults(func=cmd_serve)

    demo = commands.add_parser("demo", help="a Gradio page to draw from the generator (127.0.0.1)", parents=[debug])
    demo.add_argument("--model", default=CHAMPION_URI, help=".keras file or MLflow model URI (default: %(default)s)")
    demo.add_argument("--port", type=_port, default=7860, help="TCP port of the page (default: %(default)s)")
    demo.set_defaults(func=cmd_demo)

    reproduce = commands.add_parser("reproduce", help="write an MLflow run's params to params.yaml", parents=[debug])
    reproduce.add_argument("run_id", help="MLflow run id (see `mlflow ui` or reports/train_metrics.json)")
    reproduce.add_argument("--params", default="params.yaml", help="file to update (default: %(default)s)")
    reproduce.set_defaults(func=cmd_reproduce)

    from fashion_dcgan.config.recipes import recipe_names

    preset = commands.add_parser(
        "preset", help="write a named recipe (e.g. the tutorial's) into params.yaml", parents=[debug]
    )
    preset.add_argument("name", choices=recipe_names(research=True), metavar="NAME",
                        help=f"a recipe of recipes/: {', '.join(recipe_names())}, or research/NAME")  # fmt: skip
    preset.add_argument("--params", default="params.yaml", help="file to update (default: %(default)s)")
    preset.add_argument("--runtime", action="store_true",
                        help="also write the recipe's runtime settings, the rest of runtime as default")  # fmt: skip
    preset.set_defaults(func=cmd_preset)

    doctor = commands.add_parser(
        "doctor",
        help="this machine's class, the path training takes, and how long params.yaml will train here",
        parents=[debug],
    )
    doctor.add_argument("--params", default="params.yaml", help="the params to time (default: %(default)s)")
    doctor.set_defaults(func=cmd_doctor)

    pinning = commands.add_parser(
        "pin-classifier", help="make a classifier trained here the pinned feature space", parents=[debug]
    )
    pinning.add_argument("--model", default="models/classifier.keras", help="(default: %(default)s)")
    pinning.add_argument("--metrics", default="reports/classifier_metrics.json", help="(default: %(default)s)")
    pinning.add_argument("--params", default="params.yaml", help="(default: %(default)s)")
    pinning.add_argument("--out", help="weights file to write (default: the package's pinned weights)")
    pinning.set_defaults(func=cmd_pin_classifier)
    return parser


@entry_point
def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
