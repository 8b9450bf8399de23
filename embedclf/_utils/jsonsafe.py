"""Values made JSON-safe, for reports and machine-readable output.

Examples
--------
>>> import json
>>> import numpy as np
>>> from embedclf._utils.jsonsafe import json_safe
>>> json.dumps(json_safe({"acc": np.float32(0.5), "folds": (1, 2), "std": float("nan")}))
'{"acc": 0.5, "folds": [1, 2], "std": null}'
"""

from __future__ import annotations

import sys

import numpy as np

__all__ = ["json_safe"]


def json_safe(obj):
    """``obj`` with numpy values made plain and missing values made ``None``, recursively.

    Dicts keep their keys; lists, tuples and arrays become lists; numpy (and
    other ``.item()``-bearing) scalars become Python scalars; NaN, ``pd.NA``
    and ``pd.NaT`` become ``None`` (``json`` would write the invalid token
    ``NaN``). Anything else is returned as it is, for ``json.dumps(...,
    default=str)`` to name.

    Parameters
    ----------
    obj : object

    Returns
    -------
    object

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf._utils.jsonsafe import json_safe
    >>> json_safe({"confusion": np.eye(2, dtype=int), "n": np.int64(3), "x": [np.nan]})
    {'confusion': [[1, 0], [0, 1]], 'n': 3, 'x': [None]}
    """
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, AttributeError):
            pass
    if isinstance(obj, float) and obj != obj:
        return None
    pd = sys.modules.get("pandas")  # without pandas loaded, obj cannot be one of its NAs
    if pd is not None and (obj is pd.NA or obj is pd.NaT):
        return None
    return obj
