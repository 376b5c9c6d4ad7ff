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
    VIAL_EXIT_UNTRUSTED = 4, /* the trust policy refused the image (docs/trust.md) */
};

/* The error code of a refusal by the trust policy (cli_fail: exit 4). */
#define CLI_EUNTRUSTED (-5100)

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
 * images (a signature that does not match included), VIAL_EXIT_UNTRUSTED
 * for CLI_EUNTRUSTED, VIAL_EXIT_FAILURE otherwise. Prints
 * "vial: <last error>". */
int cli_fail(int rc);

/* Prints a usage error and the command's usage line; returns VIAL_EXIT_USAGE. */
int cli_usage(const char *command, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handles --help / -h as the only argument style shared by all commands:
 * returns 1 if help was printed. */
int cli_wants_help(const char *command, int argc, char **argv);

/* Opens an image for a command, verifying its metadata hashes, and applies
 * the trust policy (cli_trust_check). path may be an http://, https:// or
 * file:// URL: the image is then streamed (stream.c). */
int cli_open_image(struct vial_image **out, const char *path);
/* The same without the trust policy (vial info shows who signed an image). */
int cli_open_image_unchecked(struct vial_image **out, const char *path);

struct vial_dirs;
/* Streaming (stream.c, docs/streaming.md). */
int cli_is_url(const char *text);
/* The path of a file installed beside the vial binary (or in ../lib/vial). */
int cli_find_beside_vial(char *out, const char *name);
/* A connection to the user's fetch agent, started if none answers. */
int cli_agent_connect(int *out, const struct vial_dirs *dirs);
/* Sends one request line (with its newline) and reads one answer line;
 * an "ERR ..." answer is an -EIO error with its message. */
int cli_agent_ask(char *answer, size_t size, int fd, const char *request);
/* The local mirror of the image at url (fetched and checked by the agent;
 * with the server unreachable, the copy cached before, with a note). */
int cli_stream_mirror(char *out, size_t size, const char *url, const struct vial_dirs *dirs);
/* Makes image (opened from mirror) take its chunks from the store and the
 * agent. */
int cli_stream_attach(struct vial_image *image, const char *mirror, const struct vial_dirs *dirs);

/* ------------------------------------------------------------------ trust */

/* Key files (keys.c, docs/trust.md): one line "vial-ed25519-public HEX
 * [COMMENT]" (KEYFILE.pub, trusted-keys) or "vial-ed25519-secret HEX"
 * (the 32-byte seed). */
#define CLI_KEY_ID_LEN 16 /* hex digits of a public key shown in messages */
/* Parses a public key line; -EINVAL (message set) if it is not one. */
int cli_key_parse_public(uint8_t out[VIAL_PUBLIC_KEY_LEN], const char *line);
/* The first CLI_KEY_ID_LEN hex digits of a public key, NUL-terminated. */
void cli_key_id(char out[CLI_KEY_ID_LEN + 1], const uint8_t key[VIAL_PUBLIC_KEY_LEN]);
/* Writes a new key pair: path (the secret key, mode 0600) and path.pub.
 * Refuses to replace either (-EEXIST); leaves nothing on failure. */
int cli_key_generate(uint8_t out_public[VIAL_PUBLIC_KEY_LEN], const char *path);
/* Reads a secret key file into libsodium's 64-byte secret key layout.
 * Refuses a file other users may read or write. The caller wipes it
 * (sodium_memzero). */
int cli_key_read_secret(uint8_t out[64], const char *path);

/* The trust policy (trust.c, docs/trust.md). `vial --require-signature`
 * sets VIAL_REQUIRE_SIGNATURE=1 for itself and what it starts. */
#define CLI_REQUIRE_SIGNATURE_ENV "VIAL_REQUIRE_SIGNATURE"
/* The image's signature, refusing one that does not match (VIAL_ESIGNATURE)
 * or a damaged slot, whatever the policy; messages start with source. */
int cli_trust_signature(struct vial_signature_info *out, const struct vial_image *image,
                        const char *source);
/* Whether the image may be used under the user's policy. Always: a
 * signature that does not match is refused. When a signature is required
 * (--require-signature) or the trusted-keys file lists keys: the metadata
 * hashes are verified (if open did not) and the image must carry a valid
 * signature, by a listed key if the file lists any. 0, or a negative code
 * with a message naming source and why: VIAL_ESIGNATURE, VIAL_EHASH,
 * VIAL_ECORRUPT for a damaged image, CLI_EUNTRUSTED for a refusal. */
int cli_trust_check(const struct vial_image *image, const char *source);

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
 * as vial sequence's capture does. The image is one vial just made itself:
 * the trust policy is not applied to it. Returns the program's exit status, 128 +
 * signal if it was killed, or a VIAL_EXIT_* code (message printed) if it
 * could not start. */
int cli_run_in_bubble(const char *image, const char *state_directory, char **argv);

/* What vial profile adds to a run: the file the interposer lists the image
 * files used in, and a time after which a program that reads nothing new
 * is stopped (0: until it exits). */
struct cli_run_extra {
    const char *profile;
    double until_idle;
    /* vial trace: the file the interposer writes one line per call to
     * (absolute), "json" or NULL (text), the functions wanted (comma list
     * or NULL: all), and declarations of hooks passed verbatim to the hook
     * engine as session lines "hook=DECLARATION". */
    const char *trace;
    const char *trace_format;
    const char *trace_calls;
    const char *const *hooks;
    int hook_count;
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
int cmd_trace(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_sign(int argc, char **argv);
int cmd_cache(int argc, char **argv);

#endif
