/* main.c - the `vial` command: dispatch, help, shared helpers. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define VIAL_VERSION_STRING "0.1.0"

const struct vial_command vial_commands[] = {
    {"pack",
     "ROOT -o OUT.vial [--manifest FILE] [--registry FILE] [--profile FILE] [--prefix PATH] "
     "[-l LEVEL] [-j THREADS] [--owner UID:GID] [-v]",
     "pack a directory tree into an image",
     "ROOT becomes the root of the application's file system view: ROOT/usr/bin/app is\n"
     "seen as /usr/bin/app. Without --manifest the package is named after ROOT.\n"
     "Refused, naming the path: device nodes, sockets, FIFOs, unreadable files, names\n"
     "that are not UTF-8 or hold control characters, symlinks climbing above '/'.\n"
     "  -p, --prefix PATH     place ROOT at PATH inside the image (e.g. opt/app)\n"
     "  -o, --output FILE     image to write (atomically; nothing is left on failure)\n"
     "  -m, --manifest FILE   package manifest (INI; see docs/manifest.md)\n"
     "  -r, --registry FILE   the package's registry values, in the text hive format of\n"
     "                        docs/registry.md (the manifest's [registry] and [env] win)\n"
     "      --profile FILE    a launch profile from 'vial profile': those files' chunks go\n"
     "                        first, and the list is stored in the image\n"
     "  -l, --level N         zstd level 1..19 (default 12)\n"
     "  -j, --threads N       compression threads (default: every core)\n"
     "      --owner UID:GID   record this owner for every entry\n"
     "  -v, --verbose         print a summary when done\n"
     "The same tree always gives a byte-identical image, whatever -j.",
     cmd_pack},
    {"import", "FILE... -o OUT.vial [--name NAME] [--version VERSION] [--save-manifest FILE] [-l LEVEL] [-j N]",
     "make an image of Debian packages (.deb) or tar archives",
     "Unpacks each FILE (a .deb through dpkg-deb, anything else as a tar archive in any\n"
     "compression tar reads) into one tree and packs it. The manifest is generated: name,\n"
     "version, summary and vendor from the first .deb's control fields (a tar archive:\n"
     "named after its file, version 0), one entry point per application .desktop file\n"
     "and per executable in usr/bin, usr/games, usr/local/bin, bin and opt/*/bin.\n"
     "Maintainer scripts are not run (that is 'vial sequence'); every entry is recorded\n"
     "as owned by root.\n"
     "  -o, --output FILE       image to write (atomically)\n"
     "      --name, --version   override the package's name and version\n"
     "      --save-manifest F   write the generated manifest to F, to edit and re-pack\n"
     "                          the tree with 'vial pack --manifest F'\n"
     "  -l, --level N, -j, --threads N   as for 'vial pack'",
     cmd_import},
    {"sequence", "-o OUT.vial --name NAME --version VERSION [--manifest M] [--exclude PATH]... [--profile P] -- INSTALLER [ARGS]",
     "run an installer in a capture bubble and pack what it installed",
     "INSTALLER (and everything it starts) runs in the bubble of an empty package: its\n"
     "writes outside /tmp, /dev, /proc, /sys, /run and the documents land in a private\n"
     "capture, never on the host. The capture, without deletions of host files and the\n"
     "excluded paths, is packed with every entry owned by root; GSettings the installer\n"
     "wrote become the package's registry. Excluded by default: tmp, var/tmp,\n"
     "var/cache, var/log, var/lib/apt, var/lib/dpkg, var/backups, etc/ld.so.cache,\n"
     "home, root, run, dev, proc, sys, */__pycache__ (docs/sequencer.md).\n"
     "  --exclude PATH      also leave out PATH (a shell pattern of the image path)\n"
     "  --manifest M        use M instead of a generated manifest (entry points from\n"
     "                      .desktop files and bin directories, as vial import)\n"
     "  --save-manifest F   write the manifest used to F\n"
     "  --profile P         a launch profile ('vial profile' of an earlier capture):\n"
     "                      its files are placed first, as 'vial pack --profile' does\n"
     "  -l, --level N       zstd level (default 12)\n"
     "Statically linked and set-id programs the installer runs are not captured:\n"
     "their writes would reach the host (see docs/running.md).",
     cmd_sequence},
    {"profile", "IMAGE [ENTRY] -o PROFILE [--until-idle SECONDS] [-- ARGS...]",
     "record which image files an application reads at launch, in order",
     "Runs ENTRY as 'vial run' does and writes PROFILE: the virtual path of every image\n"
     "file its processes opened, executed or loaded, first use first. 'vial pack\n"
     "--profile PROFILE' then places those files first in the image, so that a launch\n"
     "over HTTP needs a few large range requests.\n"
     "  -o, --output PROFILE    the profile to write (a text file, one path per line)\n"
     "  --until-idle SECONDS    stop the program (SIGTERM to its process group) once it\n"
     "                          has read no new image file for SECONDS",
     cmd_profile},
    {"trace", "IMAGE [ENTRY] [--calls LIST] [--hook DECLARATION]... [-o FILE] [--json] [-- ARGS...]",
     "run an application and list every call the interposer intercepts",
     "Runs ENTRY as 'vial run' does; the interposer of every process of the bubble\n"
     "writes one line per intercepted call: pid/tid, function, decoded arguments, the\n"
     "virtual path and where it really went (view, delta or host path), the result or\n"
     "-1 and the errno name, the time spent. A summary per function (calls, errors,\n"
     "time) follows. The format is in docs/trace.md.\n"
     "  -o, --output FILE   write the trace and its summary to FILE (default: stderr,\n"
     "                      once the program has ended; never the program's stdout)\n"
     "  --calls LIST        only these functions, comma-separated (open,stat,...)\n"
     "  --json              one JSON object per line (JSON Lines), summary included\n"
     "  --hook DECLARATION  also trace a library function declared as for a manifest's\n"
     "                      [hook] section (passed to the hook engine; needs a build\n"
     "                      with the hook engine)\n"
     "The exit status is the program's.",
     cmd_trace},
    {"run", "[--fresh] [--require-signature] IMAGE [ENTRY] [-- ARGS...]",
     "run an entry point of a package, without installing it",
     "Starts ENTRY (default: the manifest's default entry) inside the package's bubble:\n"
     "it sees the image's files at their paths, merged over the host's. Its writes to\n"
     "the image, to /usr, /etc and the other system paths, and to the user's dotfiles\n"
     "(~/.config, ~/.local/share, ~/.cache, ...) land in the user's state of the package\n"
     "(see 'vial state'); documents, /tmp, /dev, /proc, /sys and /run are the host's. The\n"
     "manifest's [isolation] section changes this per path (docs/manifest.md).\n"
     "  --fresh   a state group run for the first time starts empty instead of from\n"
     "            the newest state group of the package\n"
     "  --require-signature   refuse the image unless it carries a valid signature (by\n"
     "            a key of the trusted-keys file, if it lists any; see 'vial help sign')\n"
     "IMAGE may be a URL (https://, http://, file://): the image is streamed, fetching\n"
     "what the program opens when it opens it into the shared cache, and runs offline\n"
     "from what is cached (docs/streaming.md).\n"
     "The exit status is the program's. VIAL_LOG=debug (VIAL_LOG_FILE=PATH) logs every\n"
     "redirected call.",
     cmd_run},
    {"exec", "[--fresh] [--require-signature] IMAGE -- PROGRAM [ARGS...]", "run any program inside a package's bubble",
     "PROGRAM is found through PATH inside the bubble (image files first where the image\n"
     "has them). Writes land as for 'vial run'; --fresh and --require-signature too.",
     cmd_exec},
    {"shell", "[--fresh] [--require-signature] IMAGE", "open $SHELL (or /bin/sh) inside a package's bubble",
     "--fresh and --require-signature as for 'vial run'.", cmd_shell},
    {"state", "[--json]", "list the packages whose state the user has changed, with sizes",
     "One line per package and state group: DATA/vial/state/PACKAGE/GROUP\n"
     "(DATA is $XDG_DATA_HOME, default ~/.local/share).\n"
     "  --json   machine-readable output",
     cmd_state},
    {"diff", "IMAGE", "list what the user changed in a package: A added, M modified, D deleted",
     "Paths are virtual paths (as the application sees them); a directory the user\n"
     "created ends with '/'. Changes to the package's registry follow as\n"
     "registry:KEY/NAME (registry:KEY/ for a deleted key; see 'vial reg').",
     cmd_diff},
    {"reset", "IMAGE [--yes]", "delete the user's changes to a package",
     "Deletes the state group of the package the image belongs to; other versions keep\n"
     "theirs. Asks on a terminal; elsewhere --yes is required.",
     cmd_reset},
    {"reg", "IMAGE ls|get|set|rm|export|import [KEY[/NAME]] [VALUE|FILE] [--layer L] [--type T] [--json]",
     "show and change a package's registry (environment, GSettings)",
     "The registry holds the package's environment variables (key env, env/prepend,\n"
     "env/append, env/unset) and the GSettings of its GLib applications (key\n"
     "gsettings/org/gnome/...); values are GVariant text ('24h', uint32 5, @as []).\n"
     "Changes go to the user's layer, per package and state group; the package's layer\n"
     "is in the image. See docs/registry.md.\n"
     "  ls [KEY]             subkeys (NAME/) and values (NAME = VALUE) of KEY\n"
     "  get KEY/NAME         a value\n"
     "  set KEY/NAME VALUE   set a value (its type: --type, else the current value's,\n"
     "                       else what VALUE says; a bare word is a string)\n"
     "  rm KEY/NAME | KEY/   delete a value or a whole key for this user; with\n"
     "                       --layer user, forget the user's change instead (the\n"
     "                       package's value shows again)\n"
     "  export [KEY]         the values as text (with --layer user: the changes,\n"
     "                       deletions included)\n"
     "  import FILE|-        apply a text export to the user's layer, atomically\n"
     "  --layer L   user, package or all (default: all, what the application sees)\n"
     "  --json      machine-readable output (ls, get)\n"
     "'vial reset IMAGE' deletes every change, the registry's included.",
     cmd_reg},
    {"cache", "stats [IMAGE] [--json] | gc --max SIZE | clear [--yes] | prefetch URL",
     "show, bound or empty the per-user cache of chunks and materialized files",
     "The cache is CACHE = $XDG_CACHE_HOME/vial (default ~/.cache/vial), shared by every\n"
     "package and version; its layout is in docs/cache.md. What the images of running\n"
     "applications use (their chunks, views, mirrors) is never removed.\n"
     "  stats [IMAGE]     chunks, materialized files, views, mirrored images, what the\n"
     "                    fetch agent fetched; with IMAGE (an image or a mirror): its\n"
     "                    size, its chunks in the cache, and the files of it the\n"
     "                    applications opened with the compressed size of their chunks\n"
     "      --json        machine-readable output\n"
     "  gc --max SIZE     bound chunks and materialized files to SIZE (500M, 2G, 1024K,\n"
     "                    or bytes): drops the views of images not running, then the\n"
     "                    least recently used entries (by atime: coarse under relatime),\n"
     "                    and temporary files older than an hour\n"
     "  clear [--yes]     remove everything no running application uses; asks on a\n"
     "                    terminal, elsewhere --yes is required\n"
     "  prefetch URL      fetch every chunk of a streamed image for offline use",
     cmd_cache},
    {"desktop", "install|remove IMAGE | list", "publish a package's entry points to the desktop menu",
     "install writes one freedesktop .desktop file per entry point into\n"
     "$XDG_DATA_HOME/applications (vial-PACKAGE-ENTRY.desktop) that starts it with\n"
     "'vial run IMAGE ENTRY', and copies the entry's icon out of the image; it replaces\n"
     "what an earlier install of the package wrote. remove deletes them; list shows\n"
     "what is installed.",
     cmd_desktop},
    {"info", "IMAGE [--json]", "show a package's name, version, sizes, signer and entry points",
     "Shows who signed the image without applying the trust policy, so that a key can\n"
     "be checked before it is trusted; a signature that does not match is refused.\n"
     "  --json   machine-readable output, with the signing key in full and every section's\n"
     "           type, offset and length",
     cmd_info},
    {"ls", "IMAGE [PATH] [-l]", "list a directory of an image",
     "  -l   long listing: mode, owner, size, time, symlink target", cmd_ls},
    {"cat", "IMAGE PATH", "write a file of an image to standard output",
     "Symlinks are followed inside the image.", cmd_cat},
    {"extract", "IMAGE DIR", "extract an image into a new or empty directory",
     "Restores modes, times, symlinks, hard links and, where permitted, owners and\n"
     "extended attributes. Never writes outside DIR, whatever the image says.",
     cmd_extract},
    {"verify", "IMAGE", "check an image's structure, every chunk hash and its signature",
     "Exit status 0 if the image is intact, 3 if it is damaged or its signature does\n"
     "not match, 4 if the trust policy refuses it (see 'vial help sign').",
     cmd_verify},
    {"keygen", "-o KEYFILE", "make a key pair for signing images",
     "Writes the secret key to KEYFILE (mode 0600; keep it off the machines that run\n"
     "images) and the public key to KEYFILE.pub, one line each:\n"
     "  vial-ed25519-secret HEX   (the 32-byte Ed25519 seed)\n"
     "  vial-ed25519-public HEX COMMENT\n"
     "Never replaces an existing file. See docs/trust.md.\n"
     "  -o, --output KEYFILE   where to write the keys",
     cmd_keygen},
    {"sign", "IMAGE --key KEYFILE", "sign an image with a key made by 'vial keygen'",
     "Checks the whole image first (metadata hashes, structure, every chunk) and refuses\n"
     "to sign a damaged one (exit 3); then writes the Ed25519 signature of its root hash\n"
     "into the header's signature slot, in place (the slot is outside what the root hash\n"
     "covers; nothing else changes). A signature the image had is replaced.\n"
     "  -k, --key KEYFILE   the secret key (a file only its owner may read)\n"
     "\n"
     "Trust policy, for every command that uses an image ('vial info' only reports):\n"
     "- an image whose signature does not match is always refused (exit 3);\n"
     "- if $XDG_CONFIG_HOME/vial/trusted-keys (default ~/.config/vial/trusted-keys)\n"
     "  lists keys (KEYFILE.pub lines; '#' comments), images must be signed by one of\n"
     "  them (exit 4 otherwise);\n"
     "- 'vial --require-signature COMMAND ...' (or VIAL_REQUIRE_SIGNATURE=1) refuses\n"
     "  unsigned images (exit 4); with no trusted keys listed, any valid signature\n"
     "  passes.\n"
     "Under the policy, metadata hashes are checked at every open; chunks are checked\n"
     "when used. See docs/trust.md.",
     cmd_sign},
    {"help", "[COMMAND]", "show help for vial or one command", "", cmd_help},
    {NULL, NULL, NULL, NULL, NULL},
};

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("vial: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_fail(int rc)
{
    cli_error("%s", vial_error_last()[0] ? vial_error_last() : vial_strerror(rc));
    if (rc == CLI_EUNTRUSTED)
        return VIAL_EXIT_UNTRUSTED;
    return rc == VIAL_ECORRUPT || rc == VIAL_EFORMAT || rc == VIAL_EHASH || rc == VIAL_ESIGNATURE
               ? VIAL_EXIT_CORRUPT
               : VIAL_EXIT_FAILURE;
}

static const struct vial_command *find_command(const char *name)
{
    for (const struct vial_command *c = vial_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

int cli_usage(const char *command, const char *fmt, ...)
{
    va_list ap;
    const struct vial_command *c = find_command(command);
    fputs("vial: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: vial %s %s\n(see 'vial help %s')\n", command, c ? c->usage : "",
            command);
    return VIAL_EXIT_USAGE;
}

static void print_command_help(const struct vial_command *c)
{
    printf("usage: vial %s %s\n\n%s.\n", c->name, c->usage, c->summary);
    if (c->details[0])
        printf("\n%s\n", c->details);
}

int cli_wants_help(const char *command, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_command_help(find_command(command));
            return 1;
        }
    }
    return 0;
}

int cli_confirm(const char *what, const char *question, ...)
{
    if (!isatty(STDIN_FILENO)) {
        cli_error("not a terminal: add --yes to %s", what);
        return VIAL_EXIT_USAGE;
    }
    va_list ap;
    va_start(ap, question);
    vfprintf(stderr, question, ap);
    va_end(ap);
    fputs(" [y/N] ", stderr);
    char answer[16] = "";
    if (!fgets(answer, sizeof answer, stdin) || (answer[0] != 'y' && answer[0] != 'Y')) {
        cli_error("nothing deleted");
        return VIAL_EXIT_FAILURE;
    }
    return VIAL_EXIT_OK;
}

void cli_format_size(char *out, size_t size, uint64_t bytes)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = (double)bytes;
    unsigned unit = 0;
    while (value >= 1024 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024;
        unit++;
    }
    if (unit == 0)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else
        snprintf(out, size, "%.1f %s", value, units[unit]);
}

