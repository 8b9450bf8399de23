"""Class names with a meaning of their own: background audio that is never an event.

Recordings of the background (cut by :func:`embedclf.datasets.cut_background`,
or given to ``embedclf train --background``) are a class like any other
while training, so the model learns what *not* to report; recognizers on the
laptop (:class:`embedclf.stream.Recognizer`) and on the device (the C
library's events) then never report these labels as events.

Examples
--------
>>> from embedclf.labels import BACKGROUND_LABEL, BACKGROUND_LABELS
>>> BACKGROUND_LABEL
'_background_'
>>> "_silence_" in BACKGROUND_LABELS
True
"""

from __future__ import annotations

__all__ = ["BACKGROUND_LABEL", "BACKGROUND_LABELS"]

#: The class background recordings get by default.
BACKGROUND_LABEL = "_background_"
#: Labels never reported as events by default: ours, and Speech Commands' own.
BACKGROUND_LABELS = (BACKGROUND_LABEL, "_background_noise_", "_silence_", "_unknown_")
