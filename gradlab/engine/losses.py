"""Losses on the network's raw outputs (logits), kept in the ``LOSSES`` registry.

Each is ``fn(logits, y) -> (loss, dlogits)`` where ``logits`` has shape ``(n_samples, n_outputs)``,
``y`` holds integer class labels of shape ``(n_samples,)``, ``loss`` is the batch mean and
``dlogits`` its gradient. ``OUTPUTS[name](n_classes)`` is how many output units the loss needs.
"""

from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """log softmax by log-sum-exp: subtracting the row max keeps exp() from overflowing."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits, y):
    """Mean of -log softmax(logits)[y]; gradient (softmax - onehot)/n."""
    n = logits.shape[0]
    logp = log_softmax(logits)
    loss = -logp[np.arange(n), y].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    return float(loss), dlogits / n


def binary_cross_entropy(logits, y):
    """Mean binary cross-entropy on one logit per sample, in the stable form max(z,0) - z*y + log(1+e^-|z|);
    gradient (sigmoid(z) - y)/n."""
    z = logits[:, 0]
    t = y.astype(logits.dtype)
    loss = np.mean(np.maximum(z, 0) - z * t + np.log1p(np.exp(-np.abs(z))))
    # sigmoid without overflow: e^{-|z|} is always <= 1
    e = np.exp(-np.abs(z))
    p = np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return float(loss), ((p - t) / z.shape[0])[:, None]


def mse(logits, y):
    """Mean over samples of the squared error against one-hot targets, summed over outputs, halved;
    gradient (logits - onehot)/n."""
    n = logits.shape[0]
    diff = logits.copy()
    diff[np.arange(n), y] -= 1.0
    return float(0.5 * np.sum(diff * diff) / n), diff / n


LOSSES = {
    "softmax_cross_entropy": softmax_cross_entropy,
    "binary_cross_entropy": binary_cross_entropy,
    "mse": mse,
}

# Output units each loss needs for a task of n classes.
OUTPUTS = {
    "softmax_cross_entropy": lambda n_classes: n_classes,
    "binary_cross_entropy": lambda n_classes: 1,
    "mse": lambda n_classes: n_classes,
}


def predict(name: str, logits: np.ndarray) -> np.ndarray:
    """Class predictions from logits, for accuracy."""
    if OUTPUTS[name](2) == 1:
        return (logits[:, 0] > 0).astype(int)
    return logits.argmax(axis=1)
