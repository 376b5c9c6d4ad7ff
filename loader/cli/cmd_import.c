/*
 * cmd_import.c - `vial import`: Debian packages and tar archives into an
 * image, with a manifest generated from what they hold.
 *
 * The files are unpacked into a private directory beside the output (the
 * importers in packager/import.c), the manifest is derived from the first
 * package's control fields and the tree's .desktop files and executables,
 * and the tree is packed as `vial pack` would, every entry owned by root
 * (as dpkg installs them). The directory is removed whatever happens.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "packager/packager.h"

#define IMPORT_FILES_MAX 256

/* A package name from an archive's file name: "app-1.2.tar.xz" -> "app-1.2". */
static void name_from_file(char *out, size_t size, const char *file)
{
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", file);
    const char *base = basename(copy);
    static const char *const suffixes[] = {".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2", ".tar.lz",
                                           ".tar.lzma", ".tgz", ".txz", ".tbz2", ".tar"};
    size_t n = strlen(base);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t m = strlen(suffixes[i]);
        if (n > m && strcmp(base + n - m, suffixes[i]) == 0) {
            n -= m;
            break;
        }
    }
    size_t used = 0;
    for (size_t i = 0; i < n && used + 1 < size && used < 64; i++) {
        char c = base[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 (used && strchr("._+-", c));
        if (ok || used)
            out[used++] = ok ? c : '-';
    }
    out[used] = '\0';
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    int ok = fputs(text, f) >= 0;
    if (fclose(f) != 0 || !ok)
        return vial_error_set(-EIO, "%s: cannot write", path);
    return 0;
}

int cmd_import(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},  {"name", required_argument, NULL, 'n'},
        {"version", required_argument, NULL, 'V'}, {"save-manifest", required_argument, NULL, 'M'},
        {"level", required_argument, NULL, 'l'},   {"threads", required_argument, NULL, 'j'},
        {NULL, 0, NULL, 0}};
    const char *output = NULL, *name = NULL, *version = NULL, *save = NULL;
    struct vial_pack_options pack = {.override_owner = 1};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":o:l:j:", options, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 'n': name = optarg; break;
        case 'V': version = optarg; break;
        case 'M': save = optarg; break;
        case 'l':
        case 'j':
            if (cli_pack_option(&pack, opt, optarg, "import") < 0)
                return VIAL_EXIT_USAGE;
            break;
        case ':': return cli_usage("import", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage("import", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return cli_usage("import", "no FILE given (.deb or tar archive)");
    if (argc - optind > IMPORT_FILES_MAX)
        return cli_usage("import", "at most %d files", IMPORT_FILES_MAX);
    if (!output)
        return cli_usage("import", "no output given (-o OUT.vial)");

    char work[PATH_MAX], directory[PATH_MAX], tree[PATH_MAX + 8];
    snprintf(directory, sizeof directory, "%s", output);
    snprintf(work, sizeof work, "%s/.vial-import-XXXXXX", dirname(directory));
    if (!mkdtemp(work))
        return cli_fail(vial_error_set(-errno, "cannot create a directory beside %s: %s", output, strerror(errno)));
    snprintf(tree, sizeof tree, "%s/root", work);
    int rc = mkdir(tree, 0755) < 0 ? vial_error_set(-errno, "%s: %s", tree, strerror(errno)) : 0;

    struct vial_import_package first = {0}, package;
    for (int i = optind; i < argc && rc == 0; i++) {
        rc = vial_import_unpack(&package, argv[i], tree);
        if (rc == 0 && i == optind)
            first = package;
    }
    if (rc == 0 && !first.is_deb) {
        name_from_file(first.name, sizeof first.name, argv[optind]);
        snprintf(first.version, sizeof first.version, "0");
    }
    if (name)
        snprintf(first.name, sizeof first.name, "%s", name);
    if (version)
        snprintf(first.version, sizeof first.version, "%s", version);
    char *text = NULL;
    struct vial_manifest *manifest = NULL;
    struct vial_packer *packer = NULL;
    struct vial_pack_stats stats;
    if (rc == 0)
        rc = vial_import_manifest(&text, tree, &first, argv[optind]);
    if (rc == 0 && (rc = vial_manifest_parse(&manifest, text, strlen(text))) < 0)
        vial_error_prefix(rc, "the generated manifest (give --name and --version%s)",
                          first.is_deb ? "" : ", or pack the tree with vial pack --manifest");
    if (rc == 0 && save)
        rc = write_text(save, text);
    if (rc == 0) {
        pack.manifest_text = text;
        pack.manifest_length = strlen(text);
        pack.progress = isatty(2);
        rc = vial_packer_new(&packer, &pack);
    }
    if (rc == 0)
        rc = vial_packer_add_tree(packer, tree, NULL);
    if (rc == 0)
        rc = vial_packer_write(packer, output, &stats);
    int removed = cli_remove_tree(work);
    int code = VIAL_EXIT_OK;
    if (rc < 0) {
        code = cli_fail(rc);
        if (code == VIAL_EXIT_CORRUPT)
            code = VIAL_EXIT_FAILURE;
    } else {
        printf("%s: %s %s from %d file%s, %llu entries; entry points:", output, manifest->name,
               manifest->version, argc - optind, argc - optind == 1 ? "" : "s",
               (unsigned long long)stats.entries);
        for (size_t i = 0; i < manifest->entry_count; i++)
            printf(" %s%s", manifest->entries[i].name,
                   manifest->default_entry && strcmp(manifest->default_entry, manifest->entries[i].name) == 0
                       ? " (default)"
                       : "");
        printf("%s\n", manifest->entry_count ? "" : " none");
    }
    if (removed < 0)
        cli_error("could not remove %s: %s", work, strerror(-removed));
    vial_packer_free(packer);
    vial_manifest_free(manifest);
    free(text);
    return code;
}
