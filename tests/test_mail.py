"""Enrollment mail against a real SMTP server (aiosmtpd on loopback): outbox, delivery, retries, status."""

from __future__ import annotations

import asyncio
import re

import pytest

from server.models import AuditEvent, Course, OutboxMessage, Participant
from server.services.mailer import Mailer, MailWorker
from tests.conftest import error_code, with_settings
from tests.factories import make_course, make_user
from tests.smtp import Received, SmtpServer, self_signed_certificate

ENROLL_EXTERNAL = """
mutation($course: ID!, $emails: [String!]!, $send: Boolean! = true) {
  enrollExternal(courseId: $course, emails: $emails, sendEmail: $send) {
    enrolled { link participant { id name emailStatus } }
    skipped { entry reason }
  }
}"""
ENROLL = """
mutation($course: ID!, $usernames: [String!]!) {
  enrollParticipants(courseId: $course, usernames: $usernames) { enrolled { link participant { id name emailStatus } } }
}"""
VIEW = "query($link: String!) { participantView(link: $link) { participant { id name } course { title } } }"
REPORT = """
query($course: ID!, $status: EmailStatus) {
  courseReport(courseId: $course, first: 500, filter: {emailStatus: $status}) {
    totalCount edges { node { id name emailStatus emailError emailSentAt } }
  }
}"""
RESEND = "mutation($id: ID!) { resendLink(participantId: $id) { id emailStatus } }"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def mail_settings(settings, url: str | None, **changes):
    values = dict(smtp_url=url, mail_poll_seconds=0.05, mail_batch_size=20, mail_retry_seconds=0.05, mail_send_timeout=5.0)
    values.update(changes)
    return with_settings(settings, **values)


async def enroll(gql, course, emails, send=True) -> dict:
    return (await gql.data(ENROLL_EXTERNAL, {"course": course.id, "emails": emails, "send": send}))["enrollExternal"]


async def report(gql, course, status=None) -> dict[str, dict]:
    data = await gql.data(REPORT, {"course": course.id, "status": status})
    return {e["node"]["name"]: e["node"] for e in data["courseReport"]["edges"]}


async def test_fifty_people_get_fifty_messages_each_with_their_own_working_link(gql, settings, smtp):
    course = await make_course("Fire safety")
    emails = [f"person{i:02d}@example.com" for i in range(50)]
    result = await enroll(gql, course, emails)
    assert {e["participant"]["emailStatus"] for e in result["enrolled"]} == {"QUEUED"}

    stats = await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    assert stats.sent == 50
    received = smtp.inbox.by_recipient()
    assert sorted(received) == emails
    for address, messages in received.items():
        assert len(messages) == 1
        message = messages[0]
        assert message.message["To"] == address
        assert "Fire safety" in message.message["Subject"]
        view = (await gql.data(VIEW, {"link": message.link}, token="none"))["participantView"]
        assert view == {"participant": {"id": view["participant"]["id"], "name": address}, "course": {"title": "Fire safety"}}
    rows = await report(gql, course)
    assert {r["emailStatus"] for r in rows.values()} == {"SENT"}
    assert all(r["emailSentAt"] and r["emailError"] is None for r in rows.values())
    # Once sent, the stored message no longer holds the link.
    assert await OutboxMessage.filter(body_text__contains="/learn#").count() == 0
    assert await OutboxMessage.filter(status="SENT").count() == 50


async def test_send_email_false_writes_no_message(gql, settings):
    course = await make_course()
    result = await enroll(gql, course, ["pat@example.com"], send=False)
    assert result["enrolled"][0]["participant"]["emailStatus"] == "NOT_SENT"
    assert await OutboxMessage.all().count() == 0


