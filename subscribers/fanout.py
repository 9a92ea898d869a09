"""Notices and their fan-out: what subscribers are told, and turning one notice into one delivery per recipient.

1. **A notice** is created once per status-page post (`notice_from_status_post`, idempotent: one notice
   per post) or per change of a component's public status (`component_changes_detect`). It holds the
   text, the Statuspage webhook body, the `.ics` and the affected components, and splits its audience
   (confirmed subscribers and active webhooks of an affected component, or of everything) into chunks
   of OPS_SUBSCRIBER_FANOUT_CHUNK, each queued as its own task after commit.
2. **A chunk** (`chunk_deliver`) creates the deliveries of its recipients in one short transaction
   (bulk inserts, one template render) and queues one send task per delivery: from there on the
   notifications app sends, retries, records and masks, and a failing address or endpoint only ever
   delays itself. A redelivered chunk task does nothing (the chunk is marked done; a unique constraint
   stops a second copy for the same recipient even under a race).
3. **The sweeper** (`fanout_sweep`, every minute) re-queues chunks whose task was lost.

Nothing here waits on the network, and no request does any of it: the status-page post that starts
it is itself created by a notifications worker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Q
from django_q.tasks import async_task

from ersen_ops.audit.services import record
from ersen_ops.core.kit import can_transition, lock, now_or
from ersen_ops.core.queue import enqueue_on_commit
from ersen_ops.notifications.choices import SubscriberChannel
from ersen_ops.notifications.models import DeliveryContent, NotificationDelivery
from ersen_ops.notifications.sending import deliveries_send_claimed
from ersen_ops.notifications.services import deliveries_queue_bulk
from ersen_ops.status import selectors as status_selectors
from ersen_ops.status.models import Component, StatusPost
from statuspage import serializers
from statuspage.snapshot import shortlink
from subscribers import content, policy, selectors, services, tokens
from subscribers.choices import (
    NOTICE_TRANSITIONS,
    Audience,
    MessageKind,
    NoticeKind,
    NoticeStatus,
    SubscriberStatus,
    WebhookStatus,
)
from subscribers.models import (
    ComponentState,
    FanoutChunk,
    Notice,
    Subscriber,
    SubscriberMessage,
    WebhookSubscriber,
    notice_public_id,
)

logger = logging.getLogger(__name__)

ACTOR = "system:subscribers-fanout"
CHUNK_TASK = "subscribers.tasks.deliver_chunk"
# A chunk not done this long after it was planned lost its task (a worker died): the sweeper queues it again.
STALE_CHUNK_SECONDS = 300


@dataclass
class Draft:
    """Everything a notice says, before it is saved and fanned out."""

    kind: str
    event: str
    related: object
    related_public_id: str
    subject: str
    body: str
    component_ids: list[int]
    webhook_payload: dict
    details: dict = field(default_factory=dict)
    emails: bool = True
    ics: str = ""
    ics_sequence: int | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    public_id: str = field(default_factory=notice_public_id)


# --- times, as subscribers read them ------------------------------------------------------------------------


def _utc_range(start: datetime, end: datetime) -> str:
    s, e = start.astimezone(UTC), end.astimezone(UTC)
    if s.date() == e.date():
        return f"{s:%Y-%m-%d %H:%M}–{e:%H:%M} UTC"
    return f"{s:%Y-%m-%d %H:%M} – {e:%Y-%m-%d %H:%M} UTC"


def _when(start: datetime, end: datetime) -> dict:
    from maintenance.messages import when_text

    return {"pacific": when_text(start, end), "utc": _utc_range(start, end)}


# --- from a status-page post ----------------------------------------------------------------------------------


def notice_from_status_post(*, post_id: int, now: datetime | None = None) -> Notice | None:
    """The notice of one status-page post (created once; None when nobody is to be told)."""
    now = now_or(now)
    existing = Notice.objects.filter(status_post_id=post_id).first()
    if existing is not None:
        return existing
    post = StatusPost.objects.select_related("related_type").filter(pk=post_id).first()
    if post is None or post.related_type is None:
        return None
    label = f"{post.related_type.app_label}.{post.related_type.model}"
    model = post.related_type.model_class()
    related = model.objects.filter(pk=post.related_id).first() if model is not None else None
    if related is None:
        return None
    if label == "maintenance.maintenancewindow":
        draft = _maintenance_draft(post, related, now=now)
    elif label == "incidents.incident":
        draft = _incident_draft(post, related, now=now)
    else:
        draft = None
    if draft is None:
        logger.info("status post %s (%s): nothing for subscribers", post.public_id, post.event)
        return None
    return _notice_create(draft, status_post=post, now=now)


def _previous_times(window, *, before: datetime) -> tuple[datetime, datetime] | None:
    """The times subscribers were last told for `window` (the latest earlier notice), else the times the
    window had before its last reschedule (its audit event)."""
    ct = ContentType.objects.get_for_model(window)
    told = (
        Notice.objects.filter(related_type=ct, related_id=str(window.pk), window_start__isnull=False)
        .order_by("-created_at", "-id")
        .values_list("window_start", "window_end")
        .first()
    )
    if told:
        return told
    from django.utils.dateparse import parse_datetime

    from ersen_ops.audit.models import AuditEvent

    event = (
        AuditEvent.objects.filter(
            target_type=ct, target_id=str(window.pk), action="maintenance.window.updated", created_at__lte=before
        )
        .order_by("-id")
        .values_list("data", flat=True)
        .first()
    )
    old = (event or {}).get("before", {})
    if "planned_start" not in old and "planned_end" not in old:
        return None
    start = parse_datetime(old["planned_start"]) if "planned_start" in old else window.planned_start
    end = parse_datetime(old["planned_end"]) if "planned_end" in old else window.planned_end
    return (start, end) if start and end else None


def _maintenance_draft(post: StatusPost, window, *, now: datetime) -> Draft | None:
    kind = policy.notice_kind(post.event, first_public_post=False)
    public = content.public_event(window.public_id) if kind else None
    if public is None:
        return None
    start, end = window.planned_start, window.eta or window.planned_end
    details = {
        "headline": NoticeKind(kind).label,
        "title": window.title,
        "status": public["status"],
        "when": _when(start, end),
        "link": shortlink(window.public_id),
        "components": [c["name"] for c in public["components"]],
    }
    if window.actual_start:
        details["started"] = _when(window.actual_start, window.actual_end or window.eta or window.planned_end)
    if kind == NoticeKind.MAINTENANCE_RESCHEDULED:
        previous = _previous_times(window, before=post.created_at)
        if previous and tuple(previous) != (start, end):
            details["was"] = _when(*previous)
    if kind == NoticeKind.MAINTENANCE_CANCELLED:
        details["cancelled"] = True
    calendar = content.window_ics(window)
    return Draft(
        kind=kind,
        event=post.event,
        related=window,
        related_public_id=window.public_id,
        subject=post.subject,
        body=post.body,
        component_ids=list(window.components.values_list("pk", flat=True)),
        webhook_payload={"page": content.page_status(now=now), "incident": public},
        details=details,
        ics=calendar[0] if calendar else "",
        ics_sequence=calendar[1] if calendar else None,
        window_start=start,
        window_end=end,
    )


def _incident_draft(post: StatusPost, incident, *, now: datetime) -> Draft | None:
    earlier = (
        StatusPost.objects.filter(related_type_id=post.related_type_id, related_id=post.related_id)
        .filter(Q(created_at__lt=post.created_at) | Q(created_at=post.created_at, pk__lt=post.pk))
        .exists()
    )
    kind = policy.notice_kind(post.event, first_public_post=not earlier)
    public = content.public_event(incident.public_id) if kind else None
    if public is None:
        return None
    details = {
        "headline": NoticeKind(kind).label,
        "title": incident.title,
        "status": public["status"],
        "impact": public["impact"],
        "link": shortlink(incident.public_id),
        "components": [c["name"] for c in public["components"]],
    }
    return Draft(
        kind=kind,
        event=post.event,
        related=incident,
        related_public_id=incident.public_id,
        subject=post.subject,
        body=post.body,
        component_ids=list(incident.component_impacts.values_list("component_id", flat=True)),
        webhook_payload={"page": content.page_status(now=now), "incident": public},
        details=details,
    )


# --- from a component status change --------------------------------------------------------------------------


def component_changes_detect(*, now: datetime | None = None) -> list[Notice]:
    """Compare each public component's status with what subscribers were last told; a notice per change.

    Webhooks hear every change (Statuspage's `component_update`). Email subscribers hear a change only
    when an operator changed the component's manual status: changes caused by an incident or a window
    reach them as that incident's or window's own message. A component seen for the first time is
    recorded without a notice. Serialised by the row locks on the recorded states.
    """
    now = now_or(now)
    notices = []
    with transaction.atomic():
        states = {s.component_id: s for s in ComponentState.objects.select_for_update().order_by("component_id")}
        components = [c for c in status_selectors.load_components() if not c.group]
        manual = dict(Component.objects.filter(pk__in=[c.pk for c in components]).values_list("pk", "status"))
        new_states, changes = [], []
        for component in components:
            state = states.get(component.pk)
            if state is None:
                new_states.append(
                    ComponentState(
                        component_id=component.pk,
                        public_status=component.status,
                        manual_status=manual[component.pk],
                        updated_at=now,
                    )
                )
                continue
            if state.public_status == component.status and state.manual_status == manual[component.pk]:
                continue
            if state.public_status != component.status:
                changes.append((component, state.public_status, state.manual_status != manual[component.pk]))
            state.public_status, state.manual_status, state.updated_at = component.status, manual[component.pk], now
            state.save(update_fields=["public_status", "manual_status", "updated_at"])
        ComponentState.objects.bulk_create(new_states, ignore_conflicts=True)
        if changes:
            page = content.page_status(now=now)
            for component, old, by_operator in changes:
                notice = _notice_create(_component_draft(component, old, by_operator, page=page, now=now), now=now)
                if notice is not None:
                    notices.append(notice)
    return notices


def _label(status: str) -> str:
    return status.replace("_", " ").capitalize()


def _component_draft(component, old: str, by_operator: bool, *, page: dict, now: datetime) -> Draft:
    public_id = notice_public_id()
    new = component.status
    return Draft(
        public_id=public_id,
        kind=NoticeKind.COMPONENT_STATUS,
        event="component.status_changed",
        related=Component.objects.get(pk=component.pk),
        related_public_id=component.id,
        subject=f"{component.name}: {_label(new)} (was {_label(old)})",
        body=f"The status of **{component.name}** changed from {_label(old)} to {_label(new)}.",
        component_ids=[component.pk],
        webhook_payload={
            "page": page,
            "component_update": content.component_update(
                update_id=public_id, component_id=component.id, old_status=old, new_status=new, at=now
            ),
            "component": serializers.component(component),
        },
        details={
            "headline": NoticeKind.COMPONENT_STATUS.label,
            "title": component.name,
            "old_status": _label(old),
            "new_status": _label(new),
            "link": tokens.public_url("/"),
            "components": [component.name],
        },
        emails=by_operator,
    )


# --- creating a notice and planning its chunks -----------------------------------------------------------------


def _notice_create(draft: Draft, *, status_post: StatusPost | None = None, now: datetime) -> Notice | None:
    group_of, children = selectors.component_tree()
    affected = policy.expand_components(draft.component_ids, group_of=group_of, children_of=children)
    email_ids = selectors.email_audience_ids(affected) if draft.emails else []
    webhook_ids = selectors.webhook_audience_ids(affected)
    if not email_ids and not webhook_ids:
        logger.info("%s %s: no subscriber is concerned", draft.event, draft.related_public_id)
        return None
    size = settings.OPS_SUBSCRIBER_FANOUT_CHUNK
    with transaction.atomic():
        notice = Notice(
            public_id=draft.public_id,
            kind=draft.kind,
            event=draft.event,
            status=NoticeStatus.FANNING_OUT,
            status_post=status_post,
            related_type=ContentType.objects.get_for_model(draft.related),
            related_id=str(draft.related.pk),
            related_public_id=draft.related_public_id,
            subject=draft.subject[:300],
            body=draft.body,
            details=draft.details,
            component_ids=affected,
            emails=draft.emails,
            webhook_payload=content.payload_text(draft.webhook_payload),
            ics=draft.ics,
            ics_sequence=draft.ics_sequence,
            window_start=draft.window_start,
            window_end=draft.window_end,
            email_recipients=len(email_ids),
            webhook_recipients=len(webhook_ids),
        )
        notice.full_clean(exclude=["status_post"])
        try:
            with transaction.atomic():
                notice.save()
        except IntegrityError:  # the same post's notice was created by a concurrent task
            return Notice.objects.filter(status_post=status_post).first() if status_post else None
        first = settings.OPS_SUBSCRIBER_FIRST_CHUNK
        chunks = [
            FanoutChunk(notice=notice, audience=audience, number=number, recipient_ids=ids)
            for audience, recipients, head in ((Audience.WEBHOOK, webhook_ids, 0), (Audience.EMAIL, email_ids, first))
            for number, ids in enumerate(policy.chunks(recipients, size, first=head), start=1)
        ]
        FanoutChunk.objects.bulk_create(chunks)
        notice.chunks_total = len(chunks)
        notice.save(update_fields=["chunks_total"])
        record(
            actor=ACTOR,
            action="subscribers.notice.created",
            target=notice,
            data={
                "kind": notice.kind,
                "event": notice.event,
                "about": draft.related_public_id,
                "status_post": status_post.public_id if status_post else None,
                "email_recipients": notice.email_recipients,
                "webhook_recipients": notice.webhook_recipients,
                "chunks": notice.chunks_total,
                "ics_sequence": notice.ics_sequence,
            },
        )
        # After the commit, in this order: the webhooks' chunks are queued, the first email chunk is delivered here
        # (no queue hop, a few recipients: the first emails leave within a second), then the rest are queued.
        inline = next((c for c in chunks if c.audience == Audience.EMAIL), None) if first else None
        for chunk in chunks:
            if chunk is inline:
                transaction.on_commit(lambda: _chunk_deliver_here(inline.pk))
            else:
                enqueue_on_commit(CHUNK_TASK, chunk.pk)
    return notice


def _chunk_deliver_here(chunk_id: int) -> None:
    """The notice's own task delivers its first email chunk; if that fails, the chunk is queued like the others (a
    worker that dies here leaves it, and the chunks not yet queued, to the sweeper)."""
    try:
        chunk_deliver(chunk_id=chunk_id)
    except Exception:  # noqa: BLE001 - the notice is committed; its chunk's own task tries again
        logger.exception("first chunk %s could not be delivered by the notice's task; queued instead", chunk_id)
        async_task(CHUNK_TASK, chunk_id)


# --- one chunk → queued deliveries -------------------------------------------------------------------------------


def chunk_deliver(*, chunk_id: int, now: datetime | None = None, send: bool = True) -> int:
    """Create the deliveries of one chunk (recipients still confirmed/active and still interested) and, once they
    are committed, send them in this same task: one SMTP connection for the chunk's emails, its webhooks
    concurrently (notifications.sending.deliveries_send_claimed). Idempotent: a redelivered task finds the chunk
    done. `send=False` leaves them queued for send tasks instead (one per OPS_NOTIFY_SEND_BATCH)."""
    now = now_or(now)
    with transaction.atomic():
        chunk = FanoutChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.done_at is not None:
            return 0
        notice = Notice.objects.get(pk=chunk.notice_id)
        if chunk.audience == Audience.EMAIL:
            deliveries = _email_deliveries(notice, chunk.recipient_ids, send_here=send)
        else:
            deliveries = _webhook_deliveries(notice, chunk.recipient_ids, send_here=send)
        if send and deliveries:
            transaction.on_commit(lambda: deliveries_send_claimed(deliveries=deliveries))
        chunk.done_at = now
        chunk.deliveries = len(deliveries)
        chunk.save(update_fields=["done_at", "deliveries"])
        notice = lock(notice)
        notice.chunks_done += 1
        notice.deliveries_queued += len(deliveries)
        finished = notice.chunks_done >= notice.chunks_total and can_transition(
            NOTICE_TRANSITIONS, notice.status, NoticeStatus.FANNED_OUT
        )
        if finished:
            notice.status = NoticeStatus.FANNED_OUT
            notice.fanned_out_at = now
        notice.save(update_fields=["chunks_done", "deliveries_queued", "status", "fanned_out_at"])
        record(
            actor=ACTOR,
            action="subscribers.chunk.queued",
            target=notice,
            data={
                "audience": chunk.audience,
                "chunk": chunk.number,
                "of": notice.chunks_total,
                "recipients": len(chunk.recipient_ids),
                "deliveries": len(deliveries),
                "delivery_ids": [deliveries[0].pk, deliveries[-1].pk] if deliveries else [],
            },
        )
        if finished:
            record(
                actor=ACTOR,
                action="subscribers.notice.fanned_out",
                target=notice,
                data={
                    "before": {"status": NoticeStatus.FANNING_OUT},
                    "after": {"status": notice.status},
                    "deliveries": notice.deliveries_queued,
                },
            )
    return len(deliveries)


def _notice_content(notice: Notice, channel: str) -> DeliveryContent:
    """The notice's text for `channel`, rendered and stored once (created by the first chunk that needs it)."""
    field = "email_content" if channel == SubscriberChannel.SUBSCRIBER_EMAIL else "webhook_content"
    if getattr(notice, f"{field}_id") is None:
        notice = Notice.objects.select_for_update().get(pk=notice.pk)  # one content per notice, even racing
    existing = getattr(notice, f"{field}_id")
    if existing is not None:
        return DeliveryContent.objects.get(pk=existing)
    if channel == SubscriberChannel.SUBSCRIBER_EMAIL:
        text, html = notice_email(notice)
        shared = DeliveryContent(
            event=notice.event,
            channel=channel,
            subject=content.email_subject(notice.subject),
            body=notice.body,
            message=text,
            message_html=html,
            template_names=", ".join(content.EMAIL_TEMPLATES["notice"]),
        )
    else:
        shared = DeliveryContent(
            event=notice.event,
            channel=channel,
            subject=notice.subject[:300],
            body=notice.body,
            message=notice.webhook_payload,  # each webhook's body = its own `meta` + this (stored per delivery)
            template_names="Statuspage webhook JSON",
        )
    shared.full_clean()
    shared.save()
    Notice.objects.filter(pk=notice.pk).update(**{field: shared})
    return shared


