/* tests/template/render.c: a tiny CLI over the template engine and the JSON snapshot provider,
 * used by tests/template/run.sh to compare against Go-generated golden outputs.
 *   render [-name NAME] [-now UNIX] [-bench N] SNAPSHOT.json TEMPLATE
 *   render -answers [-name NAME] [-now UNIX] ANSWERS.json TEMPLATE
 * -answers: the data is Consul API answers fed through template_store (what the daemon does):
 *   {"services": <catalog/services>|absent, "health": {"name": <health/service/name>|null},
 *    "kv": {"key": <kv/key>|null}, "prefix": {"p": <kv/p?recurse>|null}, "env": {...}}
 * -bench N renders N more times and prints the mean render time (ms) on stderr.
 * Prints the rendered bytes to stdout. Exit 0: complete render; 1: error (message on stderr);
 * 2: incomplete render (missing dependencies listed on stderr, output still printed). */
#include "template.h"

#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f) return NULL;
	char *b = NULL;
	size_t cap = 0, n;
	*len = 0;
	char chunk[65536];
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (*len + n > cap) { cap = (*len + n) * 2; b = realloc(b, cap); if (!b) { fclose(f); return NULL; } }
		memcpy(b + *len, chunk, n);
		*len += n;
	}
	fclose(f);
	return b ? b : calloc(1, 1);
}

static json_t *answers_env;
static const char *answers_getenv(const char *name)
{
	return json_string_value(json_object_get(answers_env, name));
}

static int report(template_result *r)
{
	if (r->output) fwrite(r->output, 1, r->len, stdout);
	if (r->complete) return 0;
	for (size_t k = 0; k < r->ndeps; k++)
		if (r->deps[k].missing) fprintf(stderr, "missing: %d %s\n", (int)r->deps[k].kind, r->deps[k].name);
	return 2;
}

static int render_answers(const char *path, const char *tpath, const char *name, long long now)
{
	json_error_t je;
	json_t *a = json_load_file(path, 0, &je);
	if (!json_is_object(a)) { fprintf(stderr, "answers: %s\n", je.text); json_decref(a); return 1; }
	template_store *st = template_store_new();
	int bad = 0;
	const char *k;
	json_t *v;
	json_t *svcs = json_object_get(a, "services");
	if (svcs && template_store_set_services(st, svcs) < 0) bad = 1;
	json_object_foreach(json_object_get(a, "health"), k, v) if (template_store_set_service(st, k, json_is_null(v) ? NULL : v) < 0) bad = 1;
	json_object_foreach(json_object_get(a, "kv"), k, v) if (template_store_set_key(st, k, json_is_null(v) ? NULL : v) < 0) bad = 1;
	json_object_foreach(json_object_get(a, "prefix"), k, v) if (template_store_set_prefix(st, k, json_is_null(v) ? NULL : v) < 0) bad = 1;
	answers_env = json_object_get(a, "env");
	template_store_set_env(st, answers_getenv);
	size_t len;
	char *text = slurp(tpath, &len);
	int rc = 1;
	if (bad) fprintf(stderr, "answers: an answer has the wrong shape\n");
	else if (!text) fprintf(stderr, "cannot read %s\n", tpath);
	else {
		char *err = NULL;
		if (!name) { name = strrchr(tpath, '/'); name = name ? name + 1 : tpath; }
		template_t *t = template_new(name, text, len, &err);
		if (!t) { fprintf(stderr, "%s\n", err); free(err); }
		else {
			template_provider p;
			template_store_provider(st, &p);
			json_t *jn = json_object_get(a, "now");
			template_options o = { .now = now ? (time_t)now : json_is_integer(jn) ? (time_t)json_integer_value(jn) : 1 };
			template_result r;
			if (template_render(t, &p, &o, &r) < 0 && r.complete) fprintf(stderr, "%s\n", r.error);
			else rc = report(&r); /* an error with data missing is retried after fetching */
			template_result_free(&r);
			template_free(t);
		}
	}
	free(text);
	template_store_free(st);
	json_decref(a);
	return rc;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	long long now = 0;
	int bench = 0, answers = 0;
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-name") && i + 1 < argc) name = argv[++i];
		else if (!strcmp(argv[i], "-now") && i + 1 < argc) now = atoll(argv[++i]);
		else if (!strcmp(argv[i], "-bench") && i + 1 < argc) bench = atoi(argv[++i]);
		else if (!strcmp(argv[i], "-answers")) answers = 1;
		else { fprintf(stderr, "usage: render [-name NAME] [-now UNIX] [-bench N] SNAPSHOT.json TEMPLATE\n"); return 1; }
	}
	if (argc - i != 2) { fprintf(stderr, "usage: render [-name NAME] [-now UNIX] [-bench N] SNAPSHOT.json TEMPLATE\n"); return 1; }
	char *err = NULL;
	if (answers) return render_answers(argv[i], argv[i + 1], name, now);
	template_snapshot *snap = template_snapshot_load(argv[i], &err);
	if (!snap) { fprintf(stderr, "%s\n", err); free(err); return 1; }
	size_t len;
	char *text = slurp(argv[i + 1], &len);
	if (!text) { fprintf(stderr, "cannot read %s\n", argv[i + 1]); template_snapshot_free(snap); return 1; }
	if (!name) { name = strrchr(argv[i + 1], '/'); name = name ? name + 1 : argv[i + 1]; }
	template_t *t = template_new(name, text, len, &err);
	free(text);
	if (!t) { fprintf(stderr, "%s\n", err); free(err); template_snapshot_free(snap); return 1; }
	template_provider p;
	template_snapshot_provider(snap, &p);
	template_options o = { .now = now ? (time_t)now : template_snapshot_now(snap) };
	template_result r;
	int rc = template_render(t, &p, &o, &r);
	if (rc < 0 && r.complete) fprintf(stderr, "%s\n", r.error);
	else rc = report(&r); /* an error with data missing is retried after fetching */
	template_result_free(&r);
	if (bench > 0) {
		struct timespec a, b;
		clock_gettime(CLOCK_MONOTONIC, &a);
		for (int k = 0; k < bench; k++) {
			template_render(t, &p, &o, &r);
			template_result_free(&r);
		}
		clock_gettime(CLOCK_MONOTONIC, &b);
		double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / bench;
		fprintf(stderr, "render: %.2f ms mean over %d renders\n", ms, bench);
	}
	template_free(t);
	template_snapshot_free(snap);
	return rc < 0 ? 1 : rc;
}
