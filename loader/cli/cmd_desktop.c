/*
 * cmd_desktop.c - `vial desktop install|remove|list`: a package's entry
 * points as freedesktop menu entries of the user, launching through
 * `vial run`.
 *
 * Each entry point becomes $XDG_DATA_HOME/applications/vial-PACKAGE-ENTRY
 * .desktop; its icon, when the image has it, is copied to
 * $XDG_DATA_HOME/vial/icons/. The files name their image and package in
 * X-Vial-* keys, which is how list and remove find them.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

#define DESKTOP_PREFIX "vial-"

struct desktop {
    struct vial_dirs dirs;
    char applications[PATH_MAX];
    char icons[PATH_MAX];
};

static int desktop_dirs(struct desktop *d)
{
    int rc = vial_dirs_get(&d->dirs);
    if (rc < 0)
        return rc;
    /* dirs.data is DATA/vial: the menu lives in DATA/applications */
    char data[PATH_MAX];
    snprintf(data, sizeof data, "%s", d->dirs.data);
    char *slash = strrchr(data, '/');
    if (slash && strcmp(slash, "/vial") == 0)
        *slash = '\0';
    snprintf(d->applications, sizeof d->applications, "%s/applications", data);
    snprintf(d->icons, sizeof d->icons, "%s/icons", d->dirs.data);
    return 0;
}

/* A value of a desktop entry's Exec key: the word quoted as the
 * specification asks (double quotes; \, ", `, $ escaped; then every \ of
 * the string doubled, since the whole value is an escaped string). */
static void exec_word(char *out, size_t size, const char *word)
{
    size_t n = 0;
    int plain = strcspn(word, " \t\n\"'\\><~|&;$*?#()`=%") == strlen(word);
    if (plain) {
        snprintf(out, size, "%s", word);
        return;
    }
    if (n + 1 < size)
        out[n++] = '"';
    for (const char *p = word; *p && n + 5 < size; p++) {
        if (strchr("\"`$\\", *p)) {
            out[n++] = '\\';
            out[n++] = '\\'; /* the escape's backslash, itself escaped */
        }
        if (*p == '%')
            out[n++] = '%'; /* a literal percent is %% */
        out[n++] = *p;
    }
    if (n + 1 < size)
        out[n++] = '"';
    out[n] = '\0';
}

/* Free text for Name/Comment: no control characters. */
static void text_value(char *out, size_t size, const char *s)
{
    size_t n = 0;
    for (; s && *s && n + 1 < size; s++)
        out[n++] = (unsigned char)*s < 0x20 ? ' ' : *s;
    out[n] = '\0';
}

/* Copies the image's icon for an entry into DATA/vial/icons; 1 if copied
 * (out is its path), 0 if the image has none. A theme name ("viewer") is
 * looked for where packages put icons. */
static int copy_icon(char *out, size_t size, struct vial_image *image, const struct desktop *d,
                     const char *package, const char *entry, const char *icon)
{
    char candidates[12][PATH_MAX];
    size_t count = 0;
    if (icon[0] == '/') {
        snprintf(candidates[count++], PATH_MAX, "%s", icon);
    } else if (icon[0] && !strchr(icon, '/')) {
        static const struct { const char *directory, *extension; } places[] = {
            {"usr/share/icons/hicolor/scalable/apps", "svg"}, {"usr/share/icons/hicolor/256x256/apps", "png"},
            {"usr/share/icons/hicolor/128x128/apps", "png"},  {"usr/share/icons/hicolor/64x64/apps", "png"},
            {"usr/share/icons/hicolor/48x48/apps", "png"},    {"usr/share/pixmaps", "svg"},
            {"usr/share/pixmaps", "png"},                     {"usr/share/pixmaps", "xpm"}};
        for (size_t i = 0; i < sizeof places / sizeof places[0]; i++)
            snprintf(candidates[count++], PATH_MAX, "%s/%s.%s", places[i].directory, icon, places[i].extension);
    }
    for (size_t i = 0; i < count; i++) {
        uint32_t index;
        struct vial_entry e;
        if (vial_image_resolve(&index, image, candidates[i], 1) < 0 ||
            vial_image_entry(&e, image, index) < 0 || e.type != VIAL_ENTRY_REGULAR || e.size > (16u << 20))
            continue;
        const char *dot = strrchr(candidates[i], '.');
        const char *ext = dot && !strchr(dot, '/') ? dot : "";
        if (vial_mkdir_p(d->icons, 0755) < 0)
            return 0;
        snprintf(out, size, "%s/%s-%s%s", d->icons, package, entry, ext);
        struct vial_reader *reader = NULL;
        char *buffer = malloc(e.size ? e.size : 1);
        size_t got = 0;
        int ok = buffer && vial_reader_new(&reader, image) == 0 &&
                 vial_reader_pread(&got, reader, index, buffer, e.size, 0) == 0 && got == e.size;
        vial_reader_free(reader);
        int fd = ok ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644) : -1;
        ok = fd >= 0 && write(fd, buffer, got) == (ssize_t)got;
        if (fd >= 0 && close(fd) < 0)
            ok = 0;
        free(buffer);
        if (ok)
            return 1;
    }
    return 0;
}

