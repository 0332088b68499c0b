"""Every restoration method behind one interface (:class:`Restorer`) and one registry."""

from restorekit.restorers.base import (
    Entry,
    Restorer,
    build_net,
    get_entry,
    list_restorers,
    load_restorer,
    register_net,
    register_restorer,
)

__all__ = [
    "Entry",
    "Restorer",
    "build_net",
    "get_entry",
    "list_restorers",
    "load_restorer",
    "register_net",
    "register_restorer",
]
