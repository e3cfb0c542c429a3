"""Notebook widgets. Each is a thin layer over a plain function that tests call directly."""

from helpers.widgets.key_entry import KeyEntry, key_entry, remove_key_message, save_key_message

__all__ = ["KeyEntry", "key_entry", "remove_key_message", "save_key_message"]
