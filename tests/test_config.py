"""params.yaml is read through one schema: defaults, variant values, errors that name the key."""

from __future__ import annotations

import re

import pytest
import yaml

from fashion_dcgan.config import load_params, parse_params
from fashion_dcgan.config.recipes import merge, recipe
from fashion_dcgan.errors import ParamsError
from tests.conftest import REPO


def test_repo_params_are_the_schema_defaults_on_the_deep_networks():
    params = load_params(REPO / "params.yaml")
    assert params == parse_params({})  # the file spells out exactly the schema's defaults
    assert (params.model.variant, params.model.latent_dim) == ("deep", 100)
    assert (params.train.batch_size, params.train.epochs, params.train.reuse_fakes) == (64, 9, True)
    assert (params.model.generator_width, params.model.discriminator_width) == (128, 32)
    assert params.train.lr_schedule.decay == "none"  # constant rates: more epochs extend a run


def test_tutorial_preset_resolves_keras_adam_defaults():
    params = parse_params(recipe("tutorial"))
    assert params.adam() == (1e-3, 1e-3, 0.9, 0.999)
    assert (params.model.objective.name, params.train.ema.decay, params.train.augment) == ("bce", 0.0, [])


def test_optimizer_settings_come_from_params_then_objective_then_variant():
    """A null rate or beta takes the objective's Adam settings, else the network family's: both from the
    catalog of parts, where each is written once."""
    from fashion_dcgan import catalog

    unset = {"learning_rate_d": None, "learning_rate_g": None, "beta_1": None, "beta_2": None}
    paper_bce = parse_params({"model": {"variant": "paper", "objective": "bce"}, "train": unset})
    assert catalog.OBJECTIVES["bce"].adam is None  # bce declares none: the family's
    assert (
        paper_bce.adam()
        == (2e-4, 2e-4, 0.5, 0.999)
        == (catalog.FAMILIES["paper"].adam.learning_rate,) * 2
        + (
            catalog.FAMILIES["paper"].adam.beta_1,
            catalog.FAMILIES["paper"].adam.beta_2,
        )
    )
    assert parse_params({}).adam() == (1e-3, 1e-3, 0.5, 0.99)  # the tuned default rates and beta2; r1's beta1
    wgan = {"model": {"variant": "tutorial", "objective": "wgan_gp"}}
    assert parse_params({**wgan, "train": unset}).adam() == (1e-4, 1e-4, 0.0, 0.9)
    explicit = parse_params({**wgan, "train": {**unset, "learning_rate_g": 1e-3, "beta_1": 0.3}})
    assert explicit.adam() == (1e-4, 1e-3, 0.3, 0.9)
    assert parse_params({**wgan, "train": {"beta_2": 0.95}}).adam()[3] == 0.95


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"train": {"epochs": 0}}, "train.epochs"),
        ({"train": {"epochs": -3}}, "train.epochs"),
        ({"train": {"epochs": "10"}}, "train.epochs"),
        ({"train": {"batch_size": 1.5}}, "train.batch_size"),
        ({"train": {"batch_size": 128}, "data": {"train_limit": 100}}, "train.batch_size"),
        ({"model": {"variant": "huge"}}, "model.variant"),
        ({"model": {"conditioning": "concat"}}, "model.conditioning"),
        ({"model": {"variant": "deep", "generator_width": 3}}, "generator_width"),
        ({"train": {"lr_schedule": {"decay": "step"}}}, "train.lr_schedule.decay"),
        ({"train": {"lr_schedule": {"start": 1.0}}}, "train.lr_schedule.start"),
        ({"runtime": {"precision": "fp8"}}, "runtime.precision"),
        ({"runtime": {"jit_compile": "yes"}}, "runtime.jit_compile"),
        ({"train": {"epoch": 3}}, "train.epoch"),
        ({"trian": {"epochs": 3}}, "trian"),
        ({"model": {"objective": {"name": "bce", "label_smoothing": 0.7}}}, "model.objective.label_smoothing"),
        ({"model": {"objective": {"name": "bce", "gamma": 1.0}}}, "model.objective.gamma"),
        ({"model": {"objective": {"name": "r1", "every": 0}}}, "model.objective.every"),
        ({"model": {"objective": {"gamma": 1.0}}}, "model.objective"),
        ({"data": {"sources": []}}, "data.sources"),
        ({"model": {"objective": "wgan"}}, "model.objective"),
        ({"train": {"ema": {"decay": 1.0}}}, "train.ema.decay"),
        ({"train": {"ema": {"decy": 0.9}}}, "train.ema.decy"),
        ({"train": {"augment": ["flip"]}}, "train.augment"),
        ({"train": {"keep": "best"}}, "train.keep"),
        ({"train": {"keep": "best_fid"}, "runtime": {"monitor_samples": 0}}, "runtime.monitor_samples"),
    ],
)
def test_bad_values_name_the_key_in_one_line(raw, key):
    with pytest.raises(ParamsError) as error:
        parse_params(raw)
    message = str(error.value)
    assert key in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"precision": "float32"}}, "train.precision: moved to runtime.precision"),
        ({"train": {"label_smoothing": 0.1}}, "train.label_smoothing: moved to model.objective.label_smoothing"),
        ({"model": {"r1_gamma": 2.0}}, "model.r1_gamma: moved to model.objective.gamma"),
        ({"model": {"objective": "wgan"}}, "model.objective: unknown name 'wgan'; choose one of 'bce', 'hinge'"),
    ],
)
def test_keys_of_an_earlier_params_yaml_say_where_they_went(raw, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        parse_params(raw)


def test_an_objective_is_named_alone_or_with_its_settings():
    assert parse_params({"model": {"objective": "hinge"}}).model.objective.name == "hinge"
    assert parse_params({"model": {"objective": "r1"}}).model.objective == parse_params({}).model.objective
    wgan = parse_params({"model": {"objective": {"name": "wgan_gp", "weight": 5.0}}}).model.objective
    assert (wgan.name, wgan.weight) == ("wgan_gp", 5.0)
    assert parse_params({}).flat()["model.objective.every"] == 16


def test_unreadable_files_are_params_errors(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("train: [unclosed")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text(yaml.safe_dump([1, 2]))
    with pytest.raises(ParamsError, match="expected a mapping"):
        load_params(tmp_path / "list.yaml")


def test_training_hash_ignores_epochs_keep_and_runtime_but_not_what_shapes_training():
    def params(raw: dict):  # at constant rates, where raising epochs resumes
        return parse_params(merge({"train": {"lr_schedule": {"decay": "none"}}}, raw))

    base = params({})
    assert params({"train": {"epochs": 20}}).training_hash() == base.training_hash()
    assert params({"train": {"keep": "best_fid"}}).training_hash() == base.training_hash()
    assert params({"sample": {"seed": 5}}).training_hash() == base.training_hash()
    runtime = {"precision": "float32", "strategy": "default", "jit_compile": True, "steps_per_execution": 1,
               "log_every_steps": 7, "fixed_noise_size": 9, "monitor_samples": 0}  # fmt: skip
    assert params({"runtime": runtime}).training_hash() == base.training_hash()
    for change in (
        {"train": {"seed": 1}},
        {"model": {"latent_dim": 64}},
        {"data": {"train_limit": 1000}},
        {"model": {"objective": {"name": "r1", "every": 1}}},
        {"model": {"variant": "tutorial"}},
        {"model": {"conditioning": "batch_norm"}},
        {"train": {"lr_schedule": {"decay": "linear"}}},
    ):
        assert params(change).training_hash() != base.training_hash()
    # A decay to zero at the run's end makes the schedule depend on the run's length: epochs count then,
    # and keep still does not.
    decaying = params({"train": {"lr_schedule": {"decay": "linear"}}})
    assert (
        params({"train": {"epochs": 20, "lr_schedule": {"decay": "linear"}}}).training_hash()
        != decaying.training_hash()
    )
    assert params({"train": {"keep": "best_fid", "lr_schedule": {"decay": "linear"}}}).training_hash() == (
        decaying.training_hash()
    )


def test_flat_names_every_param():
    flat = parse_params({}).flat()
    assert flat["train.epochs"] == 9 and flat["model.variant"] == "deep"
    assert all("." in key for key in flat)


def test_a_duplicated_key_is_an_error_naming_it(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  epochs: 3\n  seed: 1\n  epochs: 30\n")
    with pytest.raises(ParamsError, match="duplicate key 'epochs'") as error:
        load_params(path)
    assert "\n" not in str(error.value) and str(path) in str(error.value)


def test_a_stage_view_allows_only_what_the_stage_declares(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"epochs": 3}}))
    view = load_params(path, ("data.train_limit", "model", "train", "evaluate.seed"))
    full = load_params(path)
    assert view.train.epochs == 3 and view.train.ema.decay == full.train.ema.decay and view.evaluate.seed == 0
    assert view.training_hash() == full.training_hash() and view.adam() == full.adam()
    assert set(view.flat()) == {k for k in full.flat() if k.startswith(("model.", "train."))} | {
        "data.train_limit",
        "evaluate.seed",
    }
    with pytest.raises(ParamsError, match=r"evaluate\.kid_subsets is read but not declared"):
        _ = view.evaluate.kid_subsets
    with pytest.raises(ParamsError, match="sample is read but not declared"):
        _ = view.sample
    with pytest.raises(ParamsError, match="data"):
        load_params(path, ("train",)).training_hash()


