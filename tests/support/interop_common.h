/*
 * interop_common.h - what every gRPC interop peer in tests/support agrees on: the echo
 * service's methods, the payload pattern, the case list a client runs and the JSON line it
 * prints for each case. Header-only so each program (gRPC C core or Remora) stays one file.
 *
 * Service /remora.test.Echo (raw bytes, no protobuf):
 *   Unary   echo one message; initial metadata x-echo = request's x-test, trailer x-trailer=done
 *   Stream  echo every message, then OK
 *   Fail    request "<code> <message>" → that status and message
 *   Sleep   request "<ms>" → answers "slept" after ms (deadline tests)
 *   Big     request "<size>" → one message of <size> pattern bytes
 *
 * Client cases (argv): unary:<size>  stream:<count>:<size>  fail:<code>:<message>
 *   sleep:<ms>:<deadline_ms>  big:<size>  unknown  cancel:<after_ms>
 * Output: one JSON object per case on stdout:
 *   {"case":"…","status":N,"message":"…","msgs":N,"bytes":N,"echo":true|false,"hdr":"…","trl":"…"}
 */
#ifndef INTEROP_COMMON_H
#define INTEROP_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ECHO_UNARY "/remora.test.Echo/Unary"
#define ECHO_STREAM "/remora.test.Echo/Stream"
#define ECHO_FAIL "/remora.test.Echo/Fail"
#define ECHO_SLEEP "/remora.test.Echo/Sleep"
#define ECHO_BIG "/remora.test.Echo/Big"
#define ECHO_UNKNOWN "/remora.test.Echo/Nope"

static inline void interop_fill(char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (char)(uint8_t)(i * 31u + seed * 7u + 1u);
}

static inline int interop_check(const char *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != (char)(uint8_t)(i * 31u + seed * 7u + 1u))
            return 0;
    return 1;
}

typedef struct interop_result {
    const char *name;
    int status;
    char message[1024];
    long msgs;
    long bytes;
    int echo;
    char hdr[128];
    char trl[128];
} interop_result_t;

static inline void interop_json_string(FILE *f, const char *s, size_t len)
{
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static inline void interop_print(const interop_result_t *r)
{
    printf("{\"case\":");
    interop_json_string(stdout, r->name, strlen(r->name));
    printf(",\"status\":%d,\"message\":", r->status);
    interop_json_string(stdout, r->message, strlen(r->message));
    printf(",\"msgs\":%ld,\"bytes\":%ld,\"echo\":%s,\"hdr\":", r->msgs, r->bytes, r->echo ? "true" : "false");
    interop_json_string(stdout, r->hdr, strlen(r->hdr));
    printf(",\"trl\":");
    interop_json_string(stdout, r->trl, strlen(r->trl));
    printf("}\n");
    fflush(stdout);
}

/* Parsed case. */
typedef struct interop_case {
    enum { IC_UNARY, IC_STREAM, IC_FAIL, IC_SLEEP, IC_BIG, IC_UNKNOWN, IC_CANCEL, IC_BAD } kind;
    long a, b;
    const char *text; /* fail message */
    const char *path;
} interop_case_t;

static inline interop_case_t interop_parse(const char *spec)
{
    interop_case_t c = { IC_BAD, 0, 0, "", ECHO_UNARY };
    if (strncmp(spec, "unary:", 6) == 0) {
        c.kind = IC_UNARY;
        c.a = atol(spec + 6);
    } else if (strncmp(spec, "stream:", 7) == 0) {
        c.kind = IC_STREAM;
        c.path = ECHO_STREAM;
        c.a = atol(spec + 7);
        const char *p = strchr(spec + 7, ':');
        c.b = p ? atol(p + 1) : 0;
    } else if (strncmp(spec, "fail:", 5) == 0) {
        c.kind = IC_FAIL;
        c.path = ECHO_FAIL;
        c.a = atol(spec + 5);
        const char *p = strchr(spec + 5, ':');
        c.text = p ? p + 1 : "";
    } else if (strncmp(spec, "sleep:", 6) == 0) {
        c.kind = IC_SLEEP;
        c.path = ECHO_SLEEP;
        c.a = atol(spec + 6);
        const char *p = strchr(spec + 6, ':');
        c.b = p ? atol(p + 1) : 0;
    } else if (strncmp(spec, "big:", 4) == 0) {
        c.kind = IC_BIG;
        c.path = ECHO_BIG;
        c.a = atol(spec + 4);
    } else if (strcmp(spec, "unknown") == 0) {
        c.kind = IC_UNKNOWN;
        c.path = ECHO_UNKNOWN;
    } else if (strncmp(spec, "cancel:", 7) == 0) {
        c.kind = IC_CANCEL;
        c.path = ECHO_SLEEP;
        c.a = atol(spec + 7);
    }
    return c;
}

#endif
