"""Creator Studio's connector and HTTP action screens as a form: Import cURL, Test and Export.

Every button calls a plain method (:meth:`ConnectorForm.import_curl`, :meth:`~ConnectorForm.check`,
:meth:`~ConnectorForm.test`, :meth:`~ConnectorForm.exports`) that a notebook cell can call too.
A button never shows a traceback: whatever goes wrong becomes one sentence under the form, and
the fields keep what the learner typed.
Saved secrets are never shown again, as in Creator Studio: a key typed into a Password field is
moved out of the widget (which Jupyter can save into the notebook) the moment it is used. Every
sentence under the form masks the form's secrets: the saved key and password, credential-named
header, query and example values, the secrets of a pasted cURL command, and anything key-shaped.
A pasted command's ``$PERPLEXITY_API_KEY`` stays that reference in every field and in the widgets'
state: only Test puts a key in its place, and only where that key may go.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, fields
from html import escape
from typing import Any

import ipywidgets as widgets
from IPython.display import Markdown, display

from helpers.connector import (
    AUTH_CONFIGS,
    HIDDEN,
    METHODS,
    BasicAuth,
    BearerTokenAuth,
    Connector,
    ConnectorError,
    Execution,
    HeaderAuth,
    HttpAction,
    NoAuth,
    ParamAuth,
    check_request,
    error_sentence,
    is_secret_name,
    run_test,
    secret_values,
    shown_key,
)
from helpers.connector_view import show_execution
from helpers.curl_import import curl_secrets, import_curl
from helpers.exports import as_json, to_curl, to_openapi, to_postman
from helpers.masking import redact
from helpers.text import ended

# Each auth the form can describe, by its Auth Config (Api Key Auth's two by their Auth Type). Its
# dataclass fields name the form's fields that show, fill and read it, but for its secrets (below).
AUTH_KINDS = {
    "No Auth": NoAuth,
    "Header Auth": HeaderAuth,
    "Param Auth": ParamAuth,
    "Bearer Token Auth": BearerTokenAuth,
    "Basic Auth": BasicAuth,
}
# An auth's secret field -> where the form keeps it: one Api Key field serves the key and the token.
SECRET_SLOTS = {"api_key": "api_key", "token": "api_key", "password": "password"}
AUTH_FIELDS = ("auth_type", "header_key", "value_pattern", "param_name", "api_key", "username", "password")
# Descriptions a field takes later (the Api Key field becomes "Bearer Token"): their labels must fit too.
LATER_LABELS = ("Bearer Token",)
# What a drop-down gets beside its label: its longest choice ("Bearer Token Auth") and the arrow.
CHOICE_WIDTH = "22ch"


class ConnectorFields:
    """Creator Studio's connector and HTTP action fields, laid out as its screens; ``widget`` is the box.

    Only the chosen Auth Config's fields show. The buttons are here without an action: the form wires them.
    """

    def __init__(self) -> None:
        """Each field is added below the one before: the form reads top to bottom as it is built here."""
        self._fields: list[widgets.Widget] = []
        self.widget = widgets.VBox([widgets.HTML("<b>Connector</b>")])
        add = self._add
        self.name = add(widgets.Text, "Name")
        self.base_url = add(widgets.Text, "Base URL", placeholder="https://api.example.com")
        self.auth_config = add(widgets.Dropdown, "Auth Config", options=AUTH_CONFIGS)
        self.auth_type = add(widgets.Dropdown, "Api Key Auth Auth Type", options=("Header Auth", "Param Auth"))
        self.header_key = add(widgets.Text, "Header Auth Key", value="Authorization")
        self.value_pattern = add(widgets.Text, "Header Auth Value Pattern", value="Bearer %s")
        self.param_name = add(widgets.Text, "Param Auth Key", value="api_key")
        # As wide as the text fields: the placeholder says "saved: pplx-...cret (type to replace)".
        self.api_key, self.username = add(widgets.Password, "Api Key"), add(widgets.Text, "Username")
        self.password = add(widgets.Password, "Password")
        self._secrets = SavedSecrets(self.api_key, self.password)
        self.buttons = {
            label: widgets.Button(description=label) for label in ("Import cURL", "Check", "Test", "Export")
        }
        self.buttons["Test"].button_style = "primary"
        self.widget.children += (widgets.HTML("<b>HTTP action</b>"),)
        self.curl = add(widgets.Textarea, "cURL command", placeholder="curl --request POST --url https://...", rows=6)
        self.widget.children += (self.buttons["Import cURL"],)
        self.action_name = add(widgets.Text, "Action name")
        self.method = add(widgets.Dropdown, "Method", options=METHODS, value="POST")
        self.path = add(widgets.Text, "Path", placeholder="/v1/agent")
        self.headers = add(widgets.Textarea, "Headers", placeholder="Name: value")
        self.query = add(widgets.Textarea, "Query Parameters", placeholder="name=value")
        self.body = add(widgets.Textarea, "Request Body", rows=10)
        self.inputs = add(widgets.Textarea, "Example values", placeholder="name = value")
        self.status, self.output = widgets.HTML(), widgets.Output()
        below = [self.buttons[label] for label in ("Check", "Test", "Export")]
        self.widget.children += (widgets.HBox(below), self.status, self.output)
        _align_labels(self._fields)
        for choice in (self.auth_config, self.auth_type):
            choice.observe(lambda _: self._show_auth_fields(), names="value")
        self._show_auth_fields()

    def _add(self, kind: type[widgets.Widget], label: str, **options: Any) -> Any:
        """A field of ``kind`` labelled ``label``, added at the bottom of the form."""
        field = kind(description=label, layout=widgets.Layout(width="95%"), **options)
        self._fields.append(field)
        self.widget.children += (field,)
        return field

    def _auth_kind(self) -> str:
        return self.auth_type.value if self.auth_config.value == "Api Key Auth" else self.auth_config.value

    def _show_auth_fields(self) -> None:
        """Show only the fields of the chosen Auth Config, as Creator Studio does."""
        kind = self._auth_kind()
        shown = {SECRET_SLOTS.get(f.name, f.name) for f in fields(AUTH_KINDS[kind])}
        shown |= {"auth_type"} if self.auth_config.value == "Api Key Auth" else set()
        for name in AUTH_FIELDS:
            getattr(self, name).layout.display = None if name in shown else "none"
        self.api_key.description = "Bearer Token" if kind == "Bearer Token Auth" else "Api Key"


class ConnectorForm(ConnectorFields):
    """The form, pre-filled with ``connector`` and ``action`` (either may be left out).

    ``display(form)`` shows it (``form.widget`` is its box); its methods are the plain-code path to
    every button. ``send_to``: Test sends there (e.g. the sandbox) instead of the Base URL, which stays as it is.
    """

    def __init__(
        self, connector: Connector | None = None, action: HttpAction | None = None, *, send_to: str | None = None
    ) -> None:
        super().__init__()
        self.send_to = send_to  # where Test sends (the sandbox), while the Base URL stays the connector's
        actions = {"Import cURL": self._on_curl, "Check": self.check, "Test": self._on_test, "Export": self._on_export}
        for label, button in self.buttons.items():
            button.on_click(lambda _, action=actions[label]: self._guard(action))  # each button its own action
        if connector is not None:
            self.load_connector(connector)
        if action is not None:
            self.load_action(action)

    # --- plain-code paths -------------------------------------------------------------------

    def load_connector(self, connector: Connector) -> None:
        """Fill the connector fields from ``connector``."""
        self.name.value, self.base_url.value = connector.name, connector.base_url
        auth = connector.auth
        self.auth_config.value = auth.config
        if auth.config == "Api Key Auth":
            self.auth_type.value = next(kind for kind, cls in AUTH_KINDS.items() if isinstance(auth, cls))
        for name, value in asdict(auth).items():
            if name in SECRET_SLOTS:
                self._secrets.keep(SECRET_SLOTS[name], value)
            else:
                getattr(self, name).value = value
        self._show_auth_fields()

    def load_action(self, action: HttpAction) -> None:
        """Fill the HTTP action fields from ``action``."""
        self.action_name.value, self.method.value, self.path.value = action.name, action.method, action.path
        self.headers.value = "\n".join(f"{k}: {v}" for k, v in action.headers.items())
        self.query.value = "\n".join(f"{k}={v}" for k, v in action.query.items())
        self.body.value = action.body
        self.inputs.value = "\n".join(f"{k} = {_example_text(v)}" for k, v in action.inputs.items())

    def import_curl(self, command: str) -> str:
        """Fill the action (and the auth, when the command has one) from a curl command; return what happened.

        Everything is built before any field changes: when the import cannot apply, every field stays.
        """
        try:
            imported = import_curl(command)
            auth, base_url = imported.connector.auth, imported.connector.base_url
            name = self.name.value or imported.connector.name
            connector = None if isinstance(auth, NoAuth) else Connector(name, self.base_url.value or base_url, auth)
        except Exception as error:  # a button must never show a traceback
            return self._say(f"Not imported: {self._sentence(error, curl_secrets(command))}")
        self.load_action(imported.action)
        notes = ["Imported the HTTP action."]
        if connector is not None:
            self.load_connector(connector)
            notes.append("Its Authorization header became the connector's auth.")
        if base_url != self.base_url.value:
            kept = self.base_url.value or "(empty)"
            notes.append(f"The command's Base URL is {base_url}; the connector keeps {kept}.")
        notes += [f"Note: {ended(note)}" for note in imported.notes]  # options accepted but not carried over, and why
        return self._say(" ".join(notes))

    def connector(self) -> Connector:
        """The connector the fields describe; raises a ConnectorError saying what to fix."""
        self._secrets.take()
        kind = AUTH_KINDS[self._auth_kind()]
        values = {f.name: self._field_value(f.name) for f in fields(kind)}
        return Connector(self.name.value.strip(), self.base_url.value, kind(**values))

    def action(self) -> HttpAction:
        """The HTTP action the fields describe; raises a ConnectorError saying what to fix."""
        inputs = _table(self.inputs.value, "=", "Example values")
        return HttpAction(
            self.action_name.value.strip() or "Action",
            self.path.value.strip(),
            self.method.value,
            _table(self.headers.value, ":", "Headers"),
            _table(self.query.value, "=", "Query"),
            self.body.value,
            {name: _example_value(value) for name, value in inputs.items()},
        )

    def check(self) -> str:
        """One sentence: ready to test, or what to fix first. Never raises; the fields stay as they are."""
        try:
            return self._say(check_request(self.connector(), self.action(), send_to=self.send_to))
        except Exception as error:  # documented never to raise
            return self._say(f"Not ready: {self._sentence(error)}")

    def test(self) -> Execution:
        """Send the action through the connector, as Creator Studio's Test button does."""
        return run_test(self.connector(), self.action(), send_to=self.send_to)

    def exports(self, *, reveal: bool = False) -> dict[str, str]:
        """The curl command (key masked unless ``reveal``), the Postman collection and the OpenAPI document."""
        connector, action = self.connector(), self.action()
        return {
            "curl": to_curl(connector, action, reveal=reveal),
            "Postman collection v2.1": as_json(to_postman(connector, action)),
            "OpenAPI 3.1": as_json(to_openapi(connector, action)),
        }

    # --- widgets ----------------------------------------------------------------------------

    def __repr__(self) -> str:
        action = f"{self.method.value} {self.path.value}".strip()
        # What a learner typed is shown: a key pasted into the wrong field is masked like everywhere else.
        return redact(f"ConnectorForm(name={self.name.value!r}, action={action!r})", self._secrets.every())

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        # The form's view, and a text/plain (what nbval records, and what shows where widgets cannot)
        # that says what the form is instead of the repr of every child widget.
        return {
            **self.widget._repr_mimebundle_(**kwargs),
            "text/plain": f"{self!r}: Creator Studio's connector and HTTP action fields with Check, Test and Export "
            "buttons, shown when this cell runs in a live kernel with Jupyter widgets (JupyterLab, Notebook 7).",
        }

    def _guard(self, action: Callable[[], object]) -> None:
        """Run a button's action; anything it lets escape becomes one sentence, never a traceback."""
        with self.output:  # catch inside: an Output widget would print a traceback for what escapes it
            try:
                action()
            except Exception as error:  # not only TutorialError: any slip would print a traceback here
                self._say(f"Not done: {self._sentence(error)}")

    # --- button callbacks: the plain methods, with the outcome shown below the form ----------

    def _on_curl(self) -> None:
        self.import_curl(self.curl.value)

    def _on_test(self) -> None:
        self.output.clear_output()
        show_execution(self.test())
        self._say("")

    def _on_export(self) -> None:
        self.output.clear_output()
        for title, text in self.exports().items():
            language = "bash" if title == "curl" else "json"
            display(Markdown(f"**{title}**\n\n```{language}\n{text}\n```"))
        self._say("")

    # --- secrets and fields -----------------------------------------------------------------

    def _field_value(self, name: str) -> str:
        """The value the auth's field ``name`` has in the form: a saved secret, or what its text field says."""
        return self._secrets.saved[SECRET_SLOTS[name]] if name in SECRET_SLOTS else getattr(self, name).value.strip()

    def _sentence(self, error: BaseException, extra: tuple[str, ...] = ()) -> str:
        """``error`` as one sentence, with every secret the form holds (saved or just typed) masked."""
        tables = ((self.headers, ":"), (self.query, "="), (self.inputs, "="))
        named = [value for area, separator in tables for value in secret_values(_table(area.value, separator))]
        return error_sentence(error, [*self._secrets.every(), *named, *curl_secrets(self.curl.value), *extra])

    def _say(self, message: str) -> str:
        self.status.value = escape(message)
        return message


