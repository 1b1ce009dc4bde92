"""Serving: the generator as an MLflow pyfunc model, its place in the Model Registry, the HTTP server and the demo."""
