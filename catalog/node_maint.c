/* node_maint.c: see node_maint.h. */
#include "node_maint.h"

#include <stdlib.h>
#include <string.h>

int node_maint_set(catalog_store_t *s, int enable, const char *reason, int64_t now_ms)
{
    cat_check_t *ex = store_check(s, NODE_MAINT_CHECK_ID);
    if (!enable)
        return ex && store_check_deregister(s, NODE_MAINT_CHECK_ID) == 0;
    if (ex)
        return 0;
    const char *why = reason && *reason
                          ? reason
                          : "Maintenance mode is enabled for this node, but no reason was provided. This is a default message.";
    cat_check_t *c = cat_check_new();
    c->id = strdup(NODE_MAINT_CHECK_ID);
    c->name = strdup("Node Maintenance Mode");
    c->notes = cat_utf8_clean(why, strlen(why), NULL);   /* ?reason= may hold any bytes */
    c->status = strdup("critical");
    c->output = strdup("");
    c->kind = CHECK_MAINT;
    return store_check_register(s, c, now_ms) > 0;
}

const char *node_maint_reason(const catalog_store_t *s)
{
    cat_check_t *c = store_check(s, NODE_MAINT_CHECK_ID);
    return c && c->kind == CHECK_MAINT ? c->notes : NULL;
}
