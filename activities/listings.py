"""Activities of published listings: state mirror, subscriber notices, new revisions."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from activities.notices import NoticeActivities
from logs import get_logger
from models.activity_io import (
    ANNOUNCE_REVISION,
    NOTIFY_SUBSCRIBERS,
    RECORD_LISTING_STATE,
    ListingStateChange,
    NoticeRequest,
    SubscriberNotice,
)
from models.listing import ListingInput, RevisionAnnouncement, SlaPolicy
from persistence.store import Store
from settings import Settings


class ListingActivities:
    def __init__(
        self, store: Store, notices: NoticeActivities, client: Client, settings: Settings
    ) -> None:
        self._store = store
        self._notices = notices
        self._client = client
        self._settings = settings

    @activity.defn(name=RECORD_LISTING_STATE)
    async def record_listing_state(self, change: ListingStateChange) -> None:
        """Mirror the listing's state (published, on_hold, revoked) for the catalog."""
        await self._store.set_listing_state(change.product, change.state)
        get_logger(product=change.product).info("listing state", state=change.state)

    @activity.defn(name=NOTIFY_SUBSCRIBERS)
    async def notify_subscribers(self, notice: SubscriberNotice) -> int:
        """Email every subscriber once; the outbox skips those already sent on a retry."""
        recipients = await self._store.subscribers_of(notice.product)
        for recipient in recipients:
            await self._notices.send_notice(
                NoticeRequest(
                    key=notice.key,
                    recipient=recipient,
                    template=notice.template,
                    context=notice.context,
                    subject_id=notice.product,
                )
            )
            activity.heartbeat(recipient)
        get_logger(product=notice.product).info(
            "subscribers notified", notice=notice.template, count=len(recipients)
        )
        return len(recipients)

    @activity.defn(name=ANNOUNCE_REVISION)
    async def announce_revision(self, announcement: RevisionAnnouncement) -> None:
        """Hand a newly approved revision to its ListingWorkflow, starting it if needed."""
        from workflows.listing import ListingWorkflow, listing_workflow_id

        listing = ListingInput(
            product=announcement.product,
            product_name=announcement.product_name,
            publisher_id=announcement.publisher_id,
            publisher_name=announcement.publisher_name,
            publisher_email=announcement.publisher_email,
            policy=SlaPolicy(reminder_before=self._settings.sla_reminder_before),
        )
        # Signal-with-start: the first revision starts the workflow, later ones reach it.
        await self._client.start_workflow(
            ListingWorkflow.run,
            listing,
            id=listing_workflow_id(listing.product),
            task_queue=self._settings.task_queue,
            start_signal="publish_revision",
            start_signal_args=[announcement.revision],
        )
        get_logger(product=listing.product, submission=announcement.revision.submission_id).info(
            "revision announced", revision=announcement.revision.revision
        )
