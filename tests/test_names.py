"""gradlab.names and gradlab.yamlio: the helpers that code which never validates a config imports without pydantic."""

import subprocess
import sys

import pytest

import gradlab.config
from gradlab import names, yamlio


@pytest.mark.parametrize("module", ["gradlab.names", "gradlab.yamlio", "gradlab.grid", "gradlab.registry",
                                    "gradlab.guard"])
def test_modules_that_never_validate_a_config_do_not_import_pydantic(module):
    # a fresh interpreter: this one has long since imported pydantic
    code = f"import sys, {module}; heavy = [m for m in ('pydantic', 'gradlab.config') if m in sys.modules]; print(heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"{module} imports {out.strip()}"


def test_names_imports_neither_pydantic_nor_the_engine():
    code = ("import sys, gradlab.names; print([m for m in sys.modules "
            "if m.split('.')[0] in ('pydantic', 'numpy', 'yaml') or m.startswith('gradlab.engine')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name, module", [("did_you_mean", names), ("keyword_params", names),
                                          ("yaml_value", yamlio), ("read_yaml", yamlio), ("MAX_NODES", yamlio)])
def test_gradlab_config_still_exports_the_moved_names(name, module):
    assert getattr(gradlab.config, name) is getattr(module, name)


def test_did_you_mean_names_the_closest_choice_or_nothing():
    assert names.did_you_mean("rellu", ["relu", "tanh"]) == " (did you mean 'relu'?)"
    assert names.did_you_mean("zzz", ["relu", "tanh"]) == ""


def test_keyword_params_of_functions_and_classes():
    def init(fan_in, fan_out, rng, gain=1.0, **extra):
        pass

    class Act:
        def __init__(self, slope=0.01):
            pass

    assert names.keyword_params(init) == {"gain": 1.0}
    assert names.keyword_params(Act) == {"slope": 0.01}


def test_short_cuts_a_long_value_in_the_middle_and_says_how_long_it_was():
    assert names.short("relu") == "'relu'"
    text = names.short("x" * 1000)
    assert len(text) < 100 and text.endswith("(1000 characters)") and "…" in text


def test_yaml_value_reads_command_line_values_as_yaml():
    assert [yamlio.yaml_value(v) for v in ("10", "1e-3", "off", "[1, 2]", "he_normal", "")] == \
        [10, 1e-3, False, [1, 2], "he_normal", ""]
