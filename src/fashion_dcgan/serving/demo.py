"""`fashion-dcgan demo` (`make demo`): a Gradio page to play with a trained generator.

Two tabs: *Draw* (how many images, the seed, and the class when the generator is conditional) and
*Latent walk* (the images along the great circle between two seeds' latent points). Inputs are
checked by the same rules as the served model (``serving.parse_requests``), with a smaller image
limit for a page; a bad one is shown in the page as a message (``gr.Error``), never a traceback.
The app listens on 127.0.0.1 only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashion_dcgan.data.fashion_mnist import CLASS_NAMES
from fashion_dcgan.gan.networks import is_conditional
from fashion_dcgan.gan.sampling import cycled_labels, generate, latents, slerp
from fashion_dcgan.imaging import label_rows, make_grid, to_uint8
from fashion_dcgan.modelfiles import latent_dim, load_generator
from fashion_dcgan.serving.pyfunc import MAX_SEED, BadRequest, parse_requests, whole_number

MAX_DEMO_IMAGES = 100  # per click: a grid a page can show
MAX_WALK_STEPS = 32
ANY_CLASS = "every class in turn"


class Demo:
    """The generator's drawing functions, each checking its inputs and raising ``BadRequest`` with the reason."""

    def __init__(self, generator):
        self.generator = generator
        self.conditional = is_conditional(generator)
        self.dim = latent_dim(generator)

    def _request(self, n, seed, label: str | None):
        row = {"n": [n], "seed": [seed]}
        if label not in (None, "", ANY_CLASS):
            row["class"] = [label]
        (request,) = parse_requests(pd.DataFrame(row), self.conditional)
        if request.n > MAX_DEMO_IMAGES:
            raise BadRequest(f"{request.n:,} images: the demo draws at most {MAX_DEMO_IMAGES} at a time")
        return request

    def _labels(self, count: int, label: int | None) -> np.ndarray | None:
        if not self.conditional:
            return None
        return cycled_labels(count) if label is None else np.full(count, label, np.int32)

    def draw(self, n, seed, label: str | None = None) -> np.ndarray:
        """A grid of ``n`` images from ``seed`` (one column per class when a conditional generator cycles)."""
        label = label if self.conditional else None
        request = self._request(n, seed, label)
        noise = latents(request.seed, request.n, self.dim)
        images = to_uint8(generate(self.generator, noise, labels=self._labels(request.n, request.label)))
        cycling = self.conditional and request.label is None
        return make_grid(images, cols=len(CLASS_NAMES) if cycling and request.n >= len(CLASS_NAMES) else None)

    def walk(self, start_seed, end_seed, steps, label: str | None = None) -> np.ndarray:
        """One row of ``steps`` images from ``start_seed``'s latent point to ``end_seed``'s."""
        label = label if self.conditional else None  # the hidden class menu of an unconditional generator
        count = whole_number(steps, 2, MAX_WALK_STEPS)
        if count is None:
            raise BadRequest(f"`steps` must be a whole number from 2 to {MAX_WALK_STEPS}, got {steps!r}")
        start = self._request(1, start_seed, label)
        end = self._request(1, end_seed, label)
        path = slerp(latents(start.seed, 1, self.dim)[0], latents(end.seed, 1, self.dim)[0], np.linspace(0, 1, count))
        labels = None if not self.conditional else np.full(count, start.label or 0, np.int32)
        row = make_grid(to_uint8(generate(self.generator, path, labels=labels)), cols=count)
        if self.conditional:
            row = label_rows(row, [CLASS_NAMES[start.label or 0]])
        return row


# Gradio keeps every drawn image in its cache folder: every minute, files older than 10 minutes go.
DELETE_CACHE = (60, 600)


def build_app(model: str, delete_cache: tuple[int, int] = DELETE_CACHE):
    """The Gradio Blocks app for the generator at ``model`` (a .keras file or an MLflow model URI)."""
    import gradio as gr

    from fashion_dcgan.tracking import model_file

    demo = Demo(load_generator(model_file(model)))

    def shown(function):
        def run(*args):
            try:
                return function(*args)
            except BadRequest as error:
                raise gr.Error(str(error), print_exception=False) from None

        return run

    kind = "class-conditional" if demo.conditional else "unconditional"
    classes = [ANY_CLASS, *CLASS_NAMES]
    with gr.Blocks(title="fashion-dcgan demo", analytics_enabled=False, delete_cache=delete_cache) as app:
        gr.Markdown(f"# fashion-dcgan\n`{model}`: a {kind} generator ({demo.dim}-d latent space)")
        with gr.Tab("Draw"):
            with gr.Row():
                n = gr.Number(16, label=f"images (1-{MAX_DEMO_IMAGES})", precision=None)
                seed = gr.Number(0, label=f"seed (0-{MAX_SEED:,})", precision=None)
                # allow_custom_value: a class not in the menu (through the API) reaches the demo's own check,
                # which names the classes, instead of Gradio's, which prints a traceback on the console.
                label = gr.Dropdown(classes, value=ANY_CLASS, label="class", visible=demo.conditional,
                                    allow_custom_value=True)  # fmt: skip
            draw = gr.Button("Draw", variant="primary")
            grid = gr.Image(label="samples", type="numpy", image_mode="L", format="png")
            draw.click(shown(demo.draw), [n, seed, label], grid, api_name="draw")
        with gr.Tab("Latent walk"):
            with gr.Row():
                start = gr.Number(0, label="from seed", precision=None)
                end = gr.Number(1, label="to seed", precision=None)
                steps = gr.Number(10, label=f"steps (2-{MAX_WALK_STEPS})", precision=None)
                walk_label = gr.Dropdown(CLASS_NAMES, value=CLASS_NAMES[0], label="class", visible=demo.conditional,
                                         allow_custom_value=True)  # fmt: skip
            go = gr.Button("Walk", variant="primary")
            row = gr.Image(label="walk", type="numpy", image_mode="L", format="png")
            go.click(shown(demo.walk), [start, end, steps, walk_label], row, api_name="walk")
    return app


def launch(model: str, port: int, block: bool = True, delete_cache: tuple[int, int] = DELETE_CACHE):
    """Start the app on 127.0.0.1:``port``; with ``block=False`` return the running app (tests).

    ``show_error``: an API call Gradio itself refuses (a missing input) gets Gradio's reason, not
    ``{"error": null}``; a call to an API name the demo does not have gets 404 with the names it has.
    """
    from fastapi.responses import JSONResponse
    from gradio.route_utils import FnIndexInferError

    def unknown_api(request, error):
        names = "/draw and /walk"
        return JSONResponse({"error": f"{error}; the demo's API has {names}"}, status_code=404)

    app = build_app(model, delete_cache)
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=not block, quiet=not block,
               show_error=True, app_kwargs={"exception_handlers": {FnIndexInferError: unknown_api}})  # fmt: skip
    return app
