"""Sending alerts (SPEC P4): inbox, e-mail, WeCom / DingTalk robots on a local server, once each."""

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail
from django.utils import timezone

from investmap.core.models import Notification
from investmap.projects import notify
from investmap.projects.models import Activity, AlertDelivery, Project

AS_OF = dt.date(2025, 3, 1)
TOUCHED = dt.date(2025, 1, 1)  # 59 days before AS_OF: stale in lead (limit 30)


class Robot:
    """A local group-robot endpoint: records each POST, answers as told per path."""

    def __init__(self):
        self.calls = []  # (path, content type, decoded JSON body)
        self.answers = {}  # path → (status, JSON answer); default: 200 {"errcode": 0}
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                path = self.path.split("?")[0]
                robot.calls.append((path, self.headers["Content-Type"], json.loads(raw)))
                status, answer = robot.answers.get(path, (200, {"errcode": 0, "errmsg": "ok"}))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def bodies(self, path):
        return [body for p, _ct, body in self.calls if p == path]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def robot():
    r = Robot()
    yield r
    r.close()


@pytest.fixture
def channels(settings, robot):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.INVESTMAP_PROJECT_STALE_DAYS = {"lead": 30, "signed": 45}
    settings.INVESTMAP_WECOM_WEBHOOKS = (f"{robot.url}/wecom?key=k1",)
    settings.INVESTMAP_DINGTALK_WEBHOOKS = (f"{robot.url}/dingtalk?access_token=t1",)
    return settings


@pytest.fixture
def people(users):
    officer, manager = users["officer_t01"], users["bureau"]
    officer.email, officer.manager = "officer@example.cn", manager
    officer.save()
    manager.email = "chief@example.cn"
    manager.save()
    return {"officer": officer, "manager": manager, "other": users["officer_t02"]}


def make(district, code, *, officer=None, touched=TOUCHED, name=None):
    project = Project.objects.create(
        code=code, name=name or f"项目{code}", town=district["towns"]["T01"], officer=officer
    )
    Project.objects.filter(pk=project.pk).update(
        created_at=timezone.make_aware(dt.datetime(2024, 12, 1, 10))
    )
    Activity.objects.create(project=project, kind="created", on=touched)
    return project


def delivered(code=None):
    qs = AlertDelivery.objects.all()
    if code:
        qs = qs.filter(project__code=code)
    return set(qs.values_list("key", "channel"))


def check_wecom(body):
    """WeCom group robot markdown message (developer.work.weixin.qq.com/document/path/91770)."""
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"content"}
    content = body["markdown"]["content"]
    assert isinstance(content, str) and content
    assert len(content.encode("utf-8")) <= 4096
    return content


def check_dingtalk(body):
    """DingTalk custom robot markdown message (open.dingtalk.com, custom-robot-access)."""
    assert set(body) == {"msgtype", "markdown"}
    assert body["msgtype"] == "markdown"
    assert set(body["markdown"]) == {"title", "text"}
    assert isinstance(body["markdown"]["title"], str) and body["markdown"]["title"]
    assert isinstance(body["markdown"]["text"], str) and body["markdown"]["text"]
    return body["markdown"]["title"], body["markdown"]["text"]


