"""Webhooks: who is told about which event, the callback-address guard and the delivery."""

from certificates.notifications.callbacks import CallbackPolicy, CallbackRefused
from certificates.notifications.dispatcher import WebhookDispatcher
from certificates.notifications.notifier import Details, Notifier, Silent
from certificates.notifications.subscriptions import (
    EVENTS,
    SIGNATURE_HEADER,
    Subscription,
    SubscriptionError,
    Subscriptions,
    sign_body,
    verify_signature,
)

__all__ = [
    "EVENTS",
    "SIGNATURE_HEADER",
    "CallbackPolicy",
    "CallbackRefused",
    "Details",
    "Notifier",
    "Silent",
    "Subscription",
    "SubscriptionError",
    "Subscriptions",
    "WebhookDispatcher",
    "sign_body",
    "verify_signature",
]
