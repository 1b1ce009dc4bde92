"""dvc.yaml cannot go stale: each stage's deps cover its code's import closure, and its params are
exactly the keys its code may read."""

from __future__ import annotations

import ast
import importlib
import re
import shlex
from pathlib import Path

import pytest
import yaml

from fashion_dcgan.catalog import FAMILIES, OBJECTIVES
from tests.conftest import REPO

SRC = REPO / "src"
PACKAGE = "fashion_dcgan"
# Imports that happen at run time by name: whoever imports these functions loads every objective.
DYNAMIC = {
    ("fashion_dcgan.gan.objective", name): {part.implementation.partition(":")[0] for part in OBJECTIVES.values()}
    for name in ("build_objective", "objective_class")
} | {
    ("fashion_dcgan.gan.networks", name): {
        path.partition(":")[0] for family in FAMILIES.values() for path in (family.generator, family.discriminator)
    }
    for name in ("build_generator", "build_discriminator")
}
# Files a module reads that are not Python imports.
DATA_FILES = {
    "fashion_dcgan.reporting.report": ["src/fashion_dcgan/reporting/templates"],
    "fashion_dcgan.serving.pyfunc": ["src/fashion_dcgan/serving/served_model.py"],  # logged as the model's code
    "fashion_dcgan.evaluation.pinned": [
        "src/fashion_dcgan/evaluation/classifier.weights.json",
        "src/fashion_dcgan/evaluation/classifier.weights.npz",
    ],
}


def module_file(module: str) -> Path | None:
    base = SRC / Path(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def has_code(path: Path) -> bool:
    """False for a package file that holds only its docstring (importing it runs nothing)."""
    body = ast.parse(path.read_text()).body
    return any(not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) for node in body)


def direct_imports(module: str) -> set[str]:
    """Project modules ``module`` imports anywhere (functions too), with the packages that run on the way."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(module_file(module).read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith(PACKAGE)}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
            found.add(node.module)
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if module_file(submodule):
                    found.add(submodule)
                found |= DYNAMIC.get((node.module, alias.name), set())
    parents = {".".join(name.split(".")[:i]) for name in found for i in range(1, name.count(".") + 1)}
    return found | parents


def closure(module: str) -> set[str]:
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(direct_imports(name) - seen)
    return seen


def closure_files(module: str) -> set[str]:
    files = set()
    for name in closure(module):
        path = module_file(name)
        if path is not None and (path.name != "__init__.py" or has_code(path)):
            files.add(str(path.relative_to(REPO)))
        files |= set(DATA_FILES.get(name, []))
    return files


def stages() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def stage_module(stage: dict) -> str:
    return re.search(r"-m (fashion_dcgan\.stages\.\w+)", stage["cmd"]).group(1)


def uncovered(files: set[str], deps: list[str]) -> set[str]:
    return {f for f in files if not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)}


@pytest.mark.parametrize("name", list(stages()))
def test_deps_cover_exactly_the_stage_import_closure(name):
    stage = stages()[name]
    files = closure_files(stage_module(stage))
    code_deps = [d for d in stage["deps"] if d.startswith("src/")]
    assert not uncovered(files, code_deps), f"dvc.yaml stage {name} misses code it imports"
    # No code dependency beyond the closure: editing unrelated code must not rerun the stage.
    for dep in code_deps:
        assert (REPO / dep).exists(), dep
        assert any(f == dep or f.startswith(dep + "/") for f in files), f"{name}: {dep} is not imported"


def test_removing_a_dependency_is_caught():
    stage = stages()["train"]
    deps = [d for d in stage["deps"] if d != "src/fashion_dcgan/gan/sampling.py"]
    assert uncovered(closure_files(stage_module(stage)), deps) == {"src/fashion_dcgan/gan/sampling.py"}


def test_objectives_are_deps_of_training_only():
    bce = "src/fashion_dcgan/gan/bce.py"
    for name, stage in stages().items():
        assert (bce in closure_files(stage_module(stage))) == (name == "train"), name


@pytest.mark.parametrize("name", list(stages()))
def test_params_are_exactly_what_the_stage_declares(name):
    stage = stages()[name]
    declared = importlib.import_module(stage_module(stage)).PARAMS
    assert sorted(stage.get("params", [])) == sorted(declared)


def test_each_path_is_written_once():
    """Stages take every path from their cmd: the stage modules hold no default paths."""
    text = (REPO / "dvc.yaml").read_text()
    variables = yaml.safe_load(text)["vars"][0]["paths"]
    for path in variables.values():
        assert text.count(f": {path}\n") == 1, path  # only in vars
    for module in (SRC / PACKAGE / "stages").glob("*.py"):
        source = module.read_text()
        for path in variables.values():
            assert f'"{path}"' not in source, (module.name, path)
    for stage in stages().values():
        words = shlex.split(stage["cmd"])
        assert all(word.startswith(("--", "${paths.", "python", "-m", "fashion_dcgan")) for word in words), stage["cmd"]


def test_serving_code_reruns_only_registration_and_the_apps():
    """Training and evaluation know nothing of serving: a change to a serving bound reruns neither."""
    serving = {f for f in closure_files("fashion_dcgan.stages.register") if "/serving/" in f}
    assert "src/fashion_dcgan/serving/pyfunc.py" in serving and "src/fashion_dcgan/serving/model_registry.py" in serving
    for name, stage in stages().items():
        touches = [d for d in stage["deps"] if "/serving/" in d]
        assert bool(touches) == (name == "register"), (name, touches)
    evaluate = closure("fashion_dcgan.stages.evaluate") | closure("fashion_dcgan.stages.train")
    assert not {module for module in evaluate if module.startswith("fashion_dcgan.serving")}


def test_the_report_reads_no_research_output():
    """The report's reference points come from a file the evaluation side owns, not from benchmarks/."""
    for name, stage in stages().items():
        assert not [d for d in stage["deps"] if d.startswith("benchmarks")], name
        assert "benchmarks/" not in stage["cmd"], name
