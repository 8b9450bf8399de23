"""The deep path: KerasCNN, its named architectures, and audio augmentation.

TensorFlow is imported only when a model is built or loaded.

Examples
--------
>>> from embedclf.models import KerasCNN, Augmenter
>>> KerasCNN(augment=Augmenter(copies=1)).get_params()["augment__copies"]
1
"""

from .augment import Augmenter
from .cnn import KerasCNN

__all__ = ["KerasCNN", "Augmenter"]
