/* cleanup.c: registrator's service ID pattern, matched by hand (POSIX regex has no lazy
 * quantifier): try every ':' from the left as the end of the host part, and accept the first
 * whose remainder is <name>:<digits>[:udp] with name = [a-zA-Z0-9][a-zA-Z0-9_.-]+. */
#include "cleanup.h"

#include <ctype.h>
#include <string.h>

static int name_char(char c) { return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-'; }

/* rest = "<name>:<digits>[:udp]" exactly? */
static int rest_ok(const char *rest, size_t *name_len)
{
    const char *p = rest;
    if (!isalnum((unsigned char)*p))
        return 0;
    p++;
    if (!name_char(*p))
        return 0;
    while (name_char(*p))
        p++;
    *name_len = (size_t)(p - rest);
    if (*p++ != ':')
        return 0;
    if (!isdigit((unsigned char)*p))
        return 0;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == '\0' || strcmp(p, ":udp") == 0;
}

int cleanup_parse_id(const char *id, size_t *host_len, size_t *name_off, size_t *name_len)
{
    if (!id || !*id)
        return 0;
    for (const char *c = id + 1; *c && c[-1]; c++) { /* host part has at least one char */
        if (*c != ':')
            continue;
        size_t nl;
        if (rest_ok(c + 1, &nl)) {
            *host_len = (size_t)(c - id);
            *name_off = *host_len + 1;
            *name_len = nl;
            return 1;
        }
    }
    return 0;
}

int cleanup_is_ours(const char *id, const char *node)
{
    size_t hl, no, nl;
    if (!node || !cleanup_parse_id(id, &hl, &no, &nl))
        return 0;
    return strlen(node) == hl && strncmp(id, node, hl) == 0;
}
