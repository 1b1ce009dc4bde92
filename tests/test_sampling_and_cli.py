"""Sampling helpers and the `fashion-dcgan` command."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import numpy as np
import pytest

from fashion_dcgan.cli import main
from fashion_dcgan.config.editing import params_from_run
from fashion_dcgan.data.fashion_mnist import CLASS_NAMES, IMAGE_SHAPE, class_index, slug
from fashion_dcgan.gan.networks import build_discriminator, build_generator
from fashion_dcgan.gan.sampling import class_grid, cycled_labels, fixed_noise, generate, latent_walk, latents, slerp
from fashion_dcgan.imaging import make_grid, save_gif
from tests.conftest import REPO


def test_fixed_noise_is_reproducible():
    assert np.array_equal(fixed_noise(3, 25, 100), fixed_noise(3, 25, 100))
    assert not np.array_equal(fixed_noise(3, 25, 100), fixed_noise(4, 25, 100))


def test_slerp_keeps_endpoints_and_walk_shape():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=50), rng.normal(size=50)
    path = slerp(a, b, np.linspace(0, 1, 5))
    assert np.allclose(path[0], a, atol=1e-5) and np.allclose(path[-1], b, atol=1e-5)
    assert latent_walk(0, rows=3, steps=4, latent_dim=10).shape == (12, 10)


def test_grid_and_gif(tmp_path):
    grid = make_grid(np.zeros((25, 28, 28), np.uint8), cols=5, pad=2, scale=1)
    assert grid.shape == (5 * 30 + 2, 5 * 30 + 2)
    import imageio.v3 as iio

    save_gif(tmp_path / "a.gif", [grid, grid + 1, grid + 2], frame_seconds=0.2)
    assert iio.imread(tmp_path / "a.gif", index=None).shape[0] == 3
    assert iio.immeta(tmp_path / "a.gif").get("loop") == 0


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    build_generator("tutorial", 100, 16).save(root / "generator.keras")
    build_generator("tutorial", 100, 16, num_classes=10).save(root / "conditional.keras")
    build_discriminator("tutorial", 8, IMAGE_SHAPE).save(root / "discriminator.keras")
    (root / "corrupt.keras").write_bytes(b"this is not a zip archive")
    blob = (root / "generator.keras").read_bytes()
    (root / "truncated.keras").write_bytes(blob[: len(blob) // 2])
    return root


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("missing.keras", "model file not found"),
        ("corrupt.keras", "not a Keras .keras archive"),
        ("truncated.keras", "not a Keras .keras archive|cannot load model"),
        ("discriminator.keras", "not a generator"),
    ],
)
def test_sample_rejects_bad_model_files_in_one_line(model_files, tmp_path, capsys, name, message):
    code, err = run_cli(["sample", "--model", str(model_files / name), "--out", str(tmp_path / "x.png")], capsys)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1].startswith("error: ") and name in lines[-1]
    import re

    assert re.search(message, lines[-1])
    assert "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_sample_is_deterministic_for_a_seed(model_files, tmp_path):
    for name in ("a.png", "b.png"):
        main(
            [
                "sample",
                "--model",
                str(model_files / "generator.keras"),
                "--n",
                "9",
                "--seed",
                "3",
                "--out",
                str(tmp_path / name),
            ]
        )
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    main(["sample", "--model", str(model_files / "generator.keras"), "--n", "4", "--out", str(tmp_path / "s.npy")])
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (4, 28, 28, 1) and np.abs(samples).max() <= 1


def test_cli_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sample", "--n", "0"])
    assert stop.value.code == 2 and "--n" in capsys.readouterr().err


def test_params_from_run_rebuilds_typed_sections():
    flat = {"train.epochs": "3", "train.learning_rate_d": "null", "data.sources": "['/a', 'http://b']",
            "runtime.jit_compile": "auto", "train.steps_per_epoch": "20", "model.latent_dim": "100",
            "train.ema.decay": "0.999", "train.augment": "['cutout']", "model.objective.name": "r1",
            "model.objective.every": "4", "runtime.precision_resolved": "float32"}  # fmt: skip
    assert params_from_run(flat) == {
        "train": {
            "epochs": 3,
            "learning_rate_d": None,
            "ema": {"decay": 0.999},
            "augment": ["cutout"],
        },
        "runtime": {"jit_compile": "auto"},
        "data": {"sources": ["/a", "http://b"]},
        "model": {"latent_dim": 100, "objective": {"name": "r1", "every": 4}},
    }


def test_latents_do_not_depend_on_the_batch_size():
    from fashion_dcgan.gan.sampling import latent_batches, latents

    whole = latents(5, 2500, 7)
    for size in (1, 1000, 4096):
        np.testing.assert_array_equal(np.concatenate(list(latent_batches(5, 2500, 7, size))), whole)


def test_sample_streams_a_large_npy_in_batches(model_files, tmp_path, monkeypatch):
    from fashion_dcgan.gan import sampling
    from fashion_dcgan.gan.sampling import generate, latents
    from fashion_dcgan.modelfiles import load_generator

    monkeypatch.setattr(sampling, "SAMPLE_BATCH", 300)
    out = tmp_path / "many.npy"
    main(["sample", "--model", str(model_files / "generator.keras"), "--n", "1000", "--seed", "2", "--out", str(out)])
    streamed = np.load(out)
    generator = load_generator(model_files / "generator.keras")
    np.testing.assert_allclose(streamed, generate(generator, latents(2, 1000, 100)), atol=1e-6)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--out", "grid.jpg"], r"--out .*grid\.jpg: unknown suffix '\.jpg'; use \.png \(a grid\) or \.npy"),
        (["--n", "10001", "--out", "grid.png"], r"--n 10,001: at most 10,000 samples for a \.png file"),
        (["--n", "1000001", "--out", "a.npy"], r"--n 1,000,001: at most 1,000,000 samples for a \.npy file"),
    ],
)
def test_sample_refuses_bad_requests_up_front(model_files, tmp_path, capsys, args, message):
    argv = ["sample", "--model", str(model_files / "generator.keras"), *args]
    argv[-1] = str(tmp_path / argv[-1])
    code, err = run_cli(argv, capsys)
    assert code == 1 and re.search(message, err.strip().splitlines()[-1]) and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_sample_refuses_an_npy_that_does_not_fit_on_disk(model_files, tmp_path, capsys, monkeypatch):
    import shutil

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 10**6, 10**6))
    out = tmp_path / "big.npy"
    code, err = run_cli(["sample", "--model", str(model_files / "generator.keras"), "--n", "1000", "--out", str(out)],
                        capsys)  # fmt: skip
    assert code == 1 and "needs 3.1 MB but" in err and "has 1.0 MB free" in err and not out.exists()


def test_preset_writes_the_tutorial_recipe_and_keeps_comments(tmp_path, capsys):
    from fashion_dcgan.config import load_params, parse_params
    from fashion_dcgan.config.recipes import merge, recipe

    path = tmp_path / "params.yaml"
    text = (REPO / "params.yaml").read_text().replace("  augment: []", "  augment: [translation]")
    path.write_text(text)
    before = load_params(path)
    assert (before.model.objective.name, before.train.ema.decay, before.train.augment) == ("r1", 0.999, ["translation"])
    main(["preset", "tutorial", "--params", str(path)])
    written = path.read_text()
    shipped = parse_params({}).model_dump(exclude={"model": {"objective"}})
    assert load_params(path) == parse_params(merge(shipped, recipe("tutorial")))
    assert "# The keys you will change most" in written and "train_limit: null" in written
    assert "    label_smoothing: 0.0   # one-sided: real targets become 1 - label_smoothing" in written
    assert "gamma" not in written  # the r1 objective's settings left with it
    out = capsys.readouterr().out
    assert "dvc exp run -S model.variant=tutorial" in out and "-S train.ema.decay=0.0" in out
    assert "'-Smodel.objective={name: bce, label_smoothing: 0.0}'" in out


def test_preset_default_on_a_fresh_clone_changes_nothing(tmp_path, capsys):
    """params.yaml is the default recipe: writing it back leaves the file byte for byte, so `dvc status`
    stays clean."""
    path = tmp_path / "params.yaml"
    shipped = (REPO / "params.yaml").read_text()
    path.write_text(shipped)
    main(["preset", "default", "--params", str(path)])
    assert path.read_text() == shipped
    main(["preset", "default", "--runtime", "--params", str(path)])
    assert path.read_text() == shipped


@pytest.mark.parametrize("runtime", [False, True], ids=["recipe", "with-runtime"])
def test_every_recipe_then_the_default_gives_params_yaml_back(tmp_path, capsys, runtime):
    """Any preset, research ones included, followed by `preset default` gives params.yaml back byte for
    byte: values, comments and their column (the `git diff --exit-code params.yaml` check)."""
    from fashion_dcgan.config import load_params
    from fashion_dcgan.config.recipes import recipe, recipe_names

    shipped = (REPO / "params.yaml").read_text()
    flag = ["--runtime"] if runtime else []
    path = tmp_path / "params.yaml"
    for name in recipe_names(research=True):
        path.write_text(shipped)
        main(["preset", name, *flag, "--params", str(path)])
        machine = recipe(name).get("runtime", {})
        precision = load_params(path).runtime.precision
        # A recipe's machine settings are written only when asked.
        assert precision == (machine.get("precision", "auto") if runtime else "auto"), name
        main(["preset", "default", *flag, "--params", str(path)])
        assert path.read_text() == shipped, name
    assert "--runtime writes it" in capsys.readouterr().out or runtime


def test_a_preset_writes_the_whole_recipe_whatever_was_there(tmp_path, capsys):
    """Keys a recipe file leaves to its parent or the schema still come from the recipe, not from what
    params.yaml held: after the conditional preset (linear decay), a research recipe is at constant rates."""
    from fashion_dcgan.config import load_params, parse_params
    from fashion_dcgan.config.recipes import recipe

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    main(["preset", "conditional", "--params", str(path)])
    assert load_params(path).train.lr_schedule.decay == "linear"
    main(["preset", "research/lazy-r1-ema", "--params", str(path)])
    written, measured = load_params(path), parse_params(recipe("research/lazy-r1-ema"))
    assert (written.model, written.train) == (measured.model, measured.train)
    assert written.train.lr_schedule.decay == "none" and not written.model.conditional


def test_a_recipe_lists_only_what_it_changes_from_its_parent(tmp_path):
    from fashion_dcgan.config import ParamsError, read_yaml
    from fashion_dcgan.config.recipes import recipe, recipe_chain

    for name in ("conditional", "tutorial", "quick"):
        raw = read_yaml(REPO / "recipes" / f"{name}.yaml")
        assert raw["parent"] == "default", name
        parent = recipe("default")
        for section, values in raw.items():  # no key restates the parent's value
            if section != "parent":
                assert all(parent[section].get(key) != value for key, value in values.items()), (name, section)
    assert [path.stem for path, _ in recipe_chain("quick")] == ["default", "quick"]
    (tmp_path / "a.yaml").write_text("parent: b\n")
    (tmp_path / "b.yaml").write_text("parent: a\n")
    with pytest.raises(ParamsError, match="lead back to it"):
        recipe("a", tmp_path)
    (tmp_path / "c.yaml").write_text("parent: nowhere\n")
    with pytest.raises(ParamsError, match="no recipe 'nowhere'"):
        recipe("c", tmp_path)


def test_the_quick_recipe_is_the_one_measured():
    """recipes/quick.yaml trains exactly what its recorded results were measured with."""
    from benchmarks.recipes_as_measured import trains_as

    from fashion_dcgan.config import parse_params
    from fashion_dcgan.config.recipes import recipe

    quick, measured = parse_params(recipe("quick")), parse_params(recipe("research/deep-networks-narrow"))
    assert trains_as(quick) == trains_as(measured)  # the research file writes out the Adam defaults
    assert (quick.model.generator_width, quick.model.discriminator_width) == (64, 32)


def test_recipes_are_files_of_the_keys_that_shape_the_model():
    from fashion_dcgan.config import load_params, parse_params
    from fashion_dcgan.config.recipes import RECIPE_SECTIONS, recipe, recipe_names

    assert {"default", "tutorial", "conditional", "quick"} <= set(recipe_names())
    for name in recipe_names():
        assert set(recipe(name)) <= set(RECIPE_SECTIONS), name
    shipped = load_params(REPO / "params.yaml")
    default = parse_params(recipe("default"))
    assert (default.model, default.train) == (shipped.model, shipped.train.model_copy(update={"seed": 42}))


@pytest.mark.parametrize(
    ("text", "index"),
    [("sneaker", 7), ("Sneaker", 7), ("ANKLE BOOT", 9), ("ankle-boot", 9), ("t-shirt", 0), ("top", 0),
     ("T-shirt/top", 0), ("shirt", 6), ("0", 0), (" 9 ", 9), (3, 3)],
)  # fmt: skip
def test_class_names_and_indices_are_accepted(text, index):
    assert class_index(text) == index


@pytest.mark.parametrize("text", ["hat", "10", "-1", "", "boot"])
def test_unknown_classes_list_the_valid_ones(text):
    with pytest.raises(ValueError, match="unknown class") as error:
        class_index(text)
    assert all(name in str(error.value) for name in CLASS_NAMES)
    assert slug("T-shirt/top") == "t_shirt_top" and slug("Ankle boot") == "ankle_boot"


def test_conditional_generator_draws_each_requested_class(model_files):
    from fashion_dcgan.modelfiles import load_generator

    generator = load_generator(model_files / "conditional.keras")
    noise = latents(0, 10, 100)
    # The label changes the image; the same label and latent give the same image.
    by_class = generate(generator, noise, labels=np.full(10, 7))
    assert not np.allclose(by_class, generate(generator, noise, labels=np.full(10, 2)))
    cycled = generate(generator, noise)  # default: every class in turn
    assert np.allclose(cycled[7], by_class[7], atol=1e-6) and list(cycled_labels(12)[-3:]) == [9, 0, 1]
    grid = class_grid(generator, seed=0, per_class=3)
    assert grid.shape == (30, *IMAGE_SHAPE)
    assert np.allclose(grid[7 * 3 : 8 * 3], generate(generator, latents(0, 3, 100), labels=np.full(3, 7)), atol=1e-6)
    with pytest.raises(ValueError, match="labels for"):
        generate(generator, noise, labels=np.zeros(3))
    with pytest.raises(ValueError, match="must be 0-9"):
        generate(generator, noise, labels=np.full(10, 10))
    unconditional = load_generator(model_files / "generator.keras")
    with pytest.raises(ValueError, match="unconditional"):
        generate(unconditional, noise, labels=np.zeros(10))


def test_sample_by_class_and_its_errors(model_files, tmp_path, capsys):
    conditional, out = str(model_files / "conditional.keras"), tmp_path / "s.npy"
    main(["sample", "--model", conditional, "--class", "sneaker", "--n", "3", "--seed", "1", "--out", str(out)])
    from fashion_dcgan.modelfiles import load_generator

    expected = generate(load_generator(conditional), latents(1, 3, 100), labels=np.full(3, 7))
    assert np.allclose(np.load(out), expected, atol=1e-6)

    code, err = run_cli(["sample", "--model", conditional, "--class", "hat", "--out", str(tmp_path / "h.png")], capsys)
    assert code == 1 and "--class: unknown class 'hat'" in err and "7 Sneaker" in err and "Traceback" not in err
    plain = str(model_files / "generator.keras")
    code, err = run_cli(["sample", "--model", plain, "--class", "sneaker", "--out", str(tmp_path / "u.png")], capsys)
    assert code == 1 and "unconditional generator" in err and "model.conditional" in err
    assert not (tmp_path / "h.png").exists() and not (tmp_path / "u.png").exists()


@pytest.mark.parametrize("argv", [["--debug", "preset", "--help"], ["preset", "--debug", "--help"]])
def test_debug_is_accepted_before_and_after_the_command(argv, capsys):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 0 and "--debug" in capsys.readouterr().out


@pytest.mark.parametrize("value", ["1e8", "2.5", "0", "-3", "²", "", "ten"])
def test_a_sample_count_that_is_not_a_whole_number_says_what_is_expected(value, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["sample", "--n", value])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "expected a whole number of at least 1" in err and repr(value) in err


@pytest.mark.parametrize("text", ["²", "٣", "1²"])
def test_non_ascii_digits_are_unknown_classes_not_tracebacks(text):
    with pytest.raises(ValueError, match="unknown class"):
        class_index(text)


@pytest.mark.parametrize("text", ["!!python/object/apply:os.system ['echo hacked']", "[unclosed", "{a: 1"])
def test_a_logged_param_that_is_not_plain_yaml_is_one_line_and_constructs_nothing(text):
    from fashion_dcgan.errors import ParamsError

    with pytest.raises(ParamsError, match=r"^logged param train\.epochs: not a plain YAML value") as error:
        params_from_run({"train.epochs": text})
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("name", "conditional"), [("default", False), ("conditional", True)])
def test_the_default_and_conditional_presets_select_params_yamls_recipe(tmp_path, capsys, name, conditional):
    from fashion_dcgan.config import load_params

    path = tmp_path / "params.yaml"
    path.write_text((REPO / "params.yaml").read_text())
    main(["preset", "conditional" if name == "default" else "tutorial", "--params", str(path)])  # then back
    main(["preset", name, "--params", str(path)])
    written, shipped = load_params(path), load_params(REPO / "params.yaml")
    assert written.model.conditional is conditional and written.model.objective == shipped.model.objective
    # The rest as shipped, and the label read as the recipe says; the conditional recipe keeps the full-width
    # discriminator it was measured with.
    label = {"conditional": False, "conditioning": shipped.model.conditioning}
    if conditional:
        label["discriminator_width"] = shipped.model.discriminator_width
        assert written.model.discriminator_width == 64
    assert written.model.model_copy(update=label) == shipped.model
    # The conditional preset trains with the default's step, for about the default's wall time; it keeps the
    # linear decay it was measured with (the default dropped it; the conditional without it is unmeasured).
    decayed = shipped.train.lr_schedule.model_copy(update={"decay": "linear"})
    assert written.train == shipped.train.model_copy(
        update={"epochs": 7, "lr_schedule": decayed} if conditional else {}
    )
    out = capsys.readouterr().out
    assert f"-S model.conditional={str(conditional).lower()}" in out and "-S train.ema.decay=0.999" in out
    assert "-S train.keep=last" in out and f"-S model.conditioning={written.model.conditioning}" in out


# The CLI in a fresh interpreter where importing TensorFlow (or Keras, or Gradio) fails: whatever it
# refuses, it must refuse before loading them.
NO_TENSORFLOW = r"""
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "gradio"):
            raise ImportError(f"{name} was imported before the arguments were checked")
        return None

