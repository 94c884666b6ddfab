"""The weekly rhythm: APScheduler triggers the pipeline's build, preview and send.

The scheduler only triggers; every decision (is the week built, held, thin, already sent?)
is read from the ledger when a job runs, so a restart, a second trigger or a missed run can
never send a week twice. One scheduler per database, enforced by a lease in the ledger that
a crashed holder stops renewing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobEvent
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from digest.config import Settings
from digest.delivery import Sender
from digest.errors import CompositionError, DigestError
from digest.ledger import Ledger
from digest.models import DeliveryState, IsoWeek
from digest.notices import notice_message
from digest.pipeline import build_issue, send_issue, send_preview

JOBS = ("build", "preview", "send")
LEASE = "scheduler"
THIN = "semaine trop mince"
UNFINISHED = (DeliveryState.PENDING.value, DeliveryState.DEFERRED.value)
Clock = Callable[[], dt.datetime]
Log = Callable[[str], None]
SenderFactory = Callable[[], Awaitable[Sender]]


def schedule_zone(settings: Settings) -> ZoneInfo:
    """The timezone of the schedule (newsletter's when not set)."""
    return ZoneInfo(settings.schedule.timezone or settings.newsletter.timezone)


def make_trigger(spec: str, zone: ZoneInfo) -> CronTrigger:
    """A weekly trigger from "fri 07:00", at that local time whatever the DST offset."""
    day, _, clock = spec.partition(" ")
    hour, _, minute = clock.partition(":")
    return CronTrigger(day_of_week=day, hour=int(hour), minute=int(minute), timezone=zone)


def next_run_times(settings: Settings, now: dt.datetime) -> dict[str, dt.datetime]:
    """When each job fires next, in the schedule's timezone."""
    zone = schedule_zone(settings)
    runs = {}
    for job in JOBS:
        fire = make_trigger(getattr(settings.schedule, job), zone).get_next_fire_time(
            None, now.astimezone(zone)
        )
        assert fire is not None  # a weekly cron trigger always fires again
        runs[job] = fire
    return runs


def describe_week(settings: Settings, ledger: Ledger, week: IsoWeek, now: dt.datetime) -> list[str]:
    """The week's editorial state (built, previewed, held, sending, sent) and next runs."""
    name = settings.newsletter.name
    saved = ledger.load_issue(name, week)
    state = ledger.week_state(name, week)
    steps = [f"built {saved.built_at:%Y-%m-%d %H:%M} UTC" if saved else "not built"]
    if state.previewed_at is not None:
        steps.append(f"previewed {state.previewed_at:%Y-%m-%d %H:%M} UTC")
    if state.held:
        steps.append("held ('digest release' allows the send)")
    if saved is not None:
        counts = ledger.counts(saved.id)
        left = sum(counts.get(open_state, 0) for open_state in UNFINISHED)
        if counts:
            steps.append(f"sending, {left} left" if left else "sent")
    lines = [f"week {week}: " + ", ".join(steps)]
    if state.notice:
        lines.append(f"  notice: {state.notice}")
    zone = schedule_zone(settings)
    for job, moment in next_run_times(settings, now).items():
        lines.append(f"  next {job:8} {moment.astimezone(zone):%a %Y-%m-%d %H:%M %Z}")
    return lines


class WeeklyJobs:
    """What each scheduled run does, decided from the ledger at the time it runs."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        secret: bytes,
        make_sender: SenderFactory,
        clock: Clock,
        log: Log,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.secret = secret
        self.make_sender = make_sender
        self.clock = clock
        self.log = log
        self.halt = asyncio.Event()
        self.running: set[asyncio.Task[None]] = set()

    @property
    def name(self) -> str:
        return self.settings.newsletter.name

    def week(self) -> IsoWeek:
        return IsoWeek.containing(self.clock(), self.settings.newsletter.zone)

    async def build(self) -> str:
        """Build and save the week, unless sending began; a thin week gets a notice."""
        week = self.week()
        saved = self.ledger.load_issue(self.name, week)
        if saved is not None and self.ledger.counts(saved.id):
            return self._say(f"build {week}: sending already began, the issue is kept as sent")
        try:
            result = await build_issue(self.settings, self.ledger, week, self.clock())
        except CompositionError as exc:
            return await self._notify(week, f"{THIN} : {exc}")
        stories = len(result.issue.stories)
        minimum = self.settings.gather.min_articles
        if stories < minimum:
            return await self._notify(
                week, f"{THIN} : {stories} article(s), il en faut {minimum} ; pas d’envoi"
            )
        self.ledger.record_notice(self.name, week, "")
        return self._say(f"build {week}: n°{result.saved.number}, {stories} articles, saved")

    async def preview(self) -> str:
        """Send the saved issue to the editors (nothing is recorded for subscribers)."""
        week = self.week()
        saved = self.ledger.load_issue(self.name, week)
        if saved is None:
            return await self._notify(week, f"aperçu {week} : aucun numéro construit")
        recipients = self.settings.preview_recipients
        if not recipients:
            return self._say(f"preview {week}: no preview_recipients configured")
        sender = await self.make_sender()
        try:
            results = await send_preview(saved, recipients, self.settings, sender, self.clock())
        finally:
            await sender.close()
        self.ledger.mark_previewed(self.name, week, self.clock())
        sent = sum(1 for _, outcome in results if outcome.state is DeliveryState.SENT)
        return self._say(f"preview {week}: sent to {sent} of {len(recipients)} editors")

    async def send(self) -> str:
        """Send the saved issue once: never when held, thin, not built or already sent."""
        week = self.week()
        saved = self.ledger.load_issue(self.name, week)
        if saved is None:
            return await self._notify(
                week, f"envoi {week} : aucun numéro construit, rien n’est parti"
            )
        state = self.ledger.week_state(self.name, week)
        if state.held:
            return self._say(f"send {week}: held by an editor ('digest release' to allow it)")
        if state.notice.startswith(THIN):
            return self._say(f"send {week}: not sent, {state.notice}")
        counts = self.ledger.counts(saved.id)
        if counts and not any(counts.get(state) for state in UNFINISHED):
            return self._say(f"send {week}: already sent ({_counts(counts)})")
        sender = await self.make_sender()
        try:
            report = await send_issue(
                saved, self.settings, self.ledger, sender, self.secret, self.clock, halt=self.halt
            )
        finally:
            await sender.close()
        return self._say(f"send {week}: {_counts(dict(report.counts))}")

    def interrupted(self) -> bool:
        """Whether this week's send began and has rows not yet sent (a stop mid-send)."""
        saved = self.ledger.load_issue(self.name, self.week())
        if saved is None or self.ledger.week_state(self.name, saved.week).held:
            return False
        counts = self.ledger.counts(saved.id)
        return any(counts.get(state) for state in UNFINISHED)

    async def _notify(self, week: IsoWeek, notice: str) -> str:
        self.ledger.record_notice(self.name, week, notice)
        if self.settings.preview_recipients:
            sender = await self.make_sender()
            try:
                for editor in self.settings.preview_recipients:
                    message = notice_message(
                        self.settings.newsletter,
                        editor,
                        f"{week} : {notice}",
                        notice + "\n",
                        self.clock(),
                    )
                    await sender.send(self.settings.newsletter.from_address, editor, message)
            finally:
                await sender.close()
        return self._say(f"{week}: {notice}")

    def _say(self, line: str) -> str:
        self.log(line)
        return line


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counts.items())) or "nobody"


