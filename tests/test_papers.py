"""The shipped configs that reproduce a paper's figure, each checked for its qualitative claim from the run's own
recorded statistics (ratios and orderings, never exact numbers)."""

from pathlib import Path

import numpy as np
import pytest

from gradlab import load_config, run_experiment
from gradlab.experiment import spectrum_at_init

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def config(name, *overrides):
    return load_config(CONFIGS / f"{name}.yaml", list(overrides))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glorot_sigmoid_top_layer_saturates_at_zero_early_while_the_lower_layers_stay_near_half(seed):
    # Glorot & Bengio 2010, Fig. 2: with the standard init the top hidden sigmoid layer's mean activation falls
    # towards 0 early in training, while layers 1-2 stay near 0.5.
    r = run_experiment(config("glorot_sigmoid", f"seed={seed}"))
    depth = r.config.model.depth
    means = r.matrix("act_mean")[:, :depth]  # (recorded step, hidden layer)
    steps = r.recorded_steps
    top = means[:, -1]
    assert np.all(np.abs(means[0] - 0.5) < 0.03)  # at init every layer sits at sigmoid(0)
    assert np.all(np.abs(means[:, :2] - 0.5) < 0.05)  # the lower layers stay there throughout
    assert top[-1] < 0.2  # the top layer is driven towards 0 ...
    early = top[np.searchsorted(steps, 50)]
    assert early < 0.35 and (0.5 - early) > 0.5 * (0.5 - top[-1])  # ... and most of the fall comes early
    assert np.argmin(means[-1]) == depth - 1  # it is the top layer, not another, that saturates


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_glorot_tanh_standard_init_shrinks_the_backpropagated_gradient_and_xavier_keeps_it_level(seed):
    # Glorot & Bengio 2010, Fig. 7. Var(W) = 1/(3n) gives chi_1 = E[tanh'^2]/3 <= 1/3 per layer, so over the 4
    # steps from layer 5 down to layer 1 the norm ||dL/dz|| falls to at most (1/sqrt(3))^4 = 1/9 (the bound, with
    # slack for a finite width). Xavier's Var = 1/n gives chi_1 = E[tanh'^2] ~ 1 for the small pre-activations here.
    def hidden_signal(name):
        r = run_experiment(config(name, f"seed={seed}", "train.steps=0"))
        return r.profile("signal", 0)[: r.config.model.depth]

    standard, xavier = hidden_signal("glorot_tanh_standard"), hidden_signal("glorot_tanh_xavier")
    assert standard[0] / standard[-1] < 0.15
    assert np.all(standard[:-1] / standard[1:] < 0.75)  # it shrinks at every step down, by ~1/sqrt(3)
    assert 0.5 < xavier[0] / xavier[-1] < 2
    assert xavier[0] / xavier[-1] > 5 * standard[0] / standard[-1]


def test_isometry_orthogonal_tanh_concentrates_the_jacobian_spectrum_where_gaussian_and_relu_spread_it():
    # Pennington, Schoenholz & Ganguli 2017: at the critical point, orthogonal weights keep the singular values of
    # the 100-layer tanh net's Jacobian concentrated; Gaussian weights of the same variance, and ReLU with He init,
    # spread them over many decades.
    orthogonal = spectrum_at_init(config("isometry_tanh_orthogonal")).measured.summary()
    gaussian = spectrum_at_init(config("isometry_tanh_orthogonal", "model.init=lecun_normal")).measured.summary()
    relu = spectrum_at_init(config("isometry_tanh_orthogonal", "model.activation=relu",
                                   "model.init=he_normal")).measured.summary()

    def relative_variance(s):  # Var(lambda)/E[lambda]^2: the spread, free of the overall scale
        return s["variance"] / s["mean"] ** 2

    assert orthogonal["condition"] < 20
    assert orthogonal["within_2x"] > 0.2
    assert relative_variance(orthogonal) < 1
    for spread in (gaussian, relu):
        assert spread["condition"] > 1e6 * orthogonal["condition"]
        assert spread["within_2x"] < orthogonal["within_2x"] / 10
        assert relative_variance(spread) > 10 * relative_variance(orthogonal)