def _delivery(notice: Notice, shared: DeliveryContent, *, target: str, message: str = "", ct) -> NotificationDelivery:
    # Only what is this recipient's own: the text is `shared`, the links are filled in from the subscriber's row.
    return NotificationDelivery(
        event=notice.event,
        channel=shared.channel,
        target_name=target[:200],
        subject="",  # the shared content's
        body="",
        message=message,
        content=shared,
        related_type=ct,
        related_id=str(notice.pk),
    )


def _email_deliveries(notice: Notice, ids: list[int], *, send_here: bool) -> list[NotificationDelivery]:
    done = SubscriberMessage.objects.filter(notice=notice, subscriber_id__in=ids).values_list("subscriber_id")
    recipients = list(
        Subscriber.objects.filter(pk__in=ids, status=SubscriberStatus.CONFIRMED)
        .exclude(pk__in=done)
        .only("pk", "public_id")
        .order_by("pk")
    )
    chosen = selectors.selections(Subscriber, [s.pk for s in recipients])
    recipients = [s for s in recipients if policy.subscriber_matches(chosen.get(s.pk, ()), notice.component_ids)]
    if not recipients:
        return []
    shared = _notice_content(notice, SubscriberChannel.SUBSCRIBER_EMAIL)
    ct = ContentType.objects.get_for_model(Notice)
    deliveries = [_delivery(notice, shared, target=str(s), ct=ct) for s in recipients]
    deliveries_queue_bulk(deliveries=deliveries, send_here=send_here)
    SubscriberMessage.objects.bulk_create(
        SubscriberMessage(delivery=d, kind=MessageKind.NOTICE, notice=notice, subscriber=s)
        for d, s in zip(deliveries, recipients, strict=True)
    )
    return deliveries


