"""The time-to-quality arithmetic (the benchmark's measurements themselves are not timed in tests)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from benchmarks.curves import epoch_reaching, fid_at
from benchmarks.time_to_quality import budget_table, speed_table, table

from tests.conftest import needs_bf16_units


def curve(fids):
    return pd.DataFrame({"epoch": range(1, len(fids) + 1), "fid": fids})


def test_the_target_is_reached_between_epochs_by_linear_interpolation():
    assert epoch_reaching(curve([500, 300, 200]), 250) == pytest.approx(2.5)
    assert epoch_reaching(curve([100, 90]), 250) == 1  # reached by the first epoch
    assert math.isinf(epoch_reaching(curve([500, 400]), 250))
    assert fid_at(curve([500, 300, 200]), 1.5) == pytest.approx(400)
    assert math.isnan(fid_at(curve([500, 300]), 2.5))


def test_time_to_quality_combines_epochs_with_seconds_per_epoch():
    rows = [("tutorial", seed, e, fid) for seed in (1, 2) for e, fid in enumerate([400, 300, 200], start=1)]
    rows += [("fast", seed, e, fid) for seed in (1, 2) for e, fid in enumerate([300, 200, 100], start=1)]
    frame = pd.DataFrame(rows, columns=["recipe", "seed", "epoch", "fid"])
    # tutorial: 600 images/s = 100 s per epoch, 300 s for 3 epochs; fast: 1200 images/s = 50 s per epoch.
    text = table(frame, {"tutorial": [600.0, 600.0], "fast": [1200.0, 1200.0]}, "tutorial")
    assert "Target: the tutorial recipe's FID after 3 epochs, 200.0" in text and "take 300 s here" in text
    fast = next(line for line in text.splitlines() if line.startswith("| fast "))
    # 200 is reached at epoch 2 = 100 s = 1/3 of the tutorial's 300 s; at the equal 150 s (epoch 3) FID 100.
    assert "| 2.00, 2.00 | 100 s (100-100) | 0.33 (0.33-0.33) | 100.0, 100.0 | 100.0 ± 0.0 |" in fast


def test_an_epochs_share_of_a_reference_pairs_the_repeats():
    # Repeat by repeat (round-robin): 0.5 and 0.75; not the ratio of the medians or of the extremes.
    rates = {"old": [400.0, 600.0], "new": [800.0, 800.0]}
    assert speed_table(rates, reference="old").endswith("| new | 800 (800-800) | 75 | 0.62 (0.50-0.75) |")
    frame = pd.DataFrame(
        [(r, 1, e, 100.0 * (3 - e)) for r in rates for e in (1, 2)], columns=["recipe", "seed", "epoch", "fid"]
    )
    old, new = table(frame, rates, "old", reference="old").splitlines()[-2:]
    assert old.endswith("| 1.00 (1.00-1.00) |") and new.endswith("| 0.62 (0.50-0.75) |")


def scored(recipe, seed, fids, **metrics):
    return [{"recipe": recipe, "seed": seed, "epoch": e, "fid": f, "precision": 0.7, "recall": 0.6 + seed / 100,
             "coverage": 0.9, "classes_covered": 10, "kl_to_uniform": 0.01, **metrics}
            for e, f in enumerate(fids, start=1)]  # fmt: skip


def test_the_budget_table_reads_every_curve_at_the_budget_recipes_wall_time(tmp_path):
    from benchmarks.time_to_quality import figure

    # base: 100 s per epoch, 3 epochs = the 300 s budget. slow: 200 s per epoch, read at epoch 1.5.
    # short: 50 s per epoch but only 4 epochs (200 s): read at its last epoch.
    rows = scored("base", 1, [300, 200, 100]) + scored("base", 2, [300, 220, 120])
    rows += scored("slow", 1, [200, 100]) + scored("slow", 2, [220, 100])
    rows += scored("short", 1, [250, 150, 90, 80]) + scored("short", 2, [250, 150, 90, 60])
    frame = pd.DataFrame(rows)
    rates = {"base": [600.0], "slow": [300.0], "short": [1200.0]}
    text = budget_table(frame, rates, "base", 3)
    assert text.startswith("Wall time: 3 epochs of base, 300 s")
    lines = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ")}
    assert "| 100 | 3.0 | 100.0, 120.0 | 110.0 ± 10.0 | 0.700 ± 0.000 | 0.615 ± 0.005 |" in lines["base"]
    assert "| 200 | 1.5 | 150.0, 160.0 | 155.0 ± 5.0 |" in lines["slow"]
    assert "| 50 | 6.0 | 80.0, 60.0 | 70.0 ± 10.0 |" in lines["short"] and lines["short"].endswith("after 4 |")
    assert "class consistency" not in text
    conditional = pd.DataFrame(scored("base", 1, [90, 50], class_consistency=0.91))
    assert "class consistency |" in budget_table(conditional, {"base": [600.0]}, "base", 2)
    figure(frame, rates, 300.0, str(tmp_path / "curves.png"), "test")
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_stored_speeds_are_reused_and_new_ones_stored(tmp_path, monkeypatch):
    import benchmarks.time_to_quality as ttq

    measured = []

    def fake_speeds(recipes, repeats, images):
        measured.append(list(recipes))
        return {recipe: [100.0 * len(recipe)] for recipe in recipes}

    monkeypatch.setattr(ttq, "speeds", fake_speeds)
    path = str(tmp_path / "speeds.json")
    assert ttq.measured_speeds(["a", "bb"], 3, 64, path) == {"a": [100.0], "bb": [200.0]}
    assert ttq.measured_speeds(["bb"], 3, 64, path) == {"bb": [200.0]} and measured == [["a", "bb"]]
    ttq.measured_speeds(["a", "ccc"], 3, 64, path)  # one of them unknown: measured again, all of them
    assert measured[-1] == ["a", "ccc"]


def test_network_costs_count_the_tutorials_274_mflop_and_one_pass_less():
    from benchmarks.flops import network_cost

    from fashion_dcgan.config import parse_params

    model = {"variant": "tutorial", "discriminator_width": 64}
    tutorial = network_cost(parse_params({"model": model, "train": {"reuse_fakes": False}}))
    assert (tutorial["g_params"], tutorial["d_params"]) == (840_705, 212_865)
    assert round(tutorial["step_mflop"]) == 274
    one_pass = network_cost(parse_params({"model": model}))
    assert one_pass["step_mflop"] == pytest.approx(tutorial["step_mflop"] - tutorial["g_mflop"])
    full = network_cost(parse_params({"model": {"variant": "deep", "discriminator_width": 64}}))
    assert (full["g_params"], full["d_params"]) == (792_225, 660_929) and full["step_mflop"] > one_pass["step_mflop"]
    # The default: the same generator, the discriminator at half width; it runs three times a step, the
    # generator once (3 F_G + 9 F_D), so the step costs 151 MFLOP against the full widths' 352.
    default = network_cost(parse_params({}))
    assert (default["g_params"], default["d_params"]) == (792_225, 166_625)
    assert (round(default["step_mflop"]), round(full["step_mflop"])) == (151, 352)


def test_the_speed_table_gives_the_median_its_range_and_seconds_per_epoch():
    text = speed_table({"a": [500.0, 600.0, 1000.0], "b": [1200.0]})
    assert "| a | 600 (500-1000) | 100 |" in text and "| b | 1200 (1200-1200) | 50 |" in text


def test_saturation_tables_say_what_more_epochs_buy_and_count_the_rises(tmp_path):
    from research.saturation import budget_table, milestone_table, read_curves, ups_and_downs

    rows = [{"recipe": "long", "seed": 1, "epoch": e, "fid": f} for e, f in enumerate([300, 200, 150, 160, 140], 1)]
    pd.DataFrame(rows[:3]).to_csv(tmp_path / "long.csv", index=False)
    pd.DataFrame(rows[2:]).to_json(tmp_path / "long.progress.jsonl", orient="records", lines=True)
    frame = read_curves([str(tmp_path / "long.csv"), str(tmp_path / "long.progress.jsonl")])
    assert frame["epoch"].tolist() == [1, 2, 3, 4, 5]  # epoch 3 is in both files, once here
    assert ups_and_downs(frame) == {"scored": 5, "rises": 1, "largest_rise": 10.0}
    assert "| long (1) | 300.0 | 200.0 | 150.0 | 140.0 | 140.0 (5) |" in milestone_table(frame)
    budget = budget_table(frame, {"long": 60.0}, [150, 145, 100])
    assert "| long (1) | 60 | epoch 3, 3 min | epoch 5, 5 min | not by epoch 5 |" in budget


def test_an_average_moved_several_updates_at_once_keeps_the_product_of_the_warmed_decays():
    import keras
    import numpy as np

    from fashion_dcgan.gan.ema import GeneratorAverage, warmed_decay

    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    average = GeneratorAverage(generator, 0.9)
    generator.layers[0].kernel.assign(np.ones((2, 1), np.float32))
    average.update(3)  # updates 1-3 at once, all ending at the live weights (1): kept = d1 * d2 * d3
    kept = warmed_decay(0.9, 1) * warmed_decay(0.9, 2) * warmed_decay(0.9, 3)
    assert int(average.updates.numpy()) == 3
    np.testing.assert_allclose(average.generator.layers[0].kernel.numpy(), 1 - kept, rtol=1e-6)
    assert warmed_decay(0.9, 1) == pytest.approx(2 / 11) and warmed_decay(0.5, 20) == 0.5  # the warm-up, then d


def test_an_ema_shadow_updated_after_every_step_is_the_training_average(tmp_path):
    """With one step per compiled call the shadow makes exactly the updates ``gan.ema`` makes."""
    import numpy as np
    from benchmarks.recipes import EmaShadows, EpochScores

    from fashion_dcgan.tracking import NullRunLogger
    from fashion_dcgan.training.loop import TrainingPaths, train
    from tests.conftest import synthetic_split, tiny_params

    images = synthetic_split(64)[0][..., None].astype("float32") / 127.5 - 1.0
    scored = []

    def scorer(generator, seed=0):
        scored.append(generator.name)
        return {"fid": float(sum(np.abs(w).sum() for w in generator.get_weights()))}

    rows: list = []
    clock = EpochScores(scorer, rows, 0.0, every=1, last=2, progress=tmp_path / "p.jsonl", tag={"recipe": "r"})
    shadows = EmaShadows([0.9, 0.2], scorer, clock)
    params = tiny_params(epochs=2, ema={"decay": 0.9})
    result = train(params, images, TrainingPaths.under(tmp_path / "run"), lambda _: NullRunLogger(), verbose=0,
                   extra_callbacks=[clock, shadows])  # fmt: skip
    shadow = {decay: average.generator.get_weights() for decay, average in shadows.averages.items()}
    for average, weight in zip(shadow[0.9], result.gan.sampler.get_weights(), strict=True):
        np.testing.assert_allclose(average, weight, rtol=1e-5, atol=1e-6)
    assert not np.allclose(shadow[0.2][0], shadow[0.9][0])  # 0.2 is below the warm-up from n = 2
    # Each epoch: the recipe's sampler, then each shadow; the shadow rows carry the recipe's wall time.
    assert scored == ["generator_ema", "generator_shadow", "generator_shadow"] * 2
    assert [row["epoch"] for row in shadows.rows[0.2]] == [1, 2]
    assert shadows.rows[0.9][-1]["fid"] == pytest.approx(rows[-1]["fid"], rel=1e-4)
    assert shadows.rows[0.9][-1]["wall_s"] == rows[-1]["wall_s"]
    lines = (tmp_path / "p.jsonl").read_text().splitlines()
    assert [line.split('"recipe": ')[1].split('"')[1] for line in lines[:3]] == ["r", "r@ema0.9", "r@ema0.2"]


def test_the_tutorial_loops_use_the_librarys_networks():
    import keras
    from benchmarks.train_speed import tutorial_networks
    from research.cpu_attempts import JAX_LOOP

    generator, discriminator = tutorial_networks()
    assert (generator.count_params(), discriminator.count_params()) == (840_705, 212_865)
    assert discriminator.layers[-1].get_config()["activation"] == "sigmoid"
    # The JAX loop runs where the project is not installed; its copy must build the same networks.
    source = JAX_LOOP.split("rng = np.random")[0].split("L = keras.layers")[1]
    scope = {"keras": keras, "L": keras.layers}
    exec(source.split("d.compile")[0], scope)
    assert (scope["g"].count_params(), scope["d"].count_params()) == (840_705, 212_865)
    assert [type(layer).__name__ for layer in scope["g"].layers] == [type(layer).__name__ for layer in generator.layers]


@pytest.mark.parametrize("precision", ["float32", pytest.param("mixed_bfloat16", marks=needs_bf16_units)])
def test_a_timed_run_gives_each_epoch_after_the_first_and_leaves_float32(tmp_path, precision):
    import keras
    import numpy as np
    from benchmarks.timing import timed_epochs

    from tests.conftest import synthetic_split, tiny_params

    images = synthetic_split(64)[0][..., None].astype(np.float32) / 127.5 - 1.0
    rates = timed_epochs(tiny_params(epochs=3, runtime={"precision": precision}), images)
    assert len(rates) == 2 and all(rate > 0 for rate in rates)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_curves_are_read_once_and_queried_alike(tmp_path):
    from benchmarks.curves import first_reaching, read_curves

    old = tmp_path / "old.csv"
    pd.DataFrame({"recipe": ["a", "a"], "seed": [1, 1], "epoch": [1, 2], "fid": [300.0, 200.0]}).to_csv(old)
    new = tmp_path / "new.progress.jsonl"
    new.write_text('{"recipe": "a", "seed": 1, "epoch": 2, "fid": 150.0}\n')
    frame = read_curves([str(old), str(new)])
    assert frame["fid"].tolist() == [300.0, 150.0]  # the later file wins
    assert int(first_reaching(frame, 160)["epoch"]) == 2 and first_reaching(frame, 100) is None
    with pytest.raises(SystemExit, match="no per-epoch scores for \\['b'\\]"):
        read_curves([str(old)], ["a", "b"])


def test_a_sweeps_grids_go_to_an_mlflow_experiment_of_its_study(tmp_path, monkeypatch):
    import numpy as np
    from benchmarks.recipes import log_grids
    from mlflow import MlflowClient

    from fashion_dcgan.tracking import NullRunLogger
    from fashion_dcgan.training.loop import TrainingPaths, train
    from tests.conftest import synthetic_split, tiny_params

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    images = synthetic_split(64)[0][..., None].astype(np.float32) / 127.5 - 1.0
    result = train(tiny_params(epochs=1), images, TrainingPaths.under(tmp_path), lambda _: NullRunLogger(), verbose=0)
    log_grids(result.gan, "tutorial", 1, 1, "recipes_1epoch")
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("benchmark: recipes_1epoch")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "tutorial-s1-e1" and run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"sampled_epoch1.png", "raw_epoch1.png"}


def test_every_benchmark_recipe_is_a_file_and_earlier_names_still_resolve():
    from benchmarks.recipes import EARLIER_NAMES, params_for
    from benchmarks.recipes_as_measured import trains_as

    from fashion_dcgan.config import load_params
    from fashion_dcgan.config.recipes import recipe, recipe_names
    from tests.conftest import REPO

    research = [name for name in recipe_names(research=True) if name.startswith("research/")]
    assert len(research) >= 30 and set(EARLIER_NAMES.values()) <= {*recipe_names(research=True)}
    for name in research:
        text = (REPO / "recipes" / f"{name}.yaml").read_text()
        assert "round" not in name and "current" not in name and "Measured in the research log as" in text
        recipe(name)
    # An earlier name and its file give the same params; the default's measured twin trains as the default
    # (its Adam settings written out as the numbers the default's nulls resolve to), in another precision.
    assert params_for("ema+r1", 1, 3) == params_for("research/r1-every-step-ema", 1, 3)
    measured = params_for("research/deep-networks-narrow-d", 1, 9)
    assert trains_as(measured) == trains_as(load_params(REPO / "params.yaml"))
    assert (
        measured.runtime.precision == "mixed_bfloat16" and params_for("tutorial", 1, 3).runtime.precision == "float32"
    )


def test_research_recipes_resolve_as_they_were_measured():
    """Each research recipe resolves today to what it trained when it was measured (the record that
    benchmarks.recipes_as_measured made at those commits), whatever the defaults have become since."""
    import json

    from benchmarks.recipes_as_measured import OUT, RESEARCH, resolve

    measured = json.loads(OUT.read_text())
    assert sorted(measured) == sorted(path.stem for path in RESEARCH.glob("*.yaml"))
    drifted = {}
    for name, entry in measured.items():
        now = resolve(name)
        moved = {key: (value, now.get(key)) for key, value in entry["params"].items() if now.get(key) != value}
        if moved or set(now) != set(entry["params"]):
            drifted[name] = moved or sorted(set(now) ^ set(entry["params"]))
    assert not drifted  # {recipe: {key: (as measured, today)}}


def test_research_recipes_write_every_key_so_that_no_default_can_move_them():
    import yaml
    from benchmarks.recipes_as_measured import RESEARCH, flat, resolve

    for path in sorted(RESEARCH.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        written = flat({section: raw[section] for section in ("model", "train")})
        assert set(written) == set(resolve(path.stem)), path.name  # every key but the seed
        assert None not in written.values(), path.name  # no "the objective's default" either


def test_recipes_as_measured_resolves_in_a_worktree_of_a_commit():
    from benchmarks.recipes_as_measured import RESEARCH, measured_at, resolve, resolve_at

    path = RESEARCH / "deep-networks.yaml"
    commit = measured_at(path)
    at_commit = resolve_at(commit, [path.stem])[path.stem]
    assert at_commit["train.lr_schedule.decay"] == "none" and at_commit["model.variant"] == "deep"
    assert at_commit == resolve(path.stem)  # added with every key, so nothing has moved since
