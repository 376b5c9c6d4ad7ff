/* cmd_inspect.c - `vial info`, `ls`, `cat` and `verify`: reading an image. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "registry.h"

/* ------------------------------------------------------------------ info */

struct image_totals {
    uint64_t files, directories, symlinks, hardlinks, raw_bytes;
};

static int count_entries(struct image_totals *t, const struct vial_image *image)
{
    memset(t, 0, sizeof *t);
    for (uint32_t i = 0; i < vial_image_entry_count(image); i++) {
        struct vial_entry e;
        int rc = vial_image_entry(&e, image, i);
        if (rc < 0)
            return rc;
        switch (e.type) {
        case VIAL_ENTRY_DIRECTORY: t->directories++; break;
        case VIAL_ENTRY_REGULAR: t->files++, t->raw_bytes += e.size; break;
        case VIAL_ENTRY_SYMLINK: t->symlinks++; break;
        case VIAL_ENTRY_HARDLINK: t->hardlinks++; break;
        }
    }
    return 0;
}

static int load_manifest(struct vial_manifest **out, const struct vial_image *image)
{
    const void *text;
    uint64_t length;
    int rc = vial_image_section(&text, &length, image, VIAL_SECTION_MANIFEST);
    if (rc < 0)
        return vial_error_set(VIAL_ECORRUPT, "image has no manifest");
    rc = vial_manifest_parse(out, text, (size_t)length);
    return rc < 0 ? vial_error_prefix(VIAL_ECORRUPT, "manifest in image") : 0;
}

static void add_string(cJSON *object, const char *key, const char *value)
{
    if (value)
        cJSON_AddStringToObject(object, key, value);
    else
        cJSON_AddNullToObject(object, key);
}

/* The launch profile's reach: how many files it lists, the bytes of their
 * chunks, and how far into the chunk data the last of them ends (equal when
 * the profile's chunks come first, as vial pack --profile places them). */
struct profile_reach {
    unsigned files;
    uint64_t bytes, prefix_bytes;
};

static int profile_reach(struct profile_reach *out, const struct vial_image *image, cJSON *list)
{
    const void *data;
    uint64_t length, data_offset;
    memset(out, 0, sizeof *out);
    if (vial_image_section(&data, &length, image, VIAL_SECTION_PROFILE) < 0)
        return 0;
    const void *chunk_data;
    vial_image_section(&chunk_data, &data_offset, image, VIAL_SECTION_CHUNK_DATA);
    data_offset = (uint64_t)((const char *)chunk_data - (const char *)vial_image_header(image));
    uint32_t chunks = vial_image_chunk_count(image);
    uint8_t *counted = calloc(chunks ? chunks : 1, 1);
    if (!counted)
        return vial_error_set(-ENOMEM, "out of memory");
    const char *text = data, *end = text + length;
    while (text < end) {
        const char *newline = memchr(text, '\n', (size_t)(end - text));
        size_t n = newline ? (size_t)(newline - text) : (size_t)(end - text);
        char path[4096];
        uint32_t index, ref_count;
        const struct vial_chunk_ref *refs;
        if (n > 0 && n < sizeof path && text[0] == '/') {
            memcpy(path, text, n);
            path[n] = '\0';
            if (list)
                cJSON_AddItemToArray(list, cJSON_CreateString(path));
            out->files++;
            if (vial_image_resolve(&index, image, path, 1) == 0 &&
                vial_image_file_refs(&refs, &ref_count, image, index) == 0)
                for (uint32_t r = 0; r < ref_count; r++) {
                    struct vial_chunk_info info;
                    if (refs[r].chunk >= chunks || counted[refs[r].chunk] ||
                        vial_image_chunk(&info, image, refs[r].chunk) < 0)
                        continue;
                    counted[refs[r].chunk] = 1;
                    out->bytes += info.stored_length;
                    uint64_t reach = info.offset + info.stored_length - data_offset;
                    if (reach > out->prefix_bytes)
                        out->prefix_bytes = reach;
                }
        }
        text += n + 1;
    }
    free(counted);
    return 0;
}

