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
#include <openssl/x509v3.h>
#include <openssl/bio.h>
#include <openssl/bn.h>

/// SSL_CTX_set_min_proto_version is a macro.
static inline int byoc_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
/// SSL_set_tlsext_host_name is a macro.
static inline int byoc_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
/// SSL_CTX_set_mode is a macro.
static inline long byoc_ssl_ctx_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
/// The SSL_OP_* values are 64-bit macros: no compression, no renegotiation, EOF without
/// close_notify treated as a clean close (gRPC peers often just close).
static inline void byoc_ssl_ctx_set_hardening_options(SSL_CTX *ctx, int server) {
    uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF;
    if (server) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
    SSL_CTX_set_options(ctx, options);
}
/// BIO retry flags are macros.
static inline void byoc_bio_set_retry_read(BIO *bio) { BIO_set_retry_read(bio); }
static inline void byoc_bio_set_retry_write(BIO *bio) { BIO_set_retry_write(bio); }
static inline void byoc_bio_clear_retry_flags(BIO *bio) { BIO_clear_retry_flags(bio); }
/// EVP_EC_gen is a variadic macro: an EC P-256 key.
static inline EVP_PKEY *byoc_generate_ec_p256(void) { return EVP_EC_gen("P-256"); }
#endif
