"""Drawing from a trained generator into files: what `fashion-dcgan sample` and `fashion-dcgan walk` do.

The cheap checks (the output's suffix, folder and size, a local model file, the class) come before
TensorFlow loads, so a wrong argument is an instant one-line error naming it.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from fashion_dcgan.errors import ParamsError

# An .npy of this many images is 3.1 GB; a PNG grid of this many is about 9,000 pixels a side.
MAX_SAMPLES = {".npy": 1_000_000, ".png": 10_000}


def check_local_model(model: str) -> None:
    """A local model given by path must exist before anything heavy loads (MLflow URIs are checked on fetch)."""
    from fashion_dcgan.tracking import is_model_uri

    if not is_model_uri(model) and Path(model).suffix == ".keras":
        from fashion_dcgan.modelfiles import check_model_file

        check_model_file(model)


def requested_class(text: str | None) -> int | None:
    """The class index of ``--class`` (a name or an index), or None when not given."""
    from fashion_dcgan.data.fashion_mnist import class_index

    if text is None:
        return None
    try:
        return class_index(text)
    except ValueError as error:
        raise ParamsError(f"--class: {error}") from None


def _check_folder(out: Path) -> None:
    if not out.parent.is_dir():
        raise ParamsError(f"--out {out}: the folder {out.parent} does not exist; create it first")


def _unconditional(model: str) -> ParamsError:
    return ParamsError(f"--class: {model} is an unconditional generator; train one with model.conditional: true")


def draw_samples(model: str, out: Path, n: int, seed: int, class_name: str | None = None, cols: int | None = None):
    """``n`` images of ``model`` (a .keras file or an MLflow model URI) to ``out``: a .png grid or an .npy
    array in [-1, 1]. Returns what was written, in words."""
    from fashion_dcgan.data.fashion_mnist import IMAGE_SHAPE

    if out.suffix not in MAX_SAMPLES:
        raise ParamsError(f"--out {out}: unknown suffix {out.suffix!r}; use .png (a grid) or .npy (an array)")
    if n > MAX_SAMPLES[out.suffix]:
        raise ParamsError(f"--n {n:,}: at most {MAX_SAMPLES[out.suffix]:,} samples for a {out.suffix} file")
    _check_folder(out)
    if out.suffix == ".npy":
        needed, free = n * math.prod(IMAGE_SHAPE) * 4, shutil.disk_usage(out.parent).free
        if needed > free:
            raise ParamsError(
                f"--n {n:,}: {out} needs {needed / 1e6:,.1f} MB but {out.parent} has {free / 1e6:,.1f} MB free"
            )
    label = requested_class(class_name)
    check_local_model(model)

    from fashion_dcgan.gan.networks import is_conditional
    from fashion_dcgan.gan.sampling import write_samples
    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.tracking import model_file

    generator = load_generator(model_file(model))
    if label is not None and not is_conditional(generator):
        raise _unconditional(model)
    write_samples(generator, out, n, seed, label, cols)
    return f"wrote {n} samples to {out}"


def draw_walk(model: str, out: Path, start: int, end: int, steps: int, class_name: str | None = None) -> str:
    """One .png row of ``steps`` images along the great circle from seed ``start``'s latent point to
    seed ``end``'s. Returns what was written, in words."""
    if out.suffix != ".png":
        raise ParamsError(f"--out {out}: a walk is a .png row of images")
    _check_folder(out)
    check_local_model(model)

    from fashion_dcgan.imaging import save_png
    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.serving.demo import Demo
    from fashion_dcgan.serving.pyfunc import BadRequest
    from fashion_dcgan.tracking import model_file

    demo = Demo(load_generator(model_file(model)))
    if class_name is not None and not demo.conditional:
        raise _unconditional(model)
    try:
        row = demo.walk(start, end, steps, class_name)
    except BadRequest as error:
        raise ParamsError(str(error)) from None
    save_png(out, row)
    return f"wrote {steps} images from seed {start} to seed {end} to {out}"
