// Transport module.
