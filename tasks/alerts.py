"""An alert when the nightly fails, crashes or its candidate is rejected: a Prefect automation
that posts to a webhook.

Nothing told anyone that a night's run had failed or its worker had died; then nothing told
anyone that the gate had rejected a night's candidate (the run ended Completed). A rejected run
now ends Failed, named ``Rejected`` (:mod:`tasks.outcome`), and Prefect names its event by the
state's name (``prefect.flow-run.Rejected``), so the trigger expects that event too.
``infra/setup-work-pool.sh`` calls :func:`ensure_nightly_alert` when
``MMINDEX_ALERT_WEBHOOK_URL`` is set: a custom-webhook notification block ``mmindex-alerts`` and
an automation ``mmindex-nightly-failed-or-crashed`` (the name kept from before, so a re-run of the
setup replaces it) that, on a ``Failed``, ``Crashed`` or ``Rejected`` run of the
``embed/nightly`` deployment, POSTs the run's name, state and message as JSON (Slack's incoming
webhooks, Teams, or any receiver). Idempotent: a second call replaces both.

The webhook URL is a secret (its path or ``?token=`` is the credential): the block keeps it in
its ``secrets`` field (a ``SecretDict``, masked by the API and the UI) and its ``url`` is only
the placeholder ``{{webhook_url}}``, filled in when the notification is sent. :func:`masked`
is the only form of it that is ever printed.
"""

from __future__ import annotations

from typing import Any

BLOCK = "mmindex-alerts"
AUTOMATION = "mmindex-nightly-failed-or-crashed"
URL_KEY = "webhook_url"  # the secret's key; the block's url is the placeholder {{webhook_url}}
ALERT_STATES = ("Failed", "Crashed", "Rejected")  # state names: Prefect's events are named by them
BODY = ("mmindex nightly {{ flow_run.name }} is {{ flow_run.state.name }}: "
        "{{ flow_run.state.message }}")


def ensure_nightly_alert(client: Any, url: str, *, allow_private: bool = False,
                         deployment: str = "embed/nightly") -> Any:
    """Create or update the webhook block and the automation; the automation's id."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.events.actions import SendNotification
    from prefect.events.schemas.automations import AutomationCore, EventTrigger, Posture

    block = CustomWebhookNotificationBlock(
        name=BLOCK, url="{{" + URL_KEY + "}}", secrets={URL_KEY: url}, method="POST",
        allow_private_urls=allow_private,
        json_data={"text": "{{subject}}: {{body}}", "subject": "{{subject}}", "body": "{{body}}"})
    block_id = block.save(BLOCK, overwrite=True)
    dep = client.read_deployment_by_name(deployment)
    automation = AutomationCore(
        name=AUTOMATION,
        description=f"Tell someone when {deployment} fails, crashes or the gate rejects its "
                    "candidate.",
        trigger=EventTrigger(
            expect={f"prefect.flow-run.{name}" for name in ALERT_STATES},
            match_related={"prefect.resource.id": f"prefect.deployment.{dep.id}"},
            posture=Posture.Reactive, threshold=1),
        actions=[SendNotification(block_document_id=block_id,
                                  subject=f"{deployment} failed, crashed or was rejected",
                                  body=BODY)])
    for old in client.read_automations_by_name(AUTOMATION):
        client.delete_automation(old.id)
    return client.create_automation(automation)


def masked(url: str) -> str:
    """The webhook URL as it may be printed: its scheme and host, nothing after
    (``https://hooks.slack.com/***``)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme or '?'}://{host}{f':{parts.port}' if parts.port else ''}/***"
