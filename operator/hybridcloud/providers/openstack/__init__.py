"""OpenStack Magnum adapter (openstacksdk, ``container-infra`` service, API microversion 1.9).

Credential keys (data of the Kubernetes Secret):

- ``auth_url`` (or the ``auth_url`` constructor argument, e.g. ``https://keystone:5000/v3``)
- password auth: ``username``, ``password``, ``project_name``, ``user_domain_name`` and
  ``project_domain_name`` (both default ``Default``)
- or application credentials: ``application_credential_id``, ``application_credential_secret``
- optional: ``region_name`` (used when the cluster spec has no region), ``interface``
  (``public``, ``internal`` or ``admin``; default ``public``)

Provider options (``spec.openstack``): ``clusterTemplate`` (use this existing template instead of
creating one), ``image``, ``keypair``, ``externalNetwork``.

Mapping: one cluster template per cluster and Kubernetes version, named ``<cluster>-v<version>``
(image, keypair, external network, worker flavor, master flavor, CNI as network driver, disk size
as docker volume size, ``kube_tag`` label). The control-plane group is Magnum's master count (and
``default-master`` node group), the first worker group is ``default-worker``; other worker groups
are Magnum node groups, which Magnum accepts only once the cluster is created, so they are added by
``create_node_group`` (or a repeated ``create``) when the cluster is ACTIVE. Which spec groups the
default node groups stand for is recorded in cluster labels, as are the owner tags (Magnum has no
tags). Magnum keeps per-node-group Kubernetes versions: an upgrade moves the cluster and its
default groups, and later ``upgrade`` calls move the other groups one at a time; ``describe``
reports the lowest version until all are done. Deleting renames the cluster's in-use templates
with a ``-deleting`` suffix (Magnum allows only renames of templates in use) so that ``describe``
keeps reporting DELETING until those templates are removed after the cluster is gone.
"""

from ._provider import OpenStackProvider

__all__ = ["OpenStackProvider"]
