"""The `fashion-dcgan` command: draw samples from a trained generator, serve it or try it in a demo, restore a
tracked run's params or write a named recipe, and tell how long training takes on this machine."""

from __future__ import annotations

import argparse
import re
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


CHAMPION_URI = "models:/fashion-dcgan-generator@champion"  # serving.REGISTERED_MODEL @ serving.CHAMPION


def _port(text: str) -> int:
    if not re.fullmatch(r"\s*[0-9]+\s*", text) or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"expected a TCP port from 1 to 65535, got {text!r}")
    return int(text)


# Each command: the library function that does it, with its arguments. Their imports wait until a
# command runs, so that --help and a wrong argument answer before TensorFlow or MLflow load.


def cmd_sample(args: argparse.Namespace) -> None:
    from fashion_dcgan.serving.drawing import draw_samples

    print(draw_samples(args.model, Path(args.out), args.n, args.seed, args.class_, args.cols))


def cmd_walk(args: argparse.Namespace) -> None:
    from fashion_dcgan.serving.drawing import draw_walk

    print(draw_walk(args.model, Path(args.out), args.start, args.end, args.steps, args.class_))


def cmd_serve(args: argparse.Namespace) -> None:
    _free_port(args.port)
    from fashion_dcgan.serving.server import serve

    serve(args.model, args.host, args.port, args.max_body_kb * 1024, args.timeout_s)


def cmd_demo(args: argparse.Namespace) -> None:
    from fashion_dcgan.serving.drawing import check_local_model

    _free_port(args.port)
    check_local_model(args.model)
    try:
        from fashion_dcgan.serving.demo import launch
    except ModuleNotFoundError as error:
        raise PipelineError(f"the demo needs {error.name}: pip install -e '.[demo]' (make demo installs it)") from None
    print(f"demo of {args.model} on http://127.0.0.1:{args.port} (Ctrl-C stops)")
    launch(args.model, args.port)


def cmd_reproduce(args: argparse.Namespace) -> None:
    from fashion_dcgan.config.editing import restore_run_params

    print("\n".join(restore_run_params(args.run_id, Path(args.params))))


def cmd_preset(args: argparse.Namespace) -> None:
    from fashion_dcgan.config.editing import write_preset

    print("\n".join(write_preset(args.name, Path(args.params), args.runtime)))


def cmd_doctor(args: argparse.Namespace) -> None:
    from fashion_dcgan.config import load_params

    params = load_params(args.params)  # a bad file is one line, before TensorFlow loads
    from fashion_dcgan.training.doctor import diagnose

    print(diagnose(params).text())


def cmd_pin_classifier(args: argparse.Namespace) -> None:
    from fashion_dcgan.evaluation.pinned import WEIGHTS, pin_trained

    print(pin_trained(args.model, args.metrics, args.params, Path(args.out) if args.out else WEIGHTS))


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
