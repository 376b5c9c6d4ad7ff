/* Unit tests of the user's delta, the isolation policies and the layered
 * resolver (vfs-redirect/delta.c, policy.c, resolve.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testlib.h"
#include "vfs.h"

/* ------------------------------------------------------------- policies */

Test(policy, defaults_follow_design)
{
    struct vial_policy *p = malloc(sizeof *p);
    vial_policy_defaults(p, "/home/ann");
    cr_assert_eq(vial_policy_of(p, "/usr/lib/x"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/etc"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/tmp/x"), VIAL_ISOLATION_PASSTHROUGH);
    cr_assert_eq(vial_policy_of(p, "/tmpx"), VIAL_ISOLATION_WRITECOPY, "a prefix is a whole component");
    cr_assert_eq(vial_policy_of(p, "/proc/self/exe"), VIAL_ISOLATION_PASSTHROUGH);
    cr_assert_eq(vial_policy_of(p, "/home/ann"), VIAL_ISOLATION_PASSTHROUGH);
    cr_assert_eq(vial_policy_of(p, "/home/ann/Documents/a"), VIAL_ISOLATION_PASSTHROUGH);
    cr_assert_eq(vial_policy_of(p, "/home/ann/.config/app/s"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/home/ann/.bashrc"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/home/ann/x/.hidden"), VIAL_ISOLATION_PASSTHROUGH,
                 "only the home's own dot-entries");
    cr_assert_eq(vial_policy_of(p, "/home/bob"), VIAL_ISOLATION_WRITECOPY);
    free(p);
}

Test(policy, longest_prefix_wins_and_rules_replace)
{
    struct vial_policy *p = malloc(sizeof *p);
    vial_policy_defaults(p, "/home/ann");
    cr_assert_eq(vial_policy_set(p, "/opt/app/data", VIAL_ISOLATION_FULL), 0);
    cr_assert_eq(vial_policy_set(p, "~/.config/shared", VIAL_ISOLATION_PASSTHROUGH), 0);
    cr_assert_eq(vial_policy_set(p, "/tmp", VIAL_ISOLATION_WRITECOPY), 0);
    cr_assert_eq(vial_policy_of(p, "/opt/app/data/x"), VIAL_ISOLATION_FULL);
    cr_assert_eq(vial_policy_of(p, "/opt/app/datax"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/home/ann/.config/shared/k"), VIAL_ISOLATION_PASSTHROUGH);
    cr_assert_eq(vial_policy_of(p, "/home/ann/.config/other"), VIAL_ISOLATION_WRITECOPY);
    cr_assert_eq(vial_policy_of(p, "/tmp/x"), VIAL_ISOLATION_WRITECOPY, "the rule replaced the default");
    cr_assert(vial_policy_reaches_below(p, "/opt"));
    cr_assert(vial_policy_reaches_below(p, "/home"));
    cr_assert(!vial_policy_reaches_below(p, "/home/ann/.config"), "only passthrough below");
    cr_assert(!vial_policy_reaches_below(p, "/opt/app/data"));
    /* the session carries them as one line */
    char line[8192];
    struct vial_policy *q = malloc(sizeof *q);
    cr_assert_eq(vial_policy_format(p, line, sizeof line), 0);
    cr_assert_eq(vial_policy_parse(q, line, "/home/ann"), 0, "%s", line);
    const char *probes[] = {"/", "/tmp/a", "/home/ann/.x", "/home/ann/y", "/opt/app/data/z",
                            "/home/ann/.config/shared/k", "/dev/null"};
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        cr_assert_eq(vial_policy_of(q, probes[i]), vial_policy_of(p, probes[i]), "%s", probes[i]);
    cr_assert_lt(vial_policy_parse(q, "bogus /x", NULL), 0);
    cr_assert_lt(vial_policy_parse(q, "full relative", NULL), 0);
    free(p);
    free(q);
}

Test(policy, home_rules_need_a_home)
{
    struct vial_policy *p = malloc(sizeof *p);
    vial_policy_defaults(p, NULL);
    cr_assert_eq(vial_policy_set(p, "~/.config", VIAL_ISOLATION_FULL), -ENOENT);
    cr_assert_eq(vial_policy_of(p, "/root/.config"), VIAL_ISOLATION_WRITECOPY);
    free(p);
}

/* ----------------------------------------------------------------- delta */

static struct vial_delta *open_store(char **dir)
{
    struct vial_delta *d;
    *dir = testlib_mkdtemp("delta");
    cr_assert_eq(vial_delta_open(&d, *dir, 1), 0);
    return d;
}

Test(delta, records_paths_and_roots)
{
    char *dir;
    struct vial_delta *d = open_store(&dir);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/etc")), 0);
    uint64_t before = vial_delta_generation(d);
    cr_assert_eq(vial_delta_record(d, "/etc", VIAL_DELTA_DIR), 0);
    cr_assert_eq(vial_delta_record(d, "/etc/app.conf", VIAL_DELTA_FILE), 0);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/etc")), VIAL_DELTA_DIR);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/etc/app.conf")), VIAL_DELTA_FILE);
    cr_assert_gt(vial_delta_generation(d), before);
    /* incremental hashing gives the same key as the whole path */
    uint64_t h = vial_delta_hash_extend(vial_delta_hash_extend(vial_delta_hash_root(), "etc", 3),
                                        "app.conf", 8);
    cr_assert_eq(h, vial_delta_hash_path("/etc/app.conf"));
    char names[64][32];
    cr_assert_eq(vial_delta_roots(d, names, 64), 1);
    cr_assert_str_eq(names[0], "etc");
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}