static int write_entry(const struct desktop *d, struct vial_image *image, const struct vial_manifest *m,
                       const struct vial_manifest_entry *e, const char *image_path, const char *vial)
{
    char path[PATH_MAX], temp[PATH_MAX + 16], icon[PATH_MAX] = "", name[256], comment[512];
    char vial_word[2 * PATH_MAX], image_word[2 * PATH_MAX], entry_word[256];
    snprintf(path, sizeof path, "%s/" DESKTOP_PREFIX "%s-%s.desktop", d->applications, m->name, e->name);
    int has_icon = e->icon && copy_icon(icon, sizeof icon, image, d, m->name, e->name, e->icon);
    text_value(name, sizeof name, e->description ? e->description : e->name);
    text_value(comment, sizeof comment, m->summary ? m->summary : "");
    exec_word(vial_word, sizeof vial_word, vial);
    exec_word(image_word, sizeof image_word, image_path);
    exec_word(entry_word, sizeof entry_word, e->name);
    snprintf(temp, sizeof temp, "%s.%d", path, (int)getpid());
    FILE *f = fopen(temp, "w");
    if (!f)
        return vial_error_set(-errno, "%s: %s", temp, strerror(errno));
    fprintf(f, "[Desktop Entry]\nType=Application\nVersion=1.4\nName=%s\n", name);
    if (comment[0])
        fprintf(f, "Comment=%s\n", comment);
    fprintf(f, "Exec=%s run %s %s\n", vial_word, image_word, entry_word);
    fprintf(f, "Icon=%s\n", has_icon ? icon : "application-x-executable");
    /* a program without an icon is most likely one for a terminal */
    fprintf(f, "Terminal=%s\n", has_icon ? "false" : "true");
    fprintf(f, "X-Vial-Package=%s\nX-Vial-Version=%s\nX-Vial-Entry=%s\nX-Vial-Image=%s\n", m->name,
            m->version, e->name, image_path);
    if (fclose(f) != 0 || rename(temp, path) < 0) {
        int error = errno;
        unlink(temp);
        return vial_error_set(-error, "cannot write %s: %s", path, strerror(error));
    }
    printf("%s\n", path);
    return 0;
}

/* Calls visit for each vial desktop file: its path, package and image. */
static int each_installed(const struct desktop *d,
                          int (*visit)(const char *path, const char *package, const char *entry,
                                       const char *image, void *payload),
                          void *payload)
{
    DIR *dir = opendir(d->applications);
    if (!dir)
        return 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(dir))) {
        if (strncmp(e->d_name, DESKTOP_PREFIX, strlen(DESKTOP_PREFIX)) != 0)
            continue;
        char path[PATH_MAX], line[PATH_MAX + 64], package[128] = "", entry[128] = "", image[PATH_MAX] = "";
        snprintf(path, sizeof path, "%s/%s", d->applications, e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
            if (strncmp(line, "X-Vial-Package=", 15) == 0)
                snprintf(package, sizeof package, "%s", line + 15);
            else if (strncmp(line, "X-Vial-Entry=", 13) == 0)
                snprintf(entry, sizeof entry, "%s", line + 13);
            else if (strncmp(line, "X-Vial-Image=", 13) == 0)
                snprintf(image, sizeof image, "%s", line + 13);
        }
        fclose(f);
        if (package[0])
            rc = visit(path, package, entry, image, payload);
    }
    closedir(dir);
    return rc;
}