def test_an_alert_reaches_officer_manager_and_robots_once(district, people, channels, robot, zh):
    officer, manager = people["officer"], people["manager"]
    make(district, "PX-1", officer=officer, name="新能源电池项目")
    key = "PX-1:stale:2025-01-01"

    counts = notify.send(as_of=AS_OF)

    assert counts["alerts"] == counts["new"] == 1
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (2, 2, 1, 1)
    assert counts["failed"] == {"inbox": 0, "email": 0, "wecom": 0, "dingtalk": 0}
    assert counts["recorded"] == 6
    assert delivered() == {
        (key, f"inbox:{officer.pk}"),
        (key, f"inbox:{manager.pk}"),
        (key, f"email:{officer.pk}"),
        (key, f"email:{manager.pk}"),
        (key, "wecom:0"),
        (key, "dingtalk:0"),
    }
    assert set(AlertDelivery.objects.values_list("alert_type", flat=True)) == {"stale"}

    # inbox: both people, keyed by the alert, linking to the project page
    notes = Notification.objects.filter(key=f"project-alert:{key}")
    assert {n.user_id for n in notes} == {officer.pk, manager.pk}
    assert people["other"].notifications.count() == 0
    note = notes.get(user=officer)
    assert note.kind == "project_alert"
    assert note.url == "/projects/PX-1/"
    expected_title = zh("Project alert: %(type)s, %(code)s %(name)s") % {
        "type": zh("No progress"),
        "code": "PX-1",
        "name": "新能源电池项目",
    }
    assert note.title == expected_title
    assert "/projects/PX-1/" in note.body

    # e-mail: one per person, in the active language
    assert sorted(m.to[0] for m in mail.outbox) == ["chief@example.cn", "officer@example.cn"]
    assert all(m.subject == expected_title for m in mail.outbox)
    assert all("/projects/PX-1/" in m.body for m in mail.outbox)

    # robots: the published markdown formats, JSON over POST
    assert [(p, ct.split(";")[0]) for p, ct, _b in robot.calls] == [
        ("/wecom", "application/json"),
        ("/dingtalk", "application/json"),
    ]
    content = check_wecom(robot.bodies("/wecom")[0])
    assert "PX-1" in content and "新能源电池项目" in content and "/projects/PX-1/" in content
    title, text = check_dingtalk(robot.bodies("/dingtalk")[0])
    assert title == expected_title
    assert "(/projects/PX-1/)" in text

    # a second run sends nothing
    again = notify.send(as_of=AS_OF + dt.timedelta(days=1))
    assert again["alerts"] == 1 and again["new"] == 0
    assert (again["inbox"], again["email"], again["wecom"], again["dingtalk"]) == (0, 0, 0, 0)
    assert len(robot.calls) == 2 and len(mail.outbox) == 2
    assert Notification.objects.count() == 2


def test_only_new_alerts_go_out(district, people, channels, robot):
    make(district, "PX-1", officer=people["officer"])
    notify.send(as_of=AS_OF)
    project = make(district, "PX-2", officer=people["officer"], touched=dt.date(2025, 2, 1))
    assert notify.send(as_of=AS_OF)["new"] == 0  # PX-2 is not stale yet (28 days)

    counts = notify.send(as_of=dt.date(2025, 3, 5))  # PX-2: 32 days
    assert counts["alerts"] == 2 and counts["new"] == 1
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (2, 2, 1, 1)
    assert "PX-2" in check_wecom(robot.bodies("/wecom")[-1])
    assert "PX-1" not in check_wecom(robot.bodies("/wecom")[-1])

    # touched again and stale again later: a new occurrence, sent again
    Activity.objects.create(project=project, kind="call", on=dt.date(2025, 3, 10))
    counts = notify.send(as_of=dt.date(2025, 4, 11))
    assert counts["new"] == 1
    assert ("PX-2:stale:2025-03-10", "wecom:0") in delivered("PX-2")


def test_email_only_to_people_with_an_address_who_want_it(district, people, channels):
    people["manager"].email_notifications = False
    people["manager"].save()
    make(district, "PX-1", officer=people["officer"])
    counts = notify.send(as_of=AS_OF)
    assert (counts["inbox"], counts["email"]) == (2, 1)
    assert [m.to for m in mail.outbox] == [["officer@example.cn"]]


def test_a_project_without_officer_goes_to_the_robots_only(district, people, channels, robot):
    make(district, "PX-1")
    counts = notify.send(as_of=AS_OF)
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (0, 0, 1, 1)
    assert Notification.objects.count() == 0 and mail.outbox == []


def test_digest_one_message_per_recipient_and_robot(district, people, channels, robot, zh):
    officer, manager = people["officer"], people["manager"]
    for i in range(3):
        make(district, f"PX-{i}", officer=officer, touched=dt.date(2025, 1, 1 + i))
    counts = notify.send(as_of=AS_OF, digest=True)

    assert counts["alerts"] == counts["new"] == 3
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (2, 2, 1, 1)
    assert counts["recorded"] == 3 * 6
    assert len(delivered()) == 18

    title = zh("Project alerts: %(n)s new") % {"n": 3}
    assert {n.user_id for n in Notification.objects.all()} == {officer.pk, manager.pk}
    note = Notification.objects.get(user=officer)
    assert note.title == title
    assert [line.startswith("- [PX-") for line in note.body.splitlines()] == [True] * 3
    assert len(mail.outbox) == 2 and all(m.subject == title for m in mail.outbox)
    for body_text in (note.body, mail.outbox[0].body):
        for i in range(3):
            assert f"/projects/PX-{i}/" in body_text

    [wecom] = robot.bodies("/wecom")
    content = check_wecom(wecom)
    assert [line for line in content.splitlines() if line.startswith("- ")] == [
        line for line in note.body.splitlines()
    ]
    [dingtalk] = robot.bodies("/dingtalk")
    dt_title, text = check_dingtalk(dingtalk)
    assert dt_title == title
    assert text.count("\n- [PX-") == 3

    again = notify.send(as_of=AS_OF, digest=True)
    assert again["new"] == 0 and len(robot.calls) == 2 and len(mail.outbox) == 2


