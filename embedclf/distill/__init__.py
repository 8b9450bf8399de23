"""Distil a fitted teacher into a tiny int8 CNN and export it for a microcontroller.

:data:`RECIPE` holds the measured distillation recipe; :func:`distill_and_export`
runs the whole flow of ``embedclf distill`` (held-out clips, teacher refit,
distillation, export, report, budget) in one call.

Examples
--------
>>> from embedclf.distill import RECIPE, Distiller, export, mcu_frontend
>>> mcu_frontend().n_mels
40
>>> RECIPE.distiller(None).width
2.0
"""

from ..recipe import RECIPE, DistillRecipe
from .distiller import Distiller, TeacherTargetsWarning, mcu_frontend
from .export import BudgetError, UnsupportedOpError, export
from .flow import TeacherClassesWarning, distill_and_export, held_out_split

__all__ = [
    "Distiller",
    "export",
    "mcu_frontend",
    "BudgetError",
    "UnsupportedOpError",
    "RECIPE",
    "DistillRecipe",
    "distill_and_export",
    "held_out_split",
    "TeacherClassesWarning",
    "TeacherTargetsWarning",
]
