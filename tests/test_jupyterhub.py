"""A class on a real JupyterHub: five learners pull the course with nbgitpuller and run the three notebooks.

The hub is real (``jupyterhub`` with ``configurable-http-proxy`` from npm, on 127.0.0.1), with the
DummyAuthenticator and the SimpleLocalProcessSpawner: each learner has a home folder and a server
process of their own. The course is a bare git clone of this repository as it is now (``file://``),
which the link from ``helpers.classroom.nbgitpuller_link`` pulls into each learner's home. Every
code cell of notebooks 01 to 03 runs in that learner's own kernel, and must give no error output.
The memory of each learner's server and kernels is measured, and the number of learners that fit a
24 GiB machine printed. Where the hub's tools are missing the test is skipped with the reason,
except in CI (``CI`` set), where it fails.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest
import yaml

from helpers.classroom import nbgitpuller_link
from tests.hub.course import ROOT, bare_repository, clean_environment
from tests.hub.jupyterhub import (
    Hub,
    follow_pull_link,
    learner_processes,
    learner_token,
    log_in,
    memory_mib,
    notebook_cells,
    notebook_kernel,
    problems,
    proxy_command,
    running_hub,
    start_server,
)

LEARNERS = [f"learner{n}" for n in range(1, 6)]
NOTEBOOKS = ["01_create_api_key.ipynb", "02_authenticate.ipynb", "03_creator_studio_connector.ipynb"]
COURSE = "perplexity-onboarding-notebooks"
MACHINE_GIB = 24
SYSTEM_RESERVE_GIB = 2  # the operating system and its caches, besides the hub and its proxy


def missing_tools() -> str | None:
    """Why the hub cannot run here, or None."""
    for module in ("jupyterhub", "nbgitpuller", "websocket", "psutil"):
        if importlib.util.find_spec(module) is None:
            return f"the Python package {module} is not installed (make test installs requirements-dev.txt)"
    if proxy_command() is None:
        return "configurable-http-proxy is not installed (make test runs `npm ci --prefix dev`)"
    if shutil.which("git") is None:
        return "git is not installed (nbgitpuller needs it)"
    return None


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A bare git repository holding this repository as it is now: what the instructor's link pulls."""
    reason = missing_tools()
    if reason:
        pytest.fail(reason) if os.environ.get("CI") else pytest.skip(reason)
    return bare_repository(tmp_path_factory.mktemp("course"), COURSE)


def take_the_course(hub: Hub, course: str, name: str) -> list[str]:
    """One learner: log in, follow the link, run the three notebooks; return every problem seen."""
    browser = log_in(hub, name)
    landing = follow_pull_link(hub, browser, nbgitpuller_link(hub.url, repo=course))
    assert browser.get(landing, timeout=60).ok, landing
    assert (hub.home(name) / COURSE / "notebooks" / NOTEBOOKS[0]).is_file()
    server, token = f"{hub.url}/user/{name}", learner_token(hub, name)
    seen = []
    for notebook in NOTEBOOKS:
        path = f"{COURSE}/notebooks/{notebook}"
        with notebook_kernel(server, token, path) as kernel:
            for number, code in enumerate(notebook_cells(server, token, path), start=1):
                seen += [f"{name} {notebook} cell {number}: {p}" for p in problems(kernel.execute(code))]
            key_file = kernel.execute("import helpers.keys\nprint(helpers.keys.env_file_path())")
            seen += [] if in_home(key_file, hub.home(name)) else [f"{name}: key file {key_file!r}"]
    return seen


def in_home(outputs: list[dict], home: Path) -> bool:
    """Whether the printed key file path lies in the learner's own home folder (never a shared one).

    A kernel may send one print as several stream messages (the path, then its newline): they are read together.
    """
    printed = "".join(o["text"] for o in outputs if o["type"] == "stream").strip()
    return bool(printed) and Path(printed).is_relative_to(home)


