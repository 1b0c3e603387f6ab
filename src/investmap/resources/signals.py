"""Signals the resource library sends so higher apps can react without being imported.

`library_changed` is sent inside the writing transaction after a bulk write
that bypasses per-row model signals (an import, the demo writer), with
`kinds`: the set of kinds written ("parcels", "buildings", "pois", …).
"""

from django.dispatch import Signal

library_changed = Signal()
