"""gradlab.probe: a PyTorch training loop under gradlab's lens.

- gradlab's engine and the probe are each other's oracle: a torch MLP with the engine's very weights, trained on the
  engine's very batches with plain SGD in float64, gives the figures of gradlab's own run to 1e-10 at every
  recorded step, and the same verdict;
- the probe never changes training: the losses with and without it are equal (==);
- shared (tied) weights, a layer without bias, frozen parameters and a module called twice per step behave as the
  module docstring says, checked against quantities computed here by hand (retain_grad, the concatenated outputs);
- convolutions, BatchNorm and embeddings are handled; a gradient of 1e-200 is recorded as 1e-200;
- its run directory is one the results-format schema accepts and that ``gradlab report --html`` and
  ``gradlab compare`` read (the real CLI).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import cli

torch = pytest.importorskip("torch", reason="gradlab.probe needs the torch extra: pip install -e '.[torch]'")
nn = torch.nn
F = torch.nn.functional

import gradlab.probe
from gradlab.config import build_config
from gradlab.errors import ResultsError
from gradlab.experiment import _batches, _seeds, model_at_init, run_experiment
from gradlab.results import load_run

invoke = cli(columns=200)

# -- agreement with gradlab's engine ------------------------------------------------------------------------------

CONFIG = {"name": "agree", "model": {"depth": 4, "width": 12, "activation": "tanh", "init": "xavier_normal"},
          "data": {"n_samples": 96}, "train": {"steps": 7, "batch_size": 16, "optimizer": "sgd", "lr": 0.5},
          "record": {"every": 3, "distributions": False, "spectrum": "off", "sharpness": "off"}}
COMPARED = ("grad_W", "grad_b", "signal", "weight", "grad_data", "update_ratio", "act_mean", "act_std",
            "saturated", "dead")


def torch_twin(config):
    """The config's MLP in torch, with the engine's initial weights (gradlab's W is (fan_in, fan_out): z = x W + b,
    a torch Linear's weight is its transpose), and the engine's data."""
    model, data = model_at_init(config)
    layers = []
    for i, lin in enumerate(model.linears):
        W, b = lin.params["W"], lin.params["b"]
        t = nn.Linear(*W.shape, dtype=torch.float64)
        with torch.no_grad():
            t.weight.copy_(torch.from_numpy(W.T.copy()))
            t.bias.copy_(torch.from_numpy(b.copy()))
        layers += [t] + ([nn.Tanh()] if i < len(model.linears) - 1 else [])
    return nn.Sequential(*layers), data


def train_twin(config, out, probe=True):
    """The engine's loop (gradlab.experiment.run_experiment) in torch: the same batches (its batch generator and
    seed), the loss (softmax cross-entropy, the batch mean), and SGD applied after every step but the last."""
    net, data = torch_twin(config)
    total = config.train.total_steps(len(data.y_train))
    batches = _batches(len(data.y_train), config.train.batch_size, _seeds(config)["batches"])
    opt = torch.optim.SGD(net.parameters(), lr=config.train.lr)
    X, y = torch.from_numpy(data.X_train), torch.from_numpy(data.y_train)
    losses = []
    watcher = gradlab.probe.watch(net, every=config.record.every, out=out, steps=total + 1) if probe else None
    p = watcher.__enter__() if probe else None
    for step in range(total + 1):
        idx = torch.as_tensor(next(batches))
        opt.zero_grad()
        logits = net(X[idx])
        loss = F.cross_entropy(logits, y[idx])
        loss.backward()
        if p is not None:
            p.step(loss, accuracy=(logits.argmax(1) == y[idx]).double().mean())
        if step < total:
            opt.step()
        losses.append(loss.detach().clone())
    if probe:
        watcher.__exit__(None, None, None)
    return torch.stack(losses), net


@pytest.fixture(scope="module")
def agreement(tmp_path_factory):
    config = build_config(CONFIG)
    ours = run_experiment(config)
    out = tmp_path_factory.mktemp("probe") / "agree"
    train_twin(config, out)
    return ours, load_run(out)


def test_the_probe_records_the_steps_gradlab_records(agreement):
    ours, probed = agreement
    assert list(probed.recorded_steps) == list(ours.recorded_steps) == [0, 3, 6, 7]
    assert probed.n_layers == ours.n_layers == 5
    for c in ("step", "layer", "fan_in", "fan_out"):
        assert np.array_equal(probed.layers[c], ours.layers[c]), c


@pytest.mark.parametrize("column", COMPARED)
def test_every_per_layer_figure_agrees_with_the_engine_to_1e_10(agreement, column):
    ours, probed = agreement
    a, b = ours.layers[column], probed.layers[column]
    assert np.array_equal(np.isnan(a), np.isnan(b)), (column, a, b)
    assert np.isfinite(a).any() or column == "dead", column  # tanh: no dead units, NaN in both
    np.testing.assert_allclose(b[~np.isnan(b)], a[~np.isnan(a)], rtol=1e-10, atol=0, err_msg=column)


def test_the_losses_accuracy_and_global_norm_agree(agreement):
    ours, probed = agreement
    np.testing.assert_allclose(probed.steps["loss"], ours.steps["loss"], rtol=1e-12)
    np.testing.assert_array_equal(probed.steps["train_acc"], ours.steps["train_acc"])
    recorded = np.isin(ours.steps["step"], ours.recorded_steps)
    np.testing.assert_allclose(probed.steps["grad_norm"][recorded], ours.steps["grad_norm"][recorded], rtol=1e-10)
    assert np.isnan(probed.steps["grad_norm"][~recorded]).all()  # measured where recorded only


def test_the_verdict_is_gradlabs(agreement):
    ours, probed = agreement
    for key in ("verdict", "verdict_final", "verdict_evidence", "status", "floor_depth", "steps", "steps_run"):
        assert probed.summary[key] == ours.summary[key], key
    for key in ("log10_ratio_grad_W_init", "log10_ratio_signal_init", "log10_ratio_grad_W_final",
                "log10_ratio_signal_final"):
        assert probed.summary[key] == pytest.approx(ours.summary[key], rel=1e-9), key
    assert probed.summary["n_params"] == ours.summary["n_params"]
    assert probed.config is None and probed.summary["layer_names"] == ["0", "2", "4", "6", "8"]


def test_a_vanishing_net_is_vanishing_in_both(tmp_path):
    """A deep tanh net with a small init (gain 0.3) vanishes: both say so, with the same signal to 1e-10."""
    cfg = build_config({**CONFIG, "model": {"depth": 8, "width": 12, "activation": "tanh",
                                            "init": {"name": "xavier_normal", "gain": 0.3}}})
    ours = run_experiment(cfg)
    train_twin(cfg, tmp_path / "v")
    probed = load_run(tmp_path / "v")
    assert ours.summary["verdict"] == probed.summary["verdict"] == "vanishing"
    np.testing.assert_allclose(probed.layers["signal"], ours.layers["signal"], rtol=1e-10)


def test_training_is_bit_identical_with_and_without_the_probe(tmp_path):
    config = build_config(CONFIG)
    with_probe, net_a = train_twin(config, tmp_path / "a")
    without, net_b = train_twin(config, tmp_path / "b", probe=False)
    assert torch.equal(with_probe, without)  # ==, not close
    assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))


def test_a_relu_batchnorm_net_trains_identically_and_every_step_is_recorded(tmp_path):
    def run(probe):
        torch.manual_seed(3)
        net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))
        opt = torch.optim.Adam(net.parameters(), lr=1e-2)
        x, y = torch.randn(32, 6), torch.randint(0, 3, (32,))
        watcher = gradlab.probe.watch(net, every=1, out=tmp_path / "bn", steps=5) if probe else None
        p, losses = watcher.__enter__() if probe else None, []
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 0.01)  # changes .grad after backward
            opt.step()
            if p is not None:
                p.step(loss)
            losses.append(loss.detach())
        if probe:
            watcher.__exit__(None, None, None)
        return torch.stack(losses)

    assert torch.equal(run(True), run(False))
    run_ = load_run(tmp_path / "bn")
    assert list(run_.recorded_steps) == [0, 1, 2, 3, 4] and run_.n_layers == 2  # BatchNorm is not a layer
    dead = run_.matrix("dead")
    assert np.all((dead[:, 0] >= 0) & (dead[:, 0] <= 1)) and np.isnan(dead[:, 1]).all()  # ReLU past BN and dropout
    assert (run_.matrix("grad_W")[:, 0] > 0.01).all()  # before clipping: the gradient backward left


# -- the special cases --------------------------------------------------------------------------------------------

def run_probe(net, x, loss_fn, out, steps=2, every=1, lr=0.1):
    """Train ``net`` ``steps`` steps with SGD under the probe; the loaded run."""
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=lr)
    with gradlab.probe.watch(net, every=every, out=out, steps=steps) as probe:
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(net(x))
            loss.backward()
            opt.step()
            probe.step(loss)
    assert probe.run_dir == out
    return load_run(out)


class Tied(nn.Module):
    """An embedding and an output layer that share one weight (as language models tie them)."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(11, 6, dtype=torch.float64)
        self.hidden = nn.Linear(6, 6, bias=False, dtype=torch.float64)
        self.out = nn.Linear(6, 11, dtype=torch.float64)
        self.out.weight = self.embed.weight

    def forward(self, tokens):
        return self.out(torch.tanh(self.hidden(self.embed(tokens))))


