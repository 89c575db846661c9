"""The resource guard: a run that would need more memory than the limit is refused before it allocates."""

import pytest

from gradlab import run_experiment
from gradlab.config import build_config
from gradlab.errors import ResourceError
from gradlab.guard import ENV, check, estimate, human


@pytest.mark.parametrize("section, key, value, part", [
    ("model", "width", 1_000_000, "parameters"),
    ("data", "n_samples", 10**9, "data"),
    ("data", "n_classes", 10**9, "parameters"),
    ("train", "steps", 10**9, "records"),
    ("data", "hidden", 10**9, "data"),
])
def test_a_huge_setting_is_refused_with_the_estimate_before_anything_is_allocated(section, key, value, part):
    config = build_config({section: {key: value, **({"dataset": "teacher"} if key == "hidden" else {})}})
    with pytest.raises(ResourceError) as info:
        run_experiment(config)
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "this run needs about" in message and part in message and "limit" in message


def test_the_limit_can_be_set_and_a_bad_setting_is_a_clear_error(monkeypatch):
    config = build_config({})
    need = sum(estimate(config).values())
    monkeypatch.setenv(ENV, str(int(need * 2)))
    check(config)
    monkeypatch.setenv(ENV, str(int(need / 2)))
    with pytest.raises(ResourceError, match=ENV):
        check(config)
    with pytest.raises(ResourceError, match="per worker"):
        monkeypatch.setenv(ENV, str(int(need * 1.5)))
        check(config, share=2)
    monkeypatch.setenv(ENV, "lots")
    with pytest.raises(ResourceError, match="write a size like 8G"):
        check(config)


def traced_peak(config) -> int:
    tracemalloc = pytest.importorskip("tracemalloc")
    tracemalloc.start()
    try:
        run_experiment(config)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("settings", [
    {"model": {"depth": 4, "width": 128, "batchnorm": True}, "train": {"optimizer": "adam"}, "record": {"every": 1}},
    # the sharpness probe's basis restarted (10 vectors of 6.3 MB), warm-started at the recorded steps; without
    # the spectrum, whose SVDs at these widths take longer than the rest
    {"model": {"depth": 4, "width": 512}, "record": {"every": 4, "sharpness": "recorded", "spectrum": "off"}},
    {"dtype": "float32", "model": {"depth": 3, "width": 768}, "train": {"optimizer": "momentum"},
     "record": {"spectrum": "off"}},
], ids=["batchnorm adam", "restarted basis", "float32 momentum"])
def test_the_estimate_bounds_what_a_run_really_allocates(settings):
    config = build_config({**settings, "data": {"n_samples": 1024},
                           "train": {"steps": 8, **settings.get("train", {})}})
    peak = traced_peak(config)
    assert peak < sum(estimate(config).values()), (human(peak), estimate(config))
    # the probe's own part: what it adds to the peak is within what the guard counts for it
    off = traced_peak(config.model_copy(update={"record": config.record.model_copy(update={"sharpness": "off"})}))
    assert peak - off <= estimate(config)["sharpness"], (human(peak - off), human(estimate(config)["sharpness"]))


def test_human_sizes():
    assert [human(n) for n in (512, 1536, 3 * 1024**3, 2 * 1024**5)] == ["512 B", "1.5 KB", "3 GB", "2 PB"]
