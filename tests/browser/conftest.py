"""Browser tests: Playwright driving Debian's Chromium against Django's live server.

Never `playwright install`: the browser is /usr/bin/chromium (apt), and Chinese
renders with fonts-wqy-microhei. Playwright's sync API runs an event loop in
this thread, so Django's async-safety check is relaxed for these tests only.
Screenshots go to test-artifacts/screenshots/ (look at them).
"""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

# Generous waits: the suite must pass on a slow, loaded machine (assertions still fail
# when the page never gets there).
expect.set_options(timeout=20_000)

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}


@pytest.fixture(scope="session")
def screenshot_dir():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture
def shoot(page, screenshot_dir):
    """Save a full-page screenshot as test-artifacts/screenshots/<name>.png."""

    def take(name: str, full_page: bool = True):
        path = screenshot_dir / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


PASSWORD = "browser-pass-12345"


@pytest.fixture
def log_in(page, live_server, users):
    """Sign in through the login form as one of the `users` fixture's accounts."""

    def as_(username: str, expect_path: str = "/"):
        user = users[username]
        user.set_password(PASSWORD)
        user.save()
        page.goto(f"{live_server.url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}{expect_path}")
        return page

    return as_


@pytest.fixture(autouse=True)
def project_static(settings):
    """Serve src/investmap/static (not inside an app) from the live server.

    Needed until settings.py lists it in STATICFILES_DIRS; a no-op afterwards.
    """
    import investmap

    static = Path(investmap.__file__).resolve().parent / "static"
    if static not in [Path(d).resolve() for d in settings.STATICFILES_DIRS]:
        settings.STATICFILES_DIRS = [*settings.STATICFILES_DIRS, static]


@pytest.fixture(autouse=True)
def no_script_errors(page):
    """Every browser test also fails on a script error or a failed request in the page."""
    errors = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror on {page.url}: {exc.stack or exc}"))
    page.on(
        "console",
        lambda msg: msg.type == "error" and errors.append(f"console: {msg.text} {msg.location}"),
    )
    yield errors
    assert not errors, "\n".join(errors)
