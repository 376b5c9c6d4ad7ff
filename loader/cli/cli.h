/* cli.h - what the `vial` command's files share. */
#ifndef VIAL_CLI_H
#define VIAL_CLI_H

#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include "runtime/runtime.h"

/* Documented exit codes (docs and `vial help`). */
enum vial_exit {
    VIAL_EXIT_OK = 0,
    VIAL_EXIT_FAILURE = 1, /* the command failed; the message says why */
    VIAL_EXIT_USAGE = 2,   /* bad command line */
    VIAL_EXIT_CORRUPT = 3, /* the image is damaged, truncated or not an image */
};

struct vial_command {
    const char *name;
    const char *usage;   /* arguments after the command name */
    const char *summary; /* one line */
    const char *details; /* the rest of --help */
    int (*run)(int argc, char **argv);
};

extern const struct vial_command vial_commands[];

/* Prints "vial: <formatted>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Exit code for a failed library call: VIAL_EXIT_CORRUPT for damaged
 * images, VIAL_EXIT_FAILURE otherwise. Prints "vial: <last error>". */
int cli_fail(int rc);

/* Prints a usage error and the command's usage line; returns VIAL_EXIT_USAGE. */
int cli_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handles --help / -h as the only argument style shared by all commands:
 * returns 1 if help was printed. */
int cli_wants_help(const char *command, int argc, char **argv);

/* Opens an image for a command, verifying its metadata hashes. */
int cli_open_image(struct vial_image **out, const char *path);

/* "12.3 MiB" */
void cli_format_size(char *out, size_t size, uint64_t bytes);

struct vial_dirs;
struct vial_policy;
/* The user's state of a package (cmd_state.c): its directory, the isolation
 * policy of a launch (defaults, vial's own directories, the manifest), and
 * its preparation (a new state group starts from the newest one unless
 * fresh). */
int cli_state_directory(char *out, size_t size, const struct vial_dirs *dirs,
                        const struct vial_manifest *m);
int cli_policy(struct vial_policy *policy, const struct vial_manifest *m, const struct vial_dirs *dirs);
int cli_state_prepare(char *out, size_t size, const struct vial_dirs *dirs,
                      const struct vial_manifest *m, const char *image, int fresh);
const char *cli_home(void);
/* Calls visit for every entry under directory root (depth first, parents
 * before children; a visitor returning 1 skips a directory's contents, a
 * negative value stops the walk and is returned); path is the entry's path
 * relative to root, with a leading '/'; parent is the directory's fd. */
typedef int (*cli_tree_visitor)(int parent, const char *name, const char *path, const struct stat *st,
                                void *context);
int cli_walk_tree(const char *root, cli_tree_visitor visit, void *context);
/* Asks "<question> [y/N] " on a terminal before something is deleted.
 * VIAL_EXIT_OK if the user said yes; VIAL_EXIT_FAILURE if not ("nothing
 * deleted" printed); VIAL_EXIT_USAGE if stdin is not a terminal ("not a
 * terminal: add --yes to <what>" printed). */
int cli_confirm(const char *what, const char *question, ...) __attribute__((format(printf, 2, 3)));
/* Removes root and everything below it (read-only directories included);
 * 0 if root is gone (or never was), else the first -errno. */
int cli_remove_tree(const char *root);

struct vial_hive;
struct vial_reg;
struct vial_image;
/* The registry of a package (cmd_reg.c): the image's hive (an empty one if
 * it has none) under the user's delta in state_directory/registry.hive, over
 * defaults (may be NULL). */
int cli_package_hive(struct vial_hive **out, const struct vial_image *image);
int cli_registry_open(struct vial_reg **out, struct vial_hive **package, const struct vial_image *image,
                      const char *state_directory, const struct vial_hive *defaults);

/* Runs argv in the bubble of image with the user's state in
 * state_directory (created if needed) instead of the package's usual one,
 * as vial sequence's capture does. Returns the program's exit status, 128 +
 * signal if it was killed, or a VIAL_EXIT_* code (message printed) if it
 * could not start. */
int cli_run_in_bubble(const char *image, const char *state_directory, char **argv);

/* What vial profile adds to a run: the file the interposer lists the image
 * files used in, and a time after which a program that reads nothing new
 * is stopped (0: until it exits). */
struct cli_run_extra {
    const char *profile;
    double until_idle;
};
/* `vial run|exec|shell` with argv as that command takes it (argv[0] is the
 * command), and the extra settings. */
int cli_run_command(const char *command, int argc, char **argv, const struct cli_run_extra *extra);

struct vial_pack_options;
/* -l LEVEL and -j THREADS of pack, import and sequence (option is 'l' or
 * 'j'): 0, or -1 after printing the usage error for command. */
int cli_pack_option(struct vial_pack_options *pack, int option, const char *value, const char *command);

int cmd_pack(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_cat(int argc, char **argv);
int cmd_extract(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_help(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_shell(int argc, char **argv);
int cmd_state(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_reset(int argc, char **argv);
int cmd_reg(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_desktop(int argc, char **argv);
int cmd_sequence(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
