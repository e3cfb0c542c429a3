"""Build the browser edition (JupyterLite) into build/lite/: ``make lite`` runs this with build/lite-tools' Python.

Everything the page loads is served from build/lite/, so it needs no other origin once the page is reachable:

- Pyodide's core (the npm package ``pyodide``, at the version the kernel expects: PYODIDE_VERSION) in ``pyodide/``,
  with its ``pyodide-lock.json`` cut down to the packages the kernel and the notebooks import, each a pure-Python
  wheel from PyPI (``dev/lite/wheels.txt``, hash-pinned) whose sha256 replaces Pyodide's own (Pyodide rebuilds its
  wheels, so their hashes differ, while the file names are the same);
- the tutorial's own wheel, in the lock without its tornado dependency (the browser's sandbox runs in-process);
  the kernel loads it and its dependencies at start (``loadPyodideOptions.packages``), so no cell installs anything;
- the notebooks, with the Pyodide kernel named in their metadata.

Downloads go to build/lite-cache/ once, checked against the pins; a second build works offline.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
HERE = ROOT / "dev" / "lite"
SITE = ROOT / "build" / "lite"
CACHE = ROOT / "build" / "lite-cache"
STAGE = ROOT / "build" / "lite-stage"

# jupyterlite-pyodide-kernel 0.8.6 names Pyodide 314.0.6 (Python 3.14) as its default; the npm registry has it.
PYODIDE_VERSION = "314.0.6"
PYODIDE_INTEGRITY = "sha512-BKDTJyIqFxC4BExLqeRS3f5xvXZIjOt8C3zGLN/Cc7tFxSwvKVhVkchQQ2AGLOtR4YrVOIFxbV8poyDOOmWwxQ=="
PYODIDE_CORE = ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip")
# What the kernel itself loads from Pyodide's lock (the rest comes from the extension's own piplite index).
KERNEL_PACKAGES = ("micropip", "packaging", "ipython", "jedi")
# Packages that are not in Pyodide's lock: the modules each provides, and what it needs in the kernel.
# ipywidgets' widgetsnbextension and jupyterlab_widgets are its front end, which the site itself carries.
ADDED = {
    "comm": (["comm"], ["traitlets"]),
    "ipywidgets": (["ipywidgets"], ["comm", "ipython", "traitlets"]),
    "python-dotenv": (["dotenv"], []),
    "pystache": (["pystache"], []),
    "genson": (["genson"], []),
    "truststore": (["truststore"], []),
}
TUTORIAL = "perplexity-onboarding-notebooks"
# The tutorial's dependencies that the browser edition leaves out: the sandbox's HTTP server (no pure wheel).
NOT_IN_BROWSER = {"tornado"}
NOTEBOOKS = (
    "01_create_api_key.ipynb",
    "02_authenticate.ipynb",
    "03_creator_studio_connector.ipynb",
    "appendix_playground.ipynb",  # notebook 02 links to it
)
# A Markdown image from another host: ![text](https://...).
REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\(https?://[^)\s]+\)")
KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}


def main() -> None:
    pyodide = fetch_pyodide()
    wheels = [*fetch_wheels(), build_tutorial_wheel()]
    shutil.rmtree(STAGE, ignore_errors=True)
    stage_notebooks(STAGE / "contents")
    # The site's settings (overrides.json): no news or update check from other hosts, and every cell rendered.
    for name in ("jupyter-lite.json", "overrides.json"):
        shutil.copy(HERE / name, STAGE / name)
    shutil.rmtree(SITE, ignore_errors=True)
    lite = [sys.executable, "-m", "jupyterlite_core", "build", "--lite-dir", STAGE, "--output-dir", SITE]
    run([*lite, "--contents", STAGE / "contents", "--no-sourcemaps"], cwd=STAGE)
    served = SITE / "pyodide"
    served.mkdir()
    for name in PYODIDE_CORE:
        shutil.copy(pyodide / name, served / name)
    for wheel in wheels:
        shutil.copy(wheel, served / wheel.name)
    lock = json.loads((pyodide / "pyodide-lock.json").read_text())
    (served / "pyodide-lock.json").write_text(json.dumps(site_lock(lock, wheels), indent=1, sort_keys=True))
    print(f"The browser edition is in {SITE.relative_to(ROOT)}/: serve it, e.g. python -m http.server -d {SITE}")


def run(command: list[str | Path], **options: object) -> None:
    subprocess.run([str(part) for part in command], check=True, **options)


def fetch_pyodide() -> Path:
    """The npm package ``pyodide`` at PYODIDE_VERSION, unpacked; its tarball checked against PYODIDE_INTEGRITY."""
    folder = CACHE / f"pyodide-{PYODIDE_VERSION}"
    tarball = CACHE / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tarball.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        run(["npm", "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", CACHE, "--silent"])
    digest = "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if digest != PYODIDE_INTEGRITY:
        tarball.unlink()
        raise SystemExit(f"{tarball.name} is not the pinned package (its sha512 differs): run make lite again.")
    if not folder.exists():
        with tarfile.open(tarball) as archive:
            archive.extractall(CACHE / "unpacked", filter="data")
        (CACHE / "unpacked" / "package").rename(folder)
    return folder


def fetch_wheels() -> list[Path]:
    """The wheels of dev/lite/wheels.txt, each checked against its hash: from the cache, else from PyPI."""
    folder = CACHE / "wheels"
    download = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    download += ["--require-hashes", "-r", HERE / "wheels.txt", "-d", folder]
    download += ["--python-version", "3.14", "--implementation", "py", "--abi", "none", "--platform", "any"]
    offline = subprocess.run(
        [str(part) for part in [*download, "--no-index", "--find-links", folder]], capture_output=True
    )
    if offline.returncode != 0:  # not all in the cache yet
        run(download)
    pinned = {canonicalize_name(Requirement(line.split()[0]).name) for line in _requirement_lines()}
    wheels = [path for path in folder.glob("*.whl") if parse_wheel_filename(path.name)[0] in pinned]
    if len(wheels) != len(pinned):
        raise SystemExit(f"{folder} holds {len(wheels)} of the {len(pinned)} pinned wheels: empty it and build again.")
    return sorted(wheels)


def _requirement_lines() -> list[str]:
    lines = (HERE / "wheels.txt").read_text().splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]


def build_tutorial_wheel() -> Path:
    """The tutorial's own wheel, from this checkout (its declared dependencies are not installed here)."""
    # From a fresh copy of the package's files: setuptools' build/lib in the checkout would keep deleted modules.
    source, folder = CACHE / "tutorial-source", CACHE / "tutorial"
    for stale in (source, folder):
        shutil.rmtree(stale, ignore_errors=True)
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    for package in ("helpers", "perplexity_sandbox"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", folder, source])
    (wheel,) = folder.glob("*.whl")
    return wheel


def site_lock(lock: dict, wheels: list[Path]) -> dict:
    """Pyodide's lock with only the packages this site serves, each with its PyPI wheel's sha256."""
    by_name = {parse_wheel_filename(wheel.name)[0]: wheel for wheel in wheels}
    packages = {canonicalize_name(name): entry for name, entry in lock["packages"].items()}
    for name, (imports, depends) in ADDED.items():
        packages[name] = _entry(by_name[name], imports, depends)
    packages[TUTORIAL] = _entry(by_name[TUTORIAL], ["helpers", "perplexity_sandbox"], tutorial_dependencies())
    kept = _closure([TUTORIAL, *KERNEL_PACKAGES], packages)
    served = {}
    for name in sorted(kept):
        wheel = by_name.get(name)
        if wheel is None or wheel.name != packages[name]["file_name"]:
            raise SystemExit(f"The lock names {packages[name]['file_name']} for {name}: pin it in dev/lite/wheels.txt.")
        served[name] = {**packages[name], "sha256": _sha256(wheel), "unvendored_tests": False}
    return {"info": lock["info"], "packages": served}


def tutorial_dependencies() -> list[str]:
    """pyproject.toml's dependencies, less those the browser edition does without."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [canonicalize_name(Requirement(text).name) for text in project["dependencies"]]
    return [name for name in names if name not in NOT_IN_BROWSER]


def _entry(wheel: Path, imports: list[str], depends: list[str]) -> dict:
    name, version, _, _ = parse_wheel_filename(wheel.name)
    return {
        "name": name,
        "version": str(version),
        "file_name": wheel.name,
        "install_dir": "site",
        "package_type": "package",
        "imports": imports,
        "depends": depends,
        "sha256": _sha256(wheel),
        "unvendored_tests": False,
    }


def _closure(roots: list[str], packages: dict[str, dict]) -> set[str]:
    seen: set[str] = set()
    todo = [canonicalize_name(name) for name in roots]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [canonicalize_name(dependency) for dependency in packages[name]["depends"]]
    return seen


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stage_notebooks(folder: Path) -> None:
    """The notebooks, with the Pyodide kernel in their metadata (else each would ask which kernel).

    An image from another host in a Markdown cell (the Colab badge) becomes a link with its text: the page would
    load it from that host, and the browser edition loads nothing from anywhere but its own site.
    """
    folder.mkdir(parents=True)
    for name in NOTEBOOKS:
        notebook = json.loads((ROOT / "notebooks" / name).read_text())
        notebook["metadata"]["kernelspec"] = KERNELSPEC
        for cell in notebook["cells"]:
            if cell["cell_type"] == "markdown":
                cell["source"] = REMOTE_IMAGE.sub(r"\1", "".join(cell["source"]))
        (folder / name).write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
