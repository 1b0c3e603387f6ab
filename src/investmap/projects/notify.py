"""Sending project alerts (SPEC P4): inbox, e-mail and group robot webhooks, each alert once.

`send()` is what the scheduled command runs. For each alert of `alerts.compute`
it tells the project's officer and the officer's manager (`User.manager`):

* in-app inbox (`core.models.notify`, key ``project-alert:<alert key>``);
* e-mail (Django's mail backend) to those of them with an address and
  `email_notifications` on;
* every configured WeCom and DingTalk group robot (their markdown messages).

Each (alert, channel) is recorded in `AlertDelivery` after it went out, with
channel ``inbox:<user id>``, ``email:<user id>``, ``wecom:<n>`` or
``dingtalk:<n>`` (n: the URL's position in the setting), and is never sent
there again. Nothing is recorded for a channel that failed (an HTTP error, a
robot's non-zero ``errcode``, an SMTP error): the next run sends it again. A URL
that failed is not tried again in the same run (one 10 s timeout, not one per
alert). The order is send-then-record: a run killed between the two repeats
that message next time rather than lose it; runs are meant to be scheduled one
at a time.

With ``digest=True`` each recipient, and each robot, gets one message listing
all its new alerts instead of one per alert (robots: split so that a message
stays under the published size limit; both robots also limit a robot to 20
messages a minute, so a digest suits them better).

Robot message formats (group robot webhooks, JSON POST, UTF-8):
* WeCom 群机器人配置说明, https://developer.work.weixin.qq.com/document/path/91770
  (also https://work.weixin.qq.com/api/doc/90000/90136/91770):
  ``{"msgtype": "markdown", "markdown": {"content": "..."}}``, content at most
  4096 bytes; answer ``{"errcode": 0, "errmsg": "ok"}``.
* DingTalk 自定义机器人, https://open.dingtalk.com/document/robots/custom-robot-access
  and https://open.dingtalk.com/document/development/robot-message-type:
  ``{"msgtype": "markdown", "markdown": {"title": "...", "text": "..."}}``
  (title: what the conversation list shows); answer ``{"errcode": 0, ...}``.
  A robot secured by a keyword needs that keyword in the text: the title line
  of every message starts with the translated "Project alert(s)".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import urllib.error
import urllib.request
from collections import defaultdict
from functools import partial

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from investmap.core.models import User, notify

from . import alerts as alerts_mod
from .choices import AlertType, Stage
from .models import AlertDelivery, Project

NOTIFICATION_KIND = "project_alert"
WEBHOOK_TIMEOUT = 10  # seconds
WEBHOOK_MAX_BYTES = 4000  # WeCom: markdown content at most 4096 bytes; kept for both robots
CHANNELS = ("inbox", "email", "wecom", "dingtalk")
_CHUNK = 500  # ids / keys per IN (...) query


# --- text -------------------------------------------------------------------


def project_path(code: str) -> str:
    return f"/projects/{code}/"


def _link(code: str) -> str:
    """The project page; absolute when INVESTMAP_SITE_URL is set (robots need one to click)."""
    base = getattr(settings, "INVESTMAP_SITE_URL", "") or ""
    return base.rstrip("/") + project_path(code)


def _md(text: str) -> str:
    """Text safe inside a markdown link label or list item."""
    for a, b in (("[", "［"), ("]", "］"), ("*", "＊"), ("`", "'"), ("\n", " ")):
        text = (text or "").replace(a, b)
    return text


def _label(choices, value) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def describe(alert: dict) -> str:
    """One sentence saying what is wrong, in the active language."""
    kind = alert["type"]
    values = {"days": alert["days"], "limit": alert["limit_days"], "since": alert["since"]}
    if kind == AlertType.STALE:
        return _("no activity for %(days)s days since %(since)s (limit %(limit)s days)") % values
    if kind == AlertType.SIGNED_NOT_REGISTERED:
        return _(
            "signed on %(since)s, not registered after %(days)s days (limit %(limit)s days)"
        ) % (values)
    if kind == AlertType.LAND_NOT_STARTED:
        return (
            _(
                "land obtained on %(since)s, construction not started after %(days)s days "
                "(limit %(limit)s days)"
            )
            % values
        )
    if kind == AlertType.MILESTONES_OUT_OF_ORDER:
        stages = ", ".join(_label(Stage, s) for s in alert.get("out_of_order") or ())
        return _("milestone dates out of order: %(stages)s") % {"stages": stages}
    return _label(AlertType, kind)


def title(alert: dict) -> str:
    return _("Project alert: %(type)s, %(code)s %(name)s") % {
        "type": _label(AlertType, alert["type"]),
        "code": alert["project"],
        "name": alert["name"],
    }


def digest_title(n: int) -> str:
    return _("Project alerts: %(n)s new") % {"n": n}


def item(alert: dict) -> str:
    """The alert as one markdown list item with the link to the project."""
    return "- [{code} {name}]({link}) {kind} · {stage} · {what}{officer}".format(
        code=_md(alert["project"]),
        name=_md(alert["name"]),
        link=_link(alert["project"]),
        kind=_label(AlertType, alert["type"]),
        stage=_label(Stage, alert["stage"]),
        what=describe(alert),
        officer=(" · " + _("officer: %(name)s") % {"name": alert["officer"]})
        if alert["officer"]
        else "",
    )


def body(alert: dict) -> str:
    """The text of one alert (inbox and e-mail): what, stage, officer, link."""
    lines = [
        f"{alert['project']} {alert['name']}",
        describe(alert),
        _("Stage: %(stage)s") % {"stage": _label(Stage, alert["stage"])},
        _("Officer: %(name)s") % {"name": alert["officer"] or _("none")},
        _link(alert["project"]),
    ]
    return "\n".join(lines)


def digest_body(alerts: list[dict]) -> str:
    return "\n".join(item(a) for a in alerts)


def markdown_chunks(alerts: list[dict], *, digest: bool) -> list[tuple[str, str, list[dict]]]:
    """Robot messages as (title, markdown, alerts), each under WEBHOOK_MAX_BYTES."""
    if not digest:
        return [(title(a), f"### {title(a)}\n{item(a)}", [a]) for a in alerts]
    head = f"### {digest_title(len(alerts))}\n"
    chunks, lines, size = [], [], len(head.encode())
    for a in alerts:
        line = item(a) + "\n"
        n = len(line.encode())
        if lines and size + n > WEBHOOK_MAX_BYTES:
            chunks.append(lines)
            lines, size = [], len(head.encode())
        lines.append((line, a))
        size += n
    if lines:
        chunks.append(lines)
    return [
        (digest_title(len(alerts)), head + "".join(line for line, _a in c), [a for _l, a in c])
        for c in chunks
    ]


# --- robots -----------------------------------------------------------------


def wecom_payload(title_text: str, markdown: str) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": markdown}}


def dingtalk_payload(title_text: str, markdown: str) -> dict:
    return {"msgtype": "markdown", "markdown": {"title": title_text, "text": markdown}}


PAYLOADS = {"wecom": wecom_payload, "dingtalk": dingtalk_payload}


def post_json(url: str, payload: dict) -> str | None:
    """POST the payload; None when accepted, else the reason it was not."""
    data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT) as response:
            answer = response.read()
    except urllib.error.HTTPError as e:
        return f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return type(e).__name__ + ": " + str(getattr(e, "reason", e))
    try:
        decoded = json.loads(answer or b"{}")
    except ValueError:
        return None  # a 2xx without a JSON body: accepted
    code = decoded.get("errcode", 0) if isinstance(decoded, dict) else 0
    if code not in (0, "0", None):
        return f"errcode {code}: {decoded.get('errmsg', '')}"
    return None


# --- sending ----------------------------------------------------------------


def _chunks(items, n=_CHUNK):
    items = list(items)
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _delivered(keys) -> set[tuple[str, str]]:
    done = set()
    for part in _chunks(keys):
        done.update(AlertDelivery.objects.filter(key__in=part).values_list("key", "channel"))
    return done


def _project_ids(codes) -> dict[str, int]:
    ids = {}
    for part in _chunks(codes):
        ids.update(Project.objects.filter(code__in=part).values_list("code", "pk"))
    return ids


def _recipients(usernames) -> dict[str, list[User]]:
    """Officer username → the active users to tell (the officer, then their manager)."""
    out = {}
    for part in _chunks(usernames):
        for user in User.objects.filter(username__in=part).select_related("manager"):
            people = [user, user.manager] if user.manager_id else [user]
            seen, keep = set(), []
            for p in people:
                if p.is_active and p.pk not in seen:
                    seen.add(p.pk)
                    keep.append(p)
            out[user.username] = keep
    return out


def _record(alerts: list[dict], channel: str, project_ids: dict[str, int]) -> int:
    rows = [
        AlertDelivery(
            key=a["key"],
            channel=channel,
            project_id=project_ids[a["project"]],
            alert_type=a["type"],
        )
        for a in alerts
        if a["project"] in project_ids
    ]
    AlertDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def _digest_key(as_of: dt.date, alerts: list[dict]) -> str:
    digest = hashlib.sha256("\n".join(sorted(a["key"] for a in alerts)).encode()).hexdigest()
    return f"project-alert-digest:{as_of.isoformat()}:{digest[:24]}"


def send(*, as_of: dt.date, digest: bool = False, dry_run: bool = False, log=None) -> dict:
    """Send the new alerts as of `as_of`; returns counts per channel.

    Counts: `alerts` (all current alerts), `new` (alerts with at least one
    channel still to reach), messages sent per channel (`inbox`, `email`,
    `wecom`, `dingtalk`), `failed` per channel (messages not sent; retried next
    run), `recorded` (deliveries written). With `dry_run` nothing is sent or
    recorded and the counts say what would have been.
    """
    say = log or (lambda _line: None)
    language = translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        return _send(as_of=as_of, digest=digest, dry_run=dry_run, say=say)


def _send(*, as_of, digest, dry_run, say) -> dict:
    counts = {
        "alerts": 0,
        "new": 0,
        **{c: 0 for c in CHANNELS},
        "failed": {c: 0 for c in CHANNELS},
        "recorded": 0,
        "digest": digest,
        "dry_run": dry_run,
    }
    alerts = alerts_mod.compute(as_of=as_of)
    counts["alerts"] = len(alerts)
    if not alerts:
        return counts
    done = _delivered(a["key"] for a in alerts)
    people = _recipients({a["officer"] for a in alerts if a["officer"]})
    users = {}
    # channel → alerts still to send there, in the order of `alerts`
    pending: dict[str, list[dict]] = defaultdict(list)
    webhooks = {
        "wecom": [u.strip() for u in settings.INVESTMAP_WECOM_WEBHOOKS if u.strip()],
        "dingtalk": [u.strip() for u in settings.INVESTMAP_DINGTALK_WEBHOOKS if u.strip()],
    }
    for a in alerts:
        channels = []
        for user in people.get(a["officer"], ()):
            users[user.pk] = user
            channels.append(f"inbox:{user.pk}")
            if user.email and user.email_notifications:
                channels.append(f"email:{user.pk}")
        for kind, urls in webhooks.items():
            channels.extend(f"{kind}:{n}" for n in range(len(urls)))
        new = [c for c in channels if (a["key"], c) not in done]
        for c in new:
            pending[c].append(a)
        counts["new"] += bool(new)
    project_ids = (
        {} if dry_run else _project_ids({a["project"] for v in pending.values() for a in v})
    )

    def deliver(kind: str, channel: str, batch: list[dict], push) -> bool:
        """Send one message for `batch` on `channel`; push() returns an error or None."""
        if dry_run:
            counts[kind] += 1
            say(f"would send {channel}: {len(batch)} alert(s)")
            return True
        error = push()
        if error:
            counts["failed"][kind] += 1
            say(f"failed {channel}: {len(batch)} alert(s): {error}")
            return False
        counts[kind] += 1
        counts["recorded"] += _record(batch, channel, project_ids)
        say(f"sent {channel}: {len(batch)} alert(s)")
        return True

    for channel, todo in pending.items():
        kind, _sep, ident = channel.partition(":")
        if kind != "inbox":
            continue
        user = users[int(ident)]
        for batch in [todo] if digest else [[a] for a in todo]:
            deliver(kind, channel, batch, partial(_inbox, user, batch, as_of, digest))

    emails = [(c, todo) for c, todo in pending.items() if c.startswith("email:")]
    if emails:
        _send_emails(emails, users, digest=digest, dry_run=dry_run, deliver=deliver)

    for channel, todo in pending.items():
        kind, _sep, ident = channel.partition(":")
        if kind not in webhooks:
            continue
        url, working = webhooks[kind][int(ident)], True
        for title_text, markdown, batch in markdown_chunks(todo, digest=digest):
            if not working:  # the URL failed in this run: do not wait on it again
                counts["failed"][kind] += 1
                continue
            payload = PAYLOADS[kind](title_text, markdown)
            working = deliver(kind, channel, batch, partial(post_json, url, payload))
    return counts


def _inbox(user: User, batch: list[dict], as_of: dt.date, digest: bool) -> None:
    with transaction.atomic():
        if digest:
            notify(
                user=user,
                key=_digest_key(as_of, batch),
                kind=NOTIFICATION_KIND,
                title=digest_title(len(batch)),
                body=digest_body(batch),
                url="/projects/",
            )
        else:
            a = batch[0]
            notify(
                user=user,
                key=f"project-alert:{a['key']}",
                kind=NOTIFICATION_KIND,
                title=title(a),
                body=body(a),
                url=project_path(a["project"]),
            )
    return None  # no error


def _send_emails(emails, users, *, digest: bool, dry_run: bool, deliver) -> None:
    """One e-mail per alert (or per recipient with `digest`) over one connection."""
    opened = None
    connection = None
    if not dry_run:
        kwargs = {}
        if getattr(settings, "EMAIL_TIMEOUT", None) is None:
            kwargs["timeout"] = WEBHOOK_TIMEOUT
        connection = mail.get_connection(**kwargs)
        try:
            connection.open()
        except Exception as e:  # any backend error: these mails wait for the next run
            opened = f"{type(e).__name__}: {e}"
    try:
        for channel, todo in emails:
            user = users[int(channel.partition(":")[2])]
            for batch in [todo] if digest else [[a] for a in todo]:
                if digest:
                    subject, text = digest_title(len(batch)), digest_body(batch)
                else:
                    subject, text = title(batch[0]), body(batch[0])
                message = mail.EmailMessage(
                    subject=subject, body=text, to=[user.email], connection=connection
                )
                deliver("email", channel, batch, partial(_mail, message, opened))
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


def _mail(message, opened: str | None) -> str | None:
    if opened:
        return opened
    try:
        return None if message.send() else "not sent"
    except Exception as e:  # SMTP and socket errors alike: retried next run
        return f"{type(e).__name__}: {e}"