static int print_installed(const char *path, const char *package, const char *entry, const char *image,
                           void *payload)
{
    (void)payload;
    printf("%-20s %-20s %s  (%s)\n", package, entry, image, path);
    return 0;
}

struct removal {
    const struct desktop *d;
    const char *package;
    unsigned removed;
};

static int remove_installed(const char *path, const char *package, const char *entry, const char *image,
                            void *payload)
{
    struct removal *r = payload;
    (void)image;
    if (strcmp(package, r->package) != 0)
        return 0;
    if (unlink(path) < 0)
        return vial_error_set(-errno, "cannot remove %s: %s", path, strerror(errno));
    /* its icon, whatever its extension */
    DIR *dir = opendir(r->d->icons);
    char prefix[300];
    snprintf(prefix, sizeof prefix, "%s-%s.", package, entry);
    struct dirent *e;
    while (dir && (e = readdir(dir))) {
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char icon[PATH_MAX];
            snprintf(icon, sizeof icon, "%s/%s", r->d->icons, e->d_name);
            unlink(icon);
        }
    }
    if (dir)
        closedir(dir);
    printf("removed %s\n", path);
    r->removed++;
    return 0;
}

int cmd_desktop(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("desktop", "usage: vial desktop install|remove IMAGE, or vial desktop list");
    struct desktop d;
    int rc = desktop_dirs(&d);
    if (rc < 0)
        return cli_fail(rc);
    const char *action = argv[1];
    if (strcmp(action, "list") == 0) {
        if (argc != 2)
            return cli_usage("desktop", "list takes no arguments");
        return each_installed(&d, print_installed, NULL) < 0 ? cli_fail(-EIO) : VIAL_EXIT_OK;
    }
    if (strcmp(action, "install") != 0 && strcmp(action, "remove") != 0)
        return cli_usage("desktop", "unknown action '%s' (install, remove, list)", action);
    if (argc != 3)
        return cli_usage("desktop", "%s takes one IMAGE", action);
    char image_path[PATH_MAX], vial[PATH_MAX];
    if (cli_is_url(argv[2])) /* the entries launch from the URL: streamed */
        snprintf(image_path, sizeof image_path, "%s", argv[2]);
    else if (!realpath(argv[2], image_path))
        return cli_fail(vial_error_set(-errno, "%s: %s", argv[2], strerror(errno)));
    ssize_t n = readlink("/proc/self/exe", vial, sizeof vial - 1);
    if (n <= 0)
        return cli_fail(vial_error_set(-errno, "cannot find the vial binary"));
    vial[n] = '\0';
    struct vial_image *image = NULL;
    struct vial_manifest *m = NULL;
    const void *text;
    uint64_t length;
    if ((rc = cli_open_image(&image, image_path)) < 0)
        return cli_fail(rc);
    if (vial_image_section(&text, &length, image, VIAL_SECTION_MANIFEST) < 0 ||
        vial_manifest_parse(&m, text, (size_t)length) < 0) {
        vial_image_close(image);
        return cli_fail(vial_error_prefix(VIAL_ECORRUPT, "%s: manifest", argv[2]));
    }
    /* either way, what an earlier install of the package left goes */
    struct removal r = {&d, m->name, 0};
    rc = each_installed(&d, remove_installed, &r);
    if (rc == 0 && strcmp(action, "install") == 0) {
        if (m->entry_count == 0)
            rc = vial_error_set(-ENOENT, "package %s has no entry points to publish", m->name);
        else if ((rc = vial_mkdir_p(d.applications, 0755)) < 0)
            vial_error_set(rc, "cannot create %s", d.applications);
        for (size_t i = 0; i < m->entry_count && rc == 0; i++)
            rc = write_entry(&d, image, m, &m->entries[i], image_path, vial);
    } else if (rc == 0 && r.removed == 0) {
        fprintf(stderr, "vial: package %s has no desktop entries installed\n", m->name);
    }
    vial_manifest_free(m);
    vial_image_close(image);
    return rc < 0 ? cli_fail(rc) : VIAL_EXIT_OK;
}
