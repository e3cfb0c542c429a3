"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.connector_form import ConnectorForm, connector_form
from helpers.widgets.key_entry import key_entry, save_key_message

__all__ = ["ConnectorForm", "connector_form", "key_entry", "save_key_message"]
