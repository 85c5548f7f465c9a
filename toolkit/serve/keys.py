"""Who may call a server: the API keys of ``NOISESEARCH_API_KEYS``, each key's holder the owner of its jobs."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Optional

KEYS_ENV = "NOISESEARCH_API_KEYS"


class Keys:
    """The API keys a server accepts (``NOISESEARCH_API_KEYS``, comma-separated; never logged): each key's holder
    owns the jobs made with it, under a name derived from the key (its SHA-256, shortened)."""

    def __init__(self, keys: list[str], open_to_all: bool = False):
        self.keys = [key for key in keys if key]
        self.open_to_all = open_to_all

    @classmethod
    def from_env(cls, open_to_all: bool = False) -> "Keys":
        return cls([key.strip() for key in os.environ.get(KEYS_ENV, "").split(",")], open_to_all)

    def owner(self, authorization: Optional[str]) -> Optional[str]:
        """The owner a request's ``Authorization: Bearer KEY`` names (None: no key or a wrong one)."""
        if not self.keys and self.open_to_all:
            return "local"
        scheme, _, key = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        for known in self.keys:
            if hmac.compare_digest(known.encode(), key.strip().encode()):
                return hashlib.sha256(known.encode()).hexdigest()[:16]
        return None
