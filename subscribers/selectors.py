"""Reads of the subscribers app: audiences, the public component list, admin lists (constant query counts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Exists, OuterRef, QuerySet, Subquery

from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.status.models import Component
from subscribers.choices import SubscriberStatus, WebhookStatus
from subscribers.models import Subscriber, SubscriberMessage, WebhookSubscriber


def _matching(queryset: QuerySet, through, owner_field: str, component_ids: Iterable[int]) -> QuerySet:
    """Rows whose component selection is empty (= everything) or meets `component_ids`."""
    component_ids = list(component_ids)
    if not component_ids:  # an event without components concerns everyone
        return queryset
    chosen = through.objects.filter(**{owner_field: OuterRef("pk")})
    return queryset.filter(~Exists(chosen) | Exists(chosen.filter(component_id__in=component_ids)))


def email_audience_ids(component_ids: Iterable[int]) -> list[int]:
    """Confirmed subscribers of any of `component_ids` (or of everything), by id: one query."""
    queryset = Subscriber.objects.filter(status=SubscriberStatus.CONFIRMED)
    queryset = _matching(queryset, Subscriber.components.through, "subscriber_id", component_ids)
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def webhook_audience_ids(component_ids: Iterable[int]) -> list[int]:
    queryset = WebhookSubscriber.objects.filter(status=WebhookStatus.ACTIVE)
    queryset = _matching(queryset, WebhookSubscriber.components.through, "webhooksubscriber_id", component_ids)
    return list(queryset.order_by("pk").values_list("pk", flat=True))


def selections(model, ids: Iterable[int]) -> dict[int, set[int]]:
    """{subscriber or webhook id: chosen component ids} for `ids`: one query."""
    through = model.components.through
    owner = "subscriber_id" if model is Subscriber else "webhooksubscriber_id"
    chosen: dict[int, set[int]] = defaultdict(set)
    for owner_id, component_id in through.objects.filter(**{f"{owner}__in": list(ids)}).values_list(
        owner, "component_id"
    ):
        chosen[owner_id].add(component_id)
    return chosen


def component_tree() -> tuple[dict[int, int | None], dict[int, list[int]]]:
    """(group of each component, children of each group) for every component: one query."""
    group_of: dict[int, int | None] = {}
    children: dict[int, list[int]] = defaultdict(list)
    for pk, group_id in Component.objects.values_list("pk", "group_id"):
        group_of[pk] = group_id
        if group_id:
            children[group_id].append(pk)
    return group_of, dict(children)


def public_component_choices() -> list[tuple[str, list[tuple[int, str]]]]:
    """Components a visitor may choose, as [(group name or "", [(id, name)])]: public leaves only (one query).

    A hidden group hides its children too (the status page's rule); groups are headings, not choices."""
    rows = list(Component.objects.order_by("position", "name"))
    by_pk = {c.pk: c for c in rows}
    sections: dict[str, list[tuple[int, str]]] = {"": []}
    for c in rows:
        parent = by_pk.get(c.group_id) if c.group_id else None
        if c.is_group or not c.public or (parent is not None and not parent.public):
            continue
        heading = parent.name if parent is not None and parent.is_group else ""
        sections.setdefault(heading, []).append((c.pk, c.name))
    return [(heading, items) for heading, items in sections.items() if items]


def public_component_ids() -> set[int]:
    return {pk for _, items in public_component_choices() for pk, _ in items}


def subscriber_by_public_id(public_id: str) -> Subscriber | None:
    return Subscriber.objects.filter(public_id=public_id).first()


def webhook_by_public_id(public_id: str) -> WebhookSubscriber | None:
    return WebhookSubscriber.objects.filter(public_id=public_id).first()


def _last_message(owner_field: str, field: str):
    return Subquery(
        SubscriberMessage.objects.filter(**{owner_field: OuterRef("pk")})
        .order_by("-created_at", "-id")
        .values(field)[:1]
    )


def subscribers_for_admin(queryset: QuerySet) -> QuerySet:
    """The admin list: components prefetched, last delivery (time, status) as subqueries: constant queries."""
    return queryset.prefetch_related("components").annotate(
        last_delivery_at=_last_message("subscriber", "delivery__created_at"),
        last_delivery_status=_last_message("subscriber", "delivery__status"),
    )


def webhooks_for_admin(queryset: QuerySet) -> QuerySet:
    return queryset.prefetch_related("components").annotate(
        last_delivery_at=_last_message("webhook", "delivery__created_at"),
        last_delivery_status=_last_message("webhook", "delivery__status"),
    )


def recent_messages(*, subscriber=None, webhook=None, limit: int = 20) -> list[SubscriberMessage]:
    queryset = SubscriberMessage.objects.select_related("delivery", "notice")
    queryset = queryset.filter(subscriber=subscriber) if subscriber is not None else queryset.filter(webhook=webhook)
    return list(queryset.order_by("-created_at", "-id")[:limit])


def notice_delivery_counts(notice) -> dict[str, int]:
    """{status: deliveries} of a notice's messages: one query (the kept counts once the rows were reduced)."""
    from django.db.models import Count

    if notice.deliveries_reduced_at is not None:
        totals: dict[str, int] = {}
        for by_status in (notice.reduced_counts or {}).values():
            for status, n in by_status.items():
                totals[status] = totals.get(status, 0) + n
        return totals

    rows = (
        NotificationDelivery.objects.filter(subscriber_message__notice=notice)
        .order_by()
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}
