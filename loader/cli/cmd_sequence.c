/*
 * cmd_sequence.c - `vial sequence`: an installer run in a capture bubble
 * becomes a package.
 *
 * App-V's sequencer watches an installer and packs what it did. Vial needs
 * no snapshot: the installer runs in the bubble of an empty image with a
 * private user state, so copy-on-write already puts every write (outside
 * the passthrough paths: /tmp, /dev, /proc, /sys, /run, documents) into
 * that state's upper/ tree at its virtual path, and the host is never
 * changed. That tree, filtered, is packed; the GSettings the installer
 * wrote (the state's registry layer) become the package's registry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "packager/packager.h"
#include "registry.h"

#define EXCLUDES_MAX 64

/* What an installer leaves that is no part of the application: caches,
 * logs, temporary files, the package managers' own state, host-specific
 * caches, and the home of whoever ran it (docs/sequencer.md). */
static const char *const default_excludes[] = {
    "tmp",         "var/tmp",        "var/cache", "var/log", "var/lib/apt", "var/lib/dpkg",
    "var/backups", "etc/ld.so.cache", "home",     "root",    "run",         "dev",
    "proc",        "sys",            "*/__pycache__",
};

struct capture {
    const char *excludes[EXCLUDES_MAX + sizeof default_excludes / sizeof default_excludes[0]];
    size_t exclude_count;
    unsigned long excluded, deletions, kept;
};

static int excluded(const struct capture *c, const char *relative)
{
    for (size_t i = 0; i < c->exclude_count; i++)
        if (fnmatch(c->excludes[i], relative, FNM_PATHNAME) == 0)
            return 1;
    return 0;
}

/* Cleans the captured tree in place: the store's deletion markers (an
 * image cannot delete host files) and excluded paths go, and so do the
 * directories that held nothing else (var/lib once var/lib/dpkg is out);
 * a directory the installer left empty itself stays. *emptied tells the
 * caller that this directory lost everything it had. */
static int clean_tree(struct capture *c, const char *root, const char *relative, int *emptied)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", root, *relative ? "/" : "", relative);
    DIR *dir = opendir(path);
    if (!dir)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    struct dirent *e;
    int rc = 0;
    unsigned long removed = 0, left = 0;
    while (rc == 0 && (e = readdir(dir))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX], full[PATH_MAX], target[64];
        snprintf(child, sizeof child, "%s%s%s", relative, *relative ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, child);
        struct stat st;
        if (lstat(full, &st) < 0)
            continue;
        ssize_t n = S_ISLNK(st.st_mode) ? readlink(full, target, sizeof target - 1) : -1;
        if (n > 0)
            target[n] = '\0';
        if ((n > 0 && target[0] == '\001') || e->d_name[0] == '\001') {
            /* a whiteout or an opaque marker (docs/state.md) */
            c->deletions += n > 0;
            unlink(full);
            removed++;
            continue;
        }
        if (excluded(c, child)) {
            c->excluded++;
            cli_remove_tree(full); /* a directory and all below, or unlink a file */
            unlink(full);
            removed++;
            continue;
        }
        left++;
        if (S_ISDIR(st.st_mode)) {
            int child_emptied = 0;
            rc = clean_tree(c, root, child, &child_emptied);
            if (rc == 0 && child_emptied && rmdir(full) == 0) {
                left--;
                removed++;
            }
        } else {
            c->kept++;
        }
    }
    closedir(dir);
    *emptied = removed > 0 && left == 0;
    return rc;
}

/* The capture's registry layer as the package's hive: its values, as the
 * installer left them (a capture has nothing below it to hide). */
static int captured_hive(void **out, size_t *length, const char *state)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/registry.hive", state);
    struct vial_reg *reg = NULL;
    struct vial_hive *all = NULL;
    *out = NULL;
    *length = 0;
    if (access(path, F_OK) != 0)
        return 0;
    int rc = vial_reg_open(&reg, path, NULL, 0, NULL);
    if (rc == 0)
        rc = vial_reg_snapshot(&all, reg, VIAL_REG_LAYER_ALL, "");
    if (rc == 0 && vial_hive_count(all) > 0)
        rc = vial_hive_serialize(out, length, all);
    vial_hive_free(all);
    vial_reg_close(reg);
    return rc;
}

