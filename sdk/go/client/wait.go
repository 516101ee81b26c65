package client

import (
	"context"
	"fmt"
	"time"
)

// WaitOptions tunes the polling of the wait helpers.
type WaitOptions struct {
	Interval time.Duration // between polls, default 2 s
}

func (o *WaitOptions) interval() time.Duration {
	if o == nil || o.Interval <= 0 {
		return 2 * time.Second
	}
	return o.Interval
}

// Wait polls an operation until it is no longer pending or running; bound it with ctx. A failed
// or superseded operation is returned together with an error naming its status.
func (s *OperationsService) Wait(ctx context.Context, operationID string, opts *WaitOptions) (*Operation, error) {
	for {
		op, err := s.Get(ctx, operationID)
		if err != nil {
			return nil, err
		}
		switch op.Status {
		case "succeeded":
			return op, nil
		case "failed", "superseded":
			return op, fmt.Errorf("hybridcloud: operation %s %s: %s", operationID, op.Status, op.Message)
		}
		if err := sleep(ctx, opts.interval()); err != nil {
			return op, err
		}
	}
}

// WaitUntilReady polls a cluster until its status is active (or failed, an error).
func (s *ClustersService) WaitUntilReady(ctx context.Context, clusterID string, params *GetClusterParams, opts *WaitOptions) (*ClusterDetails, error) {
	for {
		cluster, err := s.Get(ctx, clusterID, params)
		if err != nil {
			return nil, err
		}
		switch cluster.Status {
		case "active":
			return cluster, nil
		case "failed":
			return cluster, fmt.Errorf("hybridcloud: cluster %s failed", clusterID)
		}
		if err := sleep(ctx, opts.interval()); err != nil {
			return cluster, err
		}
	}
}
