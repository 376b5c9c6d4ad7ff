/*
 * protocol.c - the two texts the fetch agent reads from others: the header
 * lines of an HTTP answer (from any server, so hostile) and the request
 * lines of its clients. Plain C, no libcurl, so that the fuzz target
 * (tests/fuzz/fuzz_fetch.c) exercises exactly this code.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fetch.h"
#include "runtime/runtime.h"

/* A decimal number of at most 19 digits at *text, advancing it; -1 if
 * none (or too long to be a byte count). */
static int parse_number(uint64_t *out, const char **text, const char *end)
{
    const char *p = *text;
    uint64_t value = 0;
    int digits = 0;
    while (p < end && *p >= '0' && *p <= '9') {
        if (++digits > 19)
            return -1;
        value = value * 10 + (uint64_t)(*p - '0');
        p++;
    }
    if (digits == 0)
        return -1;
    *out = value;
    *text = p;
    return 0;
}

static const char *skip_spaces(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

void http_head_line(struct http_head *head, const char *line, size_t length)
{
    const char *end = line + length, *p;
    while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
        end--;
    size_t n = (size_t)(end - line);
    if (n >= 5 && memcmp(line, "HTTP/", 5) == 0) {
        /* a new answer (after a redirect or a 100): forget the last one's */
        memset(head, 0, sizeof *head);
        p = memchr(line, ' ', n);
        uint64_t status;
        if (p && (p = skip_spaces(p, end), parse_number(&status, &p, end) == 0) && status < 1000)
            head->status = (int)status;
        return;
    }
    if (n >= 14 && strncasecmp(line, "Content-Range:", 14) == 0) {
        p = skip_spaces(line + 14, end);
        uint64_t first, last, total;
        if (end - p < 6 || strncasecmp(p, "bytes ", 6) != 0)
            return;
        p = skip_spaces(p + 6, end);
        if (parse_number(&first, &p, end) < 0 || p >= end || *p++ != '-' ||
            parse_number(&last, &p, end) < 0 || p >= end || *p++ != '/' ||
            parse_number(&total, &p, end) < 0 || skip_spaces(p, end) != end || last < first ||
            last >= total)
            return; /* not a range we can use: has_range stays 0 */
        head->has_range = 1;
        head->range_first = first;
        head->range_last = last;
        head->total = total;
        return;
    }
    if (n >= 15 && strncasecmp(line, "Content-Length:", 15) == 0) {
        p = skip_spaces(line + 15, end);
        uint64_t value;
        if (parse_number(&value, &p, end) == 0 && skip_spaces(p, end) == end) {
            head->has_length = 1;
            head->length = value;
        }
    }
}

/* The next space-separated word of *cursor, NUL-terminated in place. */
static char *next_word(char **cursor)
{
    char *p = *cursor;
    while (*p == ' ')
        p++;
    if (!*p)
        return NULL;
    char *word = p;
    while (*p && *p != ' ')
        p++;
    if (*p)
        *p++ = '\0';
    *cursor = p;
    return word;
}

int agent_parse_request(struct agent_request *out, char *line)
{
    memset(out, 0, sizeof *out);
    char *cursor = line, *verb = next_word(&cursor);
    if (!verb)
        return vial_error_set(-EINVAL, "empty request");
    if (strcmp(verb, "HOLD") == 0) {
        out->kind = AGENT_HOLD;
        return next_word(&cursor) ? vial_error_set(-EINVAL, "HOLD takes nothing") : 0;
    }
    if (strcmp(verb, "MIRROR") == 0) {
        out->kind = AGENT_MIRROR;
        out->target = next_word(&cursor);
        if (!out->target || next_word(&cursor))
            return vial_error_set(-EINVAL, "usage: MIRROR <url>");
        return 0;
    }
    if (strcmp(verb, "PREFETCH") == 0) {
        out->kind = AGENT_PREFETCH;
        out->target = next_word(&cursor);
        out->what = next_word(&cursor);
        if (!out->target || !out->what || next_word(&cursor) ||
            (strcmp(out->what, "profile") != 0 && strcmp(out->what, "all") != 0))
            return vial_error_set(-EINVAL, "usage: PREFETCH <mirror> profile|all");
        return 0;
    }
    if (strcmp(verb, "FETCH") != 0)
        return vial_error_set(-EINVAL, "unknown request '%.32s'", verb);
    out->kind = AGENT_FETCH;
    out->target = next_word(&cursor);
    if (!out->target)
        return vial_error_set(-EINVAL, "usage: FETCH <mirror> <chunk>...");
    size_t capacity = 0;
    for (char *word; (word = next_word(&cursor));) {
        const char *p = word;
        uint64_t value;
        if (parse_number(&value, &p, word + strlen(word)) < 0 || *p || value > UINT32_MAX) {
            agent_request_free(out);
            return vial_error_set(-EINVAL, "'%.32s' is not a chunk number", word);
        }
        if (out->count == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            uint32_t *grown = realloc(out->chunks, capacity * sizeof *grown);
            if (!grown) {
                agent_request_free(out);
                return vial_error_set(-ENOMEM, "out of memory");
            }
            out->chunks = grown;
        }
        out->chunks[out->count++] = (uint32_t)value;
    }
    return 0;
}

void agent_request_free(struct agent_request *request)
{
    free(request->chunks);
    request->chunks = NULL;
    request->count = 0;
}