def test_tied_weights_are_one_parameter_at_two_layers(tmp_path):
    torch.manual_seed(0)
    net, tokens = Tied(), torch.randint(0, 11, (20,))
    loss_fn = lambda logits: F.cross_entropy(logits, tokens)
    run = run_probe(net, tokens, loss_fn, tmp_path / "tied")
    assert run.summary["layer_names"] == ["embed", "hidden", "out"]
    assert run.summary["probe"]["shared"] == [["embed", "out"]]
    assert list(run.layers["fan_in"][:3]) == [11, 6, 6] and list(run.layers["fan_out"][:3]) == [6, 6, 11]
    # by hand, at step 0 (the same seed, the same init): the shared weight's whole gradient (both uses), on both rows
    torch.manual_seed(0)
    ref = Tied()
    ref.zero_grad()
    loss_fn(ref(tokens)).backward()
    g = ref.embed.weight.grad.norm().item()
    grad_W, weight = run.profile("grad_W", 0), run.profile("weight", 0)
    assert grad_W[0] == pytest.approx(g, rel=1e-12) and grad_W[2] == pytest.approx(g, rel=1e-12)
    assert weight[0] == weight[2] == pytest.approx(ref.embed.weight.norm().item(), rel=1e-12)
    assert run.profile("update_ratio", 0)[0] == run.profile("update_ratio", 0)[2]


