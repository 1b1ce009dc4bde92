"""Each research recipe's params as it was measured: resolved by the schema and code of the commit that
gave the recipe its params, not by today's defaults.

    python -m benchmarks.recipes_as_measured [--out benchmarks/results/research_recipes_as_measured.json]

For each ``recipes/research/NAME.yaml``: the commit since which it has set the params it sets (its
results were measured with them; :func:`measured_at`), a git worktree of that commit, and in it one
fresh process per commit that resolves the recipes with that commit's ``fashion_dcgan``: the model and
train sections without the seed, and the Adam settings as that commit's training loop resolved them
(a null rate or beta means the objective's or the network family's default). A key that the commit's
schema did not have yet gets the value that means its feature's absence (:data:`FEATURE_ABSENT`).

``tests/test_benchmarks.py`` compares each recipe's resolution today with this record, so a change of
a default can no longer change what a research recipe means.

    python -m benchmarks.recipes_as_measured --freeze

rewrites each research recipe from the record: every model and train key written out (the Adam
settings as the numbers they resolved to), its comments and runtime section kept.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESEARCH = REPO / "recipes" / "research"
OUT = REPO / "benchmarks" / "results" / "research_recipes_as_measured.json"
ADAM_KEYS = ("train.learning_rate_d", "train.learning_rate_g", "train.beta_1", "train.beta_2")
# Keys added to the schema after a recipe was measured, and the value that behaves as the code did
# before they existed: one conditioning method (embedding), constant learning rates.
FEATURE_ABSENT = {"model.conditioning": "embedding", "train.lr_schedule.decay": "none", "train.lr_schedule.start": 0.6}


def flat(nested: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys; the objective's mapping is flattened too (model.objective.gamma)."""
    out: dict[str, Any] = {}
    for key, value in nested.items():
        if isinstance(value, dict):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def resolve(name: str) -> dict[str, Any]:
    """Recipe ``research/NAME`` as the importable ``fashion_dcgan`` trains it (:func:`trains_as`). Uses
    only what every commit since the research recipes has: ``config.recipe``, ``config.parse_params``,
    ``Params.adam`` (before the catalog of parts: ``training.loop.adam_settings``)."""
    from fashion_dcgan.config import parse_params

    try:
        from fashion_dcgan.config.recipes import recipe
    except ImportError:  # commits before config was a package
        from fashion_dcgan.config import recipe

    return trains_as(parse_params(recipe(f"research/{name}")))


def trains_as(params: Any) -> dict[str, Any]:
    """The model and train keys of ``params`` (dotted, without ``train.seed``), with the Adam settings
    that the training loop uses in place of what the file says (a null takes the objective's or the
    network family's default): two recipes with equal results train alike."""
    out = flat({"model": params.model.model_dump(), "train": params.train.model_dump()})
    del out["train.seed"]
    try:  # commits before the catalog of parts (fashion_dcgan.catalog) resolved Adam in the training loop
        from fashion_dcgan.gan.registry import build_objective

        from fashion_dcgan.training.loop import adam_settings
    except ImportError:
        adam = params.adam()
    else:
        adam = adam_settings(params, build_objective(params.model.objective, 0))
    return out | dict(zip(ADAM_KEYS, adam, strict=True))


def measured_at(path: Path) -> str:
    """The commit since which ``path`` has set the params it sets now: the oldest of the commits, going
    back from the newest, whose version of the file has the same model and train sections (edits to
    comments or the runtime section do not count). The recipe was measured as that commit resolved it."""
    import yaml

    relative = str(path.relative_to(REPO))
    log = subprocess.run(["git", "log", "--format=%H", "--", relative],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout.split()  # fmt: skip
    if not log:
        raise SystemExit(f"{path}: not in git's history; commit it before recording what it was measured with")

    def sections(commit: str) -> Any:
        shown = subprocess.run(["git", "show", f"{commit}:{relative}"], cwd=REPO, capture_output=True, text=True)
        raw = yaml.safe_load(shown.stdout) if shown.returncode == 0 else None
        return {key: raw.get(key) for key in ("model", "train")} if isinstance(raw, dict) else None

    newest = sections(log[0])
    since = log[0]
    for commit in log[1:]:
        if sections(commit) != newest:
            break
        since = commit
    return since


def resolve_at(commit: str, names: list[str]) -> dict[str, dict[str, Any]]:
    """``resolve`` for each of ``names`` with the package and recipes of ``commit``, in a fresh process."""
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), commit], cwd=REPO, check=True)
        try:
            code = (f"import json, sys; sys.path[:0] = [{str(tree / 'src')!r}, {str(REPO)!r}]\n"
                    "from benchmarks.recipes_as_measured import resolve\n"
                    f"print(json.dumps({{n: resolve(n) for n in {names!r}}}))")  # fmt: skip
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": ""}
            done = subprocess.run([sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(f"resolving at {commit[:8]} failed:\n{done.stderr[-3000:]}")
            return json.loads(done.stdout.strip().splitlines()[-1])
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=True)


def record() -> dict[str, dict[str, Any]]:
    """{name: {"commit": ..., "params": {...}}} for every research recipe, sorted by name."""
    by_commit: dict[str, list[str]] = {}
    for path in sorted(RESEARCH.glob("*.yaml")):
        by_commit.setdefault(measured_at(path), []).append(path.stem)
    out: dict[str, dict[str, Any]] = {}
    for commit, names in by_commit.items():
        for name, params in resolve_at(commit, names).items():
            out[name] = {"commit": commit[:12], "params": FEATURE_ABSENT | params}
    return dict(sorted(out.items()))


def freeze(measured: dict[str, dict[str, Any]]) -> None:
    """Each research recipe with every model and train key (but the seed) set to its measured value."""
    import yaml

    from fashion_dcgan.files import atomic_path

    for name, entry in measured.items():
        path = RESEARCH / f"{name}.yaml"
        text = path.read_text()
        header = _leading_comments(text)
        nested: dict[str, Any] = {}
        order = list(resolve(name))  # today's schema order
        for key, value in sorted(entry["params"].items(), key=lambda item: order.index(item[0])):
            *sections, leaf = key.split(".")
            target = nested
            for section in sections:
                target = target.setdefault(section, {})
            target[leaf] = value
        raw = yaml.safe_load(text)
        body = {**nested, **({"runtime": raw["runtime"]} if "runtime" in raw else {})}
        with atomic_path(path) as temporary:
            temporary.write_text(header + yaml.safe_dump(body, sort_keys=False, default_flow_style=False))


def _leading_comments(text: str) -> str:
    lines = text.splitlines(keepends=True)
    count = next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))
    return "".join(lines[:count])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--freeze", action="store_true", help="rewrite the research recipes from the record in --out")
    args = parser.parse_args(argv)
    if args.freeze:
        freeze(json.loads(args.out.read_text()))
        print(f"froze {RESEARCH} from {args.out}")
        return
    from fashion_dcgan.files import atomic_path

    text = json.dumps(record(), indent=1, sort_keys=True) + "\n"
    with atomic_path(args.out) as temporary:
        temporary.write_text(text)
    print(f"wrote {args.out} ({len(json.loads(text))} recipes)")


if __name__ == "__main__":
    main()
