/* Unit tests of the virtual namespace's lexical rules (vfs-redirect/). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <errno.h>
#include <string.h>

#include "vfs.h"

static void expect(const char *path, const char *cwd, const char *result)
{
    char out[4096];
    cr_assert_eq(vial_vfs_normalize(out, sizeof out, path, cwd), 0, "%s", path);
    cr_assert_str_eq(out, result, "%s (cwd %s)", path, cwd ? cwd : "-");
}

Test(vfs, normalize_resolves_dots_and_slashes)
{
    expect("/usr/bin/../lib//x/", NULL, "/usr/lib/x");
    expect("/../../etc", NULL, "/etc");
    expect("/", NULL, "/");
    expect("/.", NULL, "/");
    expect("a/b", "/home/u", "/home/u/a/b");
    expect("../x", "/home/u", "/home/x");
    expect("../../../..", "/home/u", "/");
    expect("./", "/srv", "/srv");
}

Test(vfs, normalize_rejects_empty_and_too_long)
{
    char out[8];
    cr_assert_eq(vial_vfs_normalize(out, sizeof out, "", NULL), -EINVAL);
    cr_assert_eq(vial_vfs_normalize(out, sizeof out, "/a/very/long/path", NULL), -ENAMETOOLONG);
}

Test(vfs, usr_merge_rewrites_only_the_aliases)
{
    char path[64];
    strcpy(path, "/lib/x86_64-linux-gnu/libc.so.6");
    cr_assert_eq(vial_vfs_usr_merge(path, sizeof path), 1);
    cr_assert_str_eq(path, "/usr/lib/x86_64-linux-gnu/libc.so.6");
    strcpy(path, "/bin");
    cr_assert_eq(vial_vfs_usr_merge(path, sizeof path), 1);
    cr_assert_str_eq(path, "/usr/bin");
    strcpy(path, "/library/x");
    cr_assert_eq(vial_vfs_usr_merge(path, sizeof path), 0);
    strcpy(path, "/usr/lib");
    cr_assert_eq(vial_vfs_usr_merge(path, sizeof path), 0);
    char tight[9] = "/lib/abc";
    cr_assert_eq(vial_vfs_usr_merge(tight, sizeof tight), -ENAMETOOLONG);
}
