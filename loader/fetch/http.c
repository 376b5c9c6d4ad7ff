/*
 * http.c - ranged reads over HTTP(S) and file:// with libcurl, for the
 * fetch agent.
 *
 * Only single ranges are requested. Multi-range answers
 * (multipart/byteranges) are where servers, CDNs and caching proxies
 * disagree most, and S3 refuses them; the agent instead coalesces nearby
 * chunks into one range and runs several ranges at once, which reaches the
 * same number of round trips without depending on that part of HTTP.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "fetch.h"
#include "runtime/runtime.h"

struct http_client {
    CURLSH *share;
    pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
};

static void share_lock(CURL *handle, curl_lock_data data, curl_lock_access access, void *payload)
{
    (void)handle;
    (void)access;
    struct http_client *client = payload;
    pthread_mutex_lock(&client->locks[data]);
}

static void share_unlock(CURL *handle, curl_lock_data data, void *payload)
{
    (void)handle;
    struct http_client *client = payload;
    pthread_mutex_unlock(&client->locks[data]);
}

int http_client_new(struct http_client **out)
{
    *out = NULL;
    /* not thread-safe: the agent makes its one client before any thread */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return vial_error_set(-EIO, "libcurl does not initialise");
    struct http_client *client = calloc(1, sizeof *client);
    if (!client || !(client->share = curl_share_init())) {
        free(client);
        return vial_error_set(-ENOMEM, "out of memory");
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&client->locks[i], NULL);
    curl_share_setopt(client->share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(client->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(client->share, CURLSHOPT_USERDATA, client);
    curl_share_setopt(client->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(client->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(client->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    *out = client;
    return 0;
}

void http_client_free(struct http_client *client)
{
    if (!client)
        return;
    curl_share_cleanup(client->share);
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&client->locks[i]);
    free(client);
}

/* One attempt's state: where the answer's bytes go. */
struct transfer {
    uint8_t *buf;
    uint64_t start;    /* file offset of buf[0] */
    uint64_t length;   /* bytes wanted in all */
    uint64_t received; /* bytes of buf filled, across attempts */
    uint64_t position; /* file offset of the next body byte of this answer */
    struct http_head head; /* of the last answer */
    int complete;      /* got everything; a 200's rest is dropped */
    int body_started;  /* this answer's first body byte was seen */
    int wrong_range;   /* a 206 of another range than asked: dropped */
    struct http_counters *counters;
};

static size_t on_header(char *line, size_t size, size_t count, void *payload)
{
    struct transfer *t = payload;
    http_head_line(&t->head, line, size * count);
    return size * count;
}

/* The answer's file size, if it said. */
static uint64_t answer_total(const struct transfer *t)
{
    if (t->head.has_range)
        return t->head.total;
    return t->head.status == 200 && t->head.has_length ? t->head.length : 0;
}

static size_t on_body(char *data, size_t size, size_t count, void *payload)
{
    struct transfer *t = payload;
    size_t n = size * count;
    t->counters->bytes += n;
    if (!t->body_started) {
        t->body_started = 1;
        if (t->head.status == 206 && (!t->head.has_range || t->head.range_first != t->position)) {
            t->wrong_range = 1;
            return 0; /* not the range we asked for: drop the answer */
        }
        if (t->head.status == 200)
            t->position = 0; /* Range ignored: the whole file, from its start */
    }
    uint64_t want = t->start + t->received; /* file offset we need next */
    for (size_t used = 0; used < n;) {
        uint64_t here = t->position;
        size_t piece = n - used;
        if (here < want) { /* a 200: bytes before ours */
            uint64_t skip = want - here;
            if (skip > piece)
                skip = piece;
            t->position += skip;
            used += (size_t)skip;
            continue;
        }
        uint64_t room = t->length - t->received;
        if (piece > room)
            piece = (size_t)room;
        memcpy(t->buf + t->received, data + used, piece);
        t->received += piece;
        t->position += piece;
        used += piece;
        want += piece;
        if (t->received == t->length) {
            t->complete = 1;
            return used == n ? n : 0; /* the rest of a 200 is not needed */
        }
    }
    return n;
}

static int transient_status(int status)
{
    return status >= 500 || status == 408 || status == 429;
}

static void sleep_ms(unsigned ms)
{
    struct timespec delay = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&delay, &delay) < 0 && errno == EINTR)
        ;
}

int http_get_range(struct http_client *client, const char *url, uint64_t offset, uint64_t length,
                   uint64_t expected_size, unsigned attempts, uint8_t *buf,
                   struct http_counters *counters)
{
    struct transfer t = {.buf = buf, .start = offset, .length = length, .counters = counters};
    char error[CURL_ERROR_SIZE] = "", range[64], why[512] = "";
    int file_scheme = strncasecmp(url, "file:", 5) == 0;
    unsigned delay = 250;
    if (length == 0)
        return 0;
    CURL *curl = curl_easy_init();
    if (!curl)
        return vial_error_set(-ENOMEM, "out of memory");
    for (unsigned attempt = 1; attempt <= (attempts ? attempts : 1); attempt++) {
        if (attempt > 1) {
            /* the agent's stderr is its log */
            fprintf(stderr, "vial-agent: %s: %s; attempt %u at byte %llu after %u ms\n", url,
                    why, attempt, (unsigned long long)(t.start + t.received), delay);
            sleep_ms(delay);
            delay = delay < 4000 ? delay * 2 : 4000;
        }
        t.position = t.start + t.received;
        memset(&t.head, 0, sizeof t.head);
        t.body_started = 0;
        t.wrong_range = 0;
        snprintf(range, sizeof range, "%llu-%llu", (unsigned long long)(t.start + t.received),
                 (unsigned long long)(t.start + t.length - 1));
        curl_easy_reset(curl);
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_SHARE, client->share);
        curl_easy_setopt(curl, CURLOPT_RANGE, range);
        curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 20L);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_USERAGENT, "vial-agent/1");
        /* a caching proxy keeps the bytes; what they mean is checked here */
        curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, NULL);
        error[0] = '\0';
        counters->requests++;
        CURLcode code = curl_easy_perform(curl);
        if (file_scheme && code == CURLE_OK && t.received < t.length)
            code = CURLE_PARTIAL_FILE;
        if (t.complete || (code == CURLE_OK && t.received == t.length)) {
            uint64_t total = answer_total(&t);
            if (expected_size && total && total != expected_size) {
                snprintf(why, sizeof why, "the file is now %llu bytes, not %llu: it changed on "
                         "the server",
                         (unsigned long long)total, (unsigned long long)expected_size);
                break;
            }
            curl_easy_cleanup(curl);
            return 0;
        }
        if (t.wrong_range) {
            snprintf(why, sizeof why, "the server answered another range than the one asked");
            continue;
        }
        if (!file_scheme && t.head.status == 416) {
            snprintf(why, sizeof why, "416 Range Not Satisfiable: the file is shorter than "
                     "%llu bytes (it changed on the server, or is truncated)",
                     (unsigned long long)(t.start + t.length));
            break;
        }
        if (!file_scheme && t.head.status >= 400) {
            snprintf(why, sizeof why, "HTTP status %d", t.head.status);
            if (transient_status(t.head.status))
                continue;
            break;
        }
        if (code == CURLE_OK) {
            snprintf(why, sizeof why, "the answer ended after %llu of %llu bytes",
                     (unsigned long long)t.received, (unsigned long long)t.length);
            continue; /* resume after what arrived */
        }
        snprintf(why, sizeof why, "%s", error[0] ? error : curl_easy_strerror(code));
        if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT ||
            code == CURLE_REMOTE_FILE_NOT_FOUND || code == CURLE_FILE_COULDNT_READ_FILE ||
            code == CURLE_TOO_MANY_REDIRECTS)
            break;
    }
    curl_easy_cleanup(curl);
    return vial_error_set(-EIO, "%s (bytes %llu-%llu): %s", url, (unsigned long long)offset,
                          (unsigned long long)(offset + length - 1), why);
}
