"""`import embedclf` stays light: heavy libraries load only when used."""

import subprocess
import sys


def test_import_pulls_in_nothing_heavy():
    code = (
        "import sys, embedclf; heavy = [m for m in ('tensorflow', 'keras', 'sklearn', "
        "'pandas', 'matplotlib', 'scipy') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_public_names_resolve():
    import embedclf

    for name in embedclf.__all__:
        assert getattr(embedclf, name).__name__ == name
