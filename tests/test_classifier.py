"""The evaluation's feature space: the pinned classifier weights, and the classifier stage's two modes."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import yaml

from fashion_dcgan.config import ClassifierParams, parse_params
from fashion_dcgan.errors import ModelFileError, ParamsError
from fashion_dcgan.evaluation.classifier import build_classifier
from fashion_dcgan.evaluation.pinned import WEIGHTS, card_path, load_pinned, pin, read_card
from fashion_dcgan.files import file_sha256
from fashion_dcgan.stages import classifier as classifier_stage


def test_the_pinned_weights_match_their_card_and_the_default_recipe():
    card = read_card()
    assert file_sha256(WEIGHTS) == card["sha256"]
    assert card["recipe"] == ClassifierParams().model_dump(exclude={"weights"})
    assert card["train_images"] == 60_000 and card["test_accuracy"] > 0.91
    model, loaded_card = load_pinned()
    assert loaded_card == card
    assert [w.shape for w in model.get_weights()] == [w.shape for w in build_classifier().get_weights()]


def test_a_damaged_pinned_file_is_a_one_line_error(tmp_path):
    weights = tmp_path / WEIGHTS.name
    shutil.copy(WEIGHTS, weights)
    shutil.copy(card_path(WEIGHTS), card_path(weights))
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"SHA-256 .* is not the pinned .*classifier.weights: train"):
        load_pinned(weights)
    weights.unlink()
    with pytest.raises(ModelFileError, match="cannot read the pinned classifier weights"):
        load_pinned(weights)


def test_pin_round_trips_the_weights(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    model = build_classifier()
    weights = tmp_path / "c.weights.npz"
    digest = pin(model, {"seed": 3, "epochs": 1, "batch_size": 8}, 0.5, 100, weights)
    assert json.loads(card_path(weights).read_text())["sha256"] == digest == file_sha256(weights)
    loaded = load_pinned(weights)[0].get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), loaded, strict=True))


def test_pinned_weights_refuse_another_recipe():
    with pytest.raises(ParamsError, match=r"epochs is 2, but the pinned weights were trained with 5.*weights: train"):
        parse_params({"classifier": {"epochs": 2}})
    assert parse_params({"classifier": {"weights": "train", "epochs": 2}}).classifier.epochs == 2


@pytest.mark.parametrize("weights", ["pinned", "train"])
def test_the_classifier_stage_loads_the_pinned_weights_or_trains(project, monkeypatch, weights):
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["classifier"] = {"weights": weights} | ({"epochs": 1, "batch_size": 32} if weights == "train" else {})
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(project)
    classifier_stage.main(["--data", "data/processed", "--model", "models/c.keras", "--metrics", "reports/c.json"])
    metrics = json.loads((project / "reports/c.json").read_text())
    assert metrics["weights"] == weights and metrics["test_images"] == 50 and 0 <= metrics["test_accuracy"] <= 1
    assert (project / "models/c.keras").is_file()
    if weights == "pinned":
        assert metrics["sha256"] == read_card()["sha256"] and metrics["train_images"] == 60_000
    else:
        assert "sha256" not in metrics and metrics["train_images"] == 960


def test_pin_classifier_takes_only_a_full_data_classifier_trained_here(project, monkeypatch, capsys):
    from fashion_dcgan.cli import main
    from fashion_dcgan.modelfiles import save_model

    monkeypatch.chdir(project)
    save_model(build_classifier(), "models/classifier.keras")
    (project / "params.yaml").write_text(yaml.safe_dump({"classifier": {"weights": "train"}}))
    metrics = project / "reports/classifier_metrics.json"
    metrics.parent.mkdir()
    out = ["pin-classifier", "--out", str(project / "c.weights.npz")]
    with pytest.raises(SystemExit):
        main(out)  # the classifier stage has not run: no metrics yet
    assert "cannot read the classifier stage's metrics" in capsys.readouterr().err
    for made, refused in (({"weights": "pinned"}, "not trained here"), ({"train_images": 960}, "on a subset")):
        metrics.write_text(json.dumps({"weights": "train", "train_images": 60_000, "test_images": 10_000} | made))
        with pytest.raises(SystemExit):
            main(out)
        assert refused in capsys.readouterr().err
    assert not (project / "c.weights.npz").exists()
    metrics.write_text(json.dumps({"weights": "train", "train_images": 60_000, "test_images": 10_000,
                                   "test_accuracy": 0.9}))  # fmt: skip
    main(out)
    card = read_card(project / "c.weights.npz")
    assert card["recipe"] == {"seed": 0, "epochs": 5, "batch_size": 128} and card["test_accuracy"] == 0.9
