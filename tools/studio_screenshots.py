"""Screenshots of each step of ``embedclf studio`` for the user guide (docs/guide/studio/).

Runs the studio on a fresh project of synthetic clips in headless Chromium
(Selenium, a fake microphone playing a WAV file) and saves one PNG per step:
classes and clips, a recorded take, training results, live preview, export.
Needs the ``studio`` and ``test`` extras and Debian's ``chromium`` and
``chromium-driver``::

    python tools/studio_screenshots.py [--out docs/guide/studio]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from embedclf.audio import load_audio
from embedclf.datasets import write_sound_events
from embedclf.studio.app import create_app, serve_in_thread

SR = 16000
TOKEN = "screenshots"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/guide/studio", help="folder for the PNG files")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="studio-shots-"))
    classes = ("beep", "knock", "hum")
    df = write_sound_events(work / "in", n_per_class=6, classes=classes, sr=SR, duration=1.0)
    files = df.groupby("label")["path"].apply(list).to_dict()
    mic = work / "mic.wav"  # the fake microphone: a knock, a second of quiet, a beep, ...
    quiet = 0.005 * np.random.default_rng(0).standard_normal(SR)
    knock, beep = (load_audio(files[c][0])[0] for c in ("knock", "beep"))
    sf.write(mic, np.concatenate([knock, quiet, beep, quiet]), SR, subtype="PCM_16")

    noise = work / "room.wav"
    sf.write(noise, 0.01 * np.random.default_rng(1).standard_normal(8 * SR), SR)
    url, stop = serve_in_thread(create_app(work / "my-sounds", token=TOKEN))
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={mic}",
        "--window-size=1200,1400",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(shutil.which("chromedriver"))
    )
    wait = WebDriverWait(driver, 120)

    def shot(name, element_id):
        element = driver.find_element(By.ID, element_id)
        driver.execute_script("arguments[0].scrollIntoView()", element)
        time.sleep(0.4)
        element.screenshot(str(out / f"{name}.png"))
        print("wrote", out / f"{name}.png")

    try:
        driver.get(url)
        wait.until(lambda d: d.find_element(By.ID, "status").text == "ready")
        for label in classes:
            driver.find_element(By.ID, "new-class").send_keys(label)
            driver.find_element(By.ID, "add-class").click()
            sel = f'.class-card[data-class="{label}"]'
            wait.until(lambda d, sel=sel: d.find_elements(By.CSS_SELECTOR, sel))
            upload = driver.find_element(By.CSS_SELECTOR, f"{sel} .upload-input")
            upload.send_keys("\n".join(files[label][:-1]))
            n = len(files[label]) - 1
            wait.until(
                lambda d, sel=sel, n=n: len(d.find_elements(By.CSS_SELECTOR, f"{sel} .clip")) == n
            )
        driver.find_element(By.ID, "add-background").click()  # one long take, cut into clips
        bg = '.class-card[data-class="_background_"]'
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, bg))
        driver.find_element(By.CSS_SELECTOR, f"{bg} .upload-input").send_keys(str(noise))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, f"{bg} .clip"))
        shot("1-classes", "step-classes")
        driver.find_element(By.CSS_SELECTOR, '.class-card[data-class="knock"] .record-btn').click()
        wait.until(
            lambda d: (
                len(d.find_elements(By.CSS_SELECTOR, '.class-card[data-class="knock"] .clip')) == 6
            )
        )
        shot("2-recorded", "step-classes")
        driver.find_element(By.CSS_SELECTOR, "#pipeline option[value='logmel-linear']").click()
        driver.find_element(By.ID, "train-btn").click()
        wait.until(lambda d: d.find_element(By.ID, "status").text == "trained")
        shot("3-trained", "step-train")
        driver.find_element(By.ID, "live-btn").click()
        try:
            WebDriverWait(driver, 30).until(
                lambda d: d.find_elements(By.CSS_SELECTOR, "#events li")
            )
        except TimeoutException:
            print("no event in 30 s of live preview; the screenshot shows the bars only")
        driver.find_element(By.ID, "predict-file").send_keys(files["hum"][-1])
        wait.until(lambda d: d.find_element(By.ID, "prediction").text)
        shot("4-preview", "step-preview")
        driver.find_element(By.ID, "live-btn").click()
        for field, value in (
            ("max-flash", "64"),
            ("max-ram", "48"),
            ("epochs", "20"),
            ("width", "1"),
        ):
            driver.find_element(By.ID, field).send_keys(value)
        driver.find_element(By.ID, "distill-btn").click()
        WebDriverWait(driver, 900).until(
            lambda d: (
                d.find_element(By.ID, "distill-download").is_displayed()
                or d.find_element(By.ID, "distill-status").text.startswith(
                    ("failed", "the student")
                )
            )
        )
        shot("5-export", "step-export")
    finally:
        driver.quit()
        stop()


if __name__ == "__main__":
    main()
