"""One vocabulary for time across the API: each name means one unit everywhere.

``window``/``hop`` (and ``fit_hop``, ``normalize_window``) are seconds; STFT
settings keep librosa's names and units (``n_fft``, ``hop_length``,
``win_length`` in samples, ``window`` the STFT window function on LogMel and
MFCC, as in librosa). Renamed parameters survive only as deprecated aliases.
docs/guide/features.md ("Names and units") states the same table.
"""

import inspect
import re
from pathlib import Path

import pytest
from sklearn.base import BaseEstimator

import embedclf
from embedclf._utils.deprecation import DEPRECATED

# the unit word each documented parameter must name
UNITS = {
    "window": "second",
    "hop": "second",
    "fit_hop": "second",
    "normalize_window": "second",
    "window_top_db": "db",
    "n_fft": "sample",
    "hop_length": "sample",
    "win_length": "sample",
}
# librosa's STFT vocabulary: on these, ``window`` is the window function
STFT = {"LogMel", "MFCC"}
# old names kept only as deprecated aliases (never a working parameter of their own)
RETIRED = {"hop_size": None, "aggregate": None, "deltas": "WindowAggregator"}
TIME_WORDS = re.compile(r"hop|window|length|fft|seconds|duration")

ESTIMATORS = sorted(
    (name, getattr(embedclf, name))
    for name in embedclf.__all__
    if inspect.isclass(getattr(embedclf, name))
    and issubclass(getattr(embedclf, name), BaseEstimator)
)
assert len(ESTIMATORS) >= 8, ESTIMATORS  # the lazy package exports them all


def _params(cls):
    sig = inspect.signature(cls.__init__)
    return {n: p.default for n, p in sig.parameters.items() if n != "self"}


def _doc_entry(cls, name):
    """A parameter's numpydoc entry, following "As for :class:`X`" to X's docstring."""
    doc = inspect.getdoc(cls) or ""
    section = doc.split("Parameters\n----------\n", 1)[-1].split("\nAttributes\n", 1)[0]
    entries = re.split(r"\n(?=\S)", section)
    for entry in entries:
        head = entry.split(" : ", 1)[0].split("\n", 1)[0]
        heads = [h.strip(" \\") for h in re.split(r",\s*(?:\\\n)?", head)]
        if name in heads:
            ref = re.search(r"As for :class:`(\w+)`", entry)
            if ref and " : " not in entry.split("\n", 1)[0]:
                return _doc_entry(getattr(embedclf, ref.group(1)), name)
            return entry
    raise AssertionError(f"{cls.__name__}.{name} is not documented")


@pytest.mark.parametrize("name,cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_time_parameters_are_in_the_vocabulary(name, cls):
    for param, default in _params(cls).items():
        if default == DEPRECATED or not TIME_WORDS.search(param):
            continue
        assert param in UNITS, f"{name}.{param}: add it to the names table (tests and docs)"


@pytest.mark.parametrize("name,cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_each_time_parameter_states_its_unit(name, cls):
    for param, default in _params(cls).items():
        if param not in UNITS or default == DEPRECATED:
            continue
        entry = _doc_entry(cls, param)
        if param == "window" and name in STFT:
            assert "window name" in entry.lower(), entry
        else:
            assert UNITS[param] in entry.lower(), (
                f"{name}.{param} must say it is in {UNITS[param]}s: {entry}"
            )


@pytest.mark.parametrize("name,cls", ESTIMATORS, ids=[n for n, _ in ESTIMATORS])
def test_retired_names_are_only_deprecated_aliases(name, cls):
    for param, default in _params(cls).items():
        if param in RETIRED and RETIRED[param] in (None, name):
            assert default == DEPRECATED, f"{name}.{param} is a retired name"


def test_the_guide_states_the_same_table():
    text = (Path(__file__).resolve().parents[1] / "docs/guide/features.md").read_text()
    table = text.split("## Names and units", 1)[1].split("\n## ", 1)[0]
    for param, unit in UNITS.items():
        assert re.search(rf"`{param}`[^|]*\|[^|]*{unit}", table, re.I), (param, unit)
