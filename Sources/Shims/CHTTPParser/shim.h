/// C shim for Debian's libhttp-parser (the maintained Node.js HTTP/1.1 parser).
#ifndef BYOC_CHTTPPARSER_SHIM_H
#define BYOC_CHTTPPARSER_SHIM_H
#include <http_parser.h>

/// HTTP_PARSER_ERRNO is a macro.
static inline enum http_errno byoc_http_errno(const http_parser *p) { return HTTP_PARSER_ERRNO(p); }
#endif