def test_a_rule_of_the_config_is_a_property_that_stage_views_let_through(tmp_path):
    """train.lr_schedule.decays is spelled once, on the schema; a stage's view evaluates it on what the
    stage declares, so a stage that does not declare the schedule cannot read it through the rule."""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": {"lr_schedule": {"decay": "cosine"}}}))
    assert load_params(path).train.lr_schedule.decays and not parse_params({}).train.lr_schedule.decays
    assert load_params(path, ("train",)).train.lr_schedule.decays
    with pytest.raises(ParamsError, match=r"train\.lr_schedule\.decay is read but not declared"):
        _ = load_params(path, ("train.lr_schedule.start",)).train.lr_schedule.decays
    with pytest.raises(AttributeError):
        _ = load_params(path, ("train",)).train.lr_schedule._private


def test_merge_overrides_nested_keys():
    merged = merge(recipe("tutorial"), {"train": {"ema": {"decay": 0.5}, "seed": 3}})
    assert merged["train"]["ema"] == {"decay": 0.5} and merged["train"]["seed"] == 3
    assert merged["train"]["beta_2"] is None and recipe("tutorial")["train"]["ema"] == {"decay": 0.0}
    # A value that replaces a mapping with a name (or the reverse) replaces it whole.
    assert merge({"model": {"objective": {"name": "r1", "gamma": 2}}}, {"model": {"objective": "bce"}}) == {
        "model": {"objective": "bce"}
    }


def test_every_parameter_has_a_plain_description():
    """The parameter reference is generated from the schema: a field without a description is a gap in it."""
    from fashion_dcgan.config import schema_fields

    fields = dict(schema_fields())
    assert {"train.epochs", "model.objective.r1.gamma", "sample.n_samples"} <= set(fields)
    missing = [key for key, field in fields.items() if not (field.description or "").strip()]
    assert not missing, f"fields without a description: {missing}"
    rounds = re.compile(r"\bround (one|two|three|four|five|\d)\b|README", re.IGNORECASE)
    research = [key for key, field in fields.items() if rounds.search(field.description)]
    assert not research, f"descriptions that speak of research rounds: {research}"
