"""The one exception type the control-plane package raises for operational failures."""

from __future__ import annotations


class ControlPlaneError(RuntimeError):
    """A control-plane component could not be found, started, reached or stopped.

    The message names the component and, when a process was involved, ends with the tail of
    its log, because that tail is nearly always what explains the failure.
    """
