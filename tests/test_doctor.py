"""`fashion-dcgan doctor` and the train stage's time estimate: the machine class, the path, the wait."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fashion_dcgan.training.estimate import LONG_RUN_S, WARMUP_STEPS, Estimate, StepTimer, duration

FIELDS = ("machine class", "CPU", "CPU flags", "GPU", "precision", "XLA", "threads", "steps", "step", "estimate")


@pytest.mark.parametrize(("seconds", "text"), [(40, "40 s"), (450, "7.5 min"), (3480, "58 min"), (9000, "2.5 h")])
def test_durations_read_as_a_wait(seconds, text):
    assert duration(seconds) == text


def test_an_estimate_names_its_path_and_a_long_one_the_quicker_recipe():
    short = Estimate(0.1, 937, 8, "mixed_bfloat16", "this CPU has bfloat16 units (amx_bf16)")
    assert short.seconds_per_epoch == pytest.approx(93.7) and short.total_seconds == pytest.approx(749.6)
    assert short.line("quick") == (
        "mixed_bfloat16: this CPU has bfloat16 units (amx_bf16); 8 epochs: about 12 min (1.6 min an epoch)"
    )
    long = Estimate(0.475, 937, 8, "float32", "this CPU has no bfloat16 units")
    assert long.total_seconds > LONG_RUN_S
    assert long.line("quick") == (
        "float32: this CPU has no bfloat16 units; 8 epochs: about 59 min (7.4 min an epoch); "
        "for a shorter run: `fashion-dcgan preset quick` (docs/results.md)"
    )
    assert "preset" not in long.line(None)  # already the quick recipe, or none shipped
    assert long.tags() == {
        "estimate.machine_class": "float32 CPU",
        "estimate.path": "float32: this CPU has no bfloat16 units",
        "estimate.seconds_per_epoch": "445.1",
        "estimate.total_seconds": "3560.6",
    }


@pytest.mark.parametrize("steps_per_call", [1, 2, 10])
def test_the_step_timer_skips_the_traced_call_and_the_warm_up(monkeypatch, steps_per_call):
    """Each call takes 1 s a step, except the traced first one (100 s) and the warm-up steps (5 s each)."""
    from fashion_dcgan.training import estimate

    clock = [0.0]
    monkeypatch.setattr(estimate.time, "perf_counter", lambda: clock[0])
    reported: list[float] = []
    timer = StepTimer(steps_per_call, reported.append, steps=20)
    timer.on_epoch_begin(0)
    calls = StepTimer.calls_needed(steps_per_call, 20)
    done = 0
    for call in range(calls):
        slow = 100.0 if call == 0 else 5.0 if done < steps_per_call + WARMUP_STEPS else 1.0
        clock[0] += slow * steps_per_call
        done += steps_per_call
        timer.on_train_batch_end(done - 1)
    assert reported == [1.0]  # once, and from the timed steps only
    timer.on_train_batch_end(done)
    assert reported == [1.0]


def test_diagnosis_without_bfloat16_flags_times_the_float32_path_and_estimates_longer(monkeypatch):
    """The machine is simulated by the flags doctor reads; the step time by precision is stubbed, so the test
    checks which path is timed and that the estimate follows it (the real figures: docs/benchmarks.md)."""
    from fashion_dcgan.config import parse_params
    from fashion_dcgan.training import cpu, doctor, runtime

    timed: list[str] = []

    def step(params, precision, steps_per_call):
        timed.append(precision)
        return {"mixed_bfloat16": 0.1, "float32": 0.3}[precision]

    monkeypatch.setattr(doctor, "time_step", step)
    monkeypatch.setattr(runtime, "gpu_available", lambda: False)
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    params = parse_params({})
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx2", "fma", "avx512f", "avx512_bf16"}))
    bf16 = doctor.diagnose(params)
    monkeypatch.setattr(cpu, "flags", lambda: frozenset({"avx2", "fma"}))
    float32 = doctor.diagnose(params)
    assert timed == ["mixed_bfloat16", "float32"]
    fields = dict(float32.fields)
    assert list(fields) == list(FIELDS)
    assert fields["machine class"] == "float32 CPU" and dict(bf16.fields)["machine class"] == "bfloat16 CPU"
    assert fields["precision"] == "float32 (this CPU has no bfloat16 units)"
    assert "avx2 yes" in fields["CPU flags"] and "avx512_bf16 no" in fields["CPU flags"]
    assert fields["estimate"].startswith("float32: this CPU has no bfloat16 units; 9 epochs: about")
    assert float32.estimate.total_seconds > bf16.estimate.total_seconds
    assert float32.estimate.total_seconds == pytest.approx(0.3 * (60_000 // 64) * params.train.epochs)


@pytest.mark.slow
@pytest.mark.cpu_class  # precision auto: the bfloat16 path where the units are in use
def test_doctor_times_the_real_step_for_the_params_file_and_prints_every_field(tmp_path):
    """The command as a user runs it, on small networks: one line per field, the step measured here."""
    params = {"model": {"generator_width": 16, "discriminator_width": 8}, "train": {"epochs": 3},
              "data": {"train_limit": 3200}}  # fmt: skip
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    done = subprocess.run([str(Path(sys.executable).parent / "fashion-dcgan"), "doctor"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == list(FIELDS)
    fields = {line.split(":")[0]: line.split(":", 1)[1].strip() for line in lines}
    assert fields["steps"] == "50 an epoch (3,200 images at batch 64), 10 per call"
    assert fields["step"].endswith("images/s (timed over 20 steps)") and float(fields["step"].split()[0]) > 0
    assert "; 3 epochs: about " in fields["estimate"] and "Traceback" not in done.stderr


def test_doctor_refuses_a_bad_params_file_in_one_line_before_tensorflow(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  epoks: 3\n")
    done = subprocess.run([str(Path(sys.executable).parent / "fashion-dcgan"), "doctor"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode != 0 and "train.epoks" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_training_logs_its_estimate_after_the_first_timed_steps_and_tags_the_run(tmp_path, caplog):
    """The train stage's own loop: 64 images at batch 2 give 32 steps an epoch, enough to time 20."""
    import logging

    import numpy as np
    from mlflow import MlflowClient

    from fashion_dcgan.tracking import RunLogger
    from fashion_dcgan.training.loop import TrainingPaths, train
    from tests.conftest import synthetic_split, tiny_params

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    images = synthetic_split(64)[0][..., None].astype(np.float32) / 127.5 - 1.0
    with caplog.at_level(logging.INFO, logger="fashion_dcgan"):
        result = train(tiny_params(batch_size=2, epochs=2), images, TrainingPaths.under(tmp_path),
                       lambda run_id: RunLogger(uri, run_id), verbose=0)  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if "epochs: about" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("float32: runtime.precision asks for float32; 2 epochs: about ")
    tags = MlflowClient(uri).get_run(result.run_id).data.tags
    assert tags["estimate.machine_class"] == "float32 CPU" and tags["estimate.path"] in lines[0]
    assert float(tags["estimate.seconds_per_epoch"]) > 0 and float(tags["estimate.total_seconds"]) > 0
