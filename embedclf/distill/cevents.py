"""Event settings for the exported C library: the Recognizer's smoothing and decisions on a device.

The C library's ``embedclf_events.c`` makes the decisions of
:class:`embedclf.stream.Recognizer` (smoothing, threshold with hysteresis,
minimum duration, suppression, background labels) over the student's window
scores. :func:`event_settings` checks the settings as the Recognizer does
and fills in its defaults; :func:`events_config_header` writes them, with the
student's window and hop in samples, to ``embedclf_events_config.h``.
"""

from __future__ import annotations

import math
import numbers

from ..labels import BACKGROUND_LABELS

__all__ = [
    "EVENT_DEFAULTS",
    "EVENT_BACKGROUND_LABELS",
    "event_settings",
    "events_config_header",
]

#: The Recognizer's defaults (``embedclf.stream.Recognizer``); ``threshold_off=None`` is
#: ``0.8 * threshold``.
EVENT_DEFAULTS = {
    "smoothing": 1.0,
    "threshold": 0.5,
    "threshold_off": None,
    "min_duration": 0.0,
    "suppression": 0.5,
}
#: Labels never reported by default (``embedclf.stream.BACKGROUND_LABELS``).
EVENT_BACKGROUND_LABELS = BACKGROUND_LABELS


def _number(name, value, low=0.0, high=math.inf):
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or not low <= value <= high:
        bound = f"in [{low:g}, {high:g}]" if math.isfinite(high) else f">= {low:g}"
        raise ValueError(f"event setting {name} must be a number {bound}, got {value!r}")
    return float(value)


def event_settings(events=None):
    """The complete event settings: ``events`` checked, the Recognizer's defaults for the rest.

    Parameters
    ----------
    events : dict, optional
        Any of ``smoothing``, ``threshold``, ``threshold_off``, ``min_duration``,
        ``suppression`` (seconds or scores, as :class:`embedclf.stream.Recognizer`
        takes them) and ``background`` (labels never reported).

    Returns
    -------
    dict
        Every setting, ``threshold_off`` resolved and ``background`` a list of str.

    Raises
    ------
    ValueError
        An unknown setting or a value the Recognizer would refuse.

    Examples
    --------
    >>> from embedclf.distill.cevents import event_settings
    >>> s = event_settings({"threshold": 0.6})
    >>> s["threshold_off"], s["smoothing"], s["background"][0]
    (0.48, 1.0, '_background_')
    >>> event_settings({"smoothness": 1})
    Traceback (most recent call last):
        ...
    ValueError: unknown event setting 'smoothness'; the settings are smoothing, threshold, \
threshold_off, min_duration, suppression, background
    """
    events = dict(events or {})
    names = list(EVENT_DEFAULTS) + ["background"]
    for name in events:
        if name not in names:
            raise ValueError(f"unknown event setting {name!r}; the settings are {', '.join(names)}")
    out = {**EVENT_DEFAULTS, **{k: v for k, v in events.items() if k != "background"}}
    for name in ("smoothing", "min_duration", "suppression"):
        out[name] = _number(name, out[name])
    out["threshold"] = _number("threshold", out["threshold"], 0.0, 1.0)
    if out["threshold_off"] is None:
        out["threshold_off"] = 0.8 * out["threshold"]  # as the Recognizer computes it
    out["threshold_off"] = _number("threshold_off", out["threshold_off"], 0.0, out["threshold"])
    background = events.get("background", EVENT_BACKGROUND_LABELS)
    if isinstance(background, str):
        raise ValueError("event setting background must be a list of labels, not one string")
    out["background"] = [str(b) for b in (background or ())]
    return out


def events_config_header(cnn, events=None):
    """``embedclf_events_config.h``: the event settings and the student's windows in samples.

    Parameters
    ----------
    cnn : KerasCNN
        The fitted student: its rate, ``window``, ``hop`` and ``classes_``.
    events : dict, optional
        As :func:`event_settings` takes them.

    Returns
    -------
    header : str
    settings : dict
        The complete settings (:func:`event_settings`) with ``n_smooth``,
        ``window_samples`` and ``hop_samples``, as the Recognizer derives them.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from embedclf.distill.cevents import events_config_header
    >>> cnn = SimpleNamespace(sr=16000, window=1.0, hop=0.5, classes_=["dog", "_background_"])
    >>> text, s = events_config_header(cnn, {"smoothing": 1.5})
    >>> s["n_smooth"], s["hop_samples"]
    (3, 8000)
    >>> "ecl_ev_background[ECL_N_CLASSES] = {0, 1}" in text
    True
    """
    s = event_settings(events)
    sr, window, hop = int(cnn.sr), float(cnn.window), float(cnn.hop)
    # the Recognizer's derivations (Recognizer.__init__), so the windows are its windows
    s["window_samples"] = max(1, int(round(window * sr)))
    s["hop_samples"] = max(1, int(round(hop * sr)))
    s["n_smooth"] = max(1, int(round(s["smoothing"] / hop)))
    flags = ", ".join("1" if str(c) in s["background"] else "0" for c in cnn.classes_)
    header = "\n".join(
        [
            "/* Generated by embedclf: the event settings of this student's C library",
            " * (embedclf.stream.Recognizer's, as given to export). */",
            "#ifndef EMBEDCLF_EVENTS_CONFIG_H_",
            "#define EMBEDCLF_EVENTS_CONFIG_H_",
            "",
            '#include "embedclf_network.h"',
            "",
            f"#define ECL_EV_WINDOW_SAMPLES {s['window_samples']}L",
            f"#define ECL_EV_HOP_SAMPLES {s['hop_samples']}L",
            f"#define ECL_EV_HOP {hop!r} /* seconds */",
            f"#define ECL_EV_N_SMOOTH {s['n_smooth']} /* windows: {s['smoothing']!r} s */",
            f"#define ECL_EV_THRESHOLD {s['threshold']!r}",
            f"#define ECL_EV_THRESHOLD_OFF {s['threshold_off']!r}",
            f"#define ECL_EV_MIN_DURATION {s['min_duration']!r} /* seconds */",
            f"#define ECL_EV_SUPPRESSION {s['suppression']!r} /* seconds */",
            "",
            "/* 1: a background class, never reported */",
            f"static const unsigned char ecl_ev_background[ECL_N_CLASSES] = {{{flags}}};",
            "",
            "#endif",
            "",
        ]
    )
    return header, s
