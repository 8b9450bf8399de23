"""The studio in a real browser: headless Chromium driven by Selenium, a fake microphone.

Needs Debian's ``chromium`` and ``chromium-driver`` (``tools/system-deps.sh``
installs them as root) and the ``selenium`` and ``studio`` extras; skips and
says which is missing otherwise. The microphone is Chromium's fake device
playing a WAV file. One flow, in the order a user goes: classes, uploads, a
recorded take, training (the accuracy shown must be the library's own
cross-validation), live preview, a dropped file, exports.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("starlette", reason="the studio extra (starlette, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the studio extra (uvicorn) is not installed")
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium (test extra) is not installed"
)

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from embedclf.audio import load_audio  # noqa: E402
from embedclf.datasets import load_folder, write_sound_events  # noqa: E402
from embedclf.evaluation import cross_validate_folds  # noqa: E402
from embedclf.modelfile import load_model  # noqa: E402
from embedclf.pipelines import make_pipeline  # noqa: E402
from embedclf.predict import predict_table  # noqa: E402
from embedclf.studio.app import create_app, serve_in_thread  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="headless Chromium tests need Debian's chromium and chromium-driver "
    "(sh tools/system-deps.sh as root installs them)",
)
SR = 16000
TOKEN = "browser-test"


@pytest.fixture
def server(tmp_path):
    url, stop = serve_in_thread(create_app(tmp_path / "proj", token=TOKEN))
    yield url, tmp_path / "proj"
    stop()


@pytest.fixture
def clips(tmp_path):
    df = write_sound_events(
        tmp_path / "in",
        n_per_class=4,
        classes=("beep", "knock"),
        sr=SR,
        duration=1.0,
        snr_db=(0, 10),
    )
    files = df.groupby("label")["path"].apply(list).to_dict()
    mic = tmp_path / "mic.wav"  # the fake microphone loops this: a beep every second
    beep = load_audio(files["beep"][0])[0]
    sf.write(mic, np.tile(beep, 3), SR, subtype="PCM_16")
    return files, mic


@pytest.fixture
def browser(clips):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={clips[1]}",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,2000",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(DRIVER))
    yield driver
    driver.quit()


def card(driver, label):
    return driver.find_element(By.CSS_SELECTOR, f'.class-card[data-class="{label}"]')


def n_clips(driver, label):
    # one query: the page re-renders a class card whenever its clip list changes, so a
    # card element found first may be gone by the time its children are asked for
    return len(driver.find_elements(By.CSS_SELECTOR, f'.class-card[data-class="{label}"] .clip'))


def in_card(wait, label, selector, action):
    """Find ``selector`` in ``label``'s card and act on it, again if the card re-rendered."""

    def attempt(driver):
        action(card(driver, label).find_element(By.CSS_SELECTOR, selector))
        return True

    wait.until(attempt)


def test_record_upload_train_preview_export_in_chromium(server, browser, clips):
    url, root = server
    files, _ = clips
    # a re-rendered element is retried, never a reason to fail
    wait = WebDriverWait(browser, 60, ignored_exceptions=(StaleElementReferenceException,))
    browser.get(url)
    wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
    for label in ("beep", "knock"):
        browser.find_element(By.ID, "new-class").send_keys(label)
        browser.find_element(By.ID, "add-class").click()
        wait.until(
            lambda d, label=label: d.find_elements(
                By.CSS_SELECTOR, f'.class-card[data-class="{label}"]'
            )
        )
        paths = "\n".join(files[label])
        in_card(wait, label, ".upload-input", lambda e, paths=paths: e.send_keys(paths))
        wait.until(lambda d, label=label: n_clips(d, label) == 4)

    # a recorded take from the fake microphone
    in_card(wait, "beep", ".record-btn", lambda e: e.click())
    wait.until(lambda d: n_clips(d, "beep") == 5)
    take = load_audio(root / "beep" / "take.wav")
    assert abs(len(take[0]) / take[1] - 1.0) < 0.01 and np.abs(take[0]).max() > 0.01

    # training: the accuracy shown is the library's cross-validation of these clips
    browser.find_element(By.CSS_SELECTOR, "#pipeline option[value='logmel-linear']").click()
    browser.find_element(By.ID, "train-btn").click()
    wait.until(lambda d: d.find_element(By.ID, "status").text == "trained")
    df = load_folder(root)
    n_splits = min(5, df["label"].value_counts().min())  # 4 knocks: the studio makes 4 folds
    ref = cross_validate_folds(
        make_pipeline("logmel-linear"),
        df["path"].tolist(),
        df["label"],
        n_splits=n_splits,
        progress=False,
    )
    # read in one script: the results panel is redrawn with the page
    value, text, cells = browser.execute_script(
        "const a = document.getElementById('accuracy');"
        "return [a.dataset.value, a.textContent,"
        " [...document.querySelectorAll('#confusion td')].map(c => c.textContent)];"
    )
    assert float(value) == pytest.approx(ref.accuracy_mean, abs=1e-12)
    assert text == f"{100 * ref.accuracy_mean:.1f}%"
    assert [int(c) for c in cells] == ref.confusion.to_numpy().ravel().tolist()

    # live preview on the fake microphone: per-class bars that are probabilities
    browser.find_element(By.ID, "live-btn").click()
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#bars .bar")) == 2)
    browser.find_element(By.ID, "live-btn").click()
    wait.until(lambda d: d.find_element(By.ID, "status").text == "live preview stopped")
    values = browser.execute_script(
        "return [...document.querySelectorAll('#bars .bar')].map(b => Number(b.dataset.value));"
    )
    assert sum(values) == pytest.approx(1.0, abs=1e-6)

    # a file dropped in is predicted as predict_table predicts it
    model = load_model(root / ".studio" / "model.skops")
    dropped = files["knock"][0]
    browser.find_element(By.ID, "predict-file").send_keys(dropped)
    wait.until(lambda d: d.find_element(By.ID, "prediction").text)
    label = predict_table(model, [dropped])["label"][0]
    assert browser.find_element(By.ID, "prediction").text == f"{Path(dropped).name}: {label}"

    # exports: the links download the saved model and the predictions
    for link, path in (("export-model", "model.skops"), ("export-predictions", "predictions.csv")):
        size = browser.execute_async_script(
            "const done = arguments[1];"
            "fetch(document.getElementById(arguments[0]).href)"
            ".then(r => r.arrayBuffer()).then(b => done(b.byteLength));",
            link,
        )
        assert size == (root / ".studio" / path).stat().st_size
