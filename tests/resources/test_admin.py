"""The admin lists every resource and shows each record's change history."""

import pytest
from django.urls import reverse

from investmap.core.models import User

MODELS = [
    "town",
    "park",
    "parcel",
    "building",
    "poi",
    "enterprise",
    "indicatoryear",
    "landgrant",
    "team",
]


@pytest.fixture
def admin_client(client, district):
    user = User.objects.create_superuser("root", password="x" * 12)
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelists_open(admin_client, model):
    r = admin_client.get(reverse(f"admin:resources_{model}_changelist"))
    assert r.status_code == 200


def test_history_shows_who_changed_what(admin_client, district):
    parcel = district["parcels"]["P-001"]
    parcel.status = "in_use"
    parcel._history_user = User.objects.get(username="root")
    parcel.save()
    r = admin_client.get(reverse("admin:resources_parcel_history", args=[parcel.pk]))
    html = r.content.decode()
    assert r.status_code == 200 and "root" in html
    assert parcel.history.count() == 2 and parcel.history.first().status == "in_use"
