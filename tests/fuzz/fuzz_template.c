/* fuzz_template.c: libFuzzer target for the template engine (templater/template/template_*.c), the
 * template mode's untrusted input: the input is a template; it is parsed and, when valid,
 * rendered against a small fixed snapshot with tight limits (1 MiB output, 200,000 steps).
 * Invariants besides the sanitizers: a render that succeeds stays within the output limit, and
 * the engine's own bounds (nesting depth, steps) turn runaway templates into errors, so
 * libFuzzer's per-input timeout never fires. Seeds: the template suite's cases
 * (tests/fuzz/corpus-fuzz_template is a link to tests/template/cases).
 * Built and run by scripts/fuzz.sh (clang -fsanitize=fuzzer,address,undefined). */
#include "template.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char snapshot[] =
	"{\"nodes\":{\"n1\":\"10.0.0.1\"},"
	"\"services\":[{\"Node\":\"n1\",\"Port\":80,\"ID\":\"a\",\"Name\":\"web\",\"Tags\":[\"rest\",\"x\"],\"Meta\":{\"k\":\"v\"}},"
	"{\"Node\":\"n1\",\"Address\":\"1.2.3.4\",\"Port\":81,\"ID\":\"b\",\"Name\":\"hello/v1\",\"Tags\":[\"rest\"],\"Status\":\"critical\"}],"
	"\"kv\":{\"a/b\":\"1\",\"a/c/d\":\"2\",\"k\":\"v\"},\"env\":{\"HOME\":\"/root\"},\"now\":1}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static template_snapshot *snap;
	char *err = NULL;
	if (!snap) snap = template_snapshot_parse(snapshot, sizeof snapshot - 1, &err);
	if (!snap) abort();
	template_t *t = template_new("fuzz", (const char *)data, size, &err);
	if (!t) { free(err); return 0; }
	template_provider p;
	template_snapshot_provider(snap, &p);
	template_options o = { .max_output = 1 << 20, .max_steps = 200000, .now = 1 };
	template_result r;
	if (template_render(t, &p, &o, &r) == 0 && r.len > o.max_output) {
		fprintf(stderr, "rendered %zu bytes past the %zu limit\n", r.len, o.max_output);
		abort();
	}
	template_result_free(&r);
	template_free(t);
	return 0;
}
