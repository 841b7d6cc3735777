/// C shim for OpenSSL: libssl/libcrypto headers plus wrappers for macros.
#ifndef BYOC_COPENSSL_SHIM_H
#define BYOC_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/rand.h>

/// SSL_CTX_set_min_proto_version is a macro.
static inline int byoc_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
/// SSL_set_tlsext_host_name is a macro.
static inline int byoc_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
#endif