static void print_overview(void)
{
    printf("usage: vial [--require-signature] COMMAND [ARGS]\n\n"
           "Vial packs an application into one compressed, streamable image and runs it\n"
           "without installing it.\n\ncommands:\n");
    for (const struct vial_command *c = vial_commands; c->name; c++)
        printf("  %-9s %s\n", c->name, c->summary);
    printf("\n'vial help COMMAND' or 'vial COMMAND --help' shows a command's options.\n"
           "Every IMAGE may also be a URL (https://, http://, file://): the image is then\n"
           "streamed through the user's fetch agent (docs/streaming.md).\n"
           "--require-signature: use only signed images, by a key of the trusted-keys file\n"
           "if it lists any (VIAL_REQUIRE_SIGNATURE=1 does the same; see 'vial help sign'\n"
           "and docs/trust.md).\n"
           "exit status: 0 success, 1 failure, 2 usage error, 3 damaged or invalid image\n"
           "(or a signature that does not match), 4 refused by the trust policy.\n"
           "The image format is specified in docs/image-format.md, the manifest in\n"
           "docs/manifest.md.\n");
}

int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        print_overview();
        return VIAL_EXIT_OK;
    }
    const struct vial_command *c = find_command(argv[1]);
    if (!c)
        return cli_usage("help", "unknown command '%s'", argv[1]);
    print_command_help(c);
    return VIAL_EXIT_OK;
}

int main(int argc, char **argv)
{
    /* options before the command: in the environment, so that they reach
     * every command and what it starts (vial profile's run, a shell's vial) */
    while (argc > 1 && strcmp(argv[1], "--require-signature") == 0) {
        setenv(CLI_REQUIRE_SIGNATURE_ENV, "1", 1);
        argv[1] = argv[0];
        argv++;
        argc--;
    }
    if (argc < 2) {
        print_overview();
        return VIAL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        print_overview();
        return VIAL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("vial %s (image format %u.%u)\n", VIAL_VERSION_STRING, VIAL_IMAGE_VERSION_MAJOR,
               VIAL_IMAGE_VERSION_MINOR);
        return VIAL_EXIT_OK;
    }
    const struct vial_command *c = find_command(argv[1]);
    if (!c) {
        cli_error("unknown command '%s' (try 'vial help')", argv[1]);
        return VIAL_EXIT_USAGE;
    }
    if (c->run != cmd_help && cli_wants_help(c->name, argc - 1, argv + 1))
        return VIAL_EXIT_OK;
    return c->run(argc - 1, argv + 1);
}
