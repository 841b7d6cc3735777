// Kubernetes runtime module.