def report_memory(hub: Hub) -> tuple[float, int]:
    """Measure each learner's server and kernels; print the figures and the learners a 24 GiB machine fits."""
    per_learner = [memory_mib(learner_processes(hub, name)) for name in LEARNERS]
    hub_process = psutil.Process(hub.process.pid)
    proxy = [p for p in hub_process.children() if "configurable-http-proxy" in " ".join(p.cmdline())]
    hub_side = memory_mib([hub_process, *proxy])
    biggest_rss = max(rss for rss, _ in per_learner)
    average_pss = sum(pss for _, pss in per_learner) / len(per_learner)
    room = (MACHINE_GIB - SYSTEM_RESERVE_GIB) * 1024 - hub_side[0]
    fit = math.floor(room / biggest_rss)
    print(
        f"\nJupyterHub class check: {len(LEARNERS)} learners, each a server and {len(NOTEBOOKS)} kernels.\n"
        f"Memory per learner: at most {biggest_rss:.0f} MiB resident (RSS), {average_pss:.0f} MiB proportional "
        f"(PSS) on average; the hub and its proxy: {hub_side[0]:.0f} MiB.\n"
        f"A {MACHINE_GIB} GiB machine fits {fit} learners with every notebook open "
        f"({SYSTEM_RESERVE_GIB} GiB kept for the system; counted by RSS, so on the safe side)."
    )
    return biggest_rss, fit


