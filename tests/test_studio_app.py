"""The studio's HTTP API through Starlette's TestClient (no browser, no sockets)."""

import io
import json
import time
import zipfile

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette", reason="the studio extra (starlette) is not installed")
pytest.importorskip("httpx2", reason="Starlette's TestClient needs httpx2")

from starlette.testclient import TestClient  # noqa: E402

from embedclf.audio import load_audio  # noqa: E402
from embedclf.datasets import load_folder, make_sound_events  # noqa: E402
from embedclf.evaluation import cross_validate_folds  # noqa: E402
from embedclf.modelfile import load_model  # noqa: E402
from embedclf.pipelines import make_pipeline  # noqa: E402
from embedclf.predict import predict_table  # noqa: E402
from embedclf.studio import create_app  # noqa: E402

SR = 16000
TOKEN = "test-token"
H = {"X-Studio-Token": TOKEN}


def wav_bytes(y, sr=SR, fmt="WAV"):
    buf = io.BytesIO()
    sf.write(buf, y, sr, format=fmt)
    return buf.getvalue()


@pytest.fixture
def client(tmp_path):
    return TestClient(create_app(tmp_path / "proj", token=TOKEN))


def add(client, label, data, name="x.wav", cut=False):
    r = client.post(
        "/api/clips",
        params={"label": label, "name": name, "cut": "1" if cut else "0"},
        content=data,
        headers=H,
    )
    assert r.status_code == 200, r.text
    return r.json()["ids"]


def wait(client, job, timeout=300):
    end = time.monotonic() + timeout
    while job["state"] == "running" and time.monotonic() < end:
        time.sleep(0.05)
        job = client.get(f"/api/jobs/{job['id']}", headers=H).json()
    assert job["state"] == "done", job
    return job


@pytest.fixture(scope="module")
def trained_project(tmp_path_factory):
    """One trained project shared by the tests that only read it (training takes seconds)."""
    tmp_path = tmp_path_factory.mktemp("trained")
    client = TestClient(create_app(tmp_path / "proj", token=TOKEN))
    X, y, _ = make_sound_events(
        n_per_class=5, classes=("beep", "knock"), sr=SR, duration=1.0, snr_db=(-10, 5)
    )
    for clip, label in zip(X, y):
        client.post("/api/classes", json={"name": label}, headers=H)
        add(client, label, wav_bytes(clip))
    job = client.post("/api/train", json={"pipeline": "logmel-linear"}, headers=H).json()
    return client, wait(client, job)["result"], tmp_path


def test_every_api_route_and_the_page_need_the_token(client):
    for method, url in [
        ("get", "/api/project"),
        ("post", "/api/classes"),
        ("get", "/api/clip?id=a/b.wav"),
        ("post", "/api/train"),
        ("get", "/api/export/model"),
        ("post", "/api/live"),
    ]:
        assert getattr(client, method)(url).status_code == 403
        assert getattr(client, method)(url, headers={"X-Studio-Token": "wrong"}).status_code == 403
    assert client.get("/").status_code == 403
    page = client.get("/", params={"token": TOKEN})
    assert page.status_code == 200 and "/static/studio.js" in page.text
    for asset in ("studio.js", "wav.js", "studio.css"):
        assert client.get(f"/static/{asset}").status_code == 200


def test_clips_upload_play_spectrogram_relabel_delete(client, tmp_path):
    y = make_sound_events(n_per_class=1, classes=("beep",), sr=SR, duration=1.0)[0][0]
    for name in ("dog", "cat"):
        assert client.post("/api/classes", json={"name": name}, headers=H).status_code == 200
    [cid] = add(client, "dog", wav_bytes(y, fmt="FLAC"), name="bark.flac")
    assert cid == "dog/bark.wav"
    played = client.get("/api/clip", params={"id": cid, "token": TOKEN})
    assert played.status_code == 200
    assert played.content == (tmp_path / "proj" / "dog" / "bark.wav").read_bytes()
    png = client.get("/api/spectrogram", params={"id": cid}, headers=H)
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    moved = client.post("/api/clip/relabel", json={"id": cid, "label": "cat"}, headers=H).json()
    assert moved["id"] == "cat/bark.wav"
    classes = {c["name"]: c["clips"] for c in moved["project"]["classes"]}
    assert classes == {"dog": [], "cat": ["cat/bark.wav"]}
    assert client.delete("/api/clip", params={"id": "cat/bark.wav"}, headers=H).status_code == 200
    assert not (tmp_path / "proj" / "cat" / "bark.wav").exists()


