"""Weight initializers, kept in the ``INITIALIZERS`` registry.

Each is ``fn(fan_in, fan_out, rng, **params) -> W`` with ``W`` of shape ``(fan_in, fan_out)``
(the layer computes ``x @ W``). Normals are untruncated, so the variance is exactly the one
documented; ``VARIANCE`` gives it as a formula that the tests check against samples.
"""

from __future__ import annotations

import math

import numpy as np


def xavier_uniform(fan_in, fan_out, rng, gain: float = 1.0):
    """U(-a, a), a = gain*sqrt(6/(fan_in+fan_out)); Var = gain^2 * 2/(fan_in+fan_out).  Glorot & Bengio 2010."""
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def xavier_normal(fan_in, fan_out, rng, gain: float = 1.0):
    """N(0, gain^2 * 2/(fan_in+fan_out)).  Glorot & Bengio 2010."""
    return rng.normal(0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he_normal(fan_in, fan_out, rng, gain: float = math.sqrt(2.0)):
    """N(0, gain^2/fan_in), gain sqrt(2) for ReLU: Var = 2/fan_in.  He et al. 2015."""
    return rng.normal(0.0, gain / math.sqrt(fan_in), size=(fan_in, fan_out))


def he_uniform(fan_in, fan_out, rng, gain: float = math.sqrt(2.0)):
    """U(-a, a), a = gain*sqrt(3/fan_in): Var = gain^2/fan_in = 2/fan_in for ReLU.  He et al. 2015."""
    a = gain * math.sqrt(3.0 / fan_in)
    return rng.uniform(-a, a, size=(fan_in, fan_out))


def lecun_normal(fan_in, fan_out, rng, gain: float = 1.0):
    """N(0, gain^2/fan_in).  LeCun et al. 1998; the init SELU assumes."""
    return rng.normal(0.0, gain / math.sqrt(fan_in), size=(fan_in, fan_out))


def orthogonal(fan_in, fan_out, rng, gain: float = 1.0):
    """gain * a (semi-)orthogonal matrix, Haar-distributed (QR of a Gaussian with the signs of R's diagonal fixed).
    Var = gain^2 / max(fan_in, fan_out).  Saxe et al. 2014: a deep linear net with it is an exact isometry."""
    rows, cols = max(fan_in, fan_out), min(fan_in, fan_out)
    q, r = np.linalg.qr(rng.normal(size=(rows, cols)))
    q *= np.sign(np.diag(r))
    return gain * (q if fan_in >= fan_out else q.T)


def zeros(fan_in, fan_out, rng):
    """All zeros: Var = 0. Every unit of a layer gets the same gradient, so the symmetry is never broken."""
    return np.zeros((fan_in, fan_out))


def normal(fan_in, fan_out, rng, std: float = 0.01):
    """N(0, std^2), independent of the fan: the classic 'small random numbers' (std default 0.01)."""
    return rng.normal(0.0, std, size=(fan_in, fan_out))


def large(fan_in, fan_out, rng, scale: float = 1.0):
    """N(0, scale^2), independent of the fan; scale=10 is the classic 'x10' explosion demonstration."""
    return rng.normal(0.0, scale, size=(fan_in, fan_out))


INITIALIZERS = {
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "normal": normal,
    "large": large,
}

# Var(W_ij) as a function of the fans and the parameters (defaults filled in), for docs and tests.
VARIANCE = {
    "xavier_uniform": lambda i, o, gain=1.0: gain**2 * 2.0 / (i + o),
    "xavier_normal": lambda i, o, gain=1.0: gain**2 * 2.0 / (i + o),
    "he_normal": lambda i, o, gain=math.sqrt(2.0): gain**2 / i,
    "he_uniform": lambda i, o, gain=math.sqrt(2.0): gain**2 / i,
    "lecun_normal": lambda i, o, gain=1.0: gain**2 / i,
    "orthogonal": lambda i, o, gain=1.0: gain**2 / max(i, o),
    "zeros": lambda i, o: 0.0,
    "normal": lambda i, o, std=0.01: std**2,
    "large": lambda i, o, scale=1.0: scale**2,
}