async def test_smtp_down_while_enrolling_then_back_delivers_each_message_once(gql, settings):
    down = SmtpServer()  # a port nothing listens on yet
    course = await make_course()
    emails = [f"p{i}@example.com" for i in range(30)]
    await enroll(gql, course, emails)
    mailer = Mailer(mail_settings(settings, down.url))

    for _ in range(3):
        stats = await mailer.run(until_idle=True)
        assert stats.unreachable and stats.sent == 0
    rows = await report(gql, course, "QUEUED")
    assert len(rows) == 30
    assert all("Could not connect" in r["emailError"] for r in rows.values())
    assert await OutboxMessage.filter(claimed_by__not_isnull=True).count() == 0  # nothing held back

    down.start()
    try:
        await Mailer(mail_settings(settings, down.url)).run(until_idle=True)
        received = down.inbox.by_recipient()
    finally:
        down.stop()
    assert sorted(received) == sorted(emails)
    assert all(len(m) == 1 for m in received.values())
    assert len(await report(gql, course, "SENT")) == 30


async def test_a_recipient_refused_with_550_fails_with_the_reply_and_the_others_are_sent(gql, settings, smtp):
    smtp.inbox.refuse["gone@example.com"] = "550 5.1.1 <gone@example.com>: Recipient address rejected: User unknown"
    course = await make_course()
    await enroll(gql, course, ["a@example.com", "gone@example.com", "b@example.com"])

    # One connection: the refusal must not spoil it for the messages after it.
    await Mailer(mail_settings(settings, smtp.url, mail_connections=1)).run(until_idle=True)

    assert sorted(smtp.inbox.by_recipient()) == ["a@example.com", "b@example.com"]
    failed = await report(gql, course, "FAILED")
    assert list(failed) == ["gone@example.com"]
    assert "550 5.1.1" in failed["gone@example.com"]["emailError"]
    assert "User unknown" in failed["gone@example.com"]["emailError"]
    assert set(await report(gql, course, "SENT")) == {"a@example.com", "b@example.com"}
    assert await OutboxMessage.filter(body_text__contains="/learn#").count() == 0


async def test_a_temporary_refusal_is_retried_with_backoff_and_then_given_up(gql, settings, smtp):
    smtp.inbox.refuse["busy@example.com"] = "451 4.7.1 Greylisted, try again later"
    course = await make_course()
    await enroll(gql, course, ["busy@example.com"])
    mailer = Mailer(mail_settings(settings, smtp.url, mail_max_attempts=3))

    await mailer.run(until_idle=True)
    row = (await report(gql, course))["busy@example.com"]
    assert row["emailStatus"] == "QUEUED" and "451 4.7.1" in row["emailError"]

    smtp.inbox.refuse.pop("busy@example.com")
    for _ in range(100):  # the retry is due after its backoff
        await mailer.run(until_idle=True)
        if smtp.inbox.received:
            break
        await asyncio.sleep(0.05)
    assert list(smtp.inbox.by_recipient()) == ["busy@example.com"]
    assert (await report(gql, course))["busy@example.com"]["emailStatus"] == "SENT"

    smtp.inbox.refuse["stuck@example.com"] = "451 4.3.0 Mailbox temporarily unavailable"
    await enroll(gql, course, ["stuck@example.com"])
    for _ in range(200):
        await mailer.run(until_idle=True)
        if (await report(gql, course))["stuck@example.com"]["emailStatus"] == "FAILED":
            break
        await asyncio.sleep(0.05)
    row = (await report(gql, course))["stuck@example.com"]
    assert row["emailStatus"] == "FAILED"
    assert "Gave up after 3 attempts" in row["emailError"] and "451 4.3.0" in row["emailError"]


