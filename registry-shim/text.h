/*
 * text.h - registry-shim's internal helpers: a bounded growable buffer and
 * the checks shared by the value and hive code. Not part of the public API.
 */
#ifndef VIAL_REGISTRY_TEXT_H
#define VIAL_REGISTRY_TEXT_H

#include <stdarg.h>
#include <stddef.h>

/* A growable byte buffer with a ceiling (curl's dynbuf): once an append
 * fails (memory or the ceiling), the buffer stays failed and keeps what it
 * had, so a caller checks once at the end. data is NUL-terminated. */
struct reg_buffer {
    char *data;
    size_t length;
    size_t capacity;
    size_t maximum;
    int failed;
};

void reg_buffer_init(struct reg_buffer *buffer, size_t maximum);
void reg_buffer_free(struct reg_buffer *buffer);
void reg_buffer_append(struct reg_buffer *buffer, const void *data, size_t length);
void reg_buffer_puts(struct reg_buffer *buffer, const char *text);
void reg_buffer_printf(struct reg_buffer *buffer, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Hands the bytes over (NULL if the buffer failed) and resets the buffer. */
char *reg_buffer_take(struct reg_buffer *buffer);

/* Length of the valid UTF-8 sequence at s (of at most length bytes) that
 * encodes one character other than NUL, or 0 if it is not one. */
size_t reg_utf8_char(const unsigned char *s, size_t length);

/* 1 if the length bytes at s are valid UTF-8 without NUL. */
int reg_utf8_valid(const char *s, size_t length);

#endif
