"""Human approval of risky calls: fingerprints, in-band request state, notifications."""