int cmd_info(int argc, char **argv)
{
    int json = 0;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("info", "unknown option '%s'", argv[i]);
        else if (path)
            return cli_usage("info", "one IMAGE expected");
        else
            path = argv[i];
    }
    if (!path)
        return cli_usage("info", "no IMAGE given");
    struct vial_image *image = NULL;
    struct vial_manifest *m = NULL;
    struct image_totals t;
    struct vial_hive *hive = NULL;
    struct vial_signature_info signature = {0};
    /* no trust policy here: info is how a user sees who signed an image
     * before trusting the key; a signature that does not match still
     * stops it */
    int rc = cli_open_image_unchecked(&image, path);
    if (rc == 0)
        rc = cli_trust_signature(&signature, image, path);
    if (rc == 0)
        rc = load_manifest(&m, image);
    if (rc == 0)
        rc = count_entries(&t, image);
    if (rc == 0)
        rc = cli_package_hive(&hive, image);
    if (rc < 0) {
        vial_manifest_free(m);
        vial_image_close(image);
        return cli_fail(rc);
    }
    size_t registry_values = vial_hive_count(hive);
    vial_hive_free(hive);
    struct profile_reach reach;
    cJSON *profile_list = json ? cJSON_CreateArray() : NULL;
    profile_reach(&reach, image, profile_list);
    const struct vial_image_header *h = vial_image_header(image);
    const void *data;
    uint64_t stored = 0;
    vial_image_section(&data, &stored, image, VIAL_SECTION_CHUNK_DATA);
    uint64_t size = vial_image_size(image);
    char hex[2 * VIAL_HASH_LEN + 1];
    vial_hash_hex(hex, h->root_hash);
    char key_hex[2 * VIAL_PUBLIC_KEY_LEN + 1] = "", signed_by[64] = "unsigned";
    if (signature.type != VIAL_SIGNATURE_NONE) {
        char id[CLI_KEY_ID_LEN + 1];
        for (unsigned i = 0; i < VIAL_PUBLIC_KEY_LEN; i++)
            snprintf(key_hex + 2 * i, 3, "%02x", signature.public_key[i]);
        cli_key_id(id, signature.public_key);
        snprintf(signed_by, sizeof signed_by, "signed by key %s...", id);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *entries = cJSON_CreateArray();
        add_string(o, "name", m->name);
        add_string(o, "version", m->version);
        add_string(o, "summary", m->summary);
        add_string(o, "vendor", m->vendor);
        add_string(o, "state_group", m->state_group);
        add_string(o, "default_entry", m->default_entry);
        cJSON_AddNumberToObject(o, "format_major", h->version_major);
        cJSON_AddNumberToObject(o, "format_minor", h->version_minor);
        cJSON_AddNumberToObject(o, "entries", vial_image_entry_count(image));
        cJSON_AddNumberToObject(o, "files", (double)t.files);
        cJSON_AddNumberToObject(o, "directories", (double)t.directories);
        cJSON_AddNumberToObject(o, "symlinks", (double)t.symlinks);
        cJSON_AddNumberToObject(o, "hardlinks", (double)t.hardlinks);
        cJSON_AddNumberToObject(o, "raw_bytes", (double)t.raw_bytes);
        cJSON_AddNumberToObject(o, "stored_bytes", (double)stored);
        cJSON_AddNumberToObject(o, "image_bytes", (double)size);
        cJSON_AddNumberToObject(o, "chunks", vial_image_chunk_count(image));
        cJSON_AddNumberToObject(o, "ratio", size ? (double)t.raw_bytes / (double)size : 0);
        cJSON_AddNumberToObject(o, "registry_values", (double)registry_values);
        cJSON *profile = cJSON_CreateObject();
        cJSON_AddItemToObject(profile, "files", profile_list);
        cJSON_AddNumberToObject(profile, "chunk_bytes", (double)reach.bytes);
        cJSON_AddNumberToObject(profile, "prefix_bytes", (double)reach.prefix_bytes);
        cJSON_AddItemToObject(o, "launch_profile", profile);
        add_string(o, "image_hash", hex);
        add_string(o, "signature", signature.type != VIAL_SIGNATURE_NONE ? "signed" : "unsigned");
        add_string(o, "signing_key", key_hex[0] ? key_hex : NULL);
        cJSON *sections = cJSON_CreateArray();
        for (uint32_t i = 0; i < h->section_count; i++) {
            cJSON *section = cJSON_CreateObject();
            add_string(section, "type", vial_section_name(h->sections[i].type));
            cJSON_AddNumberToObject(section, "offset", (double)h->sections[i].offset);
            cJSON_AddNumberToObject(section, "length", (double)h->sections[i].length);
            cJSON_AddItemToArray(sections, section);
        }
        cJSON_AddItemToObject(o, "sections", sections);
        for (size_t i = 0; i < m->entry_count; i++) {
            cJSON *e = cJSON_CreateObject();
            add_string(e, "name", m->entries[i].name);
            add_string(e, "exec", m->entries[i].exec);
            add_string(e, "args", m->entries[i].args);
            add_string(e, "description", m->entries[i].description);
            add_string(e, "icon", m->entries[i].icon);
            cJSON_AddItemToArray(entries, e);
        }
        cJSON_AddItemToObject(o, "entry_points", entries);
        char *text = cJSON_Print(o);
        if (text)
            puts(text);
        free(text);
        cJSON_Delete(o);
    } else {
        char raw[32], stored_text[32], image_text[32];
        cli_format_size(raw, sizeof raw, t.raw_bytes);
        cli_format_size(stored_text, sizeof stored_text, stored);
        cli_format_size(image_text, sizeof image_text, size);
        printf("package:     %s %s\n", m->name, m->version);
        if (m->summary)
            printf("summary:     %s\n", m->summary);
        if (m->vendor)
            printf("vendor:      %s\n", m->vendor);
        printf("state group: %s\n", m->state_group);
        printf("format:      %u.%u, %s\n", h->version_major, h->version_minor, signed_by);
        printf("entries:     %u (%llu files, %llu directories, %llu symlinks, %llu hard links)\n",
               vial_image_entry_count(image), (unsigned long long)t.files,
               (unsigned long long)t.directories, (unsigned long long)t.symlinks,
               (unsigned long long)t.hardlinks);
        printf("size:        %s of files, %s compressed in %u chunks, image %s (%.2fx)\n", raw,
               stored_text, vial_image_chunk_count(image), image_text,
               size ? (double)t.raw_bytes / (double)size : 0);
        printf("image hash:  %s\n", hex);
        if (registry_values)
            printf("registry:    %zu values (vial reg %s ls)\n", registry_values, path);
        if (reach.files) {
            char bytes[32], prefix[32];
            cli_format_size(bytes, sizeof bytes, reach.bytes);
            cli_format_size(prefix, sizeof prefix, reach.prefix_bytes);
            printf("profile:     %u files at launch, %s of chunks within the first %s of chunk data\n",
                   reach.files, bytes, prefix);
        }
        for (size_t i = 0; i < m->entry_count; i++)
            printf("entry:       %s%s -> %s%s%s\n", m->entries[i].name,
                   m->default_entry && strcmp(m->default_entry, m->entries[i].name) == 0
                       ? " (default)"
                       : "",
                   m->entries[i].exec, m->entries[i].description ? "  # " : "",
                   m->entries[i].description ? m->entries[i].description : "");
    }
    vial_manifest_free(m);
    vial_image_close(image);
    return VIAL_EXIT_OK;
}

