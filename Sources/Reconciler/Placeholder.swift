// Reconciler module.