@pytest.mark.slow
def test_five_learners_pull_the_course_and_run_every_notebook(
    course: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = clean_environment(tmp_path / "instructor")
    with running_hub(tmp_path, LEARNERS, env) as hub:
        for name in LEARNERS:
            start_server(hub, name)
        with ThreadPoolExecutor(max_workers=len(LEARNERS)) as pool:  # the whole class clicks the link at once
            seen = [
                problem for found in pool.map(lambda n: take_the_course(hub, course, n), LEARNERS) for problem in found
            ]
        assert seen == []
        with capsys.disabled():
            biggest, fit = report_memory(hub)
    assert 0 < biggest < 4096 and fit >= 1


# --- Zero to JupyterHub: teaching/z2jh/config.yaml against the chart's own values schema ---------------


# The chart's files, from the jupyterhub/ folder of jupyterhub/zero-to-jupyterhub-k8s at the pinned commit.
CHART_FILES = ("values.schema.yaml", "values.yaml")
# This project's own machines and CI keep a copy beside the checkout (its README names the commit).
SHARED_CHART = ROOT.parent / "shared" / "z2jh"


def chart_folder() -> Path:
    """The folder with the chart's ``values.schema.yaml`` and ``values.yaml``, or the test skips or fails.

    ``Z2JH_CHART_DIR`` when set (the shipped workflow checks the chart out and sets it), else
    ``../shared/z2jh``. Where one of them is meant to be there (the variable is set, ``../shared`` exists,
    or ``CI`` is set) a missing file fails the test, since a skip would hide a check that no longer runs;
    only on a machine with neither does it skip, and says why.
    """
    configured = os.environ.get("Z2JH_CHART_DIR", "").strip()
    folder = Path(configured) if configured else SHARED_CHART
    missing = [name for name in CHART_FILES if not (folder / name).is_file()]
    if not missing:
        return folder
    if configured or SHARED_CHART.parent.is_dir() or os.environ.get("CI"):
        source = "Z2JH_CHART_DIR" if configured else "../shared/z2jh"
        pytest.fail(f"{' and '.join(missing)} missing from {folder} ({source}): {WHERE_THE_CHART_COMES_FROM}")
    pytest.skip(f"the Zero to JupyterHub chart is not here: {WHERE_THE_CHART_COMES_FROM}")


WHERE_THE_CHART_COMES_FROM = (
    "set Z2JH_CHART_DIR to the jupyterhub/ folder of a zero-to-jupyterhub-k8s checkout at the commit that "
    ".github/workflows/notebooks.yml pins, as that workflow does"
)


def helm_merge(defaults: object, overrides: object) -> object:
    """Values as Helm coalesces them: maps merge key by key, anything else replaces, and null removes."""
    if not (isinstance(defaults, dict) and isinstance(overrides, dict)):
        return overrides
    merged = dict(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = helm_merge(defaults.get(key), value)
    return merged


def check_values(config: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    """``check-jsonschema`` on ``config`` merged over the chart's defaults, as Helm validates before rendering.

    The schema file is the chart's YAML as JSON, which is what the chart packages as values.schema.json
    (that also drops the descriptions, which no validation reads).
    """
    chart = chart_folder()
    schema = yaml.safe_load((chart / "values.schema.yaml").read_text())
    values = helm_merge(yaml.safe_load((chart / "values.yaml").read_text()), config)
    (tmp_path / "values.schema.json").write_text(json.dumps(schema))
    (tmp_path / "values.json").write_text(json.dumps(values))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--schemafile",
            str(tmp_path / "values.schema.json"),
            str(tmp_path / "values.json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_z2jh_config_passes_the_charts_values_schema(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "teaching/z2jh/config.yaml").read_text())
    checked = check_values(config, tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_catches_a_misspelt_setting(tmp_path: Path) -> None:
    """The check has teeth: the chart's schema refuses keys it does not know."""
    config = yaml.safe_load((ROOT / "teaching/z2jh/config.yaml").read_text())
    config["singleuser"]["memory"]["limt"] = "1G"
    checked = check_values(config, tmp_path)
    assert checked.returncode == 1 and "limt" in checked.stdout + checked.stderr


def test_the_z2jh_config_uses_the_binder_image_nbgitpuller_and_the_culler() -> None:
    config = yaml.safe_load((ROOT / "teaching/z2jh/config.yaml").read_text())
    assert config["cull"]["enabled"] is True and config["cull"]["timeout"] > 0
    assert config["singleuser"]["defaultUrl"] == "/lab"
    assert "repo2docker" in (ROOT / "teaching/z2jh/config.yaml").read_text()
    assert "nbgitpuller" in (ROOT / ".binder/requirements.txt").read_text()
    assert config["proxy"]["https"]["enabled"] is True  # learners type keys into it


def test_the_hub_settings_in_the_z2jh_config_are_real_jupyterhub_settings() -> None:
    """Every ``hub.config`` entry names a configurable class and trait that JupyterHub has, with a valid value."""
    pytest.importorskip("jupyterhub", reason="jupyterhub is in requirements-dev.txt")
    from jupyterhub.app import JupyterHub
    from jupyterhub.auth import Authenticator
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator
    from traitlets.config import Config

    classes = {"JupyterHub": JupyterHub, "Authenticator": Authenticator}
    classes["SharedPasswordAuthenticator"] = SharedPasswordAuthenticator
    settings = yaml.safe_load((ROOT / "teaching/z2jh/config.yaml").read_text())["hub"]["config"]
    for section, values in settings.items():
        assert set(values) <= set(classes[section].class_trait_names(config=True)), section
    assert settings["JupyterHub"]["authenticator_class"] == "shared-password"
    SharedPasswordAuthenticator(config=Config(settings))  # raises on a password shorter than it accepts


@pytest.fixture
def chart_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No chart anywhere yet: no Z2JH_CHART_DIR, no CI, and ../shared/z2jh moved into ``tmp_path``."""
    monkeypatch.delenv("Z2JH_CHART_DIR", raising=False)
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(sys.modules[__name__], "SHARED_CHART", tmp_path / "shared" / "z2jh")
    return tmp_path


def put_chart(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in CHART_FILES:
        (folder / name).write_text("{}\n")
    return folder


def test_without_the_chart_or_shared_the_schema_check_skips_with_the_reason(chart_places: Path) -> None:
    with pytest.raises(pytest.skip.Exception, match="set Z2JH_CHART_DIR"):
        chart_folder()


def test_in_ci_or_beside_shared_a_missing_chart_fails(chart_places: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"values\.schema\.yaml and values\.yaml missing"):
        chart_folder()
    monkeypatch.delenv("CI")
    (chart_places / "shared").mkdir()
    with pytest.raises(pytest.fail.Exception, match=r"missing from .*\(\.\./shared/z2jh\)"):
        chart_folder()
    put_chart(chart_places / "shared" / "z2jh")
    assert chart_folder() == chart_places / "shared" / "z2jh"


def test_z2jh_chart_dir_comes_first_and_must_hold_both_files(
    chart_places: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_chart(chart_places / "shared" / "z2jh")
    monkeypatch.setenv("Z2JH_CHART_DIR", str(chart_places / "checkout" / "jupyterhub"))
    with pytest.raises(pytest.fail.Exception, match=r"\(Z2JH_CHART_DIR\)"):
        chart_folder()
    assert put_chart(chart_places / "checkout" / "jupyterhub") == chart_folder()