# APScheduler keeps jobs in the database by reference to a module-level function and its
# (picklable) arguments, so the running jobs object is found here rather than pickled.
_RUNNING: WeeklyJobs | None = None


async def run_job(name: str) -> None:
    """The function the persistent job store names: runs one of the weekly jobs."""
    jobs = _RUNNING
    if jobs is None:
        return
    task = asyncio.current_task()
    if task is not None:
        jobs.running.add(task)
    try:
        await getattr(jobs, name)()
    except DigestError as exc:
        jobs.log(f"{name}: error: {exc}")
    finally:
        if task is not None:
            jobs.running.discard(task)


def holder_name() -> str:
    """Who holds the lease: host and process, for the message a second scheduler shows."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def run_scheduler(jobs: WeeklyJobs, stop: asyncio.Event) -> None:
    """Run the weekly jobs until ``stop`` is set; refuse to start beside another scheduler."""
    global _RUNNING
    settings, ledger = jobs.settings, jobs.ledger
    holder, ttl = holder_name(), dt.timedelta(seconds=settings.schedule.lease_seconds)
    if not ledger.acquire_lease(LEASE, holder, jobs.clock(), ttl):
        other = ledger.lease_holder(LEASE, jobs.clock()) or "another process"
        raise DigestError(
            f"a scheduler already runs on this database ({other}); stop it first "
            f"(after a crash its lease frees itself within {ttl.seconds} s)"
        )
    scheduler = _make_scheduler(settings)
    _RUNNING = jobs
    try:
        # Started paused, so that jobs kept from the last run are compared with the
        # config before any fires: a run missed while we were down keeps its due time.
        scheduler.start(paused=True)
        _add_jobs(scheduler, jobs, holder, ttl, stop)
        scheduler.resume()
        if jobs.interrupted():
            jobs.log("a send was interrupted at the last stop: resuming it")
            scheduler.add_job(run_job, args=["send"], id="resume", jobstore="memory")
        for job, moment in next_run_times(settings, jobs.clock()).items():
            jobs.log(f"next {job}: {moment:%A %d %B %Y %H:%M %Z}")
        await stop.wait()
        jobs.halt.set()
        if jobs.running:
            # A send stops at its next message boundary once halted; let it get there.
            await asyncio.wait(set(jobs.running), timeout=settings.smtp.timeout * 2)
    finally:
        scheduler.shutdown(wait=False)
        _RUNNING = None
        ledger.release_lease(LEASE, holder)


def _make_scheduler(settings: Settings) -> AsyncIOScheduler:
    grace = settings.schedule.misfire_grace_minutes * 60
    return AsyncIOScheduler(
        jobstores={
            "default": SQLAlchemyJobStore(url=settings.database.url, tablename="scheduler_jobs"),
            "memory": MemoryJobStore(),
        },
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": grace},
        timezone=schedule_zone(settings),
    )


def _add_jobs(
    scheduler: AsyncIOScheduler,
    jobs: WeeklyJobs,
    holder: str,
    ttl: dt.timedelta,
    stop: asyncio.Event,
) -> None:
    zone = schedule_zone(jobs.settings)
    for name in JOBS:
        trigger = make_trigger(getattr(jobs.settings.schedule, name), zone)
        kept = scheduler.get_job(name)
        if kept is None:
            scheduler.add_job(run_job, trigger, args=[name], id=name, name=f"weekly {name}")
        elif str(kept.trigger) != str(trigger):
            kept.reschedule(trigger)

    def renew() -> None:
        if not jobs.ledger.acquire_lease(LEASE, holder, jobs.clock(), ttl):
            jobs.log("the scheduler lease was taken by another process: stopping")
            stop.set()

    scheduler.add_job(
        renew, "interval", seconds=max(1, ttl.seconds // 3), jobstore="memory", id="lease"
    )

    def missed(event: JobEvent) -> None:
        week = jobs.week()
        notice = (
            f"le {event.job_id} prévu le {event.scheduled_run_time:%d/%m %H:%M} n’a pas "
            "eu lieu (machine arrêtée au-delà du délai de grâce) : à faire à la main"
        )
        jobs.ledger.record_notice(jobs.name, week, notice)
        jobs.log(f"missed {event.job_id} of {event.scheduled_run_time}: left for a person")

    scheduler.add_listener(missed, EVENT_JOB_MISSED)


def stop_on_signals(stop: asyncio.Event, halt: asyncio.Event) -> None:
    """SIGINT and SIGTERM stop the scheduler; a send in progress stops at a message boundary."""
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        halt.set()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
