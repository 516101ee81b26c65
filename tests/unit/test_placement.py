"""Placement: strategies, constraints, selectors, eligibility, failover and stability."""

from __future__ import annotations

from typing import Any

from hybridcloud.models import MultiClusterApplication
from hybridcloud.reconcile.placement import ClusterFacts, deep_merge, matches, place


def spec(**fields: Any) -> Any:
    body = {"source": {"repository": "file:///repo.git"}, **fields}
    return MultiClusterApplication.model_validate({"spec": body}).spec


def cluster(name: str, region: str, provider: str = "local", phase: str = "Active",
            **labels: str) -> ClusterFacts:
    return ClusterFacts(name=name, phase=phase, provider=provider, region=region, labels=labels)


def fleet(*clusters: ClusterFacts) -> dict[str, ClusterFacts]:
    return {c.name: c for c in clusters}


THREE = fleet(cluster("a", "r1"), cluster("b", "r2"), cluster("c", "r3", provider="aws"))


# -- explicit placement ------------------------------------------------------------------------

def test_explicit_entries_carry_their_components_and_merged_values() -> None:
    result = place(spec(values={"replicas": 2, "image": {"tag": "v1"}}, placement=[
        {"cluster": "a", "components": ["frontend", "api"]},
        {"cluster": "b", "components": ["database"], "values": {"replicas": 1}}]), THREE)
    assert result.ready and result.clusters == ["a", "b"]
    assert result.targets[0].components == ("frontend", "api")
    assert result.targets[1].values == {"replicas": 1, "image": {"tag": "v1"}}


def test_an_unavailable_explicit_cluster_without_policy_is_reported_not_replaced() -> None:
    clusters = fleet(cluster("a", "r1"), cluster("b", "r2", phase="Failed"))
    result = place(spec(placement=[{"cluster": "a"}, {"cluster": "b"}]), clusters)
    assert not result.ready and result.reason == "ClusterUnavailable"
    assert "cluster b is Failed" in result.message
    assert result.clusters == ["a"]


def test_a_missing_explicit_cluster_is_named_in_the_message() -> None:
    result = place(spec(placement=[{"cluster": "ghost"}]), THREE)
    assert not result.ready and "cluster ghost does not exist" in result.message


# -- policy strategies ---------------------------------------------------------------------------

def test_spread_places_on_every_eligible_cluster() -> None:
    clusters = {**THREE, "d": cluster("d", "r1", phase="Creating")}
    result = place(spec(placementPolicy={"strategy": "spread"}), clusters)
    assert result.ready and sorted(result.clusters) == ["a", "b", "c"]


def test_availability_prefers_new_regions_and_providers() -> None:
    clusters = fleet(cluster("a", "r1"), cluster("a2", "r1"), cluster("b", "r2", "aws"))
    result = place(spec(placementPolicy={"strategy": "availability", "clusterCount": 2}),
                   clusters)
    assert sorted(result.clusters) == ["a", "b"]


def test_pack_avoids_diversity_the_constraints_do_not_need() -> None:
    clusters = fleet(cluster("a", "r1"), cluster("a2", "r1"), cluster("b", "r2", "aws"))
    result = place(spec(placementPolicy={"strategy": "pack", "clusterCount": 2}), clusters)
    assert sorted(result.clusters) == ["a", "a2"]


def test_pack_still_meets_a_region_constraint() -> None:
    clusters = fleet(cluster("a", "r1"), cluster("a2", "r1"), cluster("b", "r2"))
    result = place(spec(placementPolicy={"strategy": "pack", "constraints": [
        {"type": "region_diversity", "minRegions": 2}]}), clusters)
    assert result.ready and sorted(result.clusters) in (["a", "b"], ["a2", "b"])


def test_cluster_count_defaults_to_what_the_constraints_need() -> None:
    result = place(spec(placementPolicy={"constraints": [
        {"type": "region_diversity", "minRegions": 3}]}), THREE)
    assert result.ready and sorted(result.clusters) == ["a", "b", "c"]


def test_only_clusters_matching_the_selector_are_eligible() -> None:
    clusters = fleet(cluster("a", "r1", tier="prod"), cluster("b", "r2", tier="dev"),
                     cluster("c", "r3", tier="prod"))
    result = place(spec(placementPolicy={"strategy": "spread", "clusterSelector": {
        "matchLabels": {"tier": "prod"}}}), clusters)
    assert sorted(result.clusters) == ["a", "c"]


def test_label_selector_expressions_follow_kubernetes_semantics() -> None:
    selector = MultiClusterApplication.model_validate({"spec": {
        "source": {"repository": "x"}, "placementPolicy": {"clusterSelector": {
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "gpu", "operator": "DoesNotExist"},
                                 {"key": "zone", "operator": "Exists"},
                                 {"key": "env", "operator": "NotIn", "values": ["dev"]}]}}}}
    ).spec.placement_policy.cluster_selector
    assert matches(selector, {"tier": "a", "zone": "z"})
    assert not matches(selector, {"tier": "c", "zone": "z"})
    assert not matches(selector, {"tier": "a", "zone": "z", "gpu": "yes"})
    assert not matches(selector, {"tier": "a"})
    assert not matches(selector, {"tier": "a", "zone": "z", "env": "dev"})


