import TLS

extension GRPCClient {
    /// A gRPC client over TLS when `tls` is given (scheme https; `serverName`, default `host`,
    /// is what the certificate must name), else over h2c.
    public convenience init(host: String, port: Int, tls: TLSClientContext?, serverName: String? = nil) {
        if let tls {
            self.init(host: host, port: port, scheme: "https", makeChannel: tls.channelFactory(serverName: serverName ?? host))
        } else {
            self.init(host: host, port: port)
        }
    }
}