def _webhook_deliveries(notice: Notice, ids: list[int], *, send_here: bool) -> list[NotificationDelivery]:
    done = SubscriberMessage.objects.filter(notice=notice, webhook_id__in=ids).values_list("webhook_id")
    recipients = list(
        WebhookSubscriber.objects.filter(pk__in=ids, status=WebhookStatus.ACTIVE).exclude(pk__in=done).order_by("pk")
    )
    chosen = selectors.selections(WebhookSubscriber, [w.pk for w in recipients])
    recipients = [w for w in recipients if policy.subscriber_matches(chosen.get(w.pk, ()), notice.component_ids)]
    if not recipients:
        return []
    shared = _notice_content(notice, SubscriberChannel.SUBSCRIBER_WEBHOOK)
    ct = ContentType.objects.get_for_model(Notice)
    deliveries = [
        # The exact bytes POSTed stay on the delivery, so a retry sends the same body and the same signature.
        _delivery(
            notice,
            shared,
            target=f"webhook {w.name} ({w.host})",
            message=content.webhook_body(notice.webhook_payload, w),
            ct=ct,
        )
        for w in recipients
    ]
    deliveries_queue_bulk(deliveries=deliveries, send_here=send_here)
    SubscriberMessage.objects.bulk_create(
        SubscriberMessage(delivery=d, kind=MessageKind.NOTICE, notice=notice, webhook=w)
        for d, w in zip(deliveries, recipients, strict=True)
    )
    return deliveries


