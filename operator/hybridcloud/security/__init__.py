"""Security policies: the rule catalogue compiled to ValidatingAdmissionPolicies (pure), and the
checks of a policy's targets against what its tenant may do on members."""
