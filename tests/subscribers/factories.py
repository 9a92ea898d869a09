"""Subscribers for tests: made directly (fast, for audiences) or through the public flow (for behaviour)."""

from __future__ import annotations

import factory
from django.utils import timezone

from subscribers.choices import SubscriberStatus
from subscribers.models import Subscriber, WebhookSubscriber
from subscribers.services import new_webhook_secret


class SubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscriber
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    status = SubscriberStatus.CONFIRMED
    confirmed_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def components(self, create, extracted, **kwargs):
        if create and extracted:
            self.components.set(extracted)


class WebhookSubscriberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscriber
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Partner bridge {n}")
    url = "http://127.0.0.1:9/hook"
    secret = factory.LazyFunction(new_webhook_secret)

    @factory.post_generation
    def components(self, create, extracted, **kwargs):
        if create and extracted:
            self.components.set(extracted)
