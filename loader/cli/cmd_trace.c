/*
 * cmd_trace.c - `vial trace`: runs an application as `vial run` does, with
 * the interposer writing one line per intercepted call to a trace file
 * (loader/preload/trace.c writes them; docs/trace.md is the format), then
 * prints a summary per function computed from that file.
 *
 * Without -o the file is a temporary one, copied to stderr at the end:
 * the trace never goes to the application's stdout.
 */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define TRACE_MAX_HOOKS 64
#define TRACE_MAX_FUNCTIONS 256

struct function_total {
    char name[128];
    unsigned long calls, errors;
    double micros;
};

struct totals {
    struct function_total functions[TRACE_MAX_FUNCTIONS];
    int count;
    unsigned long lines, unparsed;
};

static void count_call(struct totals *t, const char *name, size_t length, int failed, double micros)
{
    struct function_total *f = NULL;
    if (length >= sizeof t->functions[0].name)
        length = sizeof t->functions[0].name - 1;
    for (int i = 0; i < t->count && !f; i++)
        if (strncmp(t->functions[i].name, name, length) == 0 && t->functions[i].name[length] == '\0')
            f = &t->functions[i];
    if (!f && t->count < TRACE_MAX_FUNCTIONS) {
        f = &t->functions[t->count++];
        memcpy(f->name, name, length);
        f->name[length] = '\0';
    }
    if (!f)
        return;
    f->calls++;
    f->errors += failed != 0;
    f->micros += micros;
}

/* A text line: "PID/TID FUNCTION(ARGS) = RESULT [ERRNO (text)] [path ...] Nus".
 * Strings in ARGS are quoted with backslash escapes, so parentheses and
 * '=' inside them are skipped. Returns 0 if the line is not one. */
static int parse_text_line(struct totals *t, const char *line)
{
    const char *name = strchr(line, ' ');
    if (!name)
        return 0;
    name++;
    const char *open = strchr(name, '(');
    if (!open)
        return 0;
    int depth = 0, quoted = 0;
    const char *p = open;
    for (; *p; p++) {
        if (quoted) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                quoted = 0;
        } else if (*p == '"') {
            quoted = 1;
        } else if (*p == '(') {
            depth++;
        } else if (*p == ')' && --depth == 0) {
            break;
        }
    }
    if (*p != ')' || strncmp(p, ") = ", 4) != 0)
        return 0;
    int failed = strncmp(p + 4, "-1 E", 4) == 0;
    const char *last = strrchr(line, ' ');
    char *end;
    double micros = last ? strtod(last + 1, &end) : 0;
    if (!last || strncmp(end, "us", 2) != 0)
        return 0;
    count_call(t, name, (size_t)(open - name), failed, micros);
    return 1;
}

static int parse_json_line(struct totals *t, const char *line)
{
    cJSON *o = cJSON_Parse(line);
    const cJSON *function = cJSON_GetObjectItemCaseSensitive(o, "function");
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(o, "errno");
    const cJSON *duration = cJSON_GetObjectItemCaseSensitive(o, "duration_us");
    int ok = cJSON_IsString(function) && cJSON_IsNumber(duration);
    if (ok)
        count_call(t, function->valuestring, strlen(function->valuestring), cJSON_IsString(error),
                   duration->valuedouble);
    cJSON_Delete(o);
    return ok;
}

static int by_time(const void *a, const void *b)
{
    const struct function_total *x = a, *y = b;
    return x->micros < y->micros ? 1 : x->micros > y->micros ? -1 : strcmp(x->name, y->name);
}

