// TLS module.
