"""The served generator as MLflow "model from code": MLflow runs this file to build the model, so
the logged model holds no pickle; the generator's weights are a ``.keras`` artifact loaded in safe mode."""

import mlflow

from fashion_dcgan.serving.pyfunc import GeneratorModel

mlflow.models.set_model(GeneratorModel())
