"""The UI as a user meets it: a real `dagster dev` (webserver + daemon) on 127.0.0.1 over a tiny
world, driven by Debian's headless Chromium through selenium.

The daemon's automation materializes the graph on its own; the test opens the asset graph,
clicks Materialize on an asset and waits for that run's success, drops a checkpoint folder
into the watched folder and waits for automation to register, score and fit it, refresh
`cbqa_forecast` and judge the kept forecast against it (`forecast_backtest`), checks that a plot
renders inline on an asset page, then opens `cbqa_forecast` and reads the lineage in its
metadata.
Screenshots go to the folder printed at the start (`SMI_SCREENSHOT_DIR`, default a temp dir).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from smi_assets.orchestration.resources import REPO_ROOT

selenium = pytest.importorskip("selenium", reason="selenium is not installed (.ci/run installs it)")
from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and CHROMEDRIVER) and not os.environ.get("CI"):
    pytest.skip("Debian's chromium and chromium-driver are not installed (.ci/run installs them)", allow_module_level=True)

TINY_LADDER = {
    name: {"model": {"n_layer": layers, "n_embd": width, "n_head": 2, "block_size": 32}, "max_steps": 10, "batch_size": 8,
           "grad_accum_steps": 1, "warmup_steps": 2, "checkpoint_every": 5, "log_every": 5}
    for name, layers, width in (("ui-a", 1, 16), ("ui-b", 2, 32))
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, predicate: Callable[[], object], timeout: float, every: float = 2.0, explain: Callable[[], str] = str):
    """`predicate()` once it is truthy; on timeout an error saying what was awaited, and `explain()`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{explain()}")