def test_a_long_digest_is_split_under_the_robot_size_limit(district, channels, robot):
    for i in range(60):
        make(district, f"PX-{i:02}", name="很长的项目名称" * 6)
    counts = notify.send(as_of=AS_OF, digest=True)
    bodies = robot.bodies("/wecom")
    assert len(bodies) == counts["wecom"] > 1
    listed = [line for b in bodies for line in check_wecom(b).splitlines() if line.startswith("- ")]
    assert len(listed) == 60
    assert len(delivered()) == 60 * 2


def test_a_failed_webhook_is_retried_next_run(district, people, channels, robot):
    make(district, "PX-1", officer=people["officer"])
    robot.answers["/wecom"] = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    robot.answers["/dingtalk"] = (500, {"errcode": -1})

    counts = notify.send(as_of=AS_OF)
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (2, 2, 0, 0)
    assert counts["failed"] == {"inbox": 0, "email": 0, "wecom": 1, "dingtalk": 1}
    assert {c for _k, c in delivered()} == {
        f"inbox:{people['officer'].pk}",
        f"inbox:{people['manager'].pk}",
        f"email:{people['officer'].pk}",
        f"email:{people['manager'].pk}",
    }

    robot.answers.clear()
    counts = notify.send(as_of=AS_OF)
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (0, 0, 1, 1)
    assert counts["failed"] == {"inbox": 0, "email": 0, "wecom": 0, "dingtalk": 0}
    assert ("PX-1:stale:2025-01-01", "wecom:0") in delivered()
    assert len(robot.bodies("/wecom")) == 2  # the failed one and the retry
    assert len(mail.outbox) == 2


def test_a_failing_robot_is_tried_once_per_run(district, channels, robot):
    robot.answers["/wecom"] = (502, {})
    channels.INVESTMAP_WECOM_WEBHOOKS = (f"{robot.url}/wecom", f"{robot.url}/wecom2")
    for i in range(3):
        make(district, f"PX-{i}")
    counts = notify.send(as_of=AS_OF)
    assert len(robot.bodies("/wecom")) == 1  # not three 10 s waits on a broken robot
    assert counts["failed"]["wecom"] == 3  # one failed, two not tried: all retried next run
    assert counts["wecom"] == 3  # the second robot got each alert
    assert len(robot.bodies("/wecom2")) == 3
    assert {c for _k, c in delivered()} == {"wecom:1", "dingtalk:0"}


def test_an_unreachable_robot_does_not_stop_the_others(district, people, channels, robot):
    closed = Robot()
    dead = closed.url
    closed.close()  # nothing listens there any more
    channels.INVESTMAP_DINGTALK_WEBHOOKS = (f"{dead}/dingtalk",)
    make(district, "PX-1", officer=people["officer"])
    counts = notify.send(as_of=AS_OF)
    assert counts["failed"] == {"inbox": 0, "email": 0, "wecom": 0, "dingtalk": 1}
    assert (counts["inbox"], counts["email"], counts["wecom"]) == (2, 2, 1)
    assert "dingtalk:0" not in {c for _k, c in delivered()}


def test_dry_run_sends_and_records_nothing(district, people, channels, robot):
    make(district, "PX-1", officer=people["officer"])
    lines = []
    counts = notify.send(as_of=AS_OF, dry_run=True, log=lines.append)
    assert (counts["inbox"], counts["email"], counts["wecom"], counts["dingtalk"]) == (2, 2, 1, 1)
    assert counts["recorded"] == 0 and counts["dry_run"] is True
    assert len(lines) == 6 and all(line.startswith("would send ") for line in lines)
    assert robot.calls == [] and mail.outbox == []
    assert Notification.objects.count() == 0 and AlertDelivery.objects.count() == 0
    assert notify.send(as_of=AS_OF)["wecom"] == 1


def test_log_names_channels_not_webhook_urls(district, channels, robot):
    make(district, "PX-1")
    lines = []
    notify.send(as_of=AS_OF, log=lines.append)
    assert lines == ["sent wecom:0: 1 alert(s)", "sent dingtalk:0: 1 alert(s)"]


def test_nothing_to_send(district, channels, robot):
    counts = notify.send(as_of=AS_OF)
    assert counts["alerts"] == 0 and counts["recorded"] == 0 and robot.calls == []