def test_a_layer_without_bias_has_no_grad_b(tmp_path):
    torch.manual_seed(0)
    net, tokens = Tied(), torch.randint(0, 11, (20,))
    run = run_probe(net, tokens, lambda logits: F.cross_entropy(logits, tokens), tmp_path / "nobias")
    grad_b = run.matrix("grad_b")
    assert np.isnan(grad_b[:, :2]).all() and (grad_b[:, 2] > 0).all()  # embedding and hidden: no bias


def test_frozen_layers_are_left_out_and_named(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 2))
    net[0].requires_grad_(False)  # a frozen feature extractor
    net[4].bias.requires_grad_(False)  # a frozen bias beside a trained weight
    x, y = torch.randn(16, 5), torch.randint(0, 2, (16,))
    frozen = net[0].weight.detach().clone()
    run = run_probe(net, x, lambda logits: F.cross_entropy(logits, y), tmp_path / "frozen")
    assert torch.equal(net[0].weight, frozen)
    assert run.summary["layer_names"] == ["2", "4"] and run.summary["probe"]["frozen"] == ["0"]
    assert np.isnan(run.matrix("grad_b")[:, 1]).all() and (run.matrix("grad_b")[:, 0] > 0).all()
    assert (run.matrix("saturated")[:, 0] >= 0).all()  # the Sigmoid after layer "2"
    assert run.summary["n_params"] == 8 * 8 + 8 + 8 * 2  # the trainable ones


