/*
 * cmd_profile.c - `vial profile`: records which image files an application
 * reads at launch, in order, for `vial pack --profile` to place first in the
 * image (so that a streaming client fetches a launch in a few large reads).
 *
 * The program runs as with `vial run`; the interposer appends the index of
 * every image file it materializes (opened, executed or loaded as a
 * library) to a raw file, one line each, from every process of the bubble.
 * The raw list, without repeats, becomes the profile: one virtual path per
 * line (docs/image-format.md, section 5).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* The virtual path of entry index ("/usr/bin/x"), built from its parents. */
static int entry_path(char *out, size_t size, const struct vial_image *image, uint32_t index)
{
    char names[64][256];
    int depth = 0;
    while (index != 0 && depth < 64) {
        struct vial_entry e;
        if (vial_image_entry(&e, image, index) < 0 || e.name_length >= sizeof names[0])
            return -EINVAL;
        memcpy(names[depth], e.name, e.name_length);
        names[depth][e.name_length] = '\0';
        depth++;
        index = e.parent;
    }
    size_t used = 0;
    out[0] = '\0';
    while (depth-- > 0) {
        int n = snprintf(out + used, size - used, "/%s", names[depth]);
        if (n < 0 || (size_t)n >= size - used)
            return -ENAMETOOLONG;
        used += (size_t)n;
    }
    return used ? 0 : -EINVAL;
}

/* The raw list of entry indexes into the profile text, first use first. */
static int write_profile(const char *raw, const char *output, const char *image_path, unsigned *files)
{
    struct vial_image *image = NULL;
    FILE *in = NULL, *out = NULL;
    uint8_t *seen = NULL;
    char temp[PATH_MAX + 16];
    int rc = cli_open_image(&image, image_path);
    if (rc < 0)
        return rc;
    uint32_t count = vial_image_entry_count(image);
    seen = calloc(count ? count : 1, 1);
    in = fopen(raw, "r");
    snprintf(temp, sizeof temp, "%s.%d", output, (int)getpid());
    out = fopen(temp, "w");
    if (!seen || !in || !out) {
        rc = vial_error_set(-errno ? -errno : -ENOMEM, "cannot write %s: %s", output, strerror(errno));
        goto out;
    }
    fprintf(out, "# vial launch profile: the image files in the order the application used them\n");
    char line[64], path[PATH_MAX];
    *files = 0;
    while (fgets(line, sizeof line, in)) {
        char *end;
        unsigned long index = strtoul(line, &end, 10);
        if (end == line || index >= count || seen[index])
            continue;
        seen[index] = 1;
        if (entry_path(path, sizeof path, image, (uint32_t)index) == 0) {
            fprintf(out, "%s\n", path);
            (*files)++;
        }
    }
    if (fclose(out) != 0 || rename(temp, output) < 0) {
        out = NULL;
        rc = vial_error_set(-errno, "cannot write %s: %s", output, strerror(errno));
        unlink(temp);
        goto out;
    }
    out = NULL;
out:
    if (out) {
        fclose(out);
        unlink(temp);
    }
    if (in)
        fclose(in);
    free(seen);
    vial_image_close(image);
    return rc;
}

int cmd_profile(int argc, char **argv)
{
    const char *output = NULL;
    struct cli_run_extra extra = {0};
    char *run_argv[argc + 1];
    int run_argc = 0;
    run_argv[run_argc++] = "run";
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(argv[i], "--until-idle") == 0 && i + 1 < argc) {
            char *end;
            extra.until_idle = strtod(argv[++i], &end);
            if (*end || extra.until_idle <= 0 || extra.until_idle > 3600)
                return cli_usage("profile", "--until-idle takes seconds (0 < S <= 3600), not '%s'", argv[i]);
        } else if (argv[i][0] == '-') {
            return cli_usage("profile", "unknown option '%s'", argv[i]);
        } else {
            run_argv[run_argc++] = argv[i];
        }
    }
    for (; i < argc; i++)
        run_argv[run_argc++] = argv[i];
    run_argv[run_argc] = NULL;
    if (!output)
        return cli_usage("profile", "no output given (-o PROFILE)");
    if (run_argc < 2)
        return cli_usage("profile", "no IMAGE given");

    char raw[PATH_MAX + 32];
    snprintf(raw, sizeof raw, "%s.raw.XXXXXX", output);
    int fd = mkstemp(raw);
    if (fd < 0)
        return cli_fail(vial_error_set(-errno, "cannot create %s: %s", raw, strerror(errno)));
    close(fd);
    char absolute[PATH_MAX];
    if (!realpath(raw, absolute)) {
        unlink(raw);
        return cli_fail(vial_error_set(-errno, "%s: %s", raw, strerror(errno)));
    }
    extra.profile = absolute;
    int status = cli_run_command("run", run_argc, run_argv, &extra);
    unsigned files = 0;
    int rc = write_profile(absolute, output, run_argv[1], &files);
    unlink(absolute);
    if (rc < 0)
        return cli_fail(rc);
    fprintf(stderr, "vial: %s: %u image files in launch order (the program %s %d)\n", output, files,
            status >= 128 && extra.until_idle > 0 ? "was stopped when idle, status" : "exited with",
            status);
    return VIAL_EXIT_OK;
}
