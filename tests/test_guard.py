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


def test_the_estimate_bounds_what_a_run_really_allocates():
    tracemalloc = pytest.importorskip("tracemalloc")
    config = build_config({"model": {"depth": 4, "width": 128, "batchnorm": True}, "data": {"n_samples": 1024},
                           "train": {"steps": 8, "optimizer": "adam"}, "record": {"every": 1}})
    tracemalloc.start()
    run_experiment(config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < sum(estimate(config).values()), (human(peak), estimate(config))


def test_human_sizes():
    assert [human(n) for n in (512, 1536, 3 * 1024**3, 2 * 1024**5)] == ["512 B", "1.5 KB", "3 GB", "2 PB"]
