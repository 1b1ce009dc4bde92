"""The machine-class speed benchmark and the backend comparison: what they parse, count and print (their
timings are not asserted: tests must pass on any machine)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from benchmarks import cpu_paths

from tests.conftest import REPO

VERBOSE = """onednn_verbose,v1,info,cpu,isa:Intel AVX2
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,src:f32::blocked:acdb::f0,,,mb8,0.5
onednn_verbose,v1,primitive,exec,cpu,convolution,brg_conv_fwd:avx2,forward_training,src:f32::blocked:acdb::f0,,,mb8,0.4
onednn_verbose,v1,primitive,exec,cpu,gemm_api,,undef,src_f32::blocked:ab:f0,,,64x100:100x512,22.7
not a oneDNN line, TensorFlow's own
"""


def test_the_kernels_and_the_isa_are_read_from_onednn_verbose():
    isa, counts = cpu_paths.kernel_counts(VERBOSE)
    assert isa == "Intel AVX2"
    assert counts == {"convolution brg_conv_fwd:avx2": 2, "gemm_api (library gemm)": 1}


def test_the_table_sets_each_rate_against_its_own_class_sgemm():
    spec = json.dumps({"kind": "recipe", "recipe": "default"})
    results = {
        ("native", "native", json.dumps({"kind": "sgemm"})): [{"gflops": 200.0}, {"gflops": 180.0}, {"gflops": 220.0}],
        ("float32-avx2", "float32-avx2", json.dumps({"kind": "sgemm"})): [{"gflops": 100.0}],
        ("float32-avx2", "float32-avx2", spec): [
            {"rates": [250.0, 300.0, 260.0], "mflop": 200.0, "precision": "float32"}
        ],
        ("lever: XLA", "float32-avx2", spec): [
            {"rates": [400.0], "mflop": 200.0, "precision": "float32"},
            {"rates": [350.0], "mflop": 200.0, "precision": "float32"},
        ],
    }
    lines = cpu_paths.table(results).splitlines()
    assert lines[2] == "| native | sgemm 2048x2048 (numpy) | float32 | | | 200 (180-220) | | |"
    # 260 images/s x 200 MFLOP = 52 GFLOP/s, 52% of the AVX2 class's 100; 64 images take 246 ms.
    assert lines[4] == "| float32-avx2 | default | float32 | 260 (260-260) | 200 | 52 | 52% | 246 |"
    assert lines[5] == "| lever: XLA | default | float32 | 400 (350-400) | 200 | 80 | 80% | 160 |"


def test_subjects_limit_the_plan_on_every_class_and_go_round_robin(tmp_path, monkeypatch):
    calls = []

    def fake_child(spec, env, images, module):
        calls.append((spec.get("recipe", spec["kind"]), env.get("ONEDNN_MAX_CPU_ISA", "native")))
        return {"gflops": 100.0} if spec["kind"] == "sgemm" else {"rates": [1.0], "mflop": 1.0, "precision": "x"}

    monkeypatch.setattr(cpu_paths, "child", fake_child)
    monkeypatch.setattr(cpu_paths, "kernels_table", lambda: "")
    cpu_paths.run(2, 64, tmp_path / "log.jsonl", subjects=["default", "sgemm"])
    one_round = [("default", "native"), ("sgemm", "native"), ("default", "AVX2"), ("sgemm", "AVX2")]
    assert calls == one_round * 2
    assert len((tmp_path / "log.jsonl").read_text().splitlines()) == 8


def test_every_lever_is_a_change_the_child_understands():
    from research.float32_levers import LEVERS

    known = {"overrides", "threads", "patch", "env", "spe"}  # measure and child read the rest; the study "patch"
    assert all(set(spec) <= known for spec in LEVERS.values())
    assert cpu_paths.CLASSES["float32-avx2"]["ONEDNN_MAX_CPU_ISA"] == "AVX2"


def test_resize_then_conv_keeps_the_generators_shapes(monkeypatch):
    from research.float32_levers import resize_then_conv

    from fashion_dcgan.gan import networks

    monkeypatch.setattr(networks, "_upsampling", resize_then_conv)
    import numpy as np

    generator = networks.build_generator("deep", 100, 16)
    assert tuple(generator(np.zeros((2, 100), np.float32)).shape) == (2, 28, 28, 1)
    assert not any(isinstance(layer, networks.layers.Conv2DTranspose) for layer in generator.layers)


def test_sgemm_is_measured_in_gflops():
    assert cpu_paths.measure({"kind": "sgemm"}, 0)["gflops"] > 0


@pytest.mark.slow
def test_the_backend_comparison_runs_the_networks_forward_and_backward():
    done = subprocess.run([sys.executable, "-m", "research.backend_speed", "--batch", "4", "--repeats", "2"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["backend"] == "tensorflow" and figures["batch"] == 4
    assert 0 < figures["ms_min"] <= figures["ms_median"] <= figures["ms_max"]


@pytest.mark.slow
def test_a_child_measures_a_recipe_on_the_float32_path():
    spec = {"kind": "recipe", "recipe": "tutorial", "precision": "float32"}
    result = cpu_paths.child(spec, cpu_paths.CLASSES["float32-avx2"], 640)
    assert len(result["rates"]) == 2 and all(rate > 0 for rate in result["rates"])
    assert result["precision"] == "float32" and result["mflop"] > 100


@pytest.mark.slow
def test_the_gpu_check_runs_on_the_cpu_and_says_every_loss_is_finite():
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", "--images", "640", "--epochs", "2",
                           "--batches", "64", "--eval-samples", "200", "--no-pipeline"], cwd=REPO, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no GPU, CPU only" in done.stdout and "losses finite: True" in done.stdout
    assert "batch   64:" in done.stdout and "s/epoch" in done.stdout and "evaluate stage's" in done.stdout


def test_the_table_is_rebuilt_from_a_runs_rows_with_the_seed_loops_flops(tmp_path):
    log = tmp_path / "cpu_paths.jsonl"
    rows = [
        {"row": "native", "class": "native", "spec": {"kind": "sgemm"}, "repeat": 0, "gflops": 100.0},
        {"row": "native", "class": "native", "spec": {"kind": "seed_loop", "precision": "float32"}, "repeat": 0,
         "rates": [100.0, 100.0], "mflop": 88.0, "precision": "float32"},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    lines = cpu_paths.from_log(log).splitlines()
    # The tutorial's networks, two generator passes: 4 x 2.2 + 9 x 29.5 MFLOP = 274, counted afresh.
    assert lines[3].startswith(
        "| native | the seed's train_on_batch loop, batch 32 | float32 | 100 (100-100) | 274 | 27 |"
    )
    assert cpu_paths.seed_loop_mflop() == pytest.approx(274.2, abs=0.1)
