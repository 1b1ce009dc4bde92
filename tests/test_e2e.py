"""End to end: the real `dvc repro` on a small slice of the real data, in a temporary copy of the repo.

The tests run in file order and share one copy: each builds on the state the previous one left.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from fashion_dcgan.evaluation.metric_registry import DVC_METRICS
from tests.conftest import REPO, make_dry_run, requires_mirror, stage_cmd, watched_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow, requires_mirror]

SMALL = {
    "data": {"train_limit": 320, "test_limit": 200},
    # Constant rates: the default's decay is planned for the run's length, and more epochs should resume here.
    "train": {"epochs": 2, "lr_schedule": {"decay": "none", "start": 0.6}},
    "runtime": {"monitor_samples": 100, "log_every_steps": 4, "steps_per_execution": 2},
    "sample": {"n_samples": 200, "walk_rows": 3, "walk_steps": 4},
    "evaluate": {"kid_subsets": 5, "kid_subset_size": 50, "probe_train_size": 200},
}


def env() -> dict[str, str]:
    # Without the caller's TF_CPP_MIN_LOG_LEVEL: the stages must be quiet on their own.
    variables = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "TF_CPP_MIN_LOG_LEVEL")}
    variables["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{variables.get('PATH', '')}"
    variables["DVC_NO_ANALYTICS"] = "1"
    return variables


def sh(repo: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(argv, cwd=repo, env=env(), capture_output=True, text=True, timeout=900)
    if check and done.returncode != 0:
        raise AssertionError(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def set_params(repo: Path, overrides: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in overrides.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def mlflow_client(repo: Path):
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")


def run_id(repo: Path) -> str:
    return json.loads((repo / "reports" / "train_metrics.json").read_text())["mlflow_run_id"]


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline") / "repo"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()  # fmt: skip
    for name in files:
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, root / name)
    set_params(root, SMALL)
    sh(root, "git", "init", "-q")
    sh(root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    sh(root, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "test copy")
    done = sh(root, "dvc", "repro")
    (root.parent / "repro.log").write_text(done.stdout + done.stderr)
    return root


def test_a_default_repro_log_has_no_tensorflow_noise(repo):
    log = (repo.parent / "repro.log").read_text()
    assert "Running stage 'train'" in log
    assert "E0000" not in log and "I0000" not in log and "cuInit" not in log, log[-3000:]
    # Nor third-party INFO lines: MLflow's database and uv export, Great Expectations' temporary folder.
    assert "INFO mlflow" not in log and "Created temporary directory" not in log, log[-3000:]


def test_repro_produces_validated_data_models_samples_metrics_and_report(repo):
    outputs = [
        "data/processed/train_images.npy",
        "data/generated/samples.npy",
        "models/generator.keras",
        "models/discriminator.keras",
        "models/classifier.keras",
        "reports/validation/index.html",
        "reports/preview.png",
        "reports/samples/fixed_noise_grid.png",
        "reports/samples/latent_walk.gif",
        "reports/training.gif",
        "reports/report.md",
    ]
    for path in outputs:
        assert (repo / path).is_file(), path
    validation = json.loads((repo / "reports/validation/validation.json").read_text())
    assert set(validation) == {"train_raw", "train_processed", "test_raw", "test_processed"}
    assert all(result["success"] for result in validation.values())

    import imageio.v3 as iio

    assert iio.imread(repo / "reports/training.gif", index=None).shape[0] == SMALL["train"]["epochs"]
    metrics = json.loads((repo / "reports/eval_metrics.json").read_text())
    for key in ("fid", "fid_real_floor", "kid", "kid_stderr", "inception_score", "classes_covered", "probe_accuracy",
                "probe_accuracy_random_weights", "probe_accuracy_raw_pixels"):  # fmt: skip
        assert isinstance(metrics[key], (int, float)), key
    # The pinned feature space, scored on this slice of the real test set.
    classifier = json.loads((repo / "reports/classifier_metrics.json").read_text())
    assert classifier["weights"] == "pinned" and classifier["test_images"] == SMALL["data"]["test_limit"]
    assert classifier["test_accuracy"] > 0.85


def test_report_parses_and_links_only_existing_files(repo):
    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.links: list[str] = []

        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("src", "href") and not value.startswith(("http://", "https://")):
                    self.links.append(value)

    page = (repo / "reports/index.html").read_text()
    parser = Links()
    parser.feed(page)
    assert len(parser.links) >= 8
    for link in parser.links:
        assert (repo / "reports" / link).is_file(), link
    assert run_id(repo) in page and "Evaluation" in page and "validation" in page


def test_the_report_renders_in_a_real_browser_with_its_scorecard(repo, browser):
    page = watched_page(browser)
    page.goto((repo / "reports" / "index.html").as_uri(), wait_until="load")
    broken = page.evaluate(
        "() => [...document.images].filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert page.locator("img").count() >= 6 and broken == []
    scorecard = page.locator("table.scorecard").inner_text()
    assert "tutorial recipe" in scorecard and "champion" in scorecard and "real data" in scorecard
    assert "FID" in scorecard and ("▲ better" in scorecard or "▼ worse" in scorecard)
    assert page.get_by_text("Recent runs in the tracking store").count() == 1
    assert page.problems == []
    page.close()


def test_mlflow_run_has_params_curves_images_model_and_report(repo):
    client = mlflow_client(repo)
    run = client.get_run(run_id(repo))
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "2" and run.data.params["data.train_limit"] == "320"
    assert len(run.data.tags["git_commit"]) == 40 and "data.sha256.train_images" in run.data.tags
    assert len(client.get_metric_history(run.info.run_id, "step/d_loss")) >= 4
    assert len(client.get_metric_history(run.info.run_id, "epoch/monitor_fid")) == 2
    assert (
        "eval/fid" in run.data.metrics and "eval/precision" in run.data.metrics and "eval/raw_fid" in run.data.metrics
    )
    assert run.info.run_name.startswith("deep-r1-ema0.999-") and run.info.run_name.endswith("-e2-s42")
    assert "FID" in run.data.tags["mlflow.note.content"]
    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"fashion-mnist-train", "fashion-mnist-test"}
    assert (
        json.loads(inputs["fashion-mnist-train"].dataset.profile)["sha256"] == run.data.tags["data.sha256.train_images"]
    )
    assert run.data.tags["registered_model"].startswith("fashion-dcgan-generator/")
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"images", "report", "evaluation"} <= artifacts
    report = {a.path for a in client.list_artifacts(run.info.run_id, "report")}
    assert {"report/index.html", "report/training.gif"} <= report


def test_dvc_plots_render_curves_and_grids_with_the_network_off(repo, tmp_path, browser):
    sh(repo, "dvc", "plots", "show", "-o", str(tmp_path / "plots"))
    index = tmp_path / "plots" / "index.html"
    page_text = index.read_text()
    for title in ("Losses per step", "Losses per epoch", "FID per epoch", "classes covered per epoch"):
        assert title in page_text, title
    # Every chart finds its x and y fields in what the run wrote (the r1 penalty is not charted: another
    # objective has no such column).
    shown = json.loads(sh(repo, "dvc", "plots", "show", "--json").stdout)
    assert not shown.get("errors"), shown["errors"]
    assert "cdn.jsdelivr.net" not in page_text  # .dvc/plots.html inlines Vega
    images = {p.name for p in (tmp_path / "plots" / "static").iterdir()}
    assert any("epoch_0002" in name for name in images) and any("random_grid" in name for name in images)

    page = watched_page(browser)
    requested = []
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:")
               else (requested.append(route.request.url), route.abort()))  # fmt: skip
    page.goto(index.as_uri(), wait_until="load")
    page.wait_for_function("document.querySelectorAll('.vega-embed canvas, .vega-embed svg').length >= 3",
                           timeout=30_000)  # fmt: skip
    drawn = page.evaluate("() => [...document.querySelectorAll('.vega-embed canvas')].filter(c => c.width > 50).length"
                          " + document.querySelectorAll('.vega-embed svg .mark-line').length")  # fmt: skip
    assert drawn >= 3 and requested == [] and page.problems == [], (drawn, requested, page.problems)
    page.close()


def test_dvc_metrics_show_leads_with_the_headline_and_fits_a_screen(repo):
    shown = sh(repo, "dvc", "metrics", "show").stdout
    header = shown.splitlines()[0]
    assert max(len(line) for line in shown.splitlines()) <= 200, shown
    columns = header.split()  # DVC sorts the columns by name; they are the headline metrics only
    assert columns[0] == "Path" and set(columns[1:]) <= set(DVC_METRICS), columns
    assert {"fid", "kid", "precision", "recall", "classes_covered"} <= set(columns)
    assert "sha256" not in shown and "raw_fid" not in shown


def test_a_serving_change_reruns_only_registration(repo):
    path = repo / "src/fashion_dcgan/serving/pyfunc.py"
    original = path.read_text()
    path.write_text(original + "\n# a serving change\n")
    try:
        status = json.loads(sh(repo, "dvc", "status", "--json").stdout)
        assert set(status) == {"register"}, status
    finally:
        path.write_text(original)


def test_second_repro_does_nothing(repo):
    assert "Running stage" not in sh(repo, "dvc", "repro").stdout
    assert "up to date" in sh(repo, "dvc", "status").stdout


def test_a_sample_param_change_plans_only_the_stages_that_read_it(repo):
    """`dvc repro`'s own plan (`--dry`, nothing run): the stages whose params changed, nothing upstream.
    evaluate and register follow when sample's outputs change; the next test's `dvc exp run` runs them all."""
    set_params(repo, {"sample": {"seed": 1}})
    out = sh(repo, "dvc", "repro", "--dry").stdout
    planned = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    skipped = {line.split("'")[1] for line in out.splitlines() if line.endswith("didn't change, skipping")}
    assert planned == {"sample", "report"}, out
    assert {"download", "prepare", "classifier", "reference", "train"} <= skipped, out


def test_exp_run_with_more_epochs_resumes_the_same_run(repo):
    before = run_id(repo)
    sh(repo, "git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "sample seed")
    sh(repo, "dvc", "exp", "run", "-S", "train.epochs=3")
    assert json.loads((repo / "reports/train_metrics.json").read_text())["epochs"] == 3
    assert run_id(repo) == before  # resumed from epoch 2 in the same MLflow run
    history = mlflow_client(repo).get_metric_history(before, "epoch/d_loss")
    assert sorted(m.step for m in history) == [1, 2, 3]
    table = sh(repo, "dvc", "exp", "show", "--csv").stdout
    header = table.splitlines()[0].split(",")
    assert {"train.epochs", "fid", "probe_accuracy"} <= set(header)


def test_reproduce_command_restores_params_and_losses_match(repo):
    client = mlflow_client(repo)
    original = run_id(repo)
    # A fresh run with the original 2-epoch configuration.
    set_params(repo, {"train": {"epochs": 2, "seed": 7}})
    sh(repo, "dvc", "repro", "train")
    changed = run_id(repo)
    assert changed != original
    out = sh(repo, "fashion-dcgan", "reproduce", original).stdout
    assert "git commit:" in out and "train_images: sha256" in out
    assert yaml.safe_load((repo / "params.yaml").read_text())["train"]["seed"] == 42
    sh(repo, "dvc", "repro", "train")
    reproduced = run_id(repo)
    assert reproduced not in (original, changed)

    def losses(run):
        return [(m.step, m.value) for m in sorted(client.get_metric_history(run, "epoch/d_loss"), key=lambda m: m.step)]

    # The original run was extended to 3 epochs; its first 3 epochs ran with the restored params.
    assert losses(reproduced) == losses(original)[: len(losses(reproduced))]
    assert len(losses(reproduced)) == 3


def test_dvc_push_and_pull_through_a_local_remote(repo, tmp_path):
    remote = tmp_path / "dvc-remote"
    sh(repo, "dvc", "remote", "add", "--local", "-d", "shared", str(remote))
    sh(repo, "dvc", "push")
    assert any(remote.rglob("*"))
    status = sh(repo, "dvc", "status").stdout
    generator = (repo / "models/generator.keras").read_bytes()
    shutil.rmtree(repo / ".dvc" / "cache")
    (repo / "models/generator.keras").unlink()
    shutil.rmtree(repo / "data/processed")
    sh(repo, "dvc", "pull")
    assert (repo / "models/generator.keras").read_bytes() == generator
    assert (repo / "data/processed/train_images.npy").is_file()
    assert sh(repo, "dvc", "status").stdout == status  # the workspace is exactly as before


def test_a_grid_through_dvcs_experiment_queue(repo):
    """`dvc exp run --queue -S 'train.seed=7,8'` queues two experiments; `dvc queue start` runs them in
    temporary copies; both reach `dvc exp show` with their metrics and MLflow as runs of their own,
    each tagged with its DVC experiment's name (in the real repository's store, not the copy's).
    The grid trains the conditional model: one of its experiments is checked after the queue."""
    git = ("git", "-c", "user.name=t", "-c", "user.email=t@t")
    set_params(repo, {"model": {"conditional": True}})
    sh(repo, *git, "add", "-A")  # commit dvc.lock: the queued copies reuse the cached upstream stages
    sh(repo, *git, "commit", "-qm", "before the sweep")
    sh(repo, "dvc", "exp", "run", "--queue", "-S", "train.seed=7,8")
    sh(repo, "dvc", "queue", "start", "--jobs", "1")
    deadline = time.monotonic() + 900
    while True:
        status = sh(repo, "dvc", "queue", "status").stdout
        if "Queued" not in status and "Running" not in status:
            break
        assert time.monotonic() < deadline, status
        time.sleep(5)
    sh(repo, "dvc", "queue", "stop", check=False)
    failed = [line.split()[0] for line in status.splitlines() if line.endswith("Failed")]
    logs = [sh(repo, "dvc", "queue", "logs", task, check=False).stdout[-3000:] for task in failed]
    assert status.count("Success") == 2, status + "\n".join(logs)

    rows = list(csv.DictReader(io.StringIO(sh(repo, "dvc", "exp", "show", "--csv").stdout)))
    swept = {row["Experiment"]: row for row in rows if row.get("train.seed") in ("7", "8") and row["Experiment"]}
    assert len(swept) == 2, rows
    assert all(float(row["fid"]) > 0 and float(row["precision"]) >= 0 for row in swept.values())

    client = mlflow_client(repo)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()], filter_string="tags.dvc_experiment != ''"
    )
    tagged = {run.data.tags["dvc_experiment"]: run for run in runs if run.data.tags["dvc_experiment"] in swept}
    assert set(tagged) == set(swept)
    assert {run.data.params["train.seed"] for run in tagged.values()} == {"7", "8"}
    assert all(run.data.params["model.conditional"] == "True" for run in tagged.values())
    assert all(run.info.status == "FINISHED" for run in tagged.values())
    assert not list((repo / ".dvc" / "tmp" / "exps").rglob("mlflow.db"))  # no store left in a copy


def compare_command() -> list[str]:
    """`make compare`'s command, as make expands it."""
    return shlex.split(make_dry_run("compare"))[1:]  # without the PATH= prefix


