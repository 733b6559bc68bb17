"""Pulumi ComponentResources of resilient-routing and the pure builders of the
documents they generate (IAM policies, state machine definitions, the contact
flow). Components take plain typed arguments and never read configuration."""
