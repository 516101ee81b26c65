package client

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// The contract's example names; the generated models carry the OpenAPI schema names.
type (
	ApplicationDeployRequest = ApplicationDeploy
	ApplicationSource        = SourceIn
)

// ClustersService covers /v1/clusters.
type ClustersService struct{ c *Client }

// List returns one page of clusters; params may be nil (first page, the server's page size).
func (s *ClustersService) List(ctx context.Context, params *ListClustersParams) (*ClusterList, error) {
	out := &ClusterList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters", params: params}, out)
}

// All iterates every cluster, page after page, stopping at the first error.
func (s *ClustersService) All(ctx context.Context, params *ListClustersParams) iter.Seq2[ClusterSummary, error] {
	query := ListClustersParams{}
	if params != nil {
		query = *params
	}
	return paginate(func(page int) ([]ClusterSummary, int, error) {
		query.Page = page
		list, err := s.List(ctx, &query)
		if err != nil {
			return nil, 0, err
		}
		return list.Clusters, list.Total, nil
	})
}

func (s *ClustersService) Get(ctx context.Context, clusterID string, params *GetClusterParams) (*ClusterDetails, error) {
	out := &ClusterDetails{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + url.PathEscape(clusterID), params: params}, out)
}

func (s *ClustersService) Create(ctx context.Context, body *ClusterCreate, params *CreateClusterParams) (*Accepted, error) {
	out := &Accepted{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters", params: params, body: body}, out)
}

// Update patches a cluster (scale node pools, upgrade the version, labels).
func (s *ClustersService) Update(ctx context.Context, clusterID string, body *ClusterPatch, params *UpdateClusterParams) (*Accepted, error) {
	out := &Accepted{}
	return out, s.c.do(ctx, request{method: http.MethodPatch, path: "/v1/clusters/" + url.PathEscape(clusterID), params: params, body: body}, out)
}

func (s *ClustersService) Delete(ctx context.Context, clusterID string, params *DeleteClusterParams) (*Accepted, error) {
	out := &Accepted{}
	return out, s.c.do(ctx, request{method: http.MethodDelete, path: "/v1/clusters/" + url.PathEscape(clusterID), params: params}, out)
}

// ApplicationsService covers /v1/clusters/{id}/applications.
type ApplicationsService struct{ c *Client }

// Deploy deploys an application to a cluster; follow the returned OperationID for progress.
func (s *ApplicationsService) Deploy(ctx context.Context, clusterID string, body *ApplicationDeployRequest) (*Accepted, error) {
	return s.DeployWith(ctx, clusterID, body, nil)
}

// DeployWith is Deploy with explicit parameters (the tenant namespace).
func (s *ApplicationsService) DeployWith(ctx context.Context, clusterID string, body *ApplicationDeployRequest, params *DeployApplicationParams) (*Accepted, error) {
	out := &Accepted{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/clusters/" + url.PathEscape(clusterID) + "/applications", params: params, body: body}, out)
}

func (s *ApplicationsService) List(ctx context.Context, clusterID string, params *ListApplicationsParams) (*ApplicationList, error) {
	out := &ApplicationList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + url.PathEscape(clusterID) + "/applications", params: params}, out)
}

// All iterates every application of a cluster, page after page.
func (s *ApplicationsService) All(ctx context.Context, clusterID string, params *ListApplicationsParams) iter.Seq2[ApplicationSummary, error] {
	query := ListApplicationsParams{}
	if params != nil {
		query = *params
	}
	return paginate(func(page int) ([]ApplicationSummary, int, error) {
		query.Page = page
		list, err := s.List(ctx, clusterID, &query)
		if err != nil {
			return nil, 0, err
		}
		return list.Applications, list.Total, nil
	})
}

// WorkloadsService covers /v1/clusters/{id}/workloads.
type WorkloadsService struct{ c *Client }

func (s *WorkloadsService) List(ctx context.Context, clusterID string, params *GetWorkloadsParams) (*WorkloadsResponse, error) {
	out := &WorkloadsResponse{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/clusters/" + url.PathEscape(clusterID) + "/workloads", params: params}, out)
}

// Scale sets the replicas of a Deployment or StatefulSet on a member cluster.
func (s *WorkloadsService) Scale(ctx context.Context, clusterID string, workloadType WorkloadType, workloadNamespace, name string, body *ScaleRequest, params *ScaleWorkloadParams) (*ScaleResult, error) {
	out := &ScaleResult{}
	path := "/v1/clusters/" + url.PathEscape(clusterID) + "/workloads/" + url.PathEscape(string(workloadType)) + "/" +
		url.PathEscape(workloadNamespace) + "/" + url.PathEscape(name) + "/scale"
	return out, s.c.do(ctx, request{method: http.MethodPatch, path: path, params: params, body: body}, out)
}

// MultiClusterService covers /v1/multi-cluster.
type MultiClusterService struct{ c *Client }

func (s *MultiClusterService) Deploy(ctx context.Context, body *MultiClusterDeploy, params *DeployMultiClusterApplicationParams) (*Accepted, error) {
	out := &Accepted{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/multi-cluster/applications", params: params, body: body}, out)
}

func (s *MultiClusterService) Status(ctx context.Context, params *GetMultiClusterStatusParams) (*MultiClusterStatus, error) {
	out := &MultiClusterStatus{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/multi-cluster/status", params: params}, out)
}

// OperationsService covers /v1/operations.
type OperationsService struct{ c *Client }

func (s *OperationsService) Get(ctx context.Context, operationID string) (*Operation, error) {
	out := &Operation{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/operations/" + url.PathEscape(operationID)}, out)
}

// SecurityService covers /v1/security/policies.
type SecurityService struct{ c *Client }

func (s *SecurityService) ListPolicies(ctx context.Context, params *ListSecurityPoliciesParams) (*PolicyList, error) {
	out := &PolicyList{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/security/policies", params: params}, out)
}

func (s *SecurityService) GetPolicy(ctx context.Context, policyID string, params *GetSecurityPolicyParams) (*PolicyView, error) {
	out := &PolicyView{}
	return out, s.c.do(ctx, request{method: http.MethodGet, path: "/v1/security/policies/" + url.PathEscape(policyID), params: params}, out)
}

func (s *SecurityService) CreatePolicy(ctx context.Context, body *PolicyCreate, params *CreateSecurityPolicyParams) (*PolicyView, error) {
	out := &PolicyView{}
	return out, s.c.do(ctx, request{method: http.MethodPost, path: "/v1/security/policies", params: params, body: body}, out)
}

func (s *SecurityService) UpdatePolicy(ctx context.Context, policyID string, body *PolicyPatch, params *UpdateSecurityPolicyParams) (*PolicyView, error) {
	out := &PolicyView{}
	return out, s.c.do(ctx, request{method: http.MethodPatch, path: "/v1/security/policies/" + url.PathEscape(policyID), params: params, body: body}, out)
}

func (s *SecurityService) DeletePolicy(ctx context.Context, policyID string, params *DeleteSecurityPolicyParams) (*PolicyView, error) {
	out := &PolicyView{}
	return out, s.c.do(ctx, request{method: http.MethodDelete, path: "/v1/security/policies/" + url.PathEscape(policyID), params: params}, out)
}

// paginate walks pages from 1 until the items seen reach the total or a page comes back empty.
func paginate[T any](fetch func(page int) ([]T, int, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		seen := 0
		for page := 1; ; page++ {
			items, total, err := fetch(page)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, item := range items {
				if !yield(item, nil) {
					return
				}
			}
			seen += len(items)
			if len(items) == 0 || seen >= total {
				return
			}
		}
	}
}
