"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.key_entry import key_entry, save_key_message
from helpers.widgets.playground import Playground, playground

__all__ = ["Playground", "key_entry", "playground", "save_key_message"]
