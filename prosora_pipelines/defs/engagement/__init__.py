"""The learning loop: engagement observations, learning patterns and the engagement model,
with the check that promotes a model, the learning job, its sensor and its schedule."""
