"""gradlab: see, measure and understand vanishing and exploding gradients."""

__version__ = "0.1.0"
