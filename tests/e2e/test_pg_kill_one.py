"""Two `mailgraph serve` processes on one PostgreSQL database; one is killed (SIGKILL) under load (issue 11).

Both serve sends (each to Bob, a local recipient, and to an external recipient relayed to an SMTP sink)
from a load thread that alternates between them. Mid-load the relay goes down, so no SMTP transaction
can be between "250 OK" and its record when the kill comes (that window is SMTP's own at-least-once,
RFC 5321 §6.1); the first process is then killed while it still takes requests and holds queue leases.
The survivor keeps answering, takes over the dead one's leased queue entries once their lease ran out,
and when the relay is back delivers every queued recipient exactly once; Bob holds exactly one copy of
every accepted send.
"""

from __future__ import annotations

import itertools
import signal
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import pgdb
from tests.conftest import TENANT_FILE
from tests.delivery.sink import Sink, wait_until
from tests.e2e.test_delivery_e2e import Process, _app_token

pytestmark = [pytest.mark.e2e]
FAST = ("--retry-schedule", "0.2", "--queue-poll", "0.2", "--queue-lease", "1")


@pytest.fixture
def pg_url() -> Iterator[str]:
    if not pgdb.enabled():
        pytest.skip("no PostgreSQL at 127.0.0.1:5432 (set MAILGRAPH_TEST_PG)")
    name = pgdb.create(prefix="mg_kill")
    try:
        yield pgdb.url_of(name)
    finally:
        pgdb.drop(name)


class Load:
    """Sends from a background thread, alternating between the processes, until stopped."""

    def __init__(self, auth: dict[str, str], urls: list[str]) -> None:
        self.auth, self.urls = auth, urls
        self.accepted: dict[str, str] = {}  # subject → the url that answered 202
        self.unknown: set[str] = set()  # the connection broke: committed or not, we cannot know
        self.dead: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            for i in itertools.count():
                if self._stop.is_set() or i >= 2000:  # bounded
                    return
                live = [u for u in self.urls if u not in self.dead]
                url, subject = live[i % len(live)], f"load {i}"
                body = {"message": {"subject": subject, "body": {"contentType": "Text", "content": "x"},
                        "toRecipients": [{"emailAddress": {"address": "bob@fabrikam.test"}},
                                         {"emailAddress": {"address": f"far{i}@example.net"}}]}}  # fmt: skip
                try:
                    r = client.post(
                        f"{url}/v1.0/users/alice@fabrikam.test/sendMail", json=body, headers=self.auth
                    )
                except httpx.TransportError:
                    self.unknown.add(subject)
                    self.dead.add(url)
                    continue
                assert r.status_code == 202, r.text
                self.accepted[subject] = url

    def wait_for(self, count: int) -> None:
        wait_until(lambda: len(self.accepted) >= count, timeout=60)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


def _inbox_subjects(url: str, auth: dict[str, str]) -> Counter[str]:
    seen: Counter[str] = Counter()
    link: str | None = (
        f"{url}/v1.0/users/bob@fabrikam.test/mailFolders/inbox/messages?$select=subject&$top=500"
    )
    while link:
        r = httpx.get(link, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        seen.update(m["subject"] for m in r.json()["value"])
        link = r.json().get("@odata.nextLink")
    return seen


def _delta(link: str, auth: dict[str, str]) -> tuple[list[dict[str, object]], str]:
    """One delta round from `link`: its entries and the deltaLink (bounded)."""
    entries: list[dict[str, object]] = []
    for _ in range(500):
        r = httpx.get(link, headers=auth, timeout=30)
        assert r.status_code == 200, r.text
        entries += r.json()["value"]
        if "@odata.deltaLink" in r.json():
            return entries, r.json()["@odata.deltaLink"]
        link = r.json()["@odata.nextLink"]
    raise AssertionError("the delta round did not end")


def test_the_survivor_takes_over_the_queue_and_nothing_is_lost_or_doubled(
    pg_url: str, tmp_path: Path
) -> None:
    sink = Sink()
    relay = ("--relay", f"{sink.url}?timeout=5")
    first = Process(tmp_path / "a", "--database", pg_url, "--tenant", str(TENANT_FILE), *relay, *FAST)
    try:
        second = Process(tmp_path / "b", "--database", pg_url, *relay, *FAST)
        try:
            auth = _app_token(first.url)
            # Bob's Inbox delta before the load: change numbers are assigned after commit by both
            # processes' sequencers (migration 0039), one of which is killed below.
            inbox_delta = (
                f"{first.url}/v1.0/users/bob@fabrikam.test/mailFolders/inbox/messages/delta?$select=subject"
            )
            _, delta_link = _delta(inbox_delta, auth)
            load = Load(auth, [first.url, second.url])
            try:
                load.wait_for(10)
                sink.stop()  # the relay goes down; sends keep coming
                delivered = lambda: sum(e["status"] == "delivered" for e in second.queue())  # noqa: E731
                # Every message the sink took is recorded as delivered (nothing between 250 and record).
                wait_until(lambda: delivered() == len(sink.received), timeout=30)
                load.wait_for(len(load.accepted) + 6)  # more load while the relay is down
                first.kill(signal.SIGKILL)
                load.wait_for(len(load.accepted) + 10)  # the survivor keeps serving
            finally:
                load.stop()
            assert first.url in load.dead and second.url not in load.dead
            assert sum(url == second.url for url in load.accepted.values()) > 10
            sink.start()
            # The survivor finishes the queue: the dead process's leases run out (1 s) and are claimed.
            wait_until(lambda: {e["status"] for e in second.queue()} == {"delivered"}, timeout=60)
            inbox = _inbox_subjects(second.url, auth)
            changes, _ = _delta(delta_link.replace(first.url, second.url), auth)
        finally:
            second.kill(signal.SIGTERM)
    finally:
        first.kill(signal.SIGKILL)
        sink.stop()
    assert set(load.accepted) <= set(inbox)  # no accepted send lost
    assert set(inbox) <= set(load.accepted) | load.unknown  # nothing made up
    assert max(inbox.values()) == 1  # Bob got each once
    # The delta round reports every delivered message exactly once, as created (none lost or doubled
    # by the sequencers, one of them killed).
    assert Counter(str(e["subject"]) for e in changes) == inbox
    relayed = Counter(str(r.message["Subject"]) for r in sink.received)
    assert relayed == Counter(dict.fromkeys(inbox, 1))  # every queued recipient relayed exactly once
