"""A model's trainable arrays as views into one contiguous vector, and their gradients into a second.

Why: a deep MLP has hundreds of small arrays, and a NumPy call costs about a microsecond whatever its size. Kept
flat, an optimizer updates every parameter in a few calls instead of a few per array. The vector is laid out by
shape, so the arrays of one shape form a contiguous ``(count, size)`` block, and the squared norms of all of them
are one batched product per shape instead of one call per array.
"""

from __future__ import annotations

import numpy as np


class FlatParameters:
    """``arrays`` (in their given order) copied into ``data``; ``params[i]`` and ``grads[i]`` are views of
    ``data`` and ``grad`` with the shape of ``arrays[i]``. Any other vector of ``size`` entries in the same layout
    (an optimizer's update, say) can be viewed the same way with ``views`` and measured with ``squared_norms``."""

    def __init__(self, arrays: list[np.ndarray], dtype):
        shapes = [np.shape(a) for a in arrays]
        groups: dict[tuple, list[int]] = {}
        for i, shape in enumerate(shapes):
            groups.setdefault(shape, []).append(i)
        self.offsets = [0] * len(arrays)
        self.blocks: list[tuple[np.ndarray, int, int, int]] = []  # (indices, start, count, size)
        start = 0
        for shape, indices in groups.items():
            size = int(np.prod(shape, dtype=np.int64))
            for k, i in enumerate(indices):
                self.offsets[i] = start + k * size
            self.blocks.append((np.array(indices), start, len(indices), size))
            start += len(indices) * size
        self.shapes, self.size = shapes, start
        self.data = np.empty(start, dtype)
        self.grad = np.zeros(start, dtype)
        self.params = self.views(self.data)
        self.grads = self.views(self.grad)
        for view, a in zip(self.params, arrays):
            view[...] = a

    def views(self, vector: np.ndarray) -> list[np.ndarray]:
        """One view of ``vector`` per array, shaped like it."""
        return [vector[o:o + int(np.prod(s, dtype=np.int64))].reshape(s) for o, s in zip(self.offsets, self.shapes)]

    def squared_norms(self, vector: np.ndarray) -> np.ndarray:
        """The sum of squares of each array's entries in ``vector``, in the vector's own precision: one batched
        matrix product per block. Plain sums of squares: they underflow or overflow where a norm would not, so
        callers check the range (the recorder falls back to a scaled norm for those arrays)."""
        out = np.empty(len(self.shapes), vector.dtype)
        for indices, start, count, size in self.blocks:
            block = vector[start:start + count * size].reshape(count, size)
            out[indices] = np.matmul(block[:, None, :], block[:, :, None]).reshape(count)
        return out
