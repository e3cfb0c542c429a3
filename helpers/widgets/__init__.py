"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.key_entry import key_entry, save_key_message

__all__ = ["key_entry", "save_key_message"]