/* -------------------------------------------------------------------- ls */

static void mode_string(char out[11], uint8_t type, uint32_t mode)
{
    out[0] = S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : '-';
    (void)type;
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = (mode & (1u << (8 - i))) ? rwx[i] : '-';
    if (mode & S_ISUID)
        out[3] = (mode & S_IXUSR) ? 's' : 'S';
    if (mode & S_ISGID)
        out[6] = (mode & S_IXGRP) ? 's' : 'S';
    if (mode & S_ISVTX)
        out[9] = (mode & S_IXOTH) ? 't' : 'T';
    out[10] = '\0';
}

static int print_entry(const struct vial_image *image, uint32_t index, int long_format)
{
    struct vial_entry e;
    int rc = vial_image_entry(&e, image, index);
    if (rc < 0)
        return rc;
    const char *name = index == 0 ? "/" : e.name;
    int name_length = index == 0 ? 1 : (int)e.name_length;
    if (!long_format) {
        printf("%.*s%s\n", name_length, name, S_ISDIR(e.mode) && index ? "/" : "");
        return 0;
    }
    char mode[11], when[32];
    mode_string(mode, e.type, e.mode);
    time_t t = (time_t)e.mtime_sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    printf("%s %3u %5u %5u %10llu %s %.*s", mode, e.nlink, e.uid, e.gid,
           (unsigned long long)e.size, when, name_length, name);
    if (e.primary_type == VIAL_ENTRY_SYMLINK) {
        const char *target;
        size_t length;
        if ((rc = vial_image_readlink(&target, &length, image, index)) < 0)
            return rc;
        printf(" -> %.*s", (int)length, target);
    }
    putchar('\n');
    return 0;
}

