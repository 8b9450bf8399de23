"""The deep path (KerasCNN, its named architectures, audio augmentation) and ViewsClassifier.

TensorFlow is imported only when a model is built or loaded.

Examples
--------
>>> from embedclf.models import KerasCNN, Augmenter
>>> KerasCNN(augment=Augmenter(copies=1)).get_params()["augment__copies"]
1
"""

from .augment import Augmenter
from .cnn import KerasCNN
from .views import ViewsClassifier

__all__ = ["KerasCNN", "Augmenter", "ViewsClassifier"]
