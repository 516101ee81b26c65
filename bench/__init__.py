"""`make bench`: the operator and the API measured against baselines taken in the same run."""
