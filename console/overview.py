"""The overview of every home, cached until what it shows changes, and filtered per request."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anxin.db.models import Alert, Assignment, Home
from console.queries.homes import list_homes
from console.snapshot import Activity
from console.views import HomesView


class OverviewCache:
    """The unfiltered overview, recomputed only when alerts, homes, assignments or activity change (or each minute).

    At 10k homes building the rows costs a few hundred milliseconds; a page or API call then only filters them.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[Any, ...] | None = None
        self._view: HomesView | None = None
        self.extras: dict[Any, Any] = {}  # renderings of the current view (JSON bytes, HTML rows per language)

    def key(self, session: Session, activity: Activity, now: datetime) -> tuple[Any, ...]:
        """What the overview depends on, in two cheap queries."""
        alerts = session.execute(select(func.max(Alert.id), func.max(Alert.updated_at), func.count(Alert.id))).one()
        homes = session.execute(select(func.count(Home.id), func.max(Home.created_at))).one()
        assigned = session.execute(select(func.count(Assignment.id), func.max(Assignment.id))).one()
        return (*alerts, *homes, *assigned, activity.generation, activity.available, int(now.timestamp() // 60))

    def get(self, session: Session, activity: Activity, now: datetime) -> tuple[HomesView, bool]:
        """The full overview, and whether it was rebuilt for this call."""
        with self._lock:
            key = self.key(session, activity, now)
            if key == self._key and self._view is not None:
                return self._view, False
            view = list_homes(session, activity, now)
            self._key, self._view, self.extras = key, view, {}
            return view, True


def filter_view(
    view: HomesView,
    *,
    district: str | None = None,
    state: str | None = None,
    responder: int | None = None,
    q: str | None = None,
) -> HomesView:
    """The overview with only the homes matching every given filter; counts stay those of all homes."""
    if not (district or state or responder or q):
        return view
    needle = q.strip().casefold() if q else ""
    rows = [
        h
        for h in view.homes
        if (not district or h.district == district)
        and (not state or h.state == state)
        and (responder is None or responder in h.responder_ids)
        and (not needle or needle in h.label.casefold() or needle in h.id)
    ]
    return view.model_copy(update={"homes": rows})
