"""From a folder of labelled recordings to a saved model that labels new files.

The folder holds one sub-folder per class (``my_sounds/<label>/<clip>.wav``). A quarter of the
clips is held out; the rest trains the named ``logmel-linear`` pipeline, which is saved as a
``.skops`` file (it loads without running code from the file), loaded back and used to label
the held-out files.

    python examples/folder_to_pipeline.py my_sounds/
    python examples/folder_to_pipeline.py --quick        # synthetic clips, a few seconds
"""

import argparse
import json
from pathlib import Path

from sklearn.model_selection import train_test_split

from embedclf.datasets import load_dataset, write_sound_events
from embedclf.modelfile import load_model, save_model
from embedclf.pipelines import make_pipeline
from embedclf.predict import predict_table


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder with one sub-folder per class")
    parser.add_argument("--quick", action="store_true", help="use small synthetic data")
    parser.add_argument("--out", default="build/examples/folder_to_pipeline")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.quick:
        args.folder = out / "clips"
        write_sound_events(args.folder, n_per_class=8, sr=16000, random_state=0)
    elif args.folder is None:
        parser.error("give a folder, or --quick")

    df = load_dataset("folder", args.folder)
    train, test = train_test_split(df, test_size=0.25, stratify=df["label"], random_state=0)
    model = make_pipeline("logmel-linear").fit(train["path"], train["label"])
    save_model(model, out / "model.skops")

    table = predict_table(load_model(out / "model.skops"), test["path"].tolist())
    table.insert(1, "true", test["label"].to_numpy())
    table.to_csv(out / "predictions.csv", index=False)
    accuracy = float((table["label"] == table["true"]).mean())
    summary = {
        "n_train": len(train),
        "n_test": len(test),
        "classes": sorted(df["label"].unique()),
        "held_out_accuracy": accuracy,
        "model": str(out / "model.skops"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"{len(train)} training clips, {len(test)} held out, classes {summary['classes']}")
    print(f"held-out accuracy: {accuracy:.3f}")
    print(f"model: {summary['model']}; predictions: {out / 'predictions.csv'}")


if __name__ == "__main__":
    main()