async def test_resend_link_issues_a_fresh_link_and_the_old_one_stops_working(gql, settings, smtp):
    course = await make_course("Onboarding")
    first = await enroll(gql, course, ["pat@example.com"])
    participant_id = first["enrolled"][0]["participant"]["id"]
    mailer = Mailer(mail_settings(settings, smtp.url))
    await mailer.run(until_idle=True)
    old_link = smtp.inbox.received[0].link

    resent = (await gql.data(RESEND, {"id": participant_id}))["resendLink"]
    assert resent == {"id": participant_id, "emailStatus": "QUEUED"}
    await mailer.run(until_idle=True)

    assert len(smtp.inbox.received) == 2
    new_link = smtp.inbox.received[1].link
    assert new_link != old_link
    assert (await gql.data(VIEW, {"link": old_link}))["participantView"] is None
    assert (await gql.data(VIEW, {"link": new_link}))["participantView"]["participant"]["id"] == participant_id
    assert (await report(gql, course))["pat@example.com"]["emailStatus"] == "SENT"
    assert await AuditEvent.filter(action="participant.resend_link").count() == 1

    assert error_code(await gql(RESEND, {"id": "999999"})) == "NOT_FOUND"
    assert error_code(await gql(RESEND, {"id": participant_id}, token="not-a-token")) == "UNAUTHENTICATED"


async def test_a_link_replaced_before_sending_never_goes_out(gql, settings, smtp):
    course = await make_course()
    first = await enroll(gql, course, ["pat@example.com"])
    participant_id = first["enrolled"][0]["participant"]["id"]
    await gql.data(RESEND, {"id": participant_id})

    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    assert len(smtp.inbox.received) == 1  # only the message with the current link
    link = smtp.inbox.received[0].link
    assert link != first["enrolled"][0]["link"]
    assert (await gql.data(VIEW, {"link": link}))["participantView"] is not None


async def test_resend_to_a_user_without_an_address_is_refused_and_keeps_the_link(gql, settings):
    course = await make_course()
    await make_user("noaddress")
    enrolled = (await gql.data(ENROLL, {"course": course.id, "usernames": ["noaddress"]}))["enrollParticipants"]["enrolled"][0]
    assert enrolled["participant"]["emailStatus"] == "FAILED"
    assert error_code(await gql(RESEND, {"id": enrolled["participant"]["id"]})) == "BAD_USER_INPUT"
    assert (await gql.data(VIEW, {"link": enrolled["link"]}))["participantView"] is not None


async def test_internal_users_get_the_my_learning_wording_and_their_display_name(gql, settings, smtp):
    course = await make_course("Data protection")
    await make_user("alice", email="alice@corp.example", display_name="Alice Martin")
    await gql.data(ENROLL, {"course": course.id, "usernames": ["alice"]})
    await enroll(gql, course, ["guest@example.com"])

    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    received = smtp.inbox.by_recipient()
    internal, external = received["alice@corp.example"][0], received["guest@example.com"][0]
    assert internal.message["To"] == "Alice Martin <alice@corp.example>"
    assert "Hello Alice Martin" in internal.part("plain") and "My learning" in internal.part("plain")
    assert "My learning" in internal.part("html")
    assert "My learning" not in external.part("plain") and "No account or password is needed" in external.part("plain")
    for message in (internal, external):
        for subtype in ("plain", "html"):
            assert "forward" in message.part(subtype) and "can open the course as you" in message.part(subtype)
        assert message.link in message.part("html")


async def test_the_worker_in_the_server_starts_delivers_and_stops_cleanly(gql, settings, smtp):
    smtp.inbox.delay = 0.1
    course = await make_course()
    await enroll(gql, course, [f"p{i}@example.com" for i in range(40)])
    worker = MailWorker(mail_settings(settings, smtp.url, mail_batch_size=10, mail_connections=2))

    worker.start()
    await smtp.wait_for(3)
    await worker.stop()

    # What reached the server is recorded as sent; the rest waits, unclaimed, for the next worker.
    delivered = set(smtp.inbox.by_recipient())
    assert 0 < len(delivered) < 40
    assert set(await report(gql, course, "SENT")) == delivered
    assert len(await report(gql, course, "QUEUED")) == 40 - len(delivered)
    assert await OutboxMessage.filter(status="QUEUED", claimed_by__not_isnull=True).count() == 0

    smtp.inbox.delay = 0
    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)
    assert len(smtp.inbox.received) == 40 and len(smtp.inbox.by_recipient()) == 40


