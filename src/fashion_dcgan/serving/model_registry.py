"""The Model Registry: each trained generator becomes a version of one registered model, and the
alias ``champion`` points at the version with the lowest FID."""

from __future__ import annotations

from fashion_dcgan.errors import TrackingError
from fashion_dcgan.tracking import CHAMPION, REGISTERED_MODEL


def logged_generator_id(client, run_id: str, name: str = "generator") -> str:
    """The id of the generator model logged by run ``run_id`` (the last one, if it was logged twice)."""
    run = client.get_run(run_id)
    found = client.search_logged_models(
        [run.info.experiment_id],
        filter_string=f"source_run_id = '{run_id}' AND name = '{name}'",
        order_by=[{"field_name": "creation_timestamp", "ascending": False}],
        max_results=1,
    )
    if not found:
        raise TrackingError(
            f"MLflow run {run_id} logged no model named {name!r}; rerun the register stage (`dvc repro -f -s register`)"
        )
    return found[0].model_id


def log_run_generator(tracker, load) -> bool:
    """Log ``load()`` as the pyfunc model ``generator`` of the tracker's run, unless the run has one
    already (a rerun adds no copy); True when it logged."""
    from fashion_dcgan.serving.pyfunc import log_generator

    def logged(client) -> bool:
        try:
            logged_generator_id(client, tracker.run_id)
        except TrackingError:
            return False
        return True

    if tracker.with_client(logged):
        return False
    generator = load()
    tracker.within(lambda: log_generator(generator))
    return True


def register_generator(tracker, load, fid: float, name: str = REGISTERED_MODEL) -> tuple[str, str, str]:
    """Log the run's generator (:func:`log_run_generator`), register it (:func:`register`) and tag the run
    with its version. Returns (version, the champion's version, what happened to the alias in words)."""
    log_run_generator(tracker, load)
    version, what = tracker.with_client(lambda client: register(client, tracker.run_id, fid, name))
    tracker.set_tags({"registered_model": f"{name}/{version}"})
    return version, tracker.with_client(lambda client: _alias_version(client, name)), what


def register(client, run_id: str, fid: float, name: str = REGISTERED_MODEL) -> tuple[str, str]:
    """Register the run's generator (once per run), record its FID on the version, and move the
    ``champion`` alias to it only when its FID beats the current champion's. Returns (version, what
    happened, in words).

    Everything goes through ``client`` (MLflow's fluent ``register_model`` opens its own client on
    the process-wide registry URI, which need not be this store).
    """
    from mlflow.exceptions import MlflowException

    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        version = existing[0].version
    else:
        model_id = logged_generator_id(client, run_id)
        try:
            client.create_registered_model(name)
        except MlflowException as error:
            if error.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
                raise
        # The logged model's own location, not `models:/<id>`: MLflow's registry resolves such a URI
        # through the process-wide tracking URI, not this client's (in a `dvc exp run --queue` copy
        # that is another, empty store, and the registration fails).
        source = client.get_logged_model(model_id).artifact_location
        version = client.create_model_version(name, source, run_id=run_id, model_id=model_id).version
    client.set_model_version_tag(name, version, "fid", f"{fid:.6g}")
    before = _alias_version(client, name)
    champion, best = settle_champion(client, name)
    if champion == str(version):
        if before == str(version):
            return version, f"version {version} stays the champion (FID {fid:.1f})"
        was = f"version {before}" if before is not None else "none"
        return version, f"version {version} (FID {fid:.1f}) is the new champion (was {was})"
    return version, f"version {version} (FID {fid:.1f}) does not beat the champion, version {champion} (FID {best:.1f})"


def _alias_version(client, name: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException:
        return None


def settle_champion(client, name: str = REGISTERED_MODEL, rounds: int = 20) -> tuple[str, float]:
    """Point the ``champion`` alias at the version with the lowest recorded FID (the older one on a tie),
    then read again until the store agrees; return (version, FID).

    Two evaluations registering at once may each decide from a read the other has made stale; the
    one whose alias write lands last then reads again and repairs it. Every writer leaves only after
    a read, taken after its own write, that shows the alias on the best version.
    """
    for _ in range(rounds):
        scored = [
            (float(version.tags["fid"]), int(version.version))
            for version in client.search_model_versions(f"name = '{name}'")
            if "fid" in version.tags
        ]
        best_fid, best = min(scored)
        if _alias_version(client, name) == str(best):
            return str(best), best_fid
        client.set_registered_model_alias(name, CHAMPION, str(best))
    raise TrackingError(f"Model Registry {name}: the champion alias kept changing under concurrent writers; rerun")
