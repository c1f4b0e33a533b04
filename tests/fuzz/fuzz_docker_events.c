/* fuzz_docker_events.c: libFuzzer target for the Docker event stream as the agent reads it
 * (GET /events): the line splitter (lib/docker_lines.c), the per-line JSON decode the client
 * does, and the reconnect point taken from each event (docker_event_since, lib/docker_endpoint.c).
 *
 * The input is the raw body of the stream. It is fed twice: once as one chunk and once cut
 * into chunks of 1..16 bytes (sizes taken from the input itself), as a socket may deliver it.
 * Invariants besides the sanitizers:
 *   - both feeds hand out the same lines in the same order (chunking never changes what the
 *     agent sees), none empty, none longer than max_line, and none containing '\n';
 *   - the "since" value of an event is "<seconds>.<9 digits>", digits only.
 * Seeds: tests/fuzz/corpus-fuzz_docker_events/. Built and run by scripts/fuzz.sh. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_client.h"

#define MAX_LINE 512

typedef struct {
    char **lines;
    size_t n, cap;
} lines_t;

static void check_since(const char *s)
{
    const char *dot = strchr(s, '.');
    if (!dot || dot == s || strlen(dot + 1) != 9) { fprintf(stderr, "since %s\n", s); abort(); }
    for (const char *p = s; *p; p++)
        if (p != dot && (*p < '0' || *p > '9')) { fprintf(stderr, "since %s\n", s); abort(); }
}

static int on_line(const char *line, size_t len, void *data)
{
    lines_t *l = data;
    if (len == 0 || len > MAX_LINE || memchr(line, '\n', len)) {
        fprintf(stderr, "bad line of %zu bytes\n", len);
        abort();
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 16;
        l->lines = realloc(l->lines, l->cap * sizeof *l->lines);
        if (!l->lines) abort();
    }
    l->lines[l->n++] = strndup(line, len);
    json_t *j = json_loadb(line, len, 0, NULL);
    if (json_is_object(j)) {
        char since[64];
        if (docker_event_since(j, since, sizeof since) == 0) check_since(since);
    }
    json_decref(j);
    return 0;
}

static void lines_free(lines_t *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->lines[i]);
    free(l->lines);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    lines_t whole = {0}, cut = {0};
    docker_lines_t dl;

    docker_lines_init(&dl, MAX_LINE);
    docker_lines_feed(&dl, in, size, on_line, &whole);
    docker_lines_free(&dl);

    docker_lines_init(&dl, MAX_LINE);
    for (size_t off = 0, k = 0; off < size; k++) {
        size_t n = (size_t)(data[k % size] % 16) + 1;
        if (n > size - off) n = size - off;
        docker_lines_feed(&dl, in + off, n, on_line, &cut);
        off += n;
    }
    docker_lines_free(&dl);

    if (whole.n != cut.n) { fprintf(stderr, "%zu lines whole, %zu cut\n", whole.n, cut.n); abort(); }
    for (size_t i = 0; i < whole.n; i++)
        if (strcmp(whole.lines[i], cut.lines[i])) { fprintf(stderr, "line %zu differs\n", i); abort(); }
    lines_free(&whole);
    lines_free(&cut);
    return 0;
}