sys.meta_path.insert(0, NoTensorFlow())
from fashion_dcgan.cli import main
main(sys.argv[1:])
"""


@pytest.fixture
def busy_port():
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["sample", "--model", "missing.keras", "--out", "x.png"], "missing.keras: model file not found"),
        (["sample", "--class", "hat", "--out", "x.png"], "--class: unknown class 'hat'"),
        (["sample", "--out", "no/such/folder/s.png"], "the folder no/such/folder does not exist"),
        (["sample", "--seed", "-1"], "expected a whole number from 0 to 2,147,483,647, got '-1'"),
        (["sample", "--seed", str(2**64)], "expected a whole number from 0 to 2,147,483,647"),
        (["serve", "--port", "{busy}"], "cannot listen on 127.0.0.1:{busy}"),
        (["demo", "--port", "{busy}"], "cannot listen on 127.0.0.1:{busy}"),
        (["demo", "--model", "missing.keras"], "missing.keras: model file not found"),
        (["preset", "tutorial", "--params", "no/such/folder/params.yaml"], "the folder no/such/folder does not exist"),
    ],
)
def test_the_cli_refuses_bad_arguments_in_one_line_before_loading_tensorflow(tmp_path, busy_port, argv, reason):
    argv = [word.format(busy=busy_port) for word in argv]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/m.db"}
    command = [sys.executable, "-c", NO_TENSORFLOW, *argv]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    lines = done.stderr.strip().splitlines()
    assert done.returncode in (1, 2) and reason.format(busy=busy_port) in done.stderr, done.stderr
    errors = [line for line in lines if "error" in line]  # argparse prints its usage lines first
    assert "Traceback" not in done.stderr and len(errors) == 1 and errors[0] == lines[-1], lines
    assert not (tmp_path / "no").exists() and not (tmp_path / "x.png").exists()


def test_a_long_message_is_cut_at_a_word_with_an_ellipsis():
    from fashion_dcgan.errors import first_line

    text = "word " * 100
    cut = first_line(ValueError(text), 50)
    assert len(cut) <= 50 and cut.endswith("word…") and first_line(ValueError("short"), 50) == "short"


def test_walk_draws_the_demos_latent_walk_from_the_command_line(model_files, tmp_path, capsys):
    """`fashion-dcgan walk` is the demo's walk: the same row of images for the same seeds and steps."""
    from PIL import Image

    from fashion_dcgan.modelfiles import load_generator
    from fashion_dcgan.serving.demo import Demo

    out = tmp_path / "walk.png"
    main(["walk", "--model", str(model_files / "generator.keras"), "--from", "3", "--to", "9", "--steps", "5",
          "--out", str(out)])  # fmt: skip
    expected = Demo(load_generator(model_files / "generator.keras")).walk(3, 9, 5)
    assert np.array_equal(np.asarray(Image.open(out)), expected)
    assert "wrote 5 images from seed 3 to seed 9" in capsys.readouterr().out
    conditional = tmp_path / "conditional.png"
    main(["walk", "--model", str(model_files / "conditional.keras"), "--class", "sneaker", "--out", str(conditional)])
    assert Image.open(conditional).size[0] > Image.open(out).size[0]  # 10 steps, and the class's name


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--steps", "1"], "`steps` must be a whole number from 2 to 32"),
     (["--class", "sneaker"], "--class: .* is an unconditional generator"),
     (["--out", "walk.npy"], "a walk is a .png row of images")],
)  # fmt: skip
def test_walk_refuses_bad_requests_in_one_line(model_files, tmp_path, capsys, args, message):
    argv = ["walk", "--model", str(model_files / "generator.keras"), "--out", str(tmp_path / "w.png"), *args]
    if args[0] == "--out":
        argv[-1] = str(tmp_path / args[1])
    code, err = run_cli(argv, capsys)
    assert code == 1 and re.search(message, err.strip().splitlines()[-1]) and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_help_lists_every_command(capsys):
    from fashion_dcgan.cli import build_parser

    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {"walk", "sample", "serve", "demo", "preset", "doctor", "reproduce"} <= set(commands)
    for name in commands:
        assert re.search(rf"^\s+{name}\s", text, re.M), name
