"""The fake Magnum's node group endpoints: ``/v1/clusters/{id}/nodegroups`` (microversion 1.9)
and ``/v1/clusters/{id}/actions/resize`` (1.7), with Magnum's validation rules (node counts within
``min_node_count``/``max_node_count``, no master resize, no deleting default groups, no new groups
before the cluster has an API address, no changes while an operation is in progress).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from tests.fakes.magnum_state import MagnumError, NodeGroup, busy
from tests.fakes.server import Request, Response

if TYPE_CHECKING:
    from tests.fakes.magnum import FakeMagnum

PATCHABLE = ("min_node_count", "max_node_count")


def validate_node_count(group: NodeGroup) -> None:
    def invalid(attr: str, explanation: str) -> MagnumError:
        return MagnumError(400, f"Nodegroup {group.name} attributes are not valid: "
                                f"{attr} - {explanation}")

    if group.max_node_count is not None:
        if group.max_node_count < group.min_node_count:
            raise invalid("max_node_count", f"min_node_count ({group.min_node_count}) should be "
                                            f"less or equal to max_node_count "
                                            f"({group.max_node_count})")
        if group.node_count > group.max_node_count:
            raise invalid("max_node_count", f"node_count ({group.node_count}) should be less or "
                                            f"equal to max_node_count ({group.max_node_count})")
    if group.min_node_count > group.node_count:
        raise invalid("min_node_count", f"min_node_count ({group.min_node_count}) should be less "
                                        f"or equal to node_count ({group.node_count})")


def register_nodegroup_routes(fake: FakeMagnum) -> None:
    api = fake.api
    cloud = fake.cloud
    base = r"/v1/clusters/(?P<ident>[^/]+)"

    def nodegroup(request: Request) -> tuple[Any, NodeGroup]:
        cluster = fake.get_cluster(request.params["ident"])
        group = cluster.nodegroup(request.params["ng"])
        if group is None:
            raise MagnumError(404, f"Nodegroup {request.params['ng']} could not be found.")
        return cluster, group

    @api("GET", f"{base}/nodegroups", min_version=(1, 9))
    def list_groups(request: Request) -> Response:
        cluster = fake.get_cluster(request.params["ident"])
        roles = request.query.get("role")
        return Response(200, {"nodegroups": [
            ng.render(fake.server.url, summary=True) for ng in cluster.nodegroups
            if not roles or ng.role == roles[0]]})

    @api("GET", f"{base}/nodegroups/(?P<ng>[^/]+)", min_version=(1, 9))
    def get_group(request: Request) -> Response:
        return Response(200, nodegroup(request)[1].render(fake.server.url))

    @api("POST", f"{base}/nodegroups", min_version=(1, 9))
    def create_group(request: Request) -> Response:
        cluster = fake.get_cluster(request.params["ident"])
        body = request.json() or {}
        if not cluster.api_address:
            raise MagnumError(400, "The cluster's API address is not yet available: node groups "
                                   "can be added once the cluster is created.")
        if not cluster.status.endswith("_COMPLETE"):
            raise busy(cluster, "Adding a nodegroup to")
        name = str(body.get("name") or "")
        if not name:
            raise MagnumError(400, "Invalid input for field/attribute name.")
        if cluster.nodegroup(name) is not None:
            raise MagnumError(409, f"A node group with name {name} already exists in the "
                                   f"cluster {cluster.name}.")
        if body.get("role") == "master":
            raise MagnumError(400, "Creating master nodegroups is currently not supported.")
        fake.validate_flavor(body.get("flavor_id"))
        template = cloud.templates.get(cluster.cluster_template_id)
        group = NodeGroup(
            str(uuid.uuid4()), name, cluster.uuid, str(body.get("role") or "worker"), False,
            int(body.get("node_count") or 1), body.get("flavor_id") or cluster.attrs["flavor_id"],
            body.get("image_id") or (template.attrs["image_id"] if template else None),
            body.get("docker_volume_size") or cluster.attrs["docker_volume_size"],
            dict(body.get("labels") or cluster.attrs["labels"]),
            int(body.get("min_node_count") or 1), body.get("max_node_count"),
            version=cluster.coe_version)
        validate_node_count(group)
        cluster.nodegroups.append(group)
        cloud.start_update(cluster, group, ng_status="CREATE_IN_PROGRESS")
        return Response(202, group.render(fake.server.url))

    @api("PATCH", f"{base}/nodegroups/(?P<ng>[^/]+)", min_version=(1, 9))
    def patch_group(request: Request) -> Response:
        _, group = nodegroup(request)
        changes: dict[str, Any] = {}
        for op in request.json() or []:
            key = str(op.get("path", "")).lstrip("/")
            if key not in PATCHABLE:
                raise MagnumError(400, f"'/{key}' is an internal attribute and can not be "
                                       "updated")
            default = 1 if key == "min_node_count" else None
            changes[key] = op.get("value") if op.get("op") != "remove" else default
        previous = {key: getattr(group, key) for key in changes}
        for key, value in changes.items():
            setattr(group, key, value)
        try:
            validate_node_count(group)
        except MagnumError:
            for key, value in previous.items():
                setattr(group, key, value)
            raise
        return Response(202, group.render(fake.server.url))

    @api("DELETE", f"{base}/nodegroups/(?P<ng>[^/]+)", min_version=(1, 9))
    def delete_group(request: Request) -> Response:
        cluster, group = nodegroup(request)
        if group.is_default:
            raise MagnumError(400, "Deleting a default nodegroup is not supported.")
        if not cluster.status.endswith("_COMPLETE"):
            raise busy(cluster, "Deleting a nodegroup from")

        def remove() -> None:
            if group in cluster.nodegroups:
                cluster.nodegroups.remove(group)

        cloud.start_update(cluster, group, ng_status="DELETE_IN_PROGRESS", finish=remove)
        return Response(204)

    @api("POST", f"{base}/actions/resize", min_version=(1, 7))
    def resize(request: Request) -> Response:
        cluster = fake.get_cluster(request.params["ident"])
        body = request.json() or {}
        ident = body.get("nodegroup")
        group = cluster.nodegroup(str(ident)) if ident else cluster.nodegroup("default-worker")
        if group is None:
            raise MagnumError(404, f"Nodegroup {ident} could not be found.")
        count = body.get("node_count")
        if not isinstance(count, int) or count < 1:
            raise MagnumError(400, "Invalid input for field/attribute node_count. Value should "
                                   "be greater or equal to 1")
        if group.role == "master":
            raise MagnumError(400, "Resizing a master nodegroup is not supported.")
        if count < group.min_node_count or (group.max_node_count is not None
                                            and count > group.max_node_count):
            raise MagnumError(400, f"Resizing {group.name} outside the allowed range: "
                                   f"min_node_count = {group.min_node_count}, max_node_count = "
                                   f"{group.max_node_count}")
        if not cluster.status.endswith("_COMPLETE"):
            raise busy(cluster, "Resizing")
        group.node_count = count  # Magnum records the new size before the stack update runs
        cloud.start_update(cluster, group)
        return Response(202, {"uuid": cluster.uuid})