class Twice(nn.Module):
    """One Linear applied twice per step (a weight-shared recurrence), then a head."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 7, dtype=torch.float64)
        self.cell = nn.Linear(7, 7, dtype=torch.float64)
        self.act = nn.Tanh()
        self.head = nn.Linear(7, 3, dtype=torch.float64)

    def forward(self, x, keep=None):
        h = self.act(self.inp(x))
        for _ in range(2):
            z = self.cell(h)
            if keep is not None:
                z.retain_grad()
                keep.append(z)
            h = self.act(z)
            if keep is not None:
                keep.append(h)
        return self.head(h)


def test_a_module_called_twice_pools_its_calls(tmp_path):
    torch.manual_seed(1)
    net, x, y = Twice(), torch.randn(10, 4, dtype=torch.float64), torch.randint(0, 3, (10,))
    loss_fn = lambda logits: F.cross_entropy(logits, y)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    run = run_probe(net, x, loss_fn, tmp_path / "twice", steps=1)
    assert run.summary["layer_names"] == ["inp", "cell", "head"] and run.summary["probe"]["calls"] == {"cell": 2}
    net.load_state_dict(state)  # step 0 again, by hand
    net.zero_grad()
    kept: list = []
    loss_fn(net(x, kept)).backward()
    z1, h1, z2, h2 = kept
    both = torch.cat([h1, h2])
    assert run.profile("signal", 0)[1] == pytest.approx(math.hypot(z1.grad.norm().item(), z2.grad.norm().item()),
                                                        rel=1e-12)
    assert run.profile("act_mean", 0)[1] == pytest.approx(both.mean().item(), rel=1e-12)
    assert run.profile("act_std", 0)[1] == pytest.approx(both.std(correction=0).item(), rel=1e-12)
    assert run.profile("grad_W", 0)[1] == pytest.approx(net.cell.weight.grad.norm().item(), rel=1e-12)
    assert math.isnan(run.profile("act_mean", 0)[2])  # the head: no activation after it


def test_a_cnn_with_batchnorm_and_dead_units(tmp_path):
    """Conv layers count their fan-in as in-channels × kernel; a ReLU after BatchNorm2d gives the dead fraction
    of (channel, position) units; a ReLU fed only negative inputs is entirely dead."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3, bias=False), nn.ReLU(),
                        nn.Flatten(), nn.Linear(2 * 4 * 4, 3))
    with torch.no_grad():
        net[3].weight.copy_(-net[3].weight.abs())  # every output of conv 2 negative: ReLU-dead units
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 3, (8,))
    run = run_probe(net, x, lambda logits: F.cross_entropy(logits, y), tmp_path / "cnn", steps=1)
    assert list(run.layers["fan_in"]) == [9, 36, 32] and list(run.layers["fan_out"]) == [4, 2, 3]
    dead = run.profile("dead", 0)
    assert 0 <= dead[0] < 1 and dead[1] == 1.0 and math.isnan(dead[2])
    assert run.profile("signal", 0)[1] == 0.0 and run.summary["verdict"] == "vanishing"  # nothing flows back


def test_tiny_gradients_are_recorded_as_they_are(tmp_path):
    """A loss scaled by 1e-200 scales every gradient by 1e-200: the norms are 1e-200 times the plain ones."""
    def run(scale, out):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 5, dtype=torch.float64), nn.Tanh(), nn.Linear(5, 2, dtype=torch.float64))
        x, y = torch.randn(6, 3, dtype=torch.float64), torch.randint(0, 2, (6,))
        return run_probe(net, x, lambda logits: scale * F.cross_entropy(logits, y), out, steps=1)

    plain, tiny = run(1.0, tmp_path / "plain"), run(1e-200, tmp_path / "tiny")
    for column in ("grad_W", "grad_b", "signal"):
        np.testing.assert_allclose(tiny.layers[column], 1e-200 * plain.layers[column], rtol=1e-12)


