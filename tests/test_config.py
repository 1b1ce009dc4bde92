"""params.yaml is read through one schema: defaults, variant values, errors that name the key."""

from __future__ import annotations

import pytest
import yaml

from fashion_dcgan.config import load_params, parse_params
from fashion_dcgan.errors import ParamsError
from tests.conftest import REPO


def test_repo_params_are_the_tutorial_defaults():
    params = load_params(REPO / "params.yaml")
    assert params == parse_params({})  # the file spells out exactly the schema's defaults
    assert (params.model.variant, params.model.latent_dim) == ("tutorial", 100)
    assert (params.train.batch_size, params.train.epochs) == (32, 10)
    assert (params.learning_rate_d, params.learning_rate_g, params.beta_1, params.train.beta_2) == (
        1e-3,
        1e-3,
        0.9,
        0.999,
    )


def test_paper_variant_resolves_the_papers_optimizer():
    params = parse_params({"model": {"variant": "paper"}})
    assert (params.learning_rate_d, params.learning_rate_g, params.beta_1) == (2e-4, 2e-4, 0.5)
    explicit = parse_params({"model": {"variant": "paper"}, "train": {"learning_rate_g": 1e-3, "beta_1": 0.0}})
    assert (explicit.learning_rate_g, explicit.beta_1) == (1e-3, 0.0)


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"epochs": -3}}, "train.epochs"),
        ({"train": {"epochs": "10"}}, "train.epochs"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size"),
        ({"train": {"batch_size": 128}, "data": {"train_limit": 100}}, "train.batch_size"),
        ({"model": {"variant": "huge"}}, "model.variant"),
        ({"train": {"precision": "fp8"}}, "train.precision"),
        ({"train": {"jit_compile": "yes"}}, "train.jit_compile"),
        ({"train": {"epoch": 3}}, "train.epoch"),
        ({"trian": {"epochs": 3}}, "trian"),
        ({"train": {"label_smoothing": 0.7}}, "train.label_smoothing"),
        ({"data": {"sources": []}}, "data.sources"),
    ],
)
def test_bad_values_name_the_key_in_one_line(raw, key):
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    message = str(error.value)
    assert key in message
    assert "\n" not in message


def test_unreadable_files_are_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(tmp_path / "list.yaml")


def test_training_hash_ignores_epochs_but_not_what_shapes_training():
    base = parse_params({})
    assert parse_params({"train": {"epochs": 20}}).training_hash() == base.training_hash()
    assert parse_params({"sample": {"seed": 5}}).training_hash() == base.training_hash()
    for change in ({"train": {"seed": 1}}, {"model": {"latent_dim": 64}}, {"data": {"train_limit": 1000}}):
        assert parse_params(change).training_hash() != base.training_hash()


def test_flat_names_every_param():
    flat = parse_params({}).flat()
    assert flat["train.epochs"] == 10 and flat["model.variant"] == "tutorial"
    assert all("." in key for key in flat)
