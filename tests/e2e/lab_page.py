"""Drive a notebook in JupyterLab as a learner does: open it, run all cells, read outputs, use widgets.

Selectors follow text and widget classes, never cell positions, so that notebooks can change.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

from playwright.sync_api import Locator, Page, expect

KERNEL_START_TIMEOUT = 60_000  # ms; a cold kernel on a busy 2-core machine
RUN_TIMEOUT = 90_000
expect.set_options(timeout=15_000)  # the default 5 s is short on a busy, shared 2-core machine

NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
EXECUTION_INDICATOR = ".jp-Notebook-ExecutionIndicator"
# The status bar names the kernel and its state ("Python 3 (ipykernel) | Idle"). The toolbar's
# execution indicator says "idle" before the kernel has even started, so it is not enough alone.
KERNEL_STATUS = "#jp-main-statusbar .jp-StatusBar-TextItem"
OUTPUT = ".jp-OutputArea-output"
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
WIDGET = ".jupyter-widgets"
PASSWORD_INPUT = ".widget-text input[type=password]"
WIDGET_BUTTON = "button.jupyter-button.widget-button"
# A widget displayed by a cell: the top box, right inside the cell's output (not a box nested in it).
TOP_WIDGET_BOX = ".jp-OutputArea-output > .jupyter-widgets.widget-box"
# What an Output widget inside a box shows (a send's answer, a Test result).
WIDGET_OUTPUT = ".widget-output .jp-OutputArea-output"
# Outputs opened from the file are marked before a run: the recorded notebooks already show
# numbered prompts, so only outputs replaced by the run prove that the run happened.
MARK_RECORDED_OUTPUTS = """
(selector) => document.querySelectorAll(selector + ' .jp-OutputArea-output')
  .forEach(output => output.setAttribute('data-e2e-recorded', ''))
