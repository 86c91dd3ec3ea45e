"""credit-scoring: train, track, gate, promote and serve default-risk models with MLflow."""

__version__ = "0.1.0"
