"""The member inventory's shape: what is written reads back the same, byte-stable."""

from __future__ import annotations

from hybridcloud.delivery import objects as o
from hybridcloud.delivery.inventory import inventory_body, inventory_key, parse_inventory

KEYS = {o.ObjectKey("apps/v1", "Deployment", "web", "api"),
        o.ObjectKey("v1", "ConfigMap", "web", "settings")}


def test_an_inventory_reads_back_the_objects_and_fingerprint_it_was_written_with() -> None:
    body = inventory_body("u-1", "tenant/app", set(KEYS), "f00d")
    assert parse_inventory(body) == {"keys": KEYS, "fingerprint": "f00d"}
    assert body["metadata"]["name"] == inventory_key("u-1").name == "app-u-1"


def test_the_same_objects_in_any_order_write_identical_data() -> None:
    forward = inventory_body("u-1", "tenant/app", set(KEYS), None)
    backward = inventory_body("u-1", "tenant/app", set(reversed(sorted(KEYS))), None)
    assert forward == backward
    assert "fingerprint" not in forward["data"]


def test_a_member_without_an_inventory_has_no_objects_recorded() -> None:
    assert parse_inventory(None) == {}
    assert parse_inventory({"data": {}}) == {"keys": set(), "fingerprint": None}