class SavedSecrets:
    """The form's key and password, kept here and never in a widget's value (which Jupyter can save).

    Saved secrets are never shown again, as in Creator Studio: a Password field is emptied the
    moment its secret is used, and its placeholder shows the secret masked.
    """

    def __init__(self, api_key: widgets.Password, password: widgets.Password) -> None:
        self.fields = {"api_key": api_key, "password": password}
        self.saved = {"api_key": "", "password": ""}

    def keep(self, slot: str, value: str) -> None:
        self.saved[slot] = value
        self.fields[slot].value = ""
        self.fields[slot].placeholder = f"saved: {shown_key(value) if slot == 'api_key' else HIDDEN} (type to replace)"

    def take(self) -> None:
        """Move a newly typed key or password out of its field, at once."""
        for slot, field in self.fields.items():
            if field.value:
                self.keep(slot, field.value.strip())

    def every(self) -> tuple[str, ...]:
        """Each secret, saved or just typed, for a sentence to mask."""
        return (*self.saved.values(), *(field.value for field in self.fields.values()))


connector_form = ConnectorForm  # the name the notebooks call


# --- laying out and reading the fields --------------------------------------------------------


def _align_labels(labelled: list[widgets.Widget]) -> None:
    """Give every label the width of the longest one, so that none is cut ("Header Auth Value Patt...").

    In ``ch`` (the width of a digit): in the sans-serif fonts Jupyter uses, a label in mixed case is
    narrower than that many digits; two more leave room for capitals and the gap before the field.
    """
    label_width = f"{max(len(label) for label in [*(w.description for w in labelled), *LATER_LABELS]) + 2}ch"
    for widget in labelled:
        widget.style.description_width = label_width
        if isinstance(widget, widgets.Dropdown):  # ipywidgets' 300px would leave the choice a few letters
            widget.layout.width = f"calc({label_width} + {CHOICE_WIDTH})"


def _table(text: str, separator: str, what: str = "") -> dict[str, str]:
    """``Name: value`` (or ``name=value``) lines as a table; blank lines are skipped.

    A malformed line is refused, naming the table ``what``; without ``what`` it is skipped (to find
    secrets in what the learner typed). The line is quoted, unless its first word names a credential
    (``X-API-Key s3cret``): then only that word is, since the rest may be the secret.
    """
    table = {}
    for line in filter(str.strip, text.splitlines()):
        name, found, value = line.partition(separator)
        if found and name.strip():
            table[name.strip()] = value.strip()
        elif what:
            first = line.split()[0]
            shown = f"starting '{first}'" if is_secret_name(first) else f"'{line.strip()}'"
            raise ConnectorError(f"The {what} line {shown} needs the form 'name{separator} value'.")
    return table


def _example_value(text: str) -> Any:
    """An example value: one that reads as JSON (a number, true, false) keeps that type; none is None.

    No example value at all is left for Test to name (error 10111).
    """
    with suppress(ValueError):
        if isinstance(value := json.loads(text), bool | int | float):
            return value
    return text or None


def _example_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) else "" if value is None else str(value)
