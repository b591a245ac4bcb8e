"""The ledger: the append-only record of everything an agent said, heard and did."""

from .entry import ENTRY_KINDS, Entry, EntryKind
from .ledger import Ledger
from .store import LedgerStore

__all__ = ["ENTRY_KINDS", "Entry", "EntryKind", "Ledger", "LedgerStore"]