def test_without_steps_the_run_ends_at_the_last_recorded_step(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x, y = torch.randn(6, 3), torch.randint(0, 2, (6,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with gradlab.probe.watch(net, every=3, out=tmp_path / "cut") as probe:
        for _ in range(5):
            opt.zero_grad()
            loss = F.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
            with torch.no_grad():
                net(x)  # an evaluation pass: ignored
            probe.step(loss)
    run = load_run(tmp_path / "cut")
    assert list(run.recorded_steps) == [0, 3] and run.summary["steps_run"] == 3
    assert "steps 4..4 were not recorded" in run.summary["probe"]["cut"]


def test_an_existing_directory_is_not_overwritten_unless_asked(tmp_path):
    (tmp_path / "taken").mkdir()
    net = nn.Linear(2, 2)
    with pytest.raises(ResultsError, match="exists"):
        gradlab.probe.watch(net, out=tmp_path / "taken")
    x = torch.randn(4, 2)
    with gradlab.probe.watch(net, out=tmp_path / "taken", overwrite=True, steps=1) as probe:
        loss = net(x).pow(2).mean()
        loss.backward()
        probe.step(loss)
    assert load_run(tmp_path / "taken").summary["steps_run"] == 0


@pytest.mark.parametrize("bad, word", [({"every": 0}, "every"), ({"steps": 0}, "steps"),
                                       ({"thresholds": {"vanishing": 3}}, "thresholds")])
def test_bad_options_are_named(tmp_path, bad, word):
    with pytest.raises(ValueError, match=word):
        gradlab.probe.watch(nn.Linear(2, 2), out=tmp_path / "x", **bad)


# -- the run directory, read by gradlab -----------------------------------------------------------------------------

def test_the_summary_is_one_the_schema_accepts(agreement):
    jsonschema = pytest.importorskip("jsonschema")
    from gradlab.results_format import SUMMARY_SCHEMA

    _, probed = agreement
    summary = json.loads((probed.run_dir / "summary.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(SUMMARY_SCHEMA).validate(summary)
    assert next(iter(summary)) == "format_version" and summary["writer"].startswith("gradlab.probe")
    assert not (probed.run_dir / "config.yaml").exists()


def test_gradlab_report_html_and_compare_read_the_probes_run(agreement, tmp_path):
    import shutil

    _, probed = agreement
    run = shutil.copytree(probed.run_dir, tmp_path / "mynet")
    result = invoke("report", run, "--html")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert "theory: not applicable" in result.output and "1 0" in result.output
    page = (run / "report.html").read_text(encoding="utf-8")
    assert "<title>gradlab run: agree</title>" in page and "gradlab.probe" in page
    other = shutil.copytree(probed.run_dir, tmp_path / "again")
    result = invoke("compare", run, other, "-o", tmp_path / "cmp", "--html")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    assert (tmp_path / "cmp" / "compare.png").is_file() and (tmp_path / "cmp" / "report.html").is_file()


def test_importing_gradlab_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, gradlab, gradlab.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_the_worked_example_vanishes_with_sigmoid_and_not_with_relu_and_batchnorm(tmp_path):
    """docs/probe_example.py as a user runs it: two run directories, the verdicts its docstring promises."""
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("sklearn", reason="the example's digits need the datasets extra")
    example = Path(__file__).resolve().parent.parent / "docs" / "probe_example.py"
    done = subprocess.run([sys.executable, str(example), "--out", str(tmp_path)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    sigmoid, relu_bn = load_run(tmp_path / "sigmoid"), load_run(tmp_path / "relu_bn")
    assert sigmoid.summary["verdict"] == sigmoid.summary["verdict_final"] == "vanishing"
    assert relu_bn.summary["verdict"] == relu_bn.summary["verdict_final"] == "healthy"
    assert relu_bn.summary["final_train_acc"] > 0.9 and sigmoid.summary["final_train_acc"] < 0.5
    assert sigmoid.summary["layer_names"] == ["0", "2", "4", "6", "8", "10", "13"]  # the convs and the read-out


def test_the_model_is_left_without_hooks(tmp_path):
    """After the ``with`` block the model is as it was: no forward or pre-forward hook on any module, no hook on
    any parameter, at every=1 (hooks kept between recorded steps) as at every=2."""
    for every in (1, 2):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
        x, y = torch.randn(6, 3), torch.randint(0, 2, (6,))
        run_probe(net, x, lambda logits, y=y: F.cross_entropy(logits, y), tmp_path / f"every{every}", steps=3,
                  every=every)
        assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())
        assert not any(getattr(p, "_post_accumulate_grad_hooks", None) for p in net.parameters())
