"""The pure-NumPy engine: activations, initializers, layers, the MLP, losses, optimizers and data."""

from .activations import ACTIVATIONS
from .data import DATASETS, make_dataset
from .initializers import INITIALIZERS
from .losses import LOSSES
from .model import MLP, build_model
from .optimizers import OPTIMIZERS

__all__ = ["ACTIVATIONS", "DATASETS", "INITIALIZERS", "LOSSES", "MLP", "OPTIMIZERS", "build_model", "make_dataset"]