def test_no_request_reaches_outside_the_project(client, tmp_path):
    (tmp_path / "secret.wav").write_bytes(wav_bytes(np.zeros(SR)))
    client.post("/api/classes", json={"name": "dog"}, headers=H)
    for bad in ["../secret.wav", "dog/../../secret.wav", str(tmp_path / "secret.wav")]:
        for method in ("get", "delete"):
            r = getattr(client, method)("/api/clip", params={"id": bad}, headers=H)
            assert r.status_code == 400 and "error" in r.json()
    assert (tmp_path / "secret.wav").exists()
    r = client.post("/api/classes", json={"name": "../../evil"}, headers=H).json()
    assert r["name"] == "evil" and (tmp_path / "proj" / "evil").is_dir()
    ids = add(client, "dog", wav_bytes(np.zeros(SR)), name="../../../x.wav")
    assert ids == ["dog/x.wav"]


def test_uploads_over_the_limit_are_refused(client, monkeypatch):
    from embedclf.studio import project

    monkeypatch.setattr(project, "MAX_UPLOAD_BYTES", 1000)
    client.post("/api/classes", json={"name": "dog"}, headers=H)
    r = client.post(
        "/api/clips", params={"label": "dog"}, content=wav_bytes(np.zeros(SR)), headers=H
    )
    assert r.status_code == 400 and "over the limit" in r.json()["error"]


def test_unreadable_upload_is_a_one_line_error(client):
    client.post("/api/classes", json={"name": "dog"}, headers=H)
    r = client.post("/api/clips", params={"label": "dog"}, content=b"nonsense", headers=H)
    assert r.status_code == 400 and "\n" not in r.json()["error"]


def test_shown_accuracy_is_the_librarys_cross_validation(trained_project):
    client, trained, tmp_path = trained_project
    df = load_folder(tmp_path / "proj")
    ref = cross_validate_folds(
        make_pipeline("logmel-linear"), df["path"].tolist(), df["label"], progress=False
    )
    assert trained["accuracy"] == pytest.approx(ref.accuracy_mean, abs=1e-12)
    assert np.array_equal(trained["confusion"], ref.confusion.to_numpy())
    reopened = TestClient(create_app(tmp_path / "proj", token=TOKEN))
    assert reopened.get("/api/project", headers=H).json()["results"] == trained


def test_predict_a_dropped_file(trained_project):
    client, trained, tmp_path = trained_project
    y = make_sound_events(n_per_class=1, classes=("knock",), sr=SR, duration=1.5)[0][0]
    r = client.post(
        "/api/predict", params={"name": "drop.flac"}, content=wav_bytes(y, fmt="FLAC"), headers=H
    ).json()
    path = tmp_path / "drop.flac"
    path.write_bytes(wav_bytes(y, fmt="FLAC"))
    model = load_model(tmp_path / "proj" / ".studio" / "model.skops")
    row = predict_table(model, [str(path)]).iloc[0]
    assert r["label"] == row["label"]
    for c in model.classes_:
        assert r["probabilities"][c] == pytest.approx(row[f"prob_{c}"], abs=1e-6)