def test_make_compare_shows_the_changed_params_and_the_headline_in_120_columns(repo):
    """After an exp run and a two-seed queue of the conditional model (so class consistency is a column
    too): the documented comparison is readable in 120 columns, with the params that differ, every
    headline metric of the generator, and no dependency hash or queue state."""
    command = compare_command()
    assert command[:3] == ["dvc", "exp", "show"], command
    shown = sh(repo, *command).stdout
    lines = [line.rstrip() for line in shown.splitlines() if line.strip()]
    header = lines[1].split()
    assert max(len(line) for line in lines) <= 120, shown
    assert "…" not in shown and not any("/" in column for column in header), shown
    assert {"train.seed", "fid", "kid", "precision", "recall", "classes_covered"} <= set(header), header
    assert not {"probe_accuracy", "Executor", "Created", "State"} & set(header), header
    assert {"7", "8"} <= {cell for line in lines[3:] for cell in line.split()}, shown


def test_conditional_run_trains_samples_by_class_and_reports_consistency(repo):
    """The grid's seed-7 experiment, brought into the workspace: its metrics, report, run and model."""
    rows = list(csv.DictReader(io.StringIO(sh(repo, "dvc", "exp", "show", "--csv").stdout)))
    seven = [row["Experiment"] for row in rows if row.get("train.seed") == "7" and row["Experiment"]]
    assert len(seven) == 1, rows
    sh(repo, "dvc", "exp", "apply", seven[0])
    assert yaml.safe_load((repo / "params.yaml").read_text())["model"]["conditional"] is True
    metrics = json.loads((repo / "reports/eval_metrics.json").read_text())
    assert 0.0 <= metrics["class_consistency"] <= 1.0
    assert len(metrics["fid_per_class"]) == 10 and len(metrics["class_consistency_per_class"]) == 10
    assert "raw_class_consistency" in metrics
    assert (repo / "reports/samples/class_grid.png").is_file()
    page = (repo / "reports/index.html").read_text()
    assert "class_grid.png" in page and "Does it draw the class it is asked for?" in page and "Ankle boot" in page
    run = mlflow_client(repo).get_run(run_id(repo))
    assert "-conditional-" in run.info.run_name and "eval/fid_per_class/sneaker" in run.data.metrics
    assert "epoch/monitor_class_consistency" in run.data.metrics

    drawn = sh(repo, "fashion-dcgan", "sample", "--class", "Sneaker", "--n", "4", "--out", "sneakers.npy")
    assert "wrote 4 samples" in drawn.stdout and (repo / "sneakers.npy").is_file()
    wrong = sh(repo, "fashion-dcgan", "sample", "--class", "hat", "--out", "hats.png", check=False)
    assert wrong.returncode != 0 and "Traceback" not in wrong.stderr
    assert "unknown class 'hat'" in wrong.stderr and "7 Sneaker" in wrong.stderr


def test_corrupted_raw_byte_stops_the_pipeline(repo):
    target = repo / "data/raw/train-labels-idx1-ubyte.gz"
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    target.chmod(0o644)
    target.write_bytes(bytes(blob))
    done = sh(repo, "dvc", "repro", check=False)
    assert done.returncode != 0
    assert "train-labels-idx1-ubyte.gz" in done.stderr + done.stdout
    direct = sh(repo, *stage_cmd("prepare"), check=False)
    assert direct.returncode == 1 and "Traceback" not in direct.stderr
    assert "error: " in direct.stderr and "train-labels-idx1-ubyte.gz" in direct.stderr
    assert not (repo / "data/processed").exists()
