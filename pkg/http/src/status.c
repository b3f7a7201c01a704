#include "http/http.h"

const char *http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Request Entity Too Large";
    case 414: return "Request URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

http_method_t http_method_from_slice(base_slice_t m)
{
    static const struct { const char *name; http_method_t id; } methods[] = {
        { "GET", HTTP_METHOD_GET },         { "HEAD", HTTP_METHOD_HEAD },
        { "POST", HTTP_METHOD_POST },       { "PUT", HTTP_METHOD_PUT },
        { "DELETE", HTTP_METHOD_DELETE },   { "PATCH", HTTP_METHOD_PATCH },
        { "OPTIONS", HTTP_METHOD_OPTIONS }, { "CONNECT", HTTP_METHOD_CONNECT },
        { "TRACE", HTTP_METHOD_TRACE },
    };
    for (size_t i = 0; i < BASE_ARRAY_SIZE(methods); i++)
        if (base_slice_eq(m, base_slice_cstr(methods[i].name)))
            return methods[i].id;
    return HTTP_METHOD_OTHER;
}