async def test_header_injection_never_reaches_the_wire(gql, settings, smtp):
    course = await make_course("Safety")
    # Titles written before validation existed, or through the database, are still made safe.
    await Course.filter(id=course.id).update(title="Safety\r\nBcc: spy@evil.example\r\n\r\nforged body")
    await make_user("eve", email="eve@corp.example", display_name="Eve\r\nBcc: spy@evil.example\u2028Cc: spy2@evil.example")
    await gql.data(ENROLL, {"course": course.id, "usernames": ["eve"]})
    result = await enroll(gql, course, ["x@example.com\r\nBcc: spy@evil.example", "pat@example.com"])
    assert [s["reason"] for s in result["skipped"]] == ["INVALID_EMAIL"]
    # A row tampered with after queuing is refused at send time, not sent.
    pat = await Participant.get(name="pat@example.com")
    await OutboxMessage.filter(participant_id=pat.id).update(to_address="pat@example.com\r\nBcc: spy@evil.example")

    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    assert [r.rcpt_tos for r in smtp.inbox.received] == [["eve@corp.example"]]
    header_block = smtp.inbox.received[0].data.split(b"\r\n\r\n", 1)[0]
    header_lines = re.sub(rb"\r\n[ \t]+", b" ", header_block).split(b"\r\n")  # unfolded: one line per header
    names = sorted(line.split(b":", 1)[0].decode() for line in header_lines)
    assert names == sorted(["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"])
    message = smtp.inbox.received[0].message
    assert message["Bcc"] is None and message["Cc"] is None
    assert "\n" not in message["Subject"] and "\n" not in message["To"]
    assert message["To"].addresses[0].addr_spec == "eve@corp.example"
    failed = await report(gql, course, "FAILED")
    assert list(failed) == ["pat@example.com"] and "Invalid recipient address" in failed["pat@example.com"]["emailError"]


async def test_without_smtp_the_message_goes_to_the_console_and_var_mail(gql, settings, capsys, caplog):
    course = await make_course("Console course")
    await enroll(gql, course, ["dev@example.com"])

    await Mailer(mail_settings(settings, None)).run(until_idle=True)

    printed = capsys.readouterr().out
    assert "To: dev@example.com" in printed and "Console course" in printed
    files = sorted((settings.var_dir / "mail").glob("*.eml"))
    assert files, "no .eml written"
    link = Received("", [], files[-1].read_bytes()).link
    assert (await gql.data(VIEW, {"link": link}))["participantView"]["participant"]["name"] == "dev@example.com"
    assert "/learn#" not in caplog.text  # links never reach the log
    assert (await report(gql, course))["dev@example.com"]["emailStatus"] == "SENT"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # loopback only, no TLS certificate in tests
async def test_the_smtp_login_from_the_url_is_used_and_a_wrong_one_keeps_mail_queued(gql, settings):
    server = SmtpServer().start(login=("roster", "s3cret/pass"))
    try:
        course = await make_course()
        await enroll(gql, course, ["pat@example.com"])
        wrong = f"smtp://roster:wrong@127.0.0.1:{server.port}"
        stats = await Mailer(mail_settings(settings, wrong)).run(until_idle=True)
        assert stats.unreachable and not server.inbox.received
        row = (await report(gql, course))["pat@example.com"]
        assert row["emailStatus"] == "QUEUED" and "535" in row["emailError"]
        assert "wrong" not in row["emailError"]

        right = f"smtp://roster:s3cret%2Fpass@127.0.0.1:{server.port}"
        await Mailer(mail_settings(settings, right)).run(until_idle=True)
        assert list(server.inbox.by_recipient()) == ["pat@example.com"]
        assert (await report(gql, course))["pat@example.com"]["emailStatus"] == "SENT"
    finally:
        server.stop()


