/* policy.c - isolation policies per path prefix (DESIGN.md "Isolation
 * policy"): the defaults, the manifest's rules on top, longest prefix wins. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vfs.h"

/* Adds or replaces the rule for prefix (absolute, normalized; "~" and "~/x"
 * take home; "~/.*" is the dot-entries pattern of home). */
int vial_policy_set(struct vial_policy *policy, const char *prefix, enum vial_isolation kind)
{
    char expanded[sizeof policy->rules[0].path];
    int dot_pattern = 0;
    if (prefix[0] == '~') {
        if (!policy->home[0])
            return -ENOENT; /* no home: rules about it do not apply */
        if (strcmp(prefix, "~/.*") == 0) {
            dot_pattern = 1;
            prefix = "~";
        }
        if ((size_t)snprintf(expanded, sizeof expanded, "%s%s", policy->home, prefix + 1) >=
            sizeof expanded)
            return -ENAMETOOLONG;
    } else if ((size_t)snprintf(expanded, sizeof expanded, "%s", prefix) >= sizeof expanded) {
        return -ENAMETOOLONG;
    }
    size_t length = strlen(expanded);
    if (length > 1 && expanded[length - 1] == '/')
        expanded[--length] = '\0';
    if (expanded[0] != '/')
        return -EINVAL;
    policy->has_full |= kind == VIAL_ISOLATION_FULL;
    for (int i = 0; i < policy->count; i++) {
        struct vial_policy_rule *rule = &policy->rules[i];
        if (rule->dot_pattern == dot_pattern && strcmp(rule->path, expanded) == 0) {
            rule->kind = kind;
            return 0;
        }
    }
    if (policy->count >= (int)(sizeof policy->rules / sizeof policy->rules[0]))
        return -ENOSPC;
    struct vial_policy_rule *rule = &policy->rules[policy->count++];
    memcpy(rule->path, expanded, length + 1);
    rule->length = length == 1 ? 0 : length; /* "/" matches every path */
    rule->dot_pattern = dot_pattern;
    rule->kind = kind;
    return 0;
}

void vial_policy_defaults(struct vial_policy *policy, const char *home)
{
    static const char *const passthrough[] = {"/tmp", "/var/tmp", "/dev", "/proc", "/sys", "/run"};
    memset(policy, 0, sizeof *policy);
    if (home && home[0] == '/' && strcmp(home, "/") != 0 && strlen(home) < sizeof policy->home)
        vial_vfs_normalize(policy->home, sizeof policy->home, home, NULL);
    vial_policy_set(policy, "/", VIAL_ISOLATION_WRITECOPY);
    for (size_t i = 0; i < sizeof passthrough / sizeof passthrough[0]; i++)
        vial_policy_set(policy, passthrough[i], VIAL_ISOLATION_PASSTHROUGH);
    if (policy->home[0]) {
        vial_policy_set(policy, "~", VIAL_ISOLATION_PASSTHROUGH);       /* documents */
        vial_policy_set(policy, "~/.*", VIAL_ISOLATION_WRITECOPY);      /* dotfiles */
    }
}

/* Whether rule covers the normalized absolute path of length `length`
 * (asked on every hooked call that leaves the fast path: no strncmp). */
static int rule_matches(const struct vial_policy_rule *rule, const char *path, size_t length)
{
    size_t n = rule->length;
    if (n && (n > length || (path[n] != '/' && path[n] != '\0') || path[n - 1] != rule->path[n - 1] ||
              memcmp(path, rule->path, n) != 0))
        return 0;
    if (!rule->dot_pattern)
        return 1;
    return path[n] == '/' && path[n + 1] == '.';
}

enum vial_isolation vial_policy_of(const struct vial_policy *policy, const char *path)
{
    enum vial_isolation kind = VIAL_ISOLATION_MERGED; /* no policy: image over host */
    size_t best = 0, length = strlen(path);
    for (int i = 0; policy && i < policy->count; i++) {
        const struct vial_policy_rule *rule = &policy->rules[i];
        size_t weight = rule->length + (size_t)rule->dot_pattern + 1;
        if (weight > best && rule_matches(rule, path, length)) {
            best = weight;
            kind = rule->kind;
        }
    }
    return kind;
}

int vial_policy_reaches_below(const struct vial_policy *policy, const char *directory)
{
    size_t n = strcmp(directory, "/") == 0 ? 0 : strlen(directory);
    for (int i = 0; policy && i < policy->count; i++) {
        const struct vial_policy_rule *rule = &policy->rules[i];
        if (rule->kind == VIAL_ISOLATION_PASSTHROUGH)
            continue;
        /* the dot pattern right under the directory only concerns names
         * starting with '.', which the fast path never passes */
        if (rule->length > n && strncmp(rule->path, directory, n) == 0 &&
            rule->path[n] == '/')
            return 1;
    }
    return 0;
}

int vial_policy_format(const struct vial_policy *policy, char *out, size_t size)
{
    size_t used = 0;
    for (int i = 0; i < policy->count; i++) {
        const struct vial_policy_rule *rule = &policy->rules[i];
        int n = snprintf(out + used, size - used, "%s%s %s%s", used ? ";" : "",
                         vial_isolation_name(rule->kind), rule->path,
                         rule->dot_pattern ? "/.*" : "");
        if (n < 0 || (size_t)n >= size - used)
            return -ENAMETOOLONG;
        used += (size_t)n;
    }
    return 0;
}

int vial_policy_parse(struct vial_policy *policy, const char *text, const char *home)
{
    memset(policy, 0, sizeof *policy);
    if (home && home[0] == '/' && strlen(home) < sizeof policy->home)
        snprintf(policy->home, sizeof policy->home, "%s", home);
    while (*text) {
        size_t n = strcspn(text, ";");
        char rule[PATH_MAX + 32];
        if (n >= sizeof rule)
            return -ENAMETOOLONG;
        memcpy(rule, text, n);
        rule[n] = '\0';
        text += n + (text[n] == ';');
        char *space = strchr(rule, ' ');
        if (!space)
            return -EINVAL;
        *space = '\0';
        enum vial_isolation kind = vial_isolation_from_name(rule);
        char *path = space + 1;
        size_t length = strlen(path);
        int dot = length >= 3 && strcmp(path + length - 3, "/.*") == 0;
        if (!kind || path[0] != '/')
            return -EINVAL;
        if (dot) {
            if (length == 3)
                return -EINVAL;
            path[length - 3] = '\0';
        }
        if (policy->count >= (int)(sizeof policy->rules / sizeof policy->rules[0]))
            return -ENOSPC;
        struct vial_policy_rule *r = &policy->rules[policy->count++];
        policy->has_full |= kind == VIAL_ISOLATION_FULL;
        snprintf(r->path, sizeof r->path, "%s", path);
        r->length = strcmp(path, "/") == 0 ? 0 : strlen(path);
        r->dot_pattern = dot;
        r->kind = kind;
    }
    return 0;
}
