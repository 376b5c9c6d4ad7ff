/*
 * fuzz_fetch.c - fuzz target for what the fetch agent reads from others
 * (loader/fetch/protocol.c): the header lines of HTTP answers, which any
 * server (or a proxy on the way) writes, and its clients' request lines.
 *
 * The first byte chooses: 'R' parses each line of the rest as a request,
 * anything else feeds every line to one answer's header state. What is
 * accepted must keep the parsers' promises:
 *   - a usable Content-Range has FIRST <= LAST < TOTAL;
 *   - a status is below 1000;
 *   - a parsed request is one of the four kinds, with a target, and a FETCH
 *     lists as many chunks as its line has words after the mirror.
 * A rejected request must leave a message. Used by fuzz-fetch and
 * replay-fetch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader/fetch/fetch.h"
#include "runtime/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_fetch: invariant broken: %s\n", what);
    abort();
}

static size_t count_words(const char *line)
{
    size_t words = 0;
    for (const char *p = line; *p;) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        words++;
        while (*p && *p != ' ')
            p++;
    }
    return words;
}

static void check_request(const char *text, size_t length)
{
    char *line = malloc(length + 1), *copy = malloc(length + 1);
    if (!line || !copy)
        abort();
    memcpy(line, text, length);
    line[length] = '\0';
    memcpy(copy, line, length + 1);
    struct agent_request request;
    vial_error_set(0, "%s", "");
    if (agent_parse_request(&request, line) < 0) {
        if (!vial_error_last()[0])
            fail("a rejected request without a message");
    } else {
        if (request.kind < AGENT_MIRROR || request.kind > AGENT_HOLD)
            fail("an unknown request kind");
        if (request.kind != AGENT_HOLD && (!request.target || !*request.target))
            fail("a request without its target");
        if (request.kind == AGENT_FETCH && strlen(copy) == length &&
            request.count + 2 != count_words(copy))
            fail("FETCH lost or invented chunks");
        agent_request_free(&request);
    }
    free(line);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int requests = data[0] == 'R';
    const char *text = (const char *)data + 1, *end = (const char *)data + size;
    struct http_head head = {0};
    while (text < end) {
        const char *newline = memchr(text, '\n', (size_t)(end - text));
        size_t length = newline ? (size_t)(newline - text) : (size_t)(end - text);
        if (requests) {
            check_request(text, length);
        } else {
            http_head_line(&head, text, newline ? length + 1 : length);
            if (head.status < 0 || head.status >= 1000)
                fail("a status out of range");
            if (head.has_range && (head.range_first > head.range_last || head.range_last >= head.total))
                fail("an impossible Content-Range accepted");
        }
        text += length + 1;
    }
    return 0;
}
