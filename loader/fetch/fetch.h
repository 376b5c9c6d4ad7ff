/* fetch.h - what the fetch agent's files share (loader/fetch/). */
#ifndef VIAL_FETCH_H
#define VIAL_FETCH_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ http */

/* One per agent: libcurl's shared connection cache and DNS cache, so that
 * every transfer of every thread reuses kept-alive connections. */
struct http_client;

int http_client_new(struct http_client **out);
void http_client_free(struct http_client *client);

/* What a transfer cost, added to by http_get_range. */
struct http_counters {
    uint64_t requests; /* HTTP requests sent, retries included */
    uint64_t bytes;    /* body bytes received, discarded ones included */
};

/* Fills buf with bytes [offset, offset + length) of url.
 *  - Sends single-range requests (`Range: bytes=A-B`), never multi-range
 *    ones (docs/streaming.md says why).
 *  - A transfer cut short is resumed after the bytes already received.
 *  - Transient failures (connection refused or reset, timeouts, a server
 *    slower than 1 KiB/s for 20 s, 5xx, 408, 429) are retried up to
 *    `attempts` times in all, with exponential backoff from 250 ms.
 *  - A server that ignores Range and answers 200 with the whole file is
 *    read up to the wanted bytes, then the transfer is dropped.
 *  - 416 and other 4xx fail at once; so does a Content-Range whose total
 *    differs from expected_size (when that is not 0): the file changed.
 * Returns 0, or -EIO with a message naming the URL and the cause in
 * vial_error_last(). libcurl honours http_proxy, https_proxy, no_proxy and
 * all_proxy. */
int http_get_range(struct http_client *client, const char *url, uint64_t offset, uint64_t length,
                   uint64_t expected_size, unsigned attempts, uint8_t *buf,
                   struct http_counters *counters);

/* -------------------------------------------------------------- protocol */

/* What the header lines of one HTTP answer said (protocol.c). */
struct http_head {
    int status;      /* of the status line; 0 before one */
    int has_range;   /* a usable Content-Range: bytes FIRST-LAST/TOTAL */
    uint64_t range_first, range_last, total;
    int has_length;  /* Content-Length */
    uint64_t length;
};

/* Applies one header line (with or without its CRLF) to head: a status
 * line starts a new answer; Content-Range and Content-Length are read
 * strictly (digits only, FIRST <= LAST < TOTAL), anything else ignored. */
void http_head_line(struct http_head *head, const char *line, size_t length);

enum agent_request_kind { AGENT_MIRROR = 1, AGENT_FETCH, AGENT_PREFETCH, AGENT_HOLD };

/* One request line of a client, parsed in place (target and what point
 * into the line). */
struct agent_request {
    enum agent_request_kind kind;
    char *target;       /* MIRROR: the URL; FETCH, PREFETCH: the mirror */
    const char *what;   /* PREFETCH: "profile" or "all" */
    uint32_t *chunks;   /* FETCH: chunk indexes (agent_request_free) */
    size_t count;
};

/* Parses line (without its newline), changing it. -EINVAL with a message
 * for anything but the four requests of agent.c's comment. */
int agent_parse_request(struct agent_request *out, char *line);
void agent_request_free(struct agent_request *request);

#endif
