"""Amazon EKS adapter (boto3): an EKS cluster plus one managed node group per worker group.

Credentials (keys of the Kubernetes Secret): ``aws_access_key_id`` and
``aws_secret_access_key`` (required), ``aws_session_token`` (optional, for temporary STS
credentials) and ``region`` (optional, used when ``ClusterSpec.region`` is empty).
``endpoint_url`` overrides the AWS endpoint of every API call (tests, private endpoints); the
kubeconfig token always names the real regional STS endpoint, which the cluster verifies.

Options (``ClusterSpec.options``): ``roleArn`` (cluster IAM role, default
``arn:<partition>:iam::<account>:role/eksClusterRole``), ``nodeRoleArn`` (node IAM role, default
``…:role/AmazonEKSNodeRole``, the names AWS's guides use), ``subnetIds`` (default: the
region's default-VPC subnets; node groups use the cluster's subnets) and ``securityGroupIds``
(default none; EKS creates a cluster security group itself). Control-plane node groups are
ignored: EKS manages the control plane. ``cni``, ``addons`` and ``cluster_cidr`` are ignored.

Lifecycle. EKS refuses node groups until the control plane is ACTIVE, so :meth:`create` starts
the control plane and, on every later call that finds it ACTIVE, creates the spec's missing
node groups. :meth:`describe` reports CREATING until at least one node group has got past
creation, so the operator keeps calling :meth:`create` while the state is Creating. EKS
refuses to delete a cluster that has node groups, so :meth:`delete` tags the cluster
(``hybridcloud.io/deletion-requested``; from then on it is reported DELETING), deletes the
node groups and, on a later call once they are gone, the cluster. Node-group sizes: fixed
groups get min = max = desired; for autoscaled groups the cluster-autoscaler owns desiredSize,
so only the bounds are kept in line (desiredSize is moved only when it falls outside them).
"""

from ._provider import DELETION_TAG, AWSProvider

__all__ = ["DELETION_TAG", "AWSProvider"]
