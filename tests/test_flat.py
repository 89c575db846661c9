"""The flat parameter layout: views that share memory with the layers, and batched norms that agree with
per-array ones across the whole float range."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradlab.engine.flat import FlatParameters
from gradlab.engine.model import MLP
from gradlab.engine.optimizers import OPTIMIZERS
from gradlab.recorder import flat_norms, norm


def test_views_keep_values_order_and_shapes_and_group_by_shape():
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in [(3, 4), (4,), (4, 4), (4,), (4, 4), (), (4, 2)]]
    flat = FlatParameters(arrays, np.float64)
    assert flat.size == sum(a.size for a in arrays)
    for view, grad, a in zip(flat.params, flat.grads, arrays):
        assert view.shape == a.shape and np.array_equal(view, a)
        assert np.shares_memory(view, flat.data) and np.shares_memory(grad, flat.grad)
    # the two (4, 4) arrays sit next to each other, so that they form one (2, 16) block
    assert flat.offsets[4] - flat.offsets[2] == 16
    assert sorted(count for _, _, count, _ in flat.blocks) == [1, 1, 1, 2, 2]
    flat.data[:] = np.arange(flat.size)  # writing the vector moves the views, and no two views overlap
    assert sorted(np.concatenate([v.reshape(-1) for v in flat.params]).tolist()) == list(range(flat.size))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_squared_norms_match_per_array_sums(dtype):
    rng = np.random.default_rng(1)
    arrays = [rng.normal(size=s).astype(dtype) for s in [(5, 7), (7,), (7, 7), (7, 7), (7,), (7, 3)]]
    flat = FlatParameters(arrays, dtype)
    expected = [float(np.sum(a.astype(np.float64) ** 2)) for a in arrays]
    rel = 1e-12 if dtype == np.float64 else 1e-5
    assert flat.squared_norms(flat.data) == pytest.approx(expected, rel=rel)


@pytest.mark.parametrize("scale", [0.0, 1e-300, 1e-200, 1e-20, 1.0, 1e200, 1e300, math.inf, math.nan])
def test_flat_norms_are_exact_where_squares_underflow_or_overflow(scale):
    arrays = [np.full((3, 3), 2.0), np.full(3, scale), np.full((3, 3), scale * 3)]
    flat = FlatParameters(arrays, np.float64)
    np.testing.assert_allclose(flat_norms(flat, flat.data), [norm(a) for a in arrays], rtol=1e-14)


def test_an_optimizer_step_on_the_flat_vector_moves_every_layer():
    rng = np.random.default_rng(2)
    model = MLP(3, 2, [4, 4], rng, activation="prelu", batchnorm="before")
    x, before = rng.normal(size=(5, 3)), model.flat.data.copy()
    model.backward(model.forward(x) - 1.0)
    for (layer, key), g in zip(model.parameters(), model.flat.grads):
        assert layer.grads[key] is g and np.shares_memory(layer.params[key], model.flat.data)
    opt = OPTIMIZERS["sgd"](lr=0.1)
    opt.step([model.flat.data], [model.flat.grad])
    assert np.allclose(model.flat.data, before - 0.1 * model.flat.grad)
    assert model.output.grads["b"].any() and model.units[0].act.grads["slope"] != 0