Test(delta, grows_and_other_openers_follow)
{
    char *dir;
    struct vial_delta *d = open_store(&dir), *other;
    cr_assert_eq(vial_delta_open(&other, dir, 0), 0);
    char path[64];
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof path, "/data/f%05d", i);
        cr_assert_eq(vial_delta_record(d, path, VIAL_DELTA_FILE), 0);
    }
    for (int i = 0; i < 20000; i += 997) {
        snprintf(path, sizeof path, "/data/f%05d", i);
        cr_assert_eq(vial_delta_lookup(other, vial_delta_hash_path(path)), VIAL_DELTA_FILE, "%s", path);
    }
    cr_assert_eq(vial_delta_lookup(other, vial_delta_hash_path("/data/missing")), 0);
    vial_delta_close(other);
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}

Test(delta, copy_up_is_complete_or_absent_and_first_wins)
{
    char *dir;
    struct vial_delta *d = open_store(&dir);
    char source[4096], upper[4096];
    snprintf(source, sizeof source, "%s/source", dir);
    cr_assert_eq(testlib_write_whole(source, "lower contents", 14), 0);
    struct stat st;
    cr_assert_eq(stat(source, &st), 0);
    st.st_mode = S_IFREG | 0640;
    int fd = open(source, O_RDONLY);
    cr_assert_eq(vial_delta_copy_file(d, "/f", fd, &st, 1), 0);
    close(fd);
    snprintf(upper, sizeof upper, "%s/upper/f", dir);
    uint8_t *data;
    size_t length;
    cr_assert_eq(testlib_read_file(&data, &length, upper), 0);
    cr_assert_eq(length, 14);
    cr_assert_eq(memcmp(data, "lower contents", 14), 0);
    free(data);
    struct stat copy;
    cr_assert_eq(stat(upper, &copy), 0);
    cr_assert_eq(copy.st_mode & 07777, 0640);
    cr_assert_eq(copy.st_mtim.tv_sec, st.st_mtim.tv_sec);
    /* a second copy-up (another instance) keeps the first one's file */
    cr_assert_eq(testlib_write_whole(upper, "changed", 7), 0);
    fd = open(source, O_RDONLY);
    cr_assert_eq(vial_delta_copy_file(d, "/f", fd, &st, 1), 0);
    close(fd);
    cr_assert_eq(testlib_read_file(&data, &length, upper), 0);
    cr_assert_eq(length, 7, "the user's change survived");
    free(data);
    /* nothing is left in work/ */
    char work[4096];
    snprintf(work, sizeof work, "%s/work", dir);
    cr_assert_eq(rmdir(work), 0, "work/ is empty");
    mkdir(work, 0700);
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}

Test(delta, whiteouts_and_opaque_directories_survive_a_rebuild)
{
    char *dir;
    struct vial_delta *d = open_store(&dir);
    struct stat st = {.st_mode = S_IFDIR | 0755, .st_uid = getuid(), .st_gid = getgid()};
    cr_assert_eq(vial_delta_copy_directory(d, "/opt", &st), 0);
    cr_assert_eq(vial_delta_whiteout(d, "/opt/gone"), 0);
    cr_assert_eq(vial_delta_copy_directory(d, "/opt/new", &st), 0);
    cr_assert_eq(vial_delta_mark_opaque(d, "/opt/new"), 0);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt/gone")), VIAL_DELTA_WHITEOUT);
    /* a writer killed half-way: the next writer rebuilds from the tree */
    pid_t child = fork();
    if (child == 0) {
        vial_delta_begin(d);
        vial_delta_set(d, "/opt/gone", 0); /* the table lies, then the writer dies */
        _exit(0);
    }
    int status;
    waitpid(child, &status, 0);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt/gone")), 0, "the lie is visible");
    cr_assert_eq(vial_delta_record(d, "/other", VIAL_DELTA_FILE), 0);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt/gone")), VIAL_DELTA_WHITEOUT,
                 "rebuilt from the tree");
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt/new")),
                 VIAL_DELTA_DIR | VIAL_DELTA_OPAQUE);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt")), VIAL_DELTA_DIR);
    /* the whiteout replaced a file atomically, and forget removes it */
    cr_assert_eq(vial_delta_forget(d, "/opt/gone"), 1);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/opt/gone")), 0);
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}

