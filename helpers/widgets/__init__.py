"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.connector_form import ConnectorForm, connector_form
from helpers.widgets.key_entry import key_entry, save_key_message
from helpers.widgets.playground import Playground, playground

__all__ = ["ConnectorForm", "Playground", "connector_form", "key_entry", "playground", "save_key_message"]
