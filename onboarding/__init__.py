"""Publisher onboarding: loading and validating profiles and manifests (spec step 1)."""
