"""Train the deep path, KerasCNN, with waveform augmentation, mixup and SpecAugment masks.

``KerasCNN`` cuts each clip into log-mel analysis windows, trains a small Keras CNN on the
windows labelled with their clip's label, and predicts a clip from its windows' probabilities.
``Augmenter`` adds augmented copies of every training clip once (time shift, stretch, pitch
shift, noise) and mixes up and masks the windows anew in every batch; it never touches the
clips being predicted. The model is saved as a ``.skops`` file.

    python examples/kerascnn_augmentation.py my_sounds/ --epochs 40
    python examples/kerascnn_augmentation.py --quick     # synthetic clips, a tiny network

Needs the ``cnn`` extra (``pip install 'embedclf[cnn]'``).
"""

import argparse
import json
from pathlib import Path

import numpy as np
from _data import held_out_split  # beside this script

from embedclf import KerasCNN
from embedclf.modelfile import load_model, save_model
from embedclf.models import Augmenter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="small synthetic data, tiny network")
    parser.add_argument("--out", default="build/examples/kerascnn_augmentation")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.folder is None and not args.quick:
        parser.error("give a folder, or --quick")
    X_train, X_test, y_train, y_test = held_out_split(args.folder, quick=args.quick)
    augment = Augmenter(copies=1, mixup=0.2, freq_mask=0.15, time_mask=0.15)
    if args.quick:  # a tiny network on short windows of the 16 kHz synthetic clips
        cnn = KerasCNN(
            architecture="strided_ds",
            width=2.0,
            sr=16000,
            window=0.5,
            hop=0.25,
            epochs=20,
            learning_rate=1e-2,
            early_stopping=False,
            augment=augment,
            random_state=0,
        )
    else:
        cnn = KerasCNN(architecture="sbcnn", epochs=args.epochs, augment=augment, random_state=0)

    cnn.fit(X_train, y_train)
    save_model(cnn, out / "cnn.skops")
    loaded = load_model(out / "cnn.skops")
    accuracy = float(np.mean(loaded.predict(X_test) == y_test))
    proba, _ = loaded.predict_windows(X_test[:1])
    window_labels = loaded.classes_[proba.argmax(axis=1)].tolist()
    summary = {
        "n_train": len(X_train),
        "n_test": len(X_test),
        "epochs_run": int(cnn.n_epochs_),
        "held_out_accuracy": accuracy,
        "classes": cnn.classes_.tolist(),
        "first_clip_window_labels": window_labels,
        "model": str(out / "cnn.skops"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(
        f"trained {summary['epochs_run']} epochs on {len(X_train)} clips "
        f"(+ {augment.copies} augmented copy each)"
    )
    print(f"held-out accuracy: {accuracy:.3f} on {len(X_test)} clips")
    print(f"first held-out clip ({y_test[0]}), top class per window: {window_labels}")
    print(f"model: {summary['model']}")


if __name__ == "__main__":
    main()