Test(delta, damaged_table_is_rebuilt_on_open)
{
    char *dir;
    struct vial_delta *d = open_store(&dir);
    struct stat st = {.st_mode = S_IFDIR | 0700, .st_uid = getuid(), .st_gid = getgid()};
    cr_assert_eq(vial_delta_copy_directory(d, "/keep", &st), 0);
    vial_delta_close(d);
    char index[4096];
    snprintf(index, sizeof index, "%s/index", dir);
    cr_assert_eq(testlib_write_whole(index, "garbage", 7), 0);
    cr_assert_lt(vial_delta_open(&d, dir, 0), 0, "a reader refuses a damaged table");
    cr_assert_eq(vial_delta_open(&d, dir, 1), 0);
    cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path("/keep")), VIAL_DELTA_DIR);
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}

/* -------------------------------------------------------------- resolver */

Test(resolve, delta_over_image_over_host)
{
    char *root = testlib_mkdtemp("tree"), image_path[4096];
    cr_assert_eq(testlib_write_file(root, "opt/app/a", "a", 1, 0644), 0);
    cr_assert_eq(testlib_write_file(root, "opt/app/b", "b", 1, 0644), 0);
    cr_assert_eq(testlib_write_file(root, "usr/lib/x/libx.so", "x", 1, 0644), 0);
    cr_assert_eq(testlib_write_file(root, "lib/x/liby.so", "y", 1, 0644), 0);
    snprintf(image_path, sizeof image_path, "%s.vial", root);
    cr_assert_eq(testlib_pack_tree(root, image_path, NULL, 1), 0);
    struct vial_image *image;
    cr_assert_eq(vial_image_open_path(&image, image_path, 0), 0);
    char *dir;
    struct vial_delta *d = open_store(&dir);
    struct vial_policy *policy = malloc(sizeof *policy);
    vial_policy_defaults(policy, "/home/ann");
    vial_policy_set(policy, "/opt/full", VIAL_ISOLATION_FULL);
    struct vial_namespace ns = {.image = image, .delta = d, .policy = policy};
    struct vial_vfs_result *r = malloc(sizeof *r);

    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/app/a", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_IMAGE);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/etc/passwd", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_HOST);
    /* both of the image's trees under the merged-/usr alias */
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/lib/x/liby.so", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_IMAGE);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/usr/lib/x/liby.so", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_IMAGE);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/lib/x/libx.so", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_IMAGE);

    struct stat st = {.st_mode = S_IFDIR | 0755};
    vial_delta_copy_directory(d, "/opt", &st);
    vial_delta_copy_directory(d, "/opt/app", &st);
    vial_delta_whiteout(d, "/opt/app/a");
    cr_assert_eq(testlib_write_file(dir, "upper/opt/app/b", "B", 1, 0644), 0);
    vial_delta_record(d, "/opt/app/b", VIAL_DELTA_FILE);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/app/a", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_ABSENT);
    cr_assert(r->image_below);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/app/a/deeper", 1), -ENOENT);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/app/b", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_UPPER);
    cr_assert(strstr(r->upper, "/upper/opt/app/b"));
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/app", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_UPPER, "a directory with changes is the user's copy");
    cr_assert(r->image_below, "and merges with the image's");
    /* full hides the host */
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/full", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_ABSENT);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/opt/full/x", 1), -ENOENT);
    /* passthrough skips the delta's files */
    vial_delta_copy_directory(d, "/tmp", &st);
    cr_assert_eq(testlib_write_file(dir, "upper/tmp/stale", "s", 1, 0644), 0);
    vial_delta_record(d, "/tmp/stale", VIAL_DELTA_FILE);
    cr_assert_eq(vial_vfs_resolve(r, &ns, "/tmp/stale", 1), 0);
    cr_assert_eq(r->kind, VIAL_VFS_HOST);

    free(r);
    free(policy);
    vial_delta_close(d);
    vial_image_close(image);
    testlib_rm_rf(dir);
    testlib_rm_rf(root);
    unlink(image_path);
    free(dir);
    free(root);
}

/* Writers of separate processes record new entries at once, without the
 * lock, while the table grows several times: none is lost. */
Test(delta, concurrent_lock_free_records_survive_growth)
{
    char *dir;
    struct vial_delta *d = open_store(&dir);
    vial_delta_record(d, "/data", VIAL_DELTA_DIR);
    pid_t children[3];
    for (int c = 0; c < 3; c++) {
        children[c] = fork();
        if (children[c] == 0) {
            struct vial_delta *mine;
            if (vial_delta_open(&mine, dir, 0) < 0)
                _exit(2);
            char path[64];
            for (int i = 0; i < 8000; i++) {
                snprintf(path, sizeof path, "/data/c%d-%05d", c, i);
                if (vial_delta_record_new(mine, path, VIAL_DELTA_FILE) < 0)
                    _exit(3);
            }
            vial_delta_close(mine);
            _exit(0);
        }
    }
    for (int c = 0; c < 3; c++) {
        int status;
        waitpid(children[c], &status, 0);
        cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer %d failed", c);
    }
    char path[64];
    for (int c = 0; c < 3; c++)
        for (int i = 0; i < 8000; i++) {
            snprintf(path, sizeof path, "/data/c%d-%05d", c, i);
            cr_assert_eq(vial_delta_lookup(d, vial_delta_hash_path(path)), VIAL_DELTA_FILE, "%s lost",
                         path);
        }
    vial_delta_close(d);
    testlib_rm_rf(dir);
    free(dir);
}
