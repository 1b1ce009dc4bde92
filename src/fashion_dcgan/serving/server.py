"""`fashion-dcgan serve`: load the generator, measure this machine, and serve the app of serving/app.py.

The seconds per image of the whole scoring path (generating and writing JSON) are measured at start-up,
and the per-request maximum is set so that a maximal request finishes well within the timeout with
every slot busy, on the machine that serves (serving/limits.py).
"""

from __future__ import annotations

import json
import time

from fashion_dcgan.serving.app import MAX_BODY_BYTES, build_app, own_message
from fashion_dcgan.serving.limits import TIMEOUT_S, Limits

CALIBRATION_IMAGES = 500  # images of the start-up measurement (about half a second on 2 cores)


def load_served_model(model: str):
    """The pyfunc model at ``model`` (an MLflow model URI or a local model directory), or one line why not."""
    import mlflow

    from fashion_dcgan.errors import ModelFileError, first_line
    from fashion_dcgan.tracking import is_model_uri, use_store

    # A model URI is read from the tracking store; a local model directory needs none.
    where = use_store() if is_model_uri(model) else "its directory"
    try:
        return mlflow.pyfunc.load_model(model)
    except Exception as error:  # MLflow raises several types for an unknown name, alias, run or path
        raise ModelFileError(f"{model}: cannot load it from {where} ({first_line(error)})") from None


def measure_seconds_per_image(pyfunc_model, images: int = CALIBRATION_IMAGES) -> float:
    """Seconds per image of the scoring path (the model's predict and MLflow's JSON answer), measured on
    this machine now: the second of two requests of ``images`` images (the first builds the graph)."""
    from mlflow.pyfunc import scoring_server

    body = json.dumps({"dataframe_split": {"columns": ["n", "seed"], "data": [[images, 0]]}})
    schema = pyfunc_model.metadata.get_input_schema()
    seconds = []
    for _ in range(2):
        began = time.perf_counter()
        answer = scoring_server.invocations(body, "application/json", pyfunc_model, schema)
        seconds.append(time.perf_counter() - began)
        if answer.status != 200:
            from fashion_dcgan.errors import ModelFileError

            raise ModelFileError(f"the model cannot draw {images} images to measure this machine: "
                                 f"{own_message(str(answer.response))[:300]}")  # fmt: skip
    return seconds[-1] / images


def serve(model: str, host: str, port: int, max_bytes: int = MAX_BODY_BYTES, timeout_s: float = TIMEOUT_S) -> None:
    import uvicorn

    pyfunc_model = load_served_model(model)
    limits = Limits.for_speed(measure_seconds_per_image(pyfunc_model), timeout_s)
    app = build_app(pyfunc_model, max_bytes, limits)
    print(f"serving {model} on http://{host}:{port}/invocations: {limits.describe()}; bodies up to {max_bytes:,} "
          "bytes; Ctrl-C stops")  # fmt: skip
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5)