def notice_email(notice: Notice) -> tuple[str, str]:
    """(text, HTML) of a notice's email, links as placeholders (`content.personalise` fills them in)."""
    return content.render_email(
        "notice",
        {"notice": notice, "details": notice.details, "kind": notice.kind, "has_calendar": bool(notice.ics)},
    )


# --- retention ------------------------------------------------------------------------------------------------------

REDUCE_PER_RUN = 20


def notice_deliveries_reduce(*, now: datetime | None = None, limit: int = REDUCE_PER_RUN) -> dict[str, int]:
    """Notices older than OPS_SUBSCRIBER_DELIVERY_DAYS keep counts instead of one delivery row per recipient.

    Per notice, in one transaction: the per-channel/per-outcome counts go on the notice, its SubscriberMessage
    rows and deliveries are deleted (notifications.deliveries_reduce), and the reduction is audited. A notice
    with a delivery still queued or sending waits for the next run. The shared text (DeliveryContent) and the
    audit events of every attempt stay.
    """
    from ersen_ops.core.errors import DomainError
    from ersen_ops.notifications.services import deliveries_reduce

    now = now_or(now)
    cutoff = now - timedelta(days=settings.OPS_SUBSCRIBER_DELIVERY_DAYS)
    ct = ContentType.objects.get_for_model(Notice)
    counts = {"notices_reduced": 0, "deliveries_deleted": 0, "notices_waiting": 0}
    candidates = Notice.objects.filter(created_at__lt=cutoff, deliveries_reduced_at__isnull=True).order_by("pk")
    for pk in list(candidates.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            notice = Notice.objects.select_for_update().get(pk=pk)
            if notice.deliveries_reduced_at is not None:
                continue
            linked = SubscriberMessage.objects.filter(notice=notice)
            ids = set(linked.values_list("delivery_id", flat=True))
            # Resends of the notice's deliveries carry the notice as their subject but no link row of their own.
            ids |= set(
                NotificationDelivery.objects.filter(
                    related_type=ct, related_id=str(notice.pk), channel__in=SubscriberChannel.values
                ).values_list("pk", flat=True)
            )
            try:
                with transaction.atomic():
                    linked.delete()
                    by_channel = deliveries_reduce(delivery_ids=sorted(ids))
            except DomainError as exc:
                logger.info("notice %s: not reduced yet (%s)", notice.public_id, exc)
                counts["notices_waiting"] += 1
                continue
            notice.reduced_counts = by_channel
            notice.deliveries_reduced_at = now
            notice.save(update_fields=["reduced_counts", "deliveries_reduced_at"])
            record(
                actor=ACTOR,
                action="subscribers.notice.deliveries_reduced",
                target=notice,
                data={
                    "kept_days": settings.OPS_SUBSCRIBER_DELIVERY_DAYS,
                    "deliveries_deleted": len(ids),
                    "counts": by_channel,
                },
            )
            counts["notices_reduced"] += 1
            counts["deliveries_deleted"] += len(ids)
    if counts["notices_reduced"]:
        logger.info("subscriber deliveries reduced: %s", counts)
    return counts


# --- the safety net ------------------------------------------------------------------------------------------------


def fanout_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Re-queue chunks whose task was lost; drop old rate-limit counters and stale unconfirmed subscriptions."""
    now = now_or(now)
    stale = FanoutChunk.objects.filter(
        done_at__isnull=True, created_at__lt=now - timedelta(seconds=STALE_CHUNK_SECONDS)
    ).values_list("pk", flat=True)
    counts = {"chunks_requeued": 0}
    for pk in list(stale.order_by("pk")[:500]):
        enqueue_on_commit(CHUNK_TASK, pk)
        counts["chunks_requeued"] += 1
    counts["rate_limit_rows_deleted"] = services.rate_limits_purge(now=now)
    counts["pending_purged"] = services.pending_purge(now=now)
    if any(counts.values()):
        logger.info("subscribers sweep: %s", counts)
    return counts
