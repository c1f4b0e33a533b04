/* owners.c: see owners.h. Per ID a small array of claims kept sorted by (since, container ID);
 * the first claim holds the ID. IDs claimed by more than one container are rare, so the arrays
 * are tiny and a linear insert is the simplest correct thing. */
#include "owners.h"

#include "strmap.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *ctr;
    uint64_t since;
} claim_t;

typedef struct {
    claim_t *c;
    size_t n;
} claims_t;

struct owners {
    strmap_t *ids; /* id -> claims_t */
};

owners_t *owners_new(void)
{
    owners_t *o = calloc(1, sizeof *o);
    if (o && !(o->ids = strmap_new())) {
        free(o);
        return NULL;
    }
    return o;
}

static void claims_free(claims_t *cl)
{
    for (size_t i = 0; i < cl->n; i++)
        free(cl->c[i].ctr);
    free(cl->c);
    free(cl);
}

void owners_free(owners_t *o)
{
    if (!o)
        return;
    for (strmap_iter_t it = strmap_iter(o->ids); strmap_iter_next(&it);)
        claims_free(it.value);
    strmap_free(o->ids);
    free(o);
}

static int before(uint64_t since_a, const char *ctr_a, uint64_t since_b, const char *ctr_b)
{
    if (since_a != since_b)
        return since_a < since_b;
    return strcmp(ctr_a, ctr_b) < 0;
}

static void claims_remove(claims_t *cl, size_t i)
{
    free(cl->c[i].ctr);
    memmove(&cl->c[i], &cl->c[i + 1], (cl->n - i - 1) * sizeof *cl->c);
    cl->n--;
}

const char *owners_claim(owners_t *o, const char *id, const char *ctr, uint64_t since, int *is_new)
{
    if (is_new)
        *is_new = 0;
    claims_t *cl = strmap_get(o->ids, id);
    if (!cl) {
        cl = calloc(1, sizeof *cl);
        if (!cl || strmap_put(o->ids, id, cl) != 0) {
            free(cl);
            return NULL;
        }
    }
    claim_t mine = {NULL, since};
    for (size_t i = 0; i < cl->n; i++) {
        if (!strcmp(cl->c[i].ctr, ctr)) {
            if (cl->c[i].since == since)
                return cl->c[0].ctr;
            mine.ctr = cl->c[i].ctr; /* re-sort under the new start time */
            cl->c[i].ctr = NULL;
            claims_remove(cl, i);
            break;
        }
    }
    if (!mine.ctr) {
        if (!(mine.ctr = strdup(ctr)))
            return cl->n ? cl->c[0].ctr : NULL;
        if (is_new)
            *is_new = 1;
    }
    claim_t *grown = realloc(cl->c, (cl->n + 1) * sizeof *cl->c);
    if (!grown) {
        free(mine.ctr);
        return cl->n ? cl->c[0].ctr : NULL;
    }
    cl->c = grown;
    size_t at = 0;
    while (at < cl->n && !before(since, ctr, cl->c[at].since, cl->c[at].ctr))
        at++;
    memmove(&cl->c[at + 1], &cl->c[at], (cl->n - at) * sizeof *cl->c);
    cl->c[at] = mine;
    cl->n++;
    return cl->c[0].ctr;
}

const char *owners_release(owners_t *o, const char *id, const char *ctr)
{
    claims_t *cl = strmap_get(o->ids, id);
    if (!cl)
        return NULL;
    for (size_t i = 0; i < cl->n; i++) {
        if (strcmp(cl->c[i].ctr, ctr) != 0)
            continue;
        claims_remove(cl, i);
        if (cl->n == 0) {
            strmap_del(o->ids, id);
            claims_free(cl);
            return NULL;
        }
        return i == 0 ? cl->c[0].ctr : NULL;
    }
    return NULL;
}

const char *owners_holder(const owners_t *o, const char *id)
{
    const claims_t *cl = strmap_get(o->ids, id);
    return cl && cl->n ? cl->c[0].ctr : NULL;
}

size_t owners_claims(const owners_t *o, const char *id)
{
    const claims_t *cl = strmap_get(o->ids, id);
    return cl ? cl->n : 0;
}