int cmd_ls(int argc, char **argv)
{
    int long_format = 0;
    const char *image_path = NULL, *path = "/";
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-l") == 0)
            long_format = 1;
        else if (argv[i][0] == '-' && argv[i][1])
            return cli_usage("ls", "unknown option '%s'", argv[i]);
        else if (positional == 0)
            image_path = argv[i], positional++;
        else if (positional == 1)
            path = argv[i], positional++;
        else
            return cli_usage("ls", "too many arguments");
    }
    if (!image_path)
        return cli_usage("ls", "no IMAGE given");
    struct vial_image *image = NULL;
    uint32_t index, first, count;
    int rc = cli_open_image(&image, image_path);
    if (rc == 0)
        rc = vial_image_resolve(&index, image, path, 1);
    if (rc == 0) {
        struct vial_entry e;
        rc = vial_image_entry(&e, image, index);
        if (rc == 0 && e.primary_type == VIAL_ENTRY_DIRECTORY) {
            rc = vial_image_children(&first, &count, image, index);
            for (uint32_t c = first; rc == 0 && c < first + count; c++)
                rc = print_entry(image, c, long_format);
        } else if (rc == 0) {
            rc = print_entry(image, index, long_format);
        }
    }
    vial_image_close(image);
    return rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
}

/* ------------------------------------------------------------------- cat */

int cmd_cat(int argc, char **argv)
{
    if (argc != 3)
        return cli_usage("cat", "IMAGE and PATH expected");
    struct vial_image *image = NULL;
    struct vial_reader *reader = NULL;
    uint32_t index;
    struct vial_entry e;
    char *buffer = malloc(1 << 20);
    int rc = buffer ? cli_open_image(&image, argv[1]) : vial_error_set(-ENOMEM, "out of memory");
    if (rc == 0)
        rc = vial_image_resolve(&index, image, argv[2], 1);
    if (rc == 0)
        rc = vial_image_entry(&e, image, index);
    if (rc == 0 && e.primary_type != VIAL_ENTRY_REGULAR)
        rc = vial_error_set(-EISDIR, "%s: not a regular file", argv[2]);
    if (rc == 0)
        rc = vial_reader_new(&reader, image);
    for (uint64_t offset = 0; rc == 0 && offset < e.size;) {
        size_t n;
        if ((rc = vial_reader_pread(&n, reader, index, buffer, 1 << 20, offset)) < 0)
            break;
        if (fwrite(buffer, 1, n, stdout) != n) {
            rc = vial_error_set(-EIO, "cannot write to standard output");
            break;
        }
        offset += n;
    }
    if (rc == 0 && fflush(stdout) != 0)
        rc = vial_error_set(-EIO, "cannot write to standard output");
    vial_reader_free(reader);
    vial_image_close(image);
    free(buffer);
    return rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
}

/* ---------------------------------------------------------------- verify */

static void verify_progress(uint64_t done, uint64_t total, void *payload)
{
    (void)payload;
    if (done == total || done % 64 == 0)
        fprintf(stderr, "\rvial verify: chunk %llu/%llu", (unsigned long long)done,
                (unsigned long long)total);
    if (done == total)
        fputc('\n', stderr);
}

int cmd_verify(int argc, char **argv)
{
    if (argc != 2)
        return cli_usage("verify", "one IMAGE expected");
    struct vial_image *image = NULL;
    /* a local image is checked here, section by section, with the messages
     * of vial_image_verify; a URL's metadata were checked by the agent */
    int rc = cli_is_url(argv[1]) ? cli_open_image(&image, argv[1])
                                 : vial_image_open_path(&image, argv[1], 0);
    struct vial_signature_info signature = {0};
    if (rc == 0 &&
        (rc = vial_image_verify(image, VIAL_VERIFY_CHUNKS, isatty(2) ? verify_progress : NULL,
                                NULL)) < 0)
        vial_error_prefix(rc, "%s", argv[1]);
    if (rc == 0 && (rc = cli_trust_check(image, argv[1])) == 0)
        rc = cli_trust_signature(&signature, image, argv[1]);
    if (rc < 0) {
        vial_image_close(image);
        int code = cli_fail(rc);
        return code == VIAL_EXIT_FAILURE && rc != -ENOENT && rc != -EACCES ? VIAL_EXIT_CORRUPT
                                                                          : code;
    }
    char hex[2 * VIAL_HASH_LEN + 1], id[CLI_KEY_ID_LEN + 1] = "";
    vial_hash_hex(hex, vial_image_header(image)->root_hash);
    if (signature.type != VIAL_SIGNATURE_NONE)
        cli_key_id(id, signature.public_key);
    printf("%s: OK (%u entries, %u chunks, image hash %s, %s%s%s)\n", argv[1],
           vial_image_entry_count(image), vial_image_chunk_count(image), hex,
           id[0] ? "signed by key " : "unsigned", id, id[0] ? "..." : "");
    vial_image_close(image);
    return VIAL_EXIT_OK;
}