# -- eligibility and failover --------------------------------------------------------------------

def test_only_active_clusters_are_eligible_for_new_placement() -> None:
    clusters = fleet(cluster("a", "r1", phase="Updating"), cluster("b", "r2", phase="Failed"),
                     cluster("c", "r3"), ClusterFacts("d", "Active", "local", "r4",
                                                      deleting=True))
    result = place(spec(placementPolicy={"strategy": "spread"}), clusters)
    assert result.clusters == ["c"]


def test_an_updating_cluster_keeps_the_app_it_already_runs() -> None:
    clusters = fleet(cluster("a", "r1", phase="Updating"), cluster("b", "r2"))
    result = place(spec(placementPolicy={"clusterCount": 1}), clusters, current={"a": None})
    assert result.clusters == ["a"]


def test_placement_is_stable_when_nothing_changed() -> None:
    result = place(spec(placementPolicy={"clusterCount": 1}), THREE, current={"b": None})
    assert result.clusters == ["b"]


def test_failover_moves_the_app_to_another_cluster_keeping_constraints() -> None:
    policy = {"clusterCount": 2, "constraints": [{"type": "region_diversity", "minRegions": 2}]}
    clusters = fleet(cluster("a", "r1"), cluster("b", "r2"), cluster("c", "r1"))
    first = place(spec(placementPolicy=policy), clusters)
    assert sorted(first.clusters) == ["a", "b"]
    clusters["b"] = cluster("b", "r2", phase="Failed")
    clusters["d"] = cluster("d", "r3")
    moved = place(spec(placementPolicy=policy), clusters, current={"a": None, "b": None})
    assert moved.ready and sorted(moved.clusters) == ["a", "d"]


def test_an_explicit_cluster_that_fails_is_stood_in_for_with_its_components() -> None:
    body = spec(placement=[{"cluster": "a", "components": ["frontend"]},
                           {"cluster": "b", "components": ["database"]}],
                placementPolicy={"constraints": [{"type": "region_diversity",
                                                  "minRegions": 2}]})
    clusters = fleet(cluster("a", "r1"), cluster("b", "r2", phase="Failed"),
                     cluster("c", "r3"))
    result = place(body, clusters, current={"a": ("frontend",), "b": ("database",)})
    assert result.ready, result.message
    stand_in = result.targets[1]
    assert (stand_in.cluster, stand_in.components, stand_in.stands_in_for) == \
        ("c", ("database",), "b")
    back = place(body, {**clusters, "b": cluster("b", "r2")},
                 current={"a": ("frontend",), "c": ("database",)})
    assert back.clusters == ["a", "b"], "the explicit cluster gets its components back"


# -- impossible constraints ------------------------------------------------------------------------

def test_impossible_region_constraint_is_not_ready_with_a_clear_message() -> None:
    result = place(spec(placementPolicy={"constraints": [
        {"type": "region_diversity", "minRegions": 5}]}), THREE)
    assert not result.ready and result.reason == "ConstraintsUnsatisfiable"
    assert result.message == ("region_diversity needs 5 regions but eligible clusters span 3 "
                              "(r1, r2, r3)")


def test_impossible_provider_constraint_names_the_providers() -> None:
    result = place(spec(placementPolicy={"constraints": [
        {"type": "provider_diversity", "minProviders": 3}]}), THREE)
    assert not result.ready and "provider_diversity needs 3 providers" in result.message
    assert "(aws, local)" in result.message


def test_no_clusters_at_all_is_reported() -> None:
    result = place(spec(placementPolicy={"strategy": "spread"}), {})
    assert not result.ready and result.reason == "NoEligibleClusters"
    assert "no HybridClusters exist" in result.message


def test_a_selector_matching_nothing_is_reported() -> None:
    result = place(spec(placementPolicy={"clusterSelector": {"matchLabels": {"x": "y"}}}),
                   THREE)
    assert result.reason == "NoEligibleClusters" and "clusterSelector" in result.message


def test_too_few_clusters_for_the_count_is_not_ready() -> None:
    result = place(spec(placementPolicy={"clusterCount": 5}), THREE)
    assert not result.ready and result.reason == "InsufficientClusters"


def test_clusters_without_region_count_as_one_region() -> None:
    clusters = fleet(ClusterFacts("a", "Active", "local"), ClusterFacts("b", "Active", "local"))
    result = place(spec(placementPolicy={"constraints": [
        {"type": "region_diversity", "minRegions": 2}]}), clusters)
    assert not result.ready and "span 1 (default)" in result.message


def test_deep_merge_merges_mappings_and_replaces_the_rest() -> None:
    assert deep_merge({"a": {"b": 1, "c": [1]}, "d": 1}, {"a": {"c": [2]}, "e": 2}) == \
        {"a": {"b": 1, "c": [2]}, "d": 1, "e": 2}