"""
# True when every code cell has run: its prompt shows a number (not "[*]" or "[ ]") and no
# recorded output is left.
ALL_CELLS_RAN = """
(selector) => {
  const prompts = [...document.querySelectorAll(selector + ' .jp-CodeCell .jp-InputPrompt')];
  return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent))
    && !document.querySelector(selector + ' [data-e2e-recorded]');
}
"""


class NotebookPage:
    """One open notebook in a fresh JupyterLab workspace."""

    def __init__(self, page: Page, base_url: str, token: str, folder: str = "") -> None:
        self.page = page
        self.base_url = base_url
        self.token = token
        self.folder = folder  # the project copy, relative to the server root

    @property
    def panel(self) -> Locator:
        return self.page.locator(NOTEBOOK)

    @property
    def outputs(self) -> Locator:
        return self.panel.locator(OUTPUT)

    def open(self, path: str) -> NotebookPage:
        """Open ``path`` (relative to the project copy) in a new, reset workspace, and wait for its kernel."""
        workspace = f"e2e-{uuid.uuid4().hex[:8]}"
        tree = f"{self.folder}/{path}" if self.folder else path
        self.page.goto(f"{self.base_url}/lab/workspaces/{workspace}/tree/{tree}?reset&token={self.token}")
        expect(self.panel.locator(".jp-Cell").first).to_be_visible(timeout=KERNEL_START_TIMEOUT)
        self.wait_for_idle_kernel(KERNEL_START_TIMEOUT)
        return self

    def wait_for_idle_kernel(self, timeout: float = RUN_TIMEOUT) -> None:
        """The kernel is connected and idle, and the notebook runs nothing."""
        kernel = self.page.locator(KERNEL_STATUS, has_text=re.compile(r"\| Idle$"))
        expect(kernel).to_be_visible(timeout=timeout)
        expect(self.panel.locator(EXECUTION_INDICATOR)).to_have_attribute("data-status", "idle", timeout=timeout)

    def run_all(self) -> NotebookPage:
        """Run > Run All Cells from the menu bar, then wait until every cell ran and the kernel is idle."""
        self.page.evaluate(MARK_RECORDED_OUTPUTS, NOTEBOOK)
        self.page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        self.page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        self.wait_until_all_ran()
        return self

    def wait_until_all_ran(self) -> None:
        self.page.wait_for_function(ALL_CELLS_RAN, arg=NOTEBOOK, timeout=RUN_TIMEOUT)
        self.wait_for_idle_kernel()

    def output_with_text(self, text: str) -> Locator:
        return self.outputs.filter(has_text=text)

    def expect_output(self, text: str, timeout: float = RUN_TIMEOUT) -> Locator:
        """The (first) output that shows ``text``, once it is visible."""
        output = self.output_with_text(text).first
        expect(output).to_be_visible(timeout=timeout)
        return output

    def expect_no_errors(self) -> None:
        """No cell wrote to stderr or raised, and every widget rendered."""
        expect(self.panel.locator(ERROR_OUTPUT)).to_have_count(0)
        expect(self.panel.locator(".jp-RenderedText[data-mime-type*='error']")).to_have_count(0)
        expect(self.outputs.filter(has_text="Error displaying widget")).to_have_count(0)
        expect(self.outputs.filter(has_text="Loading widget...")).to_have_count(0)

    def expect_no_tracebacks(self) -> None:
        """No output shows a traceback: what a failure the notebook could not avoid shows is its sentence."""
        expect(self.outputs.filter(has_text=re.compile(r"Traceback|-{20,}"))).to_have_count(0)
        expect(self.panel.locator(".jp-RenderedText[data-mime-type*='error']")).to_have_count(0)

    def widget_with_button(self, label: str) -> WidgetBox:
        """The one widget (a cell's top box: the playground, the connector form) that has a button ``label``."""
        box = self.panel.locator(TOP_WIDGET_BOX).filter(has=_button(self.page, label))
        expect(box).to_have_count(1)
        return WidgetBox(box)

    def widget_button(self, label: str) -> Locator:
        return self.outputs.locator(WIDGET_BUTTON, has_text=label).first

    def password_field(self) -> Locator:
        return self.outputs.locator(PASSWORD_INPUT).first

    def save(self, file: Path, timeout: float = 30.0) -> None:
        """Ctrl+S with the notebook focused, then wait until ``file`` (the notebook on disk) changes."""
        before = file.stat().st_mtime_ns
        self.panel.locator(".jp-MarkdownCell").first.click()
        self.page.keyboard.press("Control+s")
        deadline = time.monotonic() + timeout
        while file.stat().st_mtime_ns == before:
            if time.monotonic() > deadline:
                raise AssertionError(f"Ctrl+S did not save {file} within {timeout:.0f} s")
            time.sleep(0.2)


class WidgetBox:
    """One displayed widget: its fields found by their visible labels, its buttons by their text."""

    def __init__(self, root: Locator) -> None:
        self.root = root

    def button(self, label: str) -> Locator:
        return self.root.locator(_button(self.root.page, label))

    def textarea(self, label: str) -> Locator:
        return self._field(".widget-textarea", "textarea", label)

    def dropdown(self, label: str) -> Locator:
        return self._field(".widget-dropdown", "select", label)

    def choose(self, label: str, option_text: str) -> str:
        """Pick, in the dropdown ``label``, the one option whose visible text contains ``option_text``."""
        option = self.dropdown(label).locator("option", has_text=option_text)
        expect(option).to_have_count(1)
        chosen = option.inner_text()
        self.dropdown(label).select_option(label=chosen)
        return chosen

    def output_with_text(self, text: str | re.Pattern) -> Locator:
        """What the widget's own Output area shows (never the notebook's cell outputs around it)."""
        return self.root.locator(WIDGET_OUTPUT).filter(has_text=text)

    def message(self, text: str | re.Pattern) -> Locator:
        """A sentence the widget shows in one of its HTML lines (a status, a warning)."""
        return self.root.locator(".widget-html-content").filter(has_text=text)

    def _field(self, widget: str, control: str, label: str) -> Locator:
        exact_label = self.root.page.locator("label.widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
        field = self.root.locator(widget).filter(has=exact_label).locator(control)
        expect(field).to_have_count(1)
        return field


def _button(page: Page, label: str) -> Locator:
    return page.locator(WIDGET_BUTTON, has_text=re.compile(f"^\\s*{re.escape(label)}\\s*$"))
