/* error.c - thread-local error messages (libgit2 style). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "runtime.h"

/* small: the interposer's thread-local storage must fit the loader's
 * static TLS surplus when the launcher dlopens it */
#define VIAL_ERROR_MESSAGE_MAX 384

static _Thread_local char error_message[VIAL_ERROR_MESSAGE_MAX];

const char *vial_error_last(void) { return error_message; }

int vial_error_set(int code, const char *fmt, ...)
{
    int saved_errno = errno;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    errno = saved_errno;
    return code;
}

int vial_error_prefix(int code, const char *fmt, ...)
{
    int saved_errno = errno;
    char prefix[VIAL_ERROR_MESSAGE_MAX];
    char previous[VIAL_ERROR_MESSAGE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(previous, error_message, sizeof previous);
    if (previous[0] == '\0')
        snprintf(previous, sizeof previous, "%s", vial_strerror(code));
    snprintf(error_message, sizeof error_message, "%s: %s", prefix, previous);
    errno = saved_errno;
    return code;
}

const char *vial_strerror(int code)
{
    switch (code) {
    case VIAL_ECORRUPT: return "image is corrupt";
    case VIAL_EFORMAT: return "not a Vial image or unsupported version";
    case VIAL_EMANIFEST: return "invalid manifest";
    case VIAL_EHASH: return "content does not match its hash";
    case VIAL_EINVALID: return "cannot be represented in an image";
    case VIAL_ESIGNATURE: return "signature does not match";
    default: return code < 0 && code > -4096 ? strerror(-code) : "unknown error";
    }
}
