"""params.yaml: its schema, read and validated once per stage.

Every stage reads its section through :func:`load_params`, so a misspelt key or an out-of-range value
is reported once, naming the key, before any data is read or any model is built.

- ``config.schema``: the sections and keys, with defaults and meanings, and the rules derived from them;
- ``config.loading``: reading and validating a file, and a stage's view of what it declares;
- ``config.recipes``: the recipe files (not read by the stages);
- ``config.editing``: writing params.yaml for the CLI, comments kept (not read by the stages).

This package file re-exports what the stages use: the schema and the loading.
"""

from fashion_dcgan.config.loading import MOVED, ParamsView, load_params, parse_params, read_yaml
from fashion_dcgan.config.schema import (
    DEFAULT_SOURCES,
    ClassifierParams,
    DataParams,
    EvaluateParams,
    ModelParams,
    Params,
    ReportParams,
    RuntimeParams,
    SampleParams,
    TrainParams,
    flatten,
    schema_fields,
    union_members,
    yaml_value,
)
from fashion_dcgan.errors import ParamsError

__all__ = [
    "DEFAULT_SOURCES",
    "MOVED",
    "ClassifierParams",
    "DataParams",
    "EvaluateParams",
    "ModelParams",
    "Params",
    "ParamsError",
    "ParamsView",
    "ReportParams",
    "RuntimeParams",
    "SampleParams",
    "TrainParams",
    "flatten",
    "load_params",
    "parse_params",
    "read_yaml",
    "schema_fields",
    "union_members",
    "yaml_value",
]
