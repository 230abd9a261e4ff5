"""Webhook delivery: signed POSTs in a background thread, retried with exponential backoff.

At-least-once: every delivery is first stored in the outbox (``webhook_outbox``), retried after
any non-2xx answer or transport error up to ``attempts`` times, and reloaded at start-up, so a
restart does not lose it; receivers de-duplicate by the delivery id in the body (with several
workers each reloads the outbox, so a delivery can arrive more than once). The URL and secret
are read at delivery time: revoking a subscription drops its pending deliveries. Logs name the
subscription and event only, never the body.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from certificates.notifications.callbacks import CallbackRefused, pinned_request
from certificates.notifications.notifier import Details
from certificates.notifications.subscriptions import SIGNATURE_HEADER, Subscriptions, sign_body

__all__ = ["WebhookDispatcher"]

log = logging.getLogger("certledger.webhooks")


@dataclass(order=True)
class _Delivery:
    due: float
    seq: int
    delivery_id: str = field(compare=False)
    sub_id: str = field(compare=False)
    event: str = field(compare=False)
    body: bytes = field(compare=False, repr=False)
    attempt: int = field(default=0, compare=False)


class WebhookDispatcher:
    def __init__(
        self,
        subscriptions: Subscriptions,
        *,
        attempts: int = 6,
        backoff: float = 1.0,
        timeout: float = 5.0,
        client_factory: Callable[[], httpx.Client] | None = None,
    ) -> None:
        self._subs = subscriptions
        self._attempts = attempts
        self._backoff = backoff
        self._client_factory = client_factory or (
            lambda: httpx.Client(timeout=timeout, follow_redirects=False)
        )
        self._heap: list[_Delivery] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.failed = 0

    @property
    def subscriptions(self) -> Subscriptions:
        return self._subs

    # -- producing -----------------------------------------------------------------------

    def emit(
        self,
        event: str,
        cert_id: str,
        issuer: str,
        details: Details,
    ) -> int:
        """Queue ``event`` for every subscription it reaches; returns how many (see
        :data:`~certificates.notifications.notifier.Details`)."""
        try:
            targets = self._subs.targets(event, cert_id, issuer)
        except Exception:  # notifications must never break the request that caused them
            log.exception("cannot read webhook subscriptions")
            return 0
        if not targets:
            return 0
        if callable(details):
            details = details()
        now = time.monotonic()
        items = []
        for sub_id, _url, _secret in targets:
            delivery_id = f"dlv_{secrets.token_hex(8)}"
            body = json.dumps(
                {
                    "id": delivery_id,
                    "event": event,
                    "subscription": sub_id,
                    "cert_id": cert_id,
                    "issuer": issuer,
                    "at": datetime.now(UTC).isoformat(),
                    **details,
                },
                ensure_ascii=False,
                separators=(",", ":"),
            ).encode()
            items.append((delivery_id, sub_id, event, body))
        if not items:
            return 0
        try:
            self._subs.queue(items)
        except Exception:  # as above; the event is lost, and the log says so
            log.exception("cannot store webhook deliveries")
            return 0
        with self._cond:
            for delivery_id, sub_id, ev, body in items:
                heapq.heappush(
                    self._heap, _Delivery(now, next(self._seq), delivery_id, sub_id, ev, body)
                )
            self._cond.notify()
        return len(items)

    # -- delivering ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            try:
                pending = self._subs.pending()
            except Exception:  # a damaged outbox must not keep the service from starting
                log.exception("cannot read the webhook outbox")
                pending = []
            now = time.monotonic()
            with self._cond:
                self._stop = False
                for delivery_id, sub_id, event, body, attempts in pending:
                    heapq.heappush(
                        self._heap,
                        _Delivery(now, next(self._seq), delivery_id, sub_id, event, body, attempts),
                    )
            self._thread = threading.Thread(target=self._run, name="webhooks", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def drain(self, timeout: float = 10.0) -> int:
        """Deliver what this process queued, in the calling thread, for at most ``timeout``
        seconds; returns how many are left. For a short-lived process (a command) that has
        no delivery thread: what is left stays in the outbox, and the server retries it."""
        deadline = time.monotonic() + timeout
        with self._client_factory() as client:
            while True:
                with self._cond:
                    if not self._heap or self._thread is not None:
                        return len(self._heap)
                    wait = self._heap[0].due - time.monotonic()
                    if time.monotonic() + max(wait, 0) >= deadline:
                        return len(self._heap)
                    if wait > 0:
                        self._cond.wait(wait)
                        continue
                    item = heapq.heappop(self._heap)
                self._deliver(client, item)

    def pending(self) -> int:
        with self._cond:
            return len(self._heap)

    def _next(self) -> _Delivery | None:
        with self._cond:
            while not self._stop:
                if self._heap:
                    wait = self._heap[0].due - time.monotonic()
                    if wait <= 0:
                        return heapq.heappop(self._heap)
                    self._cond.wait(wait)
                else:
                    self._cond.wait()
            return None

    def _run(self) -> None:
        with self._client_factory() as client:
            while (item := self._next()) is not None:
                self._deliver(client, item)

    def _deliver(self, client: httpx.Client, item: _Delivery) -> None:
        try:
            endpoint = self._subs.endpoint(item.sub_id)
        except Exception:  # the store is unavailable: try again later
            log.exception("cannot read webhook subscription %s", item.sub_id)
            endpoint, ok = ("", ""), False
        else:
            if endpoint is None:
                self._settle(item, "dropped")
                return
            url, secret = endpoint
            try:
                # Again at delivery: the host's DNS answer may have changed since the
                # subscription was checked (a public name re-pointed at an internal address),
                # and the request goes to the address checked now, not to a fresh answer.
                target, pin_headers, pin_extensions = pinned_request(
                    url, self._subs.policy.check(url)
                )
            except CallbackRefused as exc:
                log.warning("webhook %s not delivered: %s", item.sub_id, exc)
                self.failed += 1
                item.attempt += 1
                self._settle(item, "failed")
                return
            headers = {
                **pin_headers,
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign_body(secret, item.body),
                "X-Certledger-Event": item.event,
            }
            try:
                status = client.post(
                    target, content=item.body, headers=headers, extensions=pin_extensions
                ).status_code
                ok = 200 <= status < 300
            except httpx.HTTPError:
                ok = False
        item.attempt += 1
        if ok:
            self.delivered += 1
            self._settle(item, "delivered")
            return
        if item.attempt >= self._attempts:
            self.failed += 1
            log.warning(
                "webhook %s (%s) failed %d times; given up", item.sub_id, item.event, item.attempt
            )
            self._settle(item, "failed")
            return
        self._settle(item, "pending")
        item.due = time.monotonic() + self._backoff * 2 ** (item.attempt - 1)
        with self._cond:
            heapq.heappush(self._heap, item)

    def _settle(self, item: _Delivery, state: str) -> None:
        try:
            self._subs.settle(item.delivery_id, state=state, attempts=item.attempt)
        except Exception:  # at-least-once: a lost update means at most a repeated delivery
            log.exception("cannot update webhook delivery %s", item.delivery_id)