static int read_text(char **out, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return vial_error_set(-errno, "%s: %s", path, strerror(errno));
    char *text = malloc((1u << 20) + 1);
    size_t n = text ? fread(text, 1, 1u << 20, f) : 0;
    fclose(f);
    if (!text)
        return vial_error_set(-ENOMEM, "out of memory");
    text[n] = '\0';
    *out = text;
    return 0;
}

/* An image of nothing: the capture bubble's base, named as the package. */
static int empty_image(const char *work, const char *output, const char *manifest)
{
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s/empty", work);
    if (mkdir(root, 0755) < 0)
        return vial_error_set(-errno, "%s: %s", root, strerror(errno));
    struct vial_pack_options options = {.manifest_text = manifest, .manifest_length = strlen(manifest),
                                        .level = 1, .threads = 1};
    struct vial_packer *packer = NULL;
    int rc = vial_packer_new(&packer, &options);
    if (rc == 0)
        rc = vial_packer_add_tree(packer, root, NULL);
    if (rc == 0)
        rc = vial_packer_write(packer, output, NULL);
    vial_packer_free(packer);
    return rc;
}

int cmd_sequence(int argc, char **argv)
{
    static const struct option options[] = {
        {"output", required_argument, NULL, 'o'},  {"name", required_argument, NULL, 'n'},
        {"version", required_argument, NULL, 'V'}, {"manifest", required_argument, NULL, 'm'},
        {"exclude", required_argument, NULL, 'x'}, {"save-manifest", required_argument, NULL, 'M'},
        {"level", required_argument, NULL, 'l'},   {"profile", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0}};
    struct capture c = {0};
    for (size_t i = 0; i < sizeof default_excludes / sizeof default_excludes[0]; i++)
        c.excludes[c.exclude_count++] = default_excludes[i];
    const char *output = NULL, *name = NULL, *version = NULL, *manifest_path = NULL, *save = NULL,
               *profile_path = NULL;
    struct vial_pack_options pack = {.override_owner = 1};
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "+:o:m:x:l:", options, NULL)) != -1) {
        switch (opt) {
        case 'o': output = optarg; break;
        case 'n': name = optarg; break;
        case 'V': version = optarg; break;
        case 'm': manifest_path = optarg; break;
        case 'M': save = optarg; break;
        case 'P': profile_path = optarg; break;
        case 'x':
            if (c.exclude_count >= sizeof c.excludes / sizeof c.excludes[0])
                return cli_usage("sequence", "at most %d --exclude", EXCLUDES_MAX);
            while (*optarg == '/')
                optarg++;
            c.excludes[c.exclude_count++] = optarg;
            break;
        case 'l':
            if (cli_pack_option(&pack, opt, optarg, "sequence") < 0)
                return VIAL_EXIT_USAGE;
            break;
        case ':': return cli_usage("sequence", "option %s needs a value", argv[optind - 1]);
        default: return cli_usage("sequence", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc && strcmp(argv[optind], "--") == 0)
        optind++;
    if (optind >= argc)
        return cli_usage("sequence", "no INSTALLER given (vial sequence -o OUT.vial --name N --version V -- INSTALLER [ARGS])");
    if (!output || !name || !version)
        return cli_usage("sequence", "-o OUT.vial, --name and --version are required");
    if (!vial_manifest_name_valid(name))
        return cli_usage("sequence", "'%s' is not a package name (docs/manifest.md)", name);

    char work[PATH_MAX], copy[PATH_MAX], base[PATH_MAX + 16], state[PATH_MAX + 16], upper[PATH_MAX + 32];
    snprintf(copy, sizeof copy, "%s", output);
    snprintf(work, sizeof work, "%s/.vial-sequence-XXXXXX", dirname(copy));
    if (!mkdtemp(work))
        return cli_fail(vial_error_set(-errno, "cannot create a directory beside %s: %s", output, strerror(errno)));
    snprintf(base, sizeof base, "%s/capture.vial", work);
    snprintf(state, sizeof state, "%s/state", work);
    snprintf(upper, sizeof upper, "%s/upper", state);
    char base_manifest[512];
    snprintf(base_manifest, sizeof base_manifest, "# vial sequence's capture bubble\n[package]\nname = %s\nversion = %s\n",
             name, version);
    char *text = NULL, *profile = NULL;
    void *hive = NULL;
    struct vial_manifest *manifest = NULL;
    struct vial_packer *packer = NULL;
    struct vial_pack_stats stats;
    int rc = empty_image(work, base, base_manifest), code = VIAL_EXIT_OK, status = 0;
    if (rc == 0) {
        fprintf(stderr, "vial: sequencing %s %s: running %s in a capture bubble\n", name, version, argv[optind]);
        fflush(NULL);
        status = cli_run_in_bubble(base, state, argv + optind);
        if (status != 0)
            rc = vial_error_set(-ECANCELED, "the installer %s %s %d: nothing was packed", argv[optind],
                                status > 128 ? "was killed by signal" : "exited with",
                                status > 128 ? status - 128 : status);
    }
    int emptied = 0;
    if (rc == 0)
        rc = clean_tree(&c, upper, "", &emptied);
    if (rc == 0 && c.kept == 0 && c.excluded == 0)
        rc = vial_error_set(-ENOENT, "the installer %s changed nothing outside the passthrough paths "
                                     "(/tmp, /dev, /proc, /sys, /run, the documents under ~): nothing to pack",
                            argv[optind]);
    else if (rc == 0 && c.kept == 0)
        rc = vial_error_set(-ENOENT, "everything the installer wrote was excluded (%lu paths): nothing to pack",
                            c.excluded);
    if (rc == 0) {
        if (manifest_path) {
            rc = read_text(&text, manifest_path);
        } else {
            struct vial_import_package package = {0};
            snprintf(package.name, sizeof package.name, "%s", name);
            snprintf(package.version, sizeof package.version, "%s", version);
            snprintf(package.summary, sizeof package.summary, "Sequenced from: %s", argv[optind]);
            rc = vial_import_manifest(&text, upper, &package, "vial sequence");
        }
    }
    if (rc == 0 && (rc = vial_manifest_parse(&manifest, text, strlen(text))) < 0)
        vial_error_prefix(rc, "%s", manifest_path ? manifest_path : "the generated manifest");
    if (rc == 0 && save) {
        FILE *f = fopen(save, "w");
        if (!f || fputs(text, f) < 0 || fclose(f) != 0)
            rc = vial_error_set(-EIO, "cannot write %s", save);
    }
    if (rc == 0)
        rc = captured_hive(&hive, &pack.hive_length, state);
    if (rc == 0 && profile_path && (rc = read_text(&profile, profile_path)) == 0) {
        pack.profile_text = profile;
        pack.profile_length = strlen(profile);
    }
    if (rc == 0) {
        pack.hive = hive;
        pack.manifest_text = text;
        pack.manifest_length = strlen(text);
        pack.progress = isatty(2);
        rc = vial_packer_new(&packer, &pack);
    }
    if (rc == 0)
        rc = vial_packer_add_tree(packer, upper, NULL);
    if (rc == 0)
        rc = vial_packer_write(packer, output, &stats);
    if (rc < 0) {
        code = cli_fail(rc);
        if (code == VIAL_EXIT_CORRUPT)
            code = VIAL_EXIT_FAILURE;
    } else {
        printf("%s: %s %s, %llu entries captured (%lu excluded, %lu deletions of host files ignored); "
               "entry points:",
               output, manifest->name, manifest->version, (unsigned long long)stats.entries, c.excluded,
               c.deletions);
        for (size_t i = 0; i < manifest->entry_count; i++)
            printf(" %s", manifest->entries[i].name);
        printf("%s\n", manifest->entry_count ? "" : " none (write a manifest and use --manifest)");
    }
    int removed = cli_remove_tree(work);
    if (removed < 0)
        cli_error("could not remove %s: %s", work, strerror(-removed));
    vial_packer_free(packer);
    vial_manifest_free(manifest);
    free(text);
    free(profile);
    free(hive);
    return code;
}
