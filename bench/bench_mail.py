"""Mail delivery: the 10,000 messages of a 10,000-member group enrollment, worker vs aiosmtplib in a loop.

Both send to the same local aiosmtpd server, running in its own process so it never shares an
event loop (or the GIL) with the sender being measured. The baseline sends the same messages,
rendered and built beforehand, one after another over one connection: the fastest a plain loop
goes. The worker starts from the outbox rows the enrollment wrote, so its figure includes claiming,
rendering, building, sending and recording every outcome. Target: at least 80% of the baseline.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from bench.common import (
    ROOT,
    figure,
    free_port,
    prepare_database,
    run,
    scratch_dir,
    seed_course,
    seed_users,
    sqlite_settings,
    timed_async,
    verdict,
    with_database,
)
from server.config import Settings
from server.services.mail import Recipient

MEMBERS = 10_000
ROUND = 1_000
HELD = datetime(2100, 1, 1, tzinfo=UTC)
TARGET = 0.80


class CountingSink:
    """The aiosmtpd handler of the sink: accepts everything, keeps only a count."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 2.0.0 Accepted"


def sink_main(port: int, count_file: str) -> None:
    from aiosmtpd.smtp import SMTP

    async def serve() -> None:
        handler = CountingSink()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(handler, enable_SMTPUTF8=True), "127.0.0.1", port)
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        print("ready", flush=True)
        await stop.wait()
        server.close()
        Path(count_file).write_text(str(handler.count))

    asyncio.run(serve())


class Sink:
    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.count_file = folder / "sink-count"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_mail", "sink", str(self.port), str(self.count_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        return int(self.count_file.read_text())


async def enroll_group(settings: Settings, *, title: str, send_email: bool) -> tuple[float, int]:
    from server.services import enrollment

    course_id = await seed_course(title)
    seconds, result = await timed_async(
        enrollment.enroll_users(settings=settings, course_id=course_id, groups=["everyone"], send_email=send_email, actor="bench")
    )
    return seconds, len(result.enrolled)


async def prepared_messages(settings: Settings) -> list[tuple[int, bytes, Recipient]]:
    """The queued messages, rendered and built as the worker would, before any clock starts; then held back."""
    from server.models import OutboxMessage
    from server.services.mailer import Mailer

    mailer = Mailer(settings)
    rows = await OutboxMessage.filter(status="QUEUED").order_by("id")
    await OutboxMessage.filter(status="QUEUED").update(next_attempt_at=HELD)
    return [(m.id, *mailer._prepare(m)) for m in rows]


async def direct_loop(url: str, messages: list[tuple[int, bytes, Recipient]], sender: str) -> float:
    import aiosmtplib

    port = int(url.rsplit(":", 1)[1])
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
    await client.connect()
    started = time.perf_counter()
    for _, data, recipient in messages:
        await client.sendmail(sender, [recipient.address], data)
    seconds = time.perf_counter() - started
    await client.quit()
    return seconds


async def worker_run(settings: Settings, ids: list[int]) -> tuple[float, int]:
    """Release these messages to the worker and time it until it has nothing left to do."""
    from server.models import OutboxMessage
    from server.services.mailer import Mailer

    await OutboxMessage.filter(id__in=ids).update(next_attempt_at=datetime.now(UTC))
    mailer = Mailer(settings)
    seconds, stats = await timed_async(mailer.run(until_idle=True))
    assert await OutboxMessage.filter(id__in=ids, status="SENT").count() == len(ids)
    return seconds, stats.sent


def main() -> None:
    with scratch_dir() as tmp:
        settings = sqlite_settings(tmp)
        run(prepare_database(settings))
        sink = Sink(tmp)
        try:
            mail = replace(settings, smtp_url=sink.url, mail_poll_seconds=0.05)

            async def seed() -> tuple[float, float]:
                await seed_users(MEMBERS, group="everyone")
                quiet, _ = await enroll_group(mail, title="Without mail", send_email=False)
                from server.models import Participant

                await Participant.all().delete()
                queued, enrolled = await enroll_group(mail, title="With mail", send_email=True)
                assert enrolled == MEMBERS
                return quiet, queued

            quiet, queued = run(with_database(settings, seed))
            figure(f"enroll a {MEMBERS:,}-member group, sendEmail: false", f"{quiet:.2f} s")
            figure(f"enroll a {MEMBERS:,}-member group, sendEmail: true", f"{queued:.2f} s", f"queuing costs {queued - quiet:+.2f} s")

            messages = run(with_database(mail, lambda: prepared_messages(mail)))
            sender = mail.mail_from.split("<")[-1].rstrip(">")
            # Rounds alternate the two senders, so a change in the machine's load weighs on both alike.
            direct = worker = 0.0
            sent = 0
            round_ratios = []
            for number, start in enumerate(range(0, len(messages), ROUND)):
                chunk = messages[start : start + ROUND]
                ids = [m[0] for m in chunk]
                times = {}
                for which in ("direct", "worker") if number % 2 == 0 else ("worker", "direct"):
                    if which == "direct":
                        times[which] = run(direct_loop(sink.url, chunk, sender))
                    else:
                        times[which], count = run(with_database(mail, lambda ids=ids: worker_run(mail, ids)))
                        sent += count
                direct += times["direct"]
                worker += times["worker"]
                round_ratios.append(times["direct"] / times["worker"])
            direct_rate = len(messages) / direct
            rate = sent / worker
            figure("aiosmtplib, prepared messages, one connection in a loop", f"{direct_rate:,.0f} msg/s", f"{direct:.1f} s")
            figure(
                f"mail worker ({mail.mail_connections} connections, batches of {mail.mail_batch_size})",
                f"{rate:,.0f} msg/s",
                f"{worker:.1f} s",
            )
            ratio = rate / direct_rate
            figure("worker / direct loop", f"{ratio:.0%}", f"target >= {TARGET:.0%}: {verdict(ratio >= TARGET)}")
            figure(
                f"  the same, round by round ({len(round_ratios)} rounds of {ROUND:,})",
                f"{min(round_ratios):.0%} .. {max(round_ratios):.0%}",
            )
        finally:
            received = sink.stop()
        figure("messages the SMTP server received (direct + worker)", f"{received:,}", verdict(received == 2 * MEMBERS))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "sink":
        sink_main(int(sys.argv[2]), sys.argv[3])
    else:
        os.chdir(ROOT)
        main()
