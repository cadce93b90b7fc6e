"""Device sync (libxmtp 1.10): an inbox's installations share consent, the HMAC key and history through the
inbox's *sync groups* and encrypted archives handed over by a history server. See :mod:`.manager`."""

from __future__ import annotations

from .guard import ForeignSyncGroup, check_sync_welcome
from .history import AvailableArchive, HistoryServerError, HistorySync, HistorySyncError, SyncReplyRefused
from .manager import DeviceSync
from .preferences import ConsentUpdate, HmacKeyUpdate, PreferenceUpdate

__all__ = [
    "AvailableArchive",
    "ConsentUpdate",
    "DeviceSync",
    "ForeignSyncGroup",
    "HistoryServerError",
    "HistorySync",
    "HistorySyncError",
    "HmacKeyUpdate",
    "PreferenceUpdate",
    "SyncReplyRefused",
    "check_sync_welcome",
]
