/*
 * fuzz_hive.c - fuzz target for the registry's parsers (registry-shim/):
 * binary hives (the image's registry section, the user's registry.hive),
 * text hives (vial pack --registry, vial reg import) and GVariant value text.
 *
 * The first byte chooses: 'T' parses the rest as a text hive, 'V' as a value
 * whose type is inferred, anything else loads the whole input as a binary
 * hive. What is accepted must keep the formats' promises:
 *   - a binary hive that loads serializes back to the very same bytes (the
 *     form is canonical) and its text form parses back to the same hive;
 *   - a text hive that parses formats to text that parses to the same hive,
 *     and survives the binary form;
 *   - a value's canonical text parses to itself; its formatted text infers
 *     its type back.
 * A rejection must leave a message. Used by fuzz-hive and replay-hive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_hive: invariant broken: %s\n", what);
    abort();
}

static void expect_message(void)
{
    if (!vial_error_last()[0])
        fail("a rejection without a message");
}

/* The hive as its binary bytes (the comparison of two hives). */
static void *bytes_of(const struct vial_hive *hive, size_t *size)
{
    void *bytes = NULL;
    if (vial_hive_serialize(&bytes, size, hive) < 0)
        fail("an accepted hive does not serialize");
    return bytes;
}

static void same_hive(const struct vial_hive *a, const struct vial_hive *b, const char *what)
{
    size_t na, nb;
    void *ba = bytes_of(a, &na), *bb = bytes_of(b, &nb);
    if (na != nb || memcmp(ba, bb, na) != 0)
        fail(what);
    free(ba);
    free(bb);
}

/* Text form -> parse -> the same hive. */
static void text_round_trip(const struct vial_hive *hive)
{
    char *text = NULL;
    struct vial_hive *back = NULL;
    if (vial_hive_format_text(&text, hive) < 0)
        fail("an accepted hive has no text form");
    if (vial_hive_parse_text(&back, text, strlen(text)) < 0) {
        fprintf(stderr, "%s\n---\n%s\n", vial_error_last(), text);
        fail("the text form of a hive does not parse");
    }
    same_hive(hive, back, "the text form of a hive parses to another hive");
    vial_hive_free(back);
    free(text);
}

static void check_binary(const uint8_t *data, size_t size)
{
    struct vial_hive *hive = NULL;
    if (vial_hive_load(&hive, data, size) < 0) {
        expect_message();
        return;
    }
    size_t n;
    void *bytes = bytes_of(hive, &n);
    if (n != size || memcmp(bytes, data, size) != 0)
        fail("a loaded hive serializes to other bytes");
    free(bytes);
    text_round_trip(hive);
    vial_hive_free(hive);
}

static void check_text(const char *text, size_t length)
{
    struct vial_hive *hive = NULL, *back = NULL;
    if (vial_hive_parse_text(&hive, text, length) < 0) {
        expect_message();
        return;
    }
    text_round_trip(hive);
    size_t n;
    void *bytes = bytes_of(hive, &n);
    if (vial_hive_load(&back, bytes, n) < 0)
        fail("a parsed text hive's binary form does not load");
    same_hive(hive, back, "binary form of a text hive");
    free(bytes);
    vial_hive_free(hive);
    vial_hive_free(back);
}

static void check_value(const char *text)
{
    struct vial_reg_value *value = NULL, *again = NULL, *inferred = NULL;
    char *formatted = NULL;
    if (vial_reg_value_parse(&value, NULL, text) < 0) {
        expect_message();
        return;
    }
    if (vial_reg_type_valid(value->type) < 0)
        fail("an inferred type is not valid");
    if (vial_reg_value_parse(&again, value->type, value->text) < 0 || !vial_reg_value_equal(value, again))
        fail("a canonical text does not parse to itself");
    if (vial_reg_value_format(&formatted, value) < 0 ||
        vial_reg_value_parse(&inferred, NULL, formatted) < 0 || !vial_reg_value_equal(value, inferred)) {
        fprintf(stderr, "%s %s -> %s\n", value->type, value->text, formatted ? formatted : "(none)");
        fail("a formatted value does not infer its type back");
    }
    free(formatted);
    vial_reg_value_free(value);
    vial_reg_value_free(again);
    vial_reg_value_free(inferred);
}

/* replay-hive --expect-error: whether the input is accepted. */
int fuzz_target_check(const uint8_t *data, size_t size, char *message, size_t message_size);
int fuzz_target_check(const uint8_t *data, size_t size, char *message, size_t message_size)
{
    int rc;
    if (size > 0 && (data[0] == 'T' || data[0] == 'V')) {
        char *text = malloc(size);
        if (!text)
            return -1;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        struct vial_hive *hive = NULL;
        struct vial_reg_value *value = NULL;
        rc = data[0] == 'T' ? vial_hive_parse_text(&hive, text, size - 1)
                            : vial_reg_value_parse(&value, NULL, text);
        vial_hive_free(hive);
        vial_reg_value_free(value);
        free(text);
    } else {
        struct vial_hive *hive = NULL;
        rc = vial_hive_load(&hive, data, size);
        vial_hive_free(hive);
    }
    snprintf(message, message_size, "%s", rc < 0 ? vial_error_last() : "");
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 0 && (data[0] == 'T' || data[0] == 'V')) {
        char *text = malloc(size);
        if (!text)
            return 0;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        if (data[0] == 'T')
            check_text(text, size - 1);
        else if (!memchr(data + 1, '\0', size - 1))
            check_value(text);
        free(text);
        return 0;
    }
    check_binary(data, size);
    return 0;
}
