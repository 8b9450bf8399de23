"""Distil a fitted teacher into a tiny int8 CNN and export it for a microcontroller.

Examples
--------
>>> from embedclf.distill import Distiller, export, mcu_frontend
>>> mcu_frontend().n_mels
40
"""

from .distiller import Distiller, mcu_frontend
from .export import BudgetError, UnsupportedOpError, export

__all__ = ["Distiller", "export", "mcu_frontend", "BudgetError", "UnsupportedOpError"]
