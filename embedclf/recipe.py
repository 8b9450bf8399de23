"""The distillation recipe: the one place its defaults live.

:data:`RECIPE` is what :class:`~embedclf.distill.Distiller` takes its
training defaults from, what the ``embedclf distill`` command offers as its
defaults and what ``benchmarks/distill_tradeoff.py`` measures by default.
This module is plain data (no NumPy, scikit-learn or TensorFlow), so the
command line can show the defaults without importing the library; use it as
:data:`embedclf.distill.RECIPE`.

Examples
--------
>>> from embedclf.distill import RECIPE
>>> RECIPE.width, RECIPE.epochs, RECIPE.temperature, RECIPE.clip_pooling
(2.0, 120, 4.0, 'logmean')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

__all__ = ["DistillRecipe", "RECIPE", "TEST_FRACTION", "parse_teacher_context"]

#: Share of the clips :func:`embedclf.distill.distill_and_export` holds out when no fold is given.
TEST_FRACTION = 0.2


@dataclass(frozen=True)
class DistillRecipe:
    """A distillation recipe: the student, its windows, its teaching and its training.

    Frozen; derive another with :meth:`replace`. The default values are the
    recipe measured on ESC-10 with a BirdNET teacher (a ``strided_ds`` x2
    student: 30 KB flash, 25 KB arena, 89.9% int8 over 5 folds and seven
    seeds, 95.6% of its teacher's accuracy; README).

    Parameters
    ----------
    student : str, default="strided_ds"
        The student architecture (:class:`~embedclf.distill.Distiller`'s ``student``).
    width : float, default=2.0
        Filter-count multiplier.
    window, hop : float, default=1.0, 0.5
        The student's analysis window and how often the device runs it (seconds).
    fit_hop : float or None, default=None
        Hop between the training windows the teacher labels; ``None``: ``hop``.
    teacher_context : "auto", float, "clip" or None, default="auto"
        What the teacher hears per student window.
    temperature : float, default=4.0
    alpha : float, default=0.5
    epochs : int, default=120
    lr_schedule : {"cosine", "constant"}, default="cosine"
    weight_decay : float, default=0.0
    early_stopping : bool, default=False
    augment_copies : int, default=2
        Augmented copies per training clip, labelled by the teacher.
    mix_copies : int, default=0
        Unlabelled mixtures of two training clips per clip.
    mixup, freq_mask, time_mask : float, default=0.3, 0.15, 0.15
        Window mixup and SpecAugment masks of the training windows.
    clip_pooling : {"logmean", "mean", "vote"}, default="logmean"
        How the device pools a clip's window probabilities.

    Examples
    --------
    >>> from embedclf.distill import RECIPE
    >>> small = RECIPE.replace(width=1.0, augment_copies=0)
    >>> small.width, small.augment_copies, RECIPE.width
    (1.0, 0, 2.0)
    >>> sorted(small.distiller_params())[:3]
    ['alpha', 'augment', 'clip_pooling']
    """

    student: str = "strided_ds"
    width: float = 2.0
    window: float = 1.0
    hop: float = 0.5
    fit_hop: float | None = None
    teacher_context: object = "auto"
    temperature: float = 4.0
    alpha: float = 0.5
    epochs: int = 120
    lr_schedule: str = "cosine"
    weight_decay: float = 0.0
    early_stopping: bool = False
    augment_copies: int = 2
    mix_copies: int = 0
    mixup: float = 0.3
    freq_mask: float = 0.15
    time_mask: float = 0.15
    clip_pooling: str = "logmean"

    def replace(self, **changes):
        """A copy with ``changes`` (field names as in the parameters).

        Examples
        --------
        >>> from embedclf.distill import RECIPE
        >>> RECIPE.replace(epochs=10).epochs
        10
        """
        return replace(self, **changes)

    def as_dict(self):
        """The recipe's fields as a plain dict.

        Examples
        --------
        >>> from embedclf.distill import RECIPE
        >>> RECIPE.as_dict()["hop"]
        0.5
        """
        return asdict(self)

    def augmenter(self):
        """The :class:`~embedclf.models.Augmenter` of the recipe, or None when it adds nothing.

        Examples
        --------
        >>> from embedclf.distill import RECIPE
        >>> RECIPE.augmenter().get_params()["mixup"]
        0.3
        >>> RECIPE.replace(augment_copies=0, mixup=0, freq_mask=0, time_mask=0).augmenter() is None
        True
        """
        if not (self.augment_copies or self.mixup or self.freq_mask or self.time_mask):
            return None
        from .models.augment import Augmenter

        return Augmenter(
            copies=self.augment_copies,
            mixup=self.mixup,
            freq_mask=self.freq_mask,
            time_mask=self.time_mask,
        )

    def distiller_params(self):
        """The recipe as :class:`~embedclf.distill.Distiller` parameters (the teacher aside).

        Examples
        --------
        >>> from embedclf.distill import RECIPE
        >>> params = RECIPE.distiller_params()
        >>> params["width"], params["augment"].copies
        (2.0, 2)
        """
        params = {
            name: getattr(self, name)
            for name in (
                "student",
                "width",
                "window",
                "hop",
                "fit_hop",
                "teacher_context",
                "temperature",
                "alpha",
                "epochs",
                "lr_schedule",
                "weight_decay",
                "early_stopping",
                "mix_copies",
                "clip_pooling",
            )
        }
        params["augment"] = self.augmenter()
        return params

    def distiller(self, teacher, **params):
        """A :class:`~embedclf.distill.Distiller` of ``teacher`` with this recipe.

        Parameters
        ----------
        teacher : estimator
        **params
            Further Distiller parameters (``random_state``, ``verbose``,
            ``frontend``...), or recipe ones to override.

        Returns
        -------
        Distiller

        Examples
        --------
        >>> from embedclf.distill import RECIPE
        >>> d = RECIPE.distiller(None, random_state=0)
        >>> d.width, d.epochs, d.augment.copies, d.random_state
        (2.0, 120, 2, 0)
        """
        from .distill.distiller import Distiller

        return Distiller(teacher, **{**self.distiller_params(), **params})


#: The measured distillation recipe (see :class:`DistillRecipe`).
RECIPE = DistillRecipe()


def parse_teacher_context(text):
    """A ``teacher_context`` from its text form (command lines, benchmark options).

    ``"auto"`` and ``"clip"`` stay as they are, ``"window"`` is ``None``, anything
    else must be a number of seconds above zero.

    Raises
    ------
    ValueError
        Naming the accepted forms.

    Examples
    --------
    >>> from embedclf.recipe import parse_teacher_context
    >>> parse_teacher_context("3"), parse_teacher_context("window"), parse_teacher_context("clip")
    (3.0, None, 'clip')
    """
    if text in ("auto", "clip"):
        return text
    if text == "window":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"expected seconds > 0, 'auto', 'window' or 'clip', got {text!r}")
    return seconds