def _runs_so_far(instance: dg.DagsterInstance) -> str:
    """The instance's runs, oldest first, with their assets and partition: why a wait timed out."""
    lines = []
    for run in reversed(instance.get_runs(limit=200)):
        assets = ", ".join(sorted(key.to_user_string() for key in run.asset_selection or []))
        lines.append(f"  {run.status.value:<9} {run.tags.get('dagster/partition', '-'):<14} {assets}")
    return "runs so far:\n" + "\n".join(lines)


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory):
    root = tmp_path_factory.mktemp("ui")
    home, data = root / "home", root / "data"
    home.mkdir()
    shutil.copyfile(REPO_ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    (root / "ladder.json").write_text(json.dumps(TINY_LADDER))
    port = _free_port()
    env = {
        **os.environ, "DAGSTER_HOME": str(home), "SMI_DATA_DIR": str(data), "SMI_LADDER_FILE": str(root / "ladder.json"),
        "SMI_WORLD_PEOPLE": "24", "SMI_WORLD_SHARDS": "2", "SMI_MAX_TEMPLATES_PER_RELATION": "2", "SMI_PLANNED_RUNS": "50000,150000",
        "SMI_REFERENCE_DIR": str(root / "no-reference"), "SMI_AUTOMATION_INTERVAL_SECONDS": "5", "SMI_INPUTS_INTERVAL_SECONDS": "5",
    }  # fmt: skip
    # Create the instance's storage before dagster dev's processes start: several processes
    # creating a fresh SQLite storage at once race on its migrations.
    os.environ["DAGSTER_HOME"] = str(home)
    instance = dg.DagsterInstance.get()
    instance.get_runs(limit=1)
    instance.get_dynamic_partitions("corpus_shards")
    instance.all_instigator_state()
    log = open(root / "dagster_dev.log", "w")
    process = subprocess.Popen(
        ["dagster", "dev", "-h", "127.0.0.1", "-p", str(port), "-w", "workspace.yaml"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for("the webserver", lambda: _answers(url), timeout=300)
        yield {"url": url, "instance": instance, "data": data, "log": root / "dagster_dev.log"}
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
        instance.dispose()


def _answers(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def browser():
    shots = Path(os.environ.get("SMI_SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="smi-ui-"))
    shots.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {shots}")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(10)
    driver.shots = shots
    yield driver
    driver.save_screenshot(str(shots / "99_last_page.png"))  # where a failing test stopped
    driver.quit()


def _latest_materialization(instance: dg.DagsterInstance, asset: str, partition: str | None = None):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition] if partition else None), limit=1
    ).records
    return records[0] if records else None


def _dismiss_welcome(driver) -> None:
    """A fresh instance greets the first visit with a community dialog; skip it like a user would."""
    time.sleep(3)
    for button in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        button.click()


def _find_on_page(driver, page: str, xpath: str, what: str, timeout: float = 120):
    """Elements matching `xpath` on `page`, reloading it every 10 s: a page opened just as a
    materialization lands can keep showing the state before it."""
    deadline = time.monotonic() + timeout
    while True:
        driver.get(page)
        try:
            return wait_for(what, lambda: driver.find_elements(By.XPATH, xpath), timeout=min(10, max(1, deadline - time.monotonic())))
        except AssertionError:
            if time.monotonic() >= deadline:
                raise


def _click_text(driver, text: str) -> None:
    """Click the enabled button labelled `text`, retrying while React re-renders it."""

    def clicked() -> bool:
        try:
            buttons = driver.find_elements(By.XPATH, f"//button[.//*[normalize-space()='{text}'] or normalize-space()='{text}']")
            enabled = [button for button in buttons if button.is_enabled()]
            if enabled:
                enabled[0].click()
                return True
        except StaleElementReferenceException:
            pass
        return False

    wait_for(f"a clickable {text!r}", clicked, timeout=60, every=1)


def test_ui_materializes_automates_a_dropped_checkpoint_and_shows_forecast_lineage(dagster_dev, browser):
    url, instance, data = dagster_dev["url"], dagster_dev["instance"], dagster_dev["data"]
    runs = functools.partial(_runs_so_far, instance)
    # The daemon's automation builds the whole graph on its own, up to the forecast.
    wait_for("automation to materialize cbqa_forecast", lambda: _latest_materialization(instance, "cbqa_forecast"), timeout=600, every=5, explain=runs)

    # The asset graph around cbqa_questions (the global one starts with its groups collapsed).
    browser.get(f"{url}/assets/cbqa_questions?view=lineage")
    _dismiss_welcome(browser)
    wait_for("the asset graph", lambda: "knowledge_triples" in browser.page_source and "cbqa_scores" in browser.page_source, timeout=120)
    browser.save_screenshot(str(browser.shots / "01_asset_graph.png"))

    before = _latest_materialization(instance, "knowledge_triples").storage_id
    browser.get(f"{url}/assets/knowledge_triples")
    _click_text(browser, "Materialize")
    wait_for(
        "a new knowledge_triples materialization", lambda: _latest_materialization(instance, "knowledge_triples").storage_id > before, timeout=240, explain=runs
    )
    run = instance.get_run_by_id(_latest_materialization(instance, "knowledge_triples").run_id)
    wait_for("the run's success", lambda: instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS, timeout=120, explain=runs)
    browser.save_screenshot(str(browser.shots / "02_materialized.png"))

    forecast_before = _latest_materialization(instance, "cbqa_forecast").storage_id
    _drop_checkpoint(data / "incoming_checkpoints" / "dropped-model")
    wait_for(
        "automation to train, score and fit the dropped checkpoint",
        lambda: _latest_materialization(instance, "smi_fit", "dropped-model"), timeout=420, every=5, explain=runs,
    )  # fmt: skip
    # The forecast depends on the scores, not the fits: it refreshes once the scores are in.
    rescored = _latest_materialization(instance, "cbqa_scores", "dropped-model")
    refreshed = wait_for(
        "a refreshed cbqa_forecast",
        lambda: (record := _latest_materialization(instance, "cbqa_forecast")) and record.storage_id > max(forecast_before, rescored.storage_id) and record,
        timeout=300, every=5, explain=runs,
    )  # fmt: skip
    lineage = refreshed.asset_materialization.metadata["lineage"].value
    assert set(lineage["checkpoints"]) == set(TINY_LADDER), "the forecast's proxies are the ladder's checkpoints"
    judged = wait_for(
        "forecast_backtest to judge the kept forecast of its size against the dropped checkpoint",
        lambda: (record := _latest_materialization(instance, "forecast_backtest")) and "dropped-model" in record.asset_materialization.metadata["results"].value,
        timeout=300, every=5, explain=runs,
    )  # fmt: skip
    assert judged

    preview = _find_on_page(browser, f"{url}/assets/smi_fit_across_checkpoints", "//tr[td[normalize-space()='plot_preview']]//img", "the inline plot")
    assert preview[0].size["width"] > 100, "the plot renders on the asset page, not only behind a dialog"
    browser.save_screenshot(str(browser.shots / "03_inline_plot.png"))

    row = _find_on_page(browser, f"{url}/assets/cbqa_forecast", "//tr[td[normalize-space()='lineage']]", "the lineage row of the asset's metadata")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", row)
    browser.save_screenshot(str(browser.shots / "04_forecast_lineage.png"))
    shown = row.text
    if "Show JSON" in shown:  # the UI inlines short JSON and puts long JSON behind a dialog
        row.find_element(By.XPATH, ".//*[contains(normalize-space(), 'Show JSON')]").click()
        shown = wait_for(
            "the lineage dialog", lambda: [d.text for d in browser.find_elements(By.CSS_SELECTOR, "[role=dialog]") if "corpus" in d.text], timeout=30
        )[0]
        browser.save_screenshot(str(browser.shots / "05_lineage_dialog.png"))
    assert "knowledge_frequency" in shown and all(name in shown for name in TINY_LADDER), shown


def _drop_checkpoint(folder: Path) -> None:
    """A tiny HF checkpoint, as a user would copy one into the watched folder."""
    from training.config import ModelConfig
    from training.model import build_model
    from training.tokenizer import train_tokenizer

    staging = folder.with_name(f".{folder.name}.staging")
    tokenizer = train_tokenizer(["alice was born in paris ."] * 4, kind="word", vocab_size=200)
    # Larger than the ladder's checkpoints and of a planned run's size (151,552 params; SMI_PLANNED_RUNS has
    # 150000): it judges that run's forecast, which the ladder's checkpoints made.
    build_model(ModelConfig(n_layer=3, n_embd=64, n_head=2, block_size=32, vocab_size=len(tokenizer))).save_pretrained(staging)
    tokenizer.save_pretrained(staging)
    staging.rename(folder)  # appear whole: the sensor never sees half a folder