async def test_a_batch_slower_than_the_lease_is_not_taken_over_by_another_worker(gql, settings, smtp):
    smtp.inbox.delay = 0.1  # the batch of 12 takes 1.2 s, four times the lease
    course = await make_course()
    emails = [f"p{i:02d}@example.com" for i in range(12)]
    await enroll(gql, course, emails)
    slow = mail_settings(settings, smtp.url, mail_lease_seconds=0.3, mail_batch_size=12, mail_connections=1)
    sending = asyncio.create_task(Mailer(slow).run(until_idle=True))
    await smtp.wait_for(1)
    other = Mailer(slow)  # idle, polling every 50 ms for anything whose lease has run out
    polling = asyncio.create_task(other.run())

    await sending
    other.stop()
    await polling

    received = smtp.inbox.by_recipient()
    assert sorted(received) == emails
    assert all(len(messages) == 1 for messages in received.values())
    assert other.stats.sent == 0
    assert len(await report(gql, course, "SENT")) == 12


async def test_starttls_required_never_sends_in_clear_and_smtps_needs_tls(gql, settings, smtp):
    course = await make_course()
    await enroll(gql, course, ["pat@example.com"])
    for url in (f"{smtp.url}?starttls=required", f"smtps://127.0.0.1:{smtp.port}"):
        stats = await Mailer(mail_settings(settings, url, mail_send_timeout=2.0)).run(until_idle=True)
        assert stats.unreachable and not smtp.inbox.received
        assert (await report(gql, course))["pat@example.com"]["emailStatus"] == "QUEUED"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # aiosmtpd's TLS set-up on Python 3.11+
async def test_mail_goes_over_starttls_or_implicit_tls_with_a_trusted_certificate(gql, settings, tmp_path, monkeypatch):
    cert, context = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts this certificate like a public one
    starttls = SmtpServer().start(tls_context=context, require_starttls=True)
    implicit = SmtpServer().start(ssl_context=context)
    try:
        course = await make_course()
        await enroll(gql, course, ["first@example.com"])
        await Mailer(mail_settings(settings, f"smtp://localhost:{starttls.port}?starttls=required")).run(until_idle=True)
        await enroll(gql, course, ["second@example.com"])
        await Mailer(mail_settings(settings, f"smtps://localhost:{implicit.port}")).run(until_idle=True)

        assert list(starttls.inbox.by_recipient()) == ["first@example.com"]
        assert list(implicit.inbox.by_recipient()) == ["second@example.com"]
        assert len(await report(gql, course, "SENT")) == 2
    finally:
        starttls.stop()
        implicit.stop()


async def test_mail_of_a_deleted_course_is_cancelled_not_sent(gql, settings, smtp):
    course = await make_course()
    await enroll(gql, course, ["pat@example.com"])
    await Course.filter(id=course.id).delete()

    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    assert smtp.inbox.received == []
    assert await OutboxMessage.filter(status="CANCELLED", body_text="").count() == 1


async def test_a_broken_body_template_is_retried_then_failed_with_the_reason(gql, settings, smtp, tmp_path):
    (tmp_path / "enrollment.html").write_text("<p>{{ no_such_variable }}</p>")
    course = await make_course()
    await enroll(gql, course, ["pat@example.com"])
    mailer = Mailer(mail_settings(settings, smtp.url, mail_templates_dir=tmp_path, mail_max_attempts=2))
    for _ in range(100):
        await mailer.run(until_idle=True)
        if (await report(gql, course))["pat@example.com"]["emailStatus"] == "FAILED":
            break
        await asyncio.sleep(0.05)
    row = (await report(gql, course))["pat@example.com"]
    assert row["emailStatus"] == "FAILED" and "could not be built" in row["emailError"] and "no_such_variable" in row["emailError"]
    assert smtp.inbox.received == []


async def test_an_international_address_is_delivered_with_smtputf8(gql, settings, smtp):
    course = await make_course("Sécurité")
    await enroll(gql, course, ["zoë@bücher.de"])

    await Mailer(mail_settings(settings, smtp.url)).run(until_idle=True)

    received = smtp.inbox.by_recipient()
    assert list(received) == ["zoë@bücher.de"]
    message = received["zoë@bücher.de"][0]
    assert message.message["To"] == "zoë@bücher.de" and "Sécurité" in message.message["Subject"]
    assert (await gql.data(VIEW, {"link": message.link}))["participantView"]["participant"]["name"] == "zoë@bücher.de"
