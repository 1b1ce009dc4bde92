"""`fashion-dcgan demo`: the drawing functions, the real Gradio app through gradio_client, and once in
a real headless Chromium."""

from __future__ import annotations

import numpy as np
import pytest

from fashion_dcgan.gan.networks import build_generator
from fashion_dcgan.modelfiles import save_model
from fashion_dcgan.serving.demo import ANY_CLASS, MAX_DEMO_IMAGES, Demo
from fashion_dcgan.serving.pyfunc import BadRequest
from tests.conftest import watched_page
from tests.servers import free_port

CELL = 30 * 3  # a 28-pixel image, its 2-pixel gutter, upscaled 3x by make_grid


@pytest.fixture(scope="module")
def generators(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    for name, classes in (("plain", None), ("conditional", 10)):
        save_model(build_generator("tutorial", 16, 16, num_classes=classes), root / f"{name}.keras")
    return root


def test_draw_makes_a_grid_and_is_deterministic(generators):
    from fashion_dcgan.modelfiles import load_generator

    demo = Demo(load_generator(generators / "plain.keras"))
    grid = demo.draw(16, 3, ANY_CLASS)
    assert grid.dtype == np.uint8 and grid.shape[0] == grid.shape[1] == 4 * CELL + 6
    assert np.array_equal(grid, demo.draw(16.0, 3.0, "Sneaker"))  # the hidden class menu is ignored
    walk = demo.walk(0, 1, 10, "T-shirt/top")
    assert walk.shape[1] == 10 * CELL + 6 and walk.shape[0] == CELL + 6


@pytest.mark.parametrize(
    ("n", "seed", "label", "reason"),
    [
        (0, 0, ANY_CLASS, "`n` must be a whole number"),
        (MAX_DEMO_IMAGES + 1, 0, ANY_CLASS, f"at most {MAX_DEMO_IMAGES} at a time"),
        (2.5, 0, ANY_CLASS, "got 2.5"),
        (None, 0, ANY_CLASS, "`n` must be a whole number"),
        (4, -1, ANY_CLASS, "`seed` must be a whole number"),
        (4, 0, "hat", "unknown class 'hat'"),
        (True, 0, ANY_CLASS, "got True"),
    ],
)
def test_bad_inputs_give_a_reason(generators, n, seed, label, reason):
    from fashion_dcgan.modelfiles import load_generator

    demo = Demo(load_generator(generators / "conditional.keras"))
    with pytest.raises(BadRequest, match=reason):
        demo.draw(n, seed, label)


def test_a_conditional_walk_stays_in_its_class_and_is_named(generators):
    from fashion_dcgan.modelfiles import load_generator

    demo = Demo(load_generator(generators / "conditional.keras"))
    assert demo.draw(20, 0, ANY_CLASS).shape[1] == 10 * CELL + 6  # one column per class
    assert demo.walk(0, 1, 5, "Sneaker").shape[1] > 5 * CELL + 6  # the class name in a margin
    for steps in (1, 33, 10**6, True, None):  # the documented 2-32, named as the steps
        with pytest.raises(BadRequest, match="`steps` must be a whole number from 2 to 32"):
            demo.walk(0, 1, steps, "Sneaker")


@pytest.fixture(scope="module")
def app_url(generators):
    from fashion_dcgan.serving.demo import launch

    port = free_port()
    app = launch(str(generators / "conditional.keras"), port, block=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


@pytest.mark.slow
def test_the_real_app_through_gradio_client(app_url, capfd):
    from gradio_client import Client
    from gradio_client.exceptions import AppError
    from PIL import Image

    client = Client(app_url, verbose=False)
    drawn = np.asarray(Image.open(client.predict(20, 7, "Sneaker", api_name="/draw")))
    assert drawn.shape[:2] == (4 * CELL + 6, 5 * CELL + 6)  # one class: a square-ish grid
    walked = np.asarray(Image.open(client.predict(0, 1, 6, "Bag", api_name="/walk")))
    assert walked.shape[0] == CELL + 6
    with pytest.raises(AppError, match="at most 100 at a time") as error:
        client.predict(1000, 0, ANY_CLASS, api_name="/draw")
    assert "Traceback" not in str(error.value)
    with pytest.raises(AppError, match="unknown class 'hat'"):  # the demo's own check, naming the classes
        client.predict(4, 0, "hat", api_name="/draw")
    with pytest.raises(AppError, match="`steps` must be a whole number from 2 to 32"):
        client.predict(0, 1, 1, "Bag", api_name="/walk")
    assert "Traceback" not in capfd.readouterr().err  # refused inputs print nothing on the demo's console
    # Raw API calls: an unknown name is a 404 that lists the real ones; a missing input has a reason.
    import json
    import urllib.request

    def post(path, body):
        request = urllib.request.Request(app_url + path, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    status, body = post("gradio_api/call/nope", b'{"data": [1, 0, "Bag"]}')
    assert status == 404 and "/draw and /walk" in json.loads(body)["error"]
    status, body = post("gradio_api/call/draw", b'{"data": []}')
    event = json.loads(body)["event_id"]
    with urllib.request.urlopen(f"{app_url}gradio_api/call/draw/{event}", timeout=60) as answer:
        stream = answer.read().decode()
    assert "event: error" in stream and '"error": null' not in stream and "input values" in stream


@pytest.mark.slow
def test_the_demo_cleans_its_cache_folder(generators, tmp_path, monkeypatch):
    import time

    from gradio_client import Client

    from fashion_dcgan.serving.demo import launch

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    port = free_port()
    app = launch(str(generators / "plain.keras"), port, block=False, delete_cache=(3, 3))
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        cached = lambda: [p for p in (tmp_path / "cache").rglob("*.png") if p.is_file()]  # noqa: E731
        for seed in range(3):
            client.predict(4, seed, ANY_CLASS, api_name="/draw")
        assert cached()  # the drawn grids are there ...
        deadline = time.monotonic() + 30
        while cached() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not cached(), cached()  # ... and gone a few seconds later
    finally:
        app.close()


@pytest.mark.slow
def test_the_app_in_a_real_browser(app_url, browser):
    page = watched_page(browser)
    page.goto(app_url, wait_until="networkidle")
    page.get_by_role("button", name="Draw").click()
    # The drawn grid, served as a file: until it arrives the Draw event is running, and Gradio ignores
    # a second click on its button (the page's other images are icons). Generous timeouts for a loaded CPU.
    image = page.locator("img[src*='/file=']").first
    image.wait_for(timeout=120_000)
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=120_000)
    number = page.get_by_label("images (1-100)")
    number.fill("1000")
    page.get_by_role("button", name="Draw").click()
    page.get_by_text("at most 100 at a time").first.wait_for(timeout=120_000)
    assert "Traceback" not in page.content()
    assert not [p for p in page.problems if "favicon" not in p], page.problems
    page.close()
