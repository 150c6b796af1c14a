"""The API keys a process has loaded, reused only while each stands unchanged in the store.

Every request reads its key's stored version (one index probe); a revocation is an event, so
it moves the version, and every process on every host refuses the key at its next request.
The key's events are loaded and decoded again only when its version moved.
"""

from __future__ import annotations

import threading
from typing import Protocol

from cachetools import LRUCache

from ledger.access import ApiKey, key_id_for

KEYS_KEPT = 10_000


class KeyReads(Protocol):
    def api_key(self, key_id: str) -> ApiKey: ...

    def api_key_version(self, key_id: str) -> int | None: ...


class KeyCache:
    def __init__(self, ledger: KeyReads, size: int = KEYS_KEPT) -> None:
        self._ledger = ledger
        self._keys: LRUCache[str, ApiKey] = LRUCache(maxsize=size)
        self._lock = threading.Lock()

    def authenticate(self, token: str) -> ApiKey | None:
        """The live key for this token, or None (unknown or revoked)."""
        key_id = key_id_for(token)
        version = self._ledger.api_key_version(key_id)
        if version is None:
            return None
        with self._lock:
            key = self._keys.get(key_id)
        if key is None or key.version != version:
            # Stored, so found: a key's events are never deleted.
            key = self._ledger.api_key(key_id)
            with self._lock:
                self._keys[key_id] = key
        return key if key.matches(token) else None
