"""A person's path through notebook 03 in a real browser: run all, click Submit, see 100 % and the result.

JupyterLab runs headless on the working copy and settings `echonote lab serve` prepares; Debian's
Chromium (``/usr/bin/chromium``) is driven by Playwright — browser downloads
do not work here, so Playwright never fetches one. Screenshots go to
``test-artifacts/`` (not committed).
"""
from __future__ import annotations

import secrets
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support.environments import ROOT, free_port, kernel_env

from echonote.lab import serve

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOTEBOOK = "03_submit_diarization_jobs.ipynb"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason="Debian's chromium is missing: run tools/install-system-deps.sh as root"),
]


@pytest.fixture(scope="module")
def jupyter_lab(stack):
    """JupyterLab on a free port, as `echonote lab serve` starts it, with the app's command registry exposed."""
    stack.up(("flower",))  # before any job, so Flower sees every task's events
    # The working copy `echonote lab serve` makes: JupyterLab autosaves outputs into what it serves.
    where, _ = serve.prepare(stack.cfg)
    port, token = free_port(), secrets.token_hex(16)
    log = open(stack.log_dir / "jupyterlab.log", "ab")
    argv = serve.jupyter_argv(where, port, extra=(f"--IdentityProvider.token={token}",
                                                  "--LabApp.expose_app_in_browser=True"))
    proc = subprocess.Popen(argv, env=kernel_env(), stdout=log, stderr=subprocess.STDOUT, cwd=where.notebooks)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"JupyterLab did not start; see {stack.log_dir / 'jupyterlab.log'}") from None
            time.sleep(0.5)
    yield base, token
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture()
def browser():
    """Debian's Chromium; ``launch`` gives it a new, empty temporary profile (user data dir) each time."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


def test_notebook_03_in_chromium_submit_reaches_100_percent_and_flower_lists_the_task(stack, jupyter_lab, browser):
    base, token = jupyter_lab
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(60_000)
    page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", state="attached")
    kernel_idle = ("(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;"
                   " const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;"
                   " return !!k && k.status === 'idle'; })()")
    page.wait_for_function(kernel_idle, timeout=120_000)
    started = "[...document.querySelectorAll('.jp-InputPrompt')].some(p => /\\[(\\*|\\d+)\\]/.test(p.innerText))"
    for _ in range(3):  # a click that lands before the notebook has focus does nothing: try again
        page.locator(".jp-Notebook .jp-Cell").first.click()
        page.click("div.lm-MenuBar-itemLabel:text-is('Run')")  # the menu, as a person would
        page.click("li.lm-Menu-item:has-text('Run All Cells')")
        try:
            page.wait_for_function(started, timeout=15_000)
            break
        except Exception:
            page.keyboard.press("Escape")

    # The unattended cells submit the sample and a group of two: three finished jobs, three result rows.
    results_rows = "document.querySelectorAll('.echonote-results tbody tr').length"
    try:
        page.wait_for_function(f"{results_rows} >= 3", timeout=900_000)
        page.wait_for_function("[...document.querySelectorAll('.jp-OutputArea-output')]"
                               ".some(e => e.innerText.includes('well done'))", timeout=900_000)
    finally:
        page.screenshot(path=str(ARTIFACTS / "browser-03-after-run-all.png"))
    # Later cells (exercises) run first and a click waits behind them: wait until no cell is queued or running
    # (the kernel alone looks idle for a moment between two cells).
    queued = "[...document.querySelectorAll('.jp-InputPrompt')].some(p => p.innerText.includes('[*]'))"
    all_ran = f"{kernel_idle} && !{queued}"
    page.wait_for_function(all_ran, timeout=900_000)
    jobs_before = page.locator(".echonote-job").count()
    rows_before = page.evaluate(results_rows)

    submit = page.locator("button.echonote-submit").first
    submit.scroll_into_view_if_needed()
    submit.click()
    try:
        page.wait_for_function(f"document.querySelectorAll('.echonote-job').length > {jobs_before}")
    finally:
        page.screenshot(path=str(ARTIFACTS / "browser-03-after-submit-click.png"))
    new_job = page.locator(".echonote-job").nth(jobs_before)
    new_job.scroll_into_view_if_needed()
    page.wait_for_function(
        f"(() => {{ const job = document.querySelectorAll('.echonote-job')[{jobs_before}];"
        "  const bar = job && job.querySelector('.progress-bar');"
        "  return job.classList.contains('echonote-job-done') && bar && bar.style.width === '100%'; })()",
        timeout=900_000)
    page.wait_for_function(f"{results_rows} > {rows_before}")
    assert "SUCCESS 100 %" in new_job.inner_text()
    page.locator(".echonote-results").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "browser-03-submit-done.png"))
    table_text = page.locator(".echonote-results").inner_text()
    assert table_text.count("pyannote_sample.wav") >= 2, table_text

    user, password = stack.cfg.flower_basic_auth.split(":", 1)  # Flower always asks for the stack's login
    flower = browser.new_page(viewport={"width": 1400, "height": 900},
                              http_credentials={"username": user, "password": password})
    flower.goto(stack.flower_url() + "/tasks")
    flower.wait_for_selector("text=echonote.diarize", timeout=60_000)
    flower.screenshot(path=str(ARTIFACTS / "browser-flower-tasks.png"))
    assert "SUCCESS" in flower.inner_text("body")
