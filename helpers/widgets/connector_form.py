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

# Descriptions a field takes later (the Api Key field becomes "Bearer Token"): their labels must fit too.
_LATER_LABELS = ("Bearer Token",)
# What a drop-down gets beside its label: its longest choice ("Bearer Token Auth") and the arrow.
_CHOICE_WIDTH = "22ch"


class ConnectorForm:
    """The form. ``display(form)`` shows it; its methods are the plain-code path to every button."""

    def __init__(
        self, connector: Connector | None = None, action: HttpAction | None = None, *, send_to: str | None = None
    ) -> None:
        self._secrets = {"api_key": "", "password": ""}  # kept here, never in a widget's value
        self.send_to = send_to  # where Test sends (the sandbox), while the Base URL stays the connector's
        self._build_widgets()
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
        if isinstance(auth, HeaderAuth | ParamAuth):
            self.auth_type.value = "Header Auth" if isinstance(auth, HeaderAuth) else "Param Auth"
            self._keep_secret("api_key", auth.api_key)
        if isinstance(auth, HeaderAuth):
            self.header_key.value, self.value_pattern.value = auth.header_key, auth.value_pattern
        if isinstance(auth, ParamAuth):
            self.param_name.value = auth.param_name
        if isinstance(auth, BearerTokenAuth):
            self._keep_secret("api_key", auth.token)
        if isinstance(auth, BasicAuth):
            self.username.value = auth.username
            self._keep_secret("password", auth.password)
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
            connector = None
            if not isinstance(imported.connector.auth, NoAuth):
                connector = Connector(
                    self.name.value or imported.connector.name,
                    self.base_url.value or imported.connector.base_url,
                    imported.connector.auth,
                )
        except Exception as error:  # a button must never show a traceback
            return self._say(f"Not imported: {self._sentence(error, curl_secrets(command))}")
        self.load_action(imported.action)
        notes = ["Imported the HTTP action."]
        if connector is not None:
            self.load_connector(connector)
            notes.append("Its Authorization header became the connector's auth.")
        if imported.connector.base_url != self.base_url.value:
            notes.append(
                f"The command's Base URL is {imported.connector.base_url}; the connector keeps "
                f"{self.base_url.value or '(empty)'}."
            )
        notes += [f"Note: {ended(note)}" for note in imported.notes]  # options accepted but not carried over, and why
        return self._say(" ".join(notes))

    def connector(self) -> Connector:
        """The connector the fields describe; raises a ConnectorError saying what to fix."""
        self._take_secrets()
        return Connector(self.name.value.strip(), self.base_url.value, self._auth())

    def action(self) -> HttpAction:
        """The HTTP action the fields describe; raises a ConnectorError saying what to fix."""
        return HttpAction(
            self.action_name.value.strip() or "Action",
            self.path.value.strip(),
            self.method.value,
            _table(self.headers.value, ":", "Headers"),
            _table(self.query.value, "=", "Query"),
            self.body.value,
            _inputs(self.inputs.value),
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

    @property
    def widget(self) -> widgets.VBox:
        return self._box

    def __repr__(self) -> str:
        action = f"{self.method.value} {self.path.value}".strip()
        # What a learner typed is shown: a key pasted into the wrong field is masked like everywhere else.
        return redact(f"ConnectorForm(name={self.name.value!r}, action={action!r})", tuple(self._secrets.values()))

    def _repr_mimebundle_(self, **kwargs: object) -> dict:
        # The form's view, and a text/plain (what nbval records, and what shows where widgets cannot)
        # that says what the form is instead of the repr of every child widget.
        bundle = self._box._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (
            f"{self!r}: Creator Studio's connector and HTTP action fields with Check, Test and Export buttons, "
            "shown when this cell runs in a live kernel with Jupyter widgets (JupyterLab, Notebook 7)."
        )
        return bundle

    def _build_widgets(self) -> None:
        text = _field(widgets.Text)
        self.name, self.base_url = text("Name"), text("Base URL", placeholder="https://api.example.com")
        self.auth_config = widgets.Dropdown(options=AUTH_CONFIGS, description="Auth Config")
        self.auth_type = widgets.Dropdown(options=("Header Auth", "Param Auth"), description="Api Key Auth Auth Type")
        self.header_key, self.value_pattern = (
            text("Header Auth Key", "Authorization"),
            text("Header Auth Value Pattern", "Bearer %s"),
        )
        self.param_name, self.username = text("Param Auth Key", "api_key"), text("Username")
        # As wide as the text fields: the placeholder says "saved: pplx-...cret (type to replace)".
        self.api_key = widgets.Password(description="Api Key", layout=widgets.Layout(width="95%"))
        self.password = widgets.Password(description="Password", layout=widgets.Layout(width="95%"))
        area = _field(widgets.Textarea)
        self.action_name, self.path = text("Action name"), text("Path", placeholder="/v1/agent")
        self.method = widgets.Dropdown(options=METHODS, value="POST", description="Method")
        self.headers, self.query = (
            area("Headers", placeholder="Name: value"),
            area("Query Parameters", placeholder="name=value"),
        )
        self.body = area("Request Body", rows=10)
        self.inputs = area("Example values", placeholder="name = value")
        self.curl = area("cURL command", placeholder="curl --request POST --url https://...", rows=6)
        self.status, self.output = widgets.HTML(), widgets.Output()
        self.auth_config.observe(lambda _: self._show_auth_fields(), names="value")
        self.auth_type.observe(lambda _: self._show_auth_fields(), names="value")
        self._box = widgets.VBox(
            [
                widgets.HTML("<b>Connector</b>"),
                self.name,
                self.base_url,
                self.auth_config,
                self.auth_type,
                self.header_key,
                self.value_pattern,
                self.param_name,
                self.api_key,
                self.username,
                self.password,
                widgets.HTML("<b>HTTP action</b>"),
                self.curl,
                self._button("Import cURL", self._on_import),
                self.action_name,
                self.method,
                self.path,
                self.headers,
                self.query,
                self.body,
                self.inputs,
                widgets.HBox(
                    [
                        self._button("Check", self.check),
                        self._button("Test", self._on_test, "primary"),
                        self._button("Export", self._on_export),
                    ]
                ),
                self.status,
                self.output,
            ]
        )
        _align_labels(self._box)
        self._show_auth_fields()

    def _button(self, label: str, action: Any, style: str = "") -> widgets.Button:
        button = widgets.Button(description=label, button_style=style)
        button.on_click(lambda _: self._guard(action))
        return button

    def _guard(self, action: Any) -> None:
        """Run a button's action; anything it lets escape becomes one sentence, never a traceback."""
        try:
            action()
        except Exception as error:
            self._say(f"Not done: {self._sentence(error)}")

    def _show_auth_fields(self) -> None:
        """Show only the fields of the chosen Auth Config, as Creator Studio does."""
        config, header = self.auth_config.value, self.auth_type.value == "Header Auth"
        visible = {
            self.auth_type: config == "Api Key Auth",
            self.header_key: config == "Api Key Auth" and header,
            self.value_pattern: config == "Api Key Auth" and header,
            self.param_name: config == "Api Key Auth" and not header,
            self.api_key: config in ("Api Key Auth", "Bearer Token Auth"),
            self.username: config == "Basic Auth",
            self.password: config == "Basic Auth",
        }
        for widget, shown in visible.items():
            widget.layout.display = None if shown else "none"
        self.api_key.description = "Bearer Token" if config == "Bearer Token Auth" else "Api Key"

    # --- button callbacks: the plain methods, with the outcome shown below the form ----------

    def _on_import(self) -> None:
        self.import_curl(self.curl.value)

    def _on_test(self) -> None:
        self._show(lambda: show_execution(self.test()))

    def _on_export(self) -> None:
        def show() -> None:
            for title, text in self.exports().items():
                language = "bash" if title == "curl" else "json"
                display(Markdown(f"**{title}**\n\n```{language}\n{text}\n```"))

        self._show(show)

    def _show(self, render: Any) -> None:
        self.output.clear_output()
        with self.output:  # catch inside: an Output widget would print a traceback for what escapes it
            try:
                render()
                self._say("")
            except Exception as error:  # not only TutorialError: any slip would print a traceback here
                self._say(f"Not done: {self._sentence(error)}")

    # --- secrets and fields -----------------------------------------------------------------

    def _keep_secret(self, slot: str, value: str) -> None:
        self._secrets[slot] = value
        field = self.api_key if slot == "api_key" else self.password
        field.value = ""
        field.placeholder = f"saved: {shown_key(value) if slot == 'api_key' else HIDDEN} (type to replace)"

    def _take_secrets(self) -> None:
        """Move a newly typed key or password out of its widget, at once."""
        for slot, field in (("api_key", self.api_key), ("password", self.password)):
            if field.value:
                self._keep_secret(slot, field.value.strip())

    def _auth(self) -> NoAuth | HeaderAuth | ParamAuth | BearerTokenAuth | BasicAuth:
        config, key = self.auth_config.value, self._secrets["api_key"]
        if config == "Api Key Auth" and self.auth_type.value == "Header Auth":
            return HeaderAuth(key, self.header_key.value.strip(), self.value_pattern.value)
        if config == "Api Key Auth":
            return ParamAuth(key, self.param_name.value.strip())
        if config == "Bearer Token Auth":
            return BearerTokenAuth(key)
        if config == "Basic Auth":
            return BasicAuth(self.username.value.strip(), self._secrets["password"])
        return NoAuth()

    def _sentence(self, error: BaseException, extra: tuple[str, ...] = ()) -> str:
        """``error`` as one sentence, with every secret the form holds (saved or just typed) masked."""
        typed = (self._secrets["api_key"], self.api_key.value, self._secrets["password"], self.password.value)
        fields = ((self.headers, ":"), (self.query, "="), (self.inputs, "="))
        named = [value for area, separator in fields for value in secret_values(_loose_table(area.value, separator))]
        return error_sentence(error, [*typed, *named, *curl_secrets(self.curl.value), *extra])

    def _say(self, message: str) -> str:
        self.status.value = escape(message)
        return message


def connector_form(
    connector: Connector | None = None, action: HttpAction | None = None, *, send_to: str | None = None
) -> ConnectorForm:
    """A form pre-filled with ``connector`` and ``action`` (either may be left out).

    ``send_to``: Test sends there (e.g. the sandbox) instead of the Base URL, which stays as it is.
    """
    return ConnectorForm(connector, action, send_to=send_to)


# --- parsing the text areas -------------------------------------------------------------------


def _field(kind: type) -> Any:
    def make(label: str, value: str = "", **options: Any) -> widgets.Widget:
        return kind(value=value, description=label, layout=widgets.Layout(width="95%"), **options)

    return make


def _align_labels(box: widgets.Box) -> None:
    """Give every label in ``box`` the width of the longest one, so that none is cut ("Header Auth Value Patt...").

    In ``ch`` (the width of a digit): in the sans-serif fonts Jupyter uses, a label in mixed case is
    narrower than that many digits; two more leave room for capitals and the gap before the field.
    """
    described = [w for w in box.children if _has_label(w)]
    longest = max(len(label) for label in [*(w.description for w in described), *_LATER_LABELS])
    label_width = f"{longest + 2}ch"
    for widget in described:
        widget.style.description_width = label_width
        if isinstance(widget, widgets.Dropdown):  # ipywidgets' 300px would leave the choice a few letters
            widget.layout.width = f"calc({label_width} + {_CHOICE_WIDTH})"


def _has_label(widget: widgets.Widget) -> bool:
    """A field with a label before it (buttons and the section titles have none)."""
    style = getattr(widget, "style", None)
    return isinstance(style, widgets.Style) and style.has_trait("description_width") and bool(widget.description)


def _table(text: str, separator: str, what: str) -> dict[str, str]:
    """``Name: value`` (or ``name=value``) lines as a table; blank lines are skipped.

    A malformed line is quoted, unless its first word names a credential (``X-API-Key s3cret``):
    then only that word is, since the rest may be the secret.
    """
    table = {}
    for line in filter(str.strip, text.splitlines()):
        name, found, value = line.partition(separator)
        if not found or not name.strip():
            first = line.split()[0]
            shown = f"starting '{first}'" if is_secret_name(first) else f"'{line.strip()}'"
            raise ConnectorError(f"The {what} line {shown} needs the form 'name{separator} value'.")
        table[name.strip()] = value.strip()
    return table


def _loose_table(text: str, separator: str) -> dict[str, str]:
    """``text`` read as :func:`_table` does, skipping malformed lines instead of refusing them."""
    pairs = (line.partition(separator) for line in text.splitlines())
    return {name.strip(): value.strip() for name, found, value in pairs if found and name.strip()}


def _inputs(text: str) -> dict[str, Any]:
    """``name = value`` lines; a value that reads as JSON (a number, true, false) keeps that type."""
    return {name: _example_value(value) for name, value in _table(text, "=", "Example values").items()}


def _example_value(text: str) -> Any:
    if not text:
        return None  # no example value: Test will say so (error 10111)
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float) else text


def _example_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool | int | float) else "" if value is None else str(value)
