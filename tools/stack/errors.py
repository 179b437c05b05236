"""Errors of the local stack, each worded for the person who has to fix it."""

from __future__ import annotations


class StackError(Exception):
    """Something about the local stack needs the user's attention."""


class MissingBinary(StackError):
    """A server executable (mosquitto, influxd) is not installed or not found."""


class ComponentFailed(StackError):
    """A component exited or did not become healthy in time."""


class PortInUse(StackError):
    """Another process already listens on a port the stack wants."""
