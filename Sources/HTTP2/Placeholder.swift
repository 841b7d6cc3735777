// HTTP2 module.