/* Reads the trace, copying it to copy (if not NULL), and adds it up. */
static int read_trace(struct totals *t, const char *path, int json, FILE *copy)
{
    FILE *in = fopen(path, "r");
    if (!in)
        return vial_error_set(-errno, "cannot read the trace %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t size = 0;
    ssize_t n;
    while ((n = getline(&line, &size, in)) > 0) {
        if (copy)
            fwrite(line, 1, (size_t)n, copy);
        if (line[n - 1] == '\n')
            line[n - 1] = '\0';
        t->lines++;
        if (!(json ? parse_json_line(t, line) : parse_text_line(t, line)))
            t->unparsed++;
    }
    free(line);
    fclose(in);
    return 0;
}

static void print_summary(FILE *out, struct totals *t, int json)
{
    unsigned long calls = 0, errors = 0;
    double micros = 0;
    qsort(t->functions, (size_t)t->count, sizeof t->functions[0], by_time);
    for (int i = 0; i < t->count; i++) {
        calls += t->functions[i].calls;
        errors += t->functions[i].errors;
        micros += t->functions[i].micros;
    }
    if (json) {
        cJSON *o = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(o, "summary");
        for (int i = 0; i < t->count; i++) {
            cJSON *f = cJSON_CreateObject();
            cJSON_AddStringToObject(f, "function", t->functions[i].name);
            cJSON_AddNumberToObject(f, "calls", (double)t->functions[i].calls);
            cJSON_AddNumberToObject(f, "errors", (double)t->functions[i].errors);
            cJSON_AddNumberToObject(f, "total_us", t->functions[i].micros);
            cJSON_AddItemToArray(list, f);
        }
        cJSON_AddNumberToObject(o, "calls", (double)calls);
        cJSON_AddNumberToObject(o, "errors", (double)errors);
        cJSON_AddNumberToObject(o, "total_us", micros);
        char *text = cJSON_PrintUnformatted(o);
        if (text)
            fprintf(out, "%s\n", text);
        free(text);
        cJSON_Delete(o);
        return;
    }
    fprintf(out, "%% time     total us    us/call      calls     errors function\n");
    fprintf(out, "------ ------------ ---------- ---------- ---------- ----------------\n");
    for (int i = 0; i < t->count; i++) {
        const struct function_total *f = &t->functions[i];
        fprintf(out, "%6.2f %12.1f %10.2f %10lu %10lu %s\n", micros > 0 ? 100 * f->micros / micros : 0,
                f->micros, f->calls ? f->micros / (double)f->calls : 0, f->calls, f->errors, f->name);
    }
    fprintf(out, "------ ------------ ---------- ---------- ---------- ----------------\n");
    fprintf(out, "100.00 %12.1f %10.2f %10lu %10lu total\n", micros, calls ? micros / (double)calls : 0,
            calls, errors);
    if (t->unparsed)
        fprintf(out, "(%lu lines of the trace were not understood)\n", t->unparsed);
}

static int valid_calls(const char *list)
{
    if (!*list)
        return 0;
    for (const char *p = list; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != ',')
            return 0;
    return 1;
}

int cmd_trace(int argc, char **argv)
{
    const char *output = NULL;
    const char *hooks[TRACE_MAX_HOOKS];
    struct cli_run_extra extra = {0};
    char *run_argv[argc + 1];
    int run_argc = 0, json = 0;
    run_argv[run_argc++] = "run";
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
            output = argv[++i];
        } else if (strcmp(argv[i], "--json") == 0) {
            json = 1;
        } else if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
            extra.trace_calls = argv[++i];
            if (!valid_calls(extra.trace_calls))
                return cli_usage("trace", "--calls takes function names separated by commas, not '%s'",
                                 extra.trace_calls);
        } else if (strcmp(argv[i], "--hook") == 0 && i + 1 < argc) {
            const char *declaration = argv[++i];
            struct vial_hook checked;
            if (!*declaration || strchr(declaration, '\n'))
                return cli_usage("trace", "--hook takes one declaration on one line");
            if (vial_hook_parse(&checked, declaration) < 0)
                return cli_usage("trace", "--hook '%s': %s", declaration, vial_error_last());
            if (extra.hook_count == TRACE_MAX_HOOKS)
                return cli_usage("trace", "at most %d --hook declarations", TRACE_MAX_HOOKS);
            hooks[extra.hook_count++] = declaration;
        } else if (strcmp(argv[i], "--fresh") == 0 || strcmp(argv[i], "--require-signature") == 0) {
            run_argv[run_argc++] = argv[i];
        } else if (argv[i][0] == '-') {
            return cli_usage("trace", "unknown option '%s'", argv[i]);
        } else {
            run_argv[run_argc++] = argv[i];
        }
    }
    for (; i < argc; i++)
        run_argv[run_argc++] = argv[i];
    run_argv[run_argc] = NULL;
    extra.hooks = hooks;
    extra.trace_format = json ? "json" : "text";

    char file[PATH_MAX + 32], absolute[PATH_MAX];
    int fd;
    if (output) {
        snprintf(file, sizeof file, "%s", output);
        fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(file, sizeof file, "%s/vial-trace-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        fd = mkstemp(file);
    }
    if (fd < 0)
        return cli_fail(vial_error_set(-errno, "cannot create the trace %s: %s", file, strerror(errno)));
    close(fd);
    if (!realpath(file, absolute)) {
        int error = errno;
        if (!output)
            unlink(file);
        return cli_fail(vial_error_set(-error, "%s: %s", file, strerror(error)));
    }
    extra.trace = absolute;
    int status = cli_run_command("run", run_argc, run_argv, &extra);

    struct totals *totals = calloc(1, sizeof *totals);
    if (!totals) {
        if (!output)
            unlink(absolute);
        return cli_fail(vial_error_set(-ENOMEM, "out of memory"));
    }
    int rc = read_trace(totals, absolute, json, output ? NULL : stderr);
    if (rc == 0 && output) {
        FILE *out = fopen(absolute, "a");
        if (!out) {
            rc = vial_error_set(-errno, "cannot write %s: %s", output, strerror(errno));
        } else {
            print_summary(out, totals, json);
            if (fclose(out) != 0)
                rc = vial_error_set(-EIO, "cannot write %s", output);
        }
        if (rc == 0)
            fprintf(stderr, "vial: %s: %lu calls traced, summary at the end\n", output, totals->lines);
    } else if (rc == 0) {
        print_summary(stderr, totals, json);
    }
    if (!output)
        unlink(absolute);
    free(totals);
    if (rc < 0)
        return cli_fail(rc);
    return status;
}
