"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.connector_form import ConnectorForm, connector_form
from helpers.widgets.key_entry import KeyEntry, key_entry, remove_key_message, save_key_message
from helpers.widgets.learner_name import learner_name_entry
from helpers.widgets.playground import Playground, playground

__all__ = [
    "ConnectorForm",
    "KeyEntry",
    "Playground",
    "connector_form",
    "key_entry",
    "learner_name_entry",
    "playground",
    "remove_key_message",
    "save_key_message",
]