def test_live_preview_scores_each_window_as_the_model_does(trained_project):
    client, trained, tmp_path = trained_project
    model = load_model(tmp_path / "proj" / ".studio" / "model.skops")
    X = make_sound_events(n_per_class=2, classes=("beep", "knock"), sr=22050, duration=1.0)[0]
    stream = np.concatenate(X).astype(np.float32)
    sid = client.post("/api/live", json={"sr": 22050}, headers=H).json()["session"]
    windows, rng, i = [], np.random.default_rng(0), 0
    while i < len(stream):  # blocks of any size, as the browser sends them
        n = int(rng.integers(500, 9000))
        r = client.post(f"/api/live/{sid}/push", content=stream[i : i + n].tobytes(), headers=H)
        windows += r.json()["windows"]
        i += n
    windows += client.post(f"/api/live/{sid}/stop", headers=H).json()["windows"]
    hop = 11025
    starts = range(0, len(stream) - 22050 + 1, hop)
    expected = model.predict_proba([stream[s : s + 22050] for s in starts])
    got = np.array([[w["scores"][c] for c in model.classes_] for w in windows[: len(starts)]])
    assert [w["start"] for w in windows[: len(starts)]] == [s / 22050 for s in starts]
    assert np.allclose(got, expected, atol=1e-5)


def test_exports_model_and_predictions(trained_project):
    client, trained, tmp_path = trained_project
    r = client.get("/api/export/model", params={"token": TOKEN})
    path = tmp_path / "dl.skops"
    path.write_bytes(r.content)
    model = load_model(path)
    clip = load_audio(load_folder(tmp_path / "proj")["path"][0], sr=22050)[0]
    assert (
        model.predict([clip]).tolist()
        == load_model(tmp_path / "proj" / ".studio" / "model.skops").predict([clip]).tolist()
    )
    csv = client.get("/api/export/predictions.csv", headers=H).text.splitlines()
    assert csv[0] == "path,label,predicted,fold" and len(csv) == 1 + 10
    wrong = sum(line.split(",")[1] != line.split(",")[2] for line in csv[1:])
    assert wrong == len(trained["errors"])


def test_exports_before_training_say_train_first(client):
    for url in ("/api/export/model", "/api/export/predictions.csv", "/api/export/distill.zip"):
        r = client.get(url, headers=H)
        assert r.status_code == 400
        assert "train first" in r.json()["error"] or "distill first" in r.json()["error"]


@pytest.mark.slow
def test_distill_export_is_a_zip_of_the_device_folder(trained_project):
    client, trained, tmp_path = trained_project
    job = client.post(
        "/api/export/distill", json={"epochs": 1, "width": 0.5, "max_flash_kb": 500}, headers=H
    ).json()
    result = wait(client, job)["result"]
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/export/distill.zip", headers=H).content))
    names = z.namelist()
    assert "export/report.json" in names and any(n.endswith(".tflite") for n in names)
    report = json.loads(z.read("export/report.json"))
    assert report["n_test_clips"] == result["n_test_clips"]


def test_cli_without_the_studio_extra_says_what_to_install(monkeypatch, capsys):
    import sys

    from embedclf.cli import main

    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    assert main(["studio", "unused-folder"]) == 1
    err = capsys.readouterr().err
    assert "pip install 'embedclf[studio]'" in err and "Traceback" not in err


def test_cli_serves_the_project_until_interrupted(tmp_path, monkeypatch, capsys):
    import uvicorn

    from embedclf.cli import main

    served = {}

    def run(app, **kwargs):  # instead of listening: call the app as a browser would
        served.update(kwargs)
        page = TestClient(app).get("/", params={"token": app.state.token})
        served["page"] = page.status_code

    monkeypatch.setattr(uvicorn, "run", run)
    assert main(["studio", str(tmp_path / "p"), "--port", "9999"]) == 0
    assert served["host"] == "127.0.0.1" and served["port"] == 9999 and served["page"] == 200
    assert "http://127.0.0.1:9999/?token=" in capsys.readouterr().err
    assert (tmp_path / "p" / "embedclf-studio.json").is_file()
