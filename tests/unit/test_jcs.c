/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Canonical JSON is what an outside auditor can re-compute: every document
 * we archive (policy documents, the archive key's policy, and the encoder
 * every record and intent goes through) must equal what an independent
 * encoder writes for the same value. Python's
 *   json.dumps(v, sort_keys=True, separators=(',', ':'), ensure_ascii=False)
 * is RFC 8785 (JCS) for our value types (strings, integers, true, false,
 * null, arrays, objects with keys below U+E000); this suite hands our bytes
 * to it and insists on the same bytes back. Control characters (\u001f, not
 * \u001F), non-ASCII and '/' (never escaped) are the cases that differ
 * between encoders.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "common/json.h"
#include "tests/lib/testutil.h"
#include "policy/policy.h"

static const char python_check[] =
    "import json, sys\n"
    "bad = 0\n"
    "for name in sys.argv[1:]:\n"
    "    ours = open(name, 'rb').read()\n"
    "    theirs = json.dumps(json.loads(ours.decode('utf-8')), sort_keys=True,\n"
    "                        separators=(',', ':'), ensure_ascii=False).encode('utf-8')\n"
    "    if ours != theirs:\n"
    "        print(name + ':\\n ours   ' + repr(ours) + '\\n python ' + repr(theirs))\n"
    "        bad = 1\n"
    "sys.exit(bad)\n";

static struct {
	char dir[64];
	char files[1024];
	size_t count;
} F;

static void setup(void)
{
	memset(&F, 0, sizeof(F));
	tu_temp_dir(F.dir, sizeof(F.dir), "smk-jcs");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", F.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Keep p[0..n) as one document for the cross-check. */
static void keep(const void *p, size_t n)
{
	char path[128];
	size_t used = strlen(F.files);
	FILE *f;

	snprintf(path, sizeof(path), "%s/doc-%zu.json", F.dir, F.count++);
	f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(F.files + used, sizeof(F.files) - used, " '%s'", path);
}

static void keep_canonical(const json_t *v)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(smk_json_canonical(v, &b, &e) == 0, "%s", e.msg);
	keep(b.data, b.len);
	smk_buf_free(&b);
}

/* Python's verdict on every kept document: its exit status. */
static int python_agrees(void)
{
	char script[128], cmd[2048];
	FILE *f;
	int status;

	snprintf(script, sizeof(script), "%s/check.py", F.dir);
	f = fopen(script, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fputs(python_check, f) >= 0, 1);
	ck_assert_int_eq(fclose(f), 0);
	snprintf(cmd, sizeof(cmd), "python3 '%s'%s", script, F.files);
	status = system(cmd);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

START_TEST(every_string_byte_as_python_writes_it)
{
	json_t *o = json_object(), *arr = json_array();
	char one[2] = {0, 0};
	int c;

	/* each control character, DEL and every printable ASCII byte on its own */
	for (c = 0; c < 0x80; c++) {
		one[0] = (char)c;
		json_array_append_new(arr, json_stringn(one, 1));
	}
	json_object_set_new(o, "ascii", arr);
	json_object_set_new(o, "description", json_string("tab\there\x1f unit/sep \"q\" \\u001F"));
	json_object_set_new(o, "non-ascii",
			    json_string("\xc3\xa9 \xe2\x82\xac \xe2\x80\xa8 "
					"\xf0\x9f\x94\x91"));
	json_object_set_new(o, "\xc3\xa9-key", json_integer(1));
	json_object_set_new(o, "Z", json_integer(-9007199254740991));
	json_object_set_new(o, "a/b",
			    json_pack("{s:i, s:b, s:b, s:n, s:[], s:{}, s:s}", "max",
				      (json_int_t)9007199254740991, "t", 1, "f", 0, "nothing",
				      "empty-list", "empty-object", "empty", ""));
	keep_canonical(o);
	json_decref(o);
	ck_assert_int_eq(python_agrees(), 0);
}
END_TEST

START_TEST(policy_documents_as_python_writes_them)
{
	static const char text[] = "name: release-apk\n"
				   "description: \"tab\\there\\x1Fdone \\u00e9 a/b \\\"q\\\"\"\n"
				   "key: {type: ec, curve: secp256r1}\n"
				   "algorithms: [ecdsa-sha256]\n"
				   "label: apk-{request.label}\n"
				   "allow: {users: [root]}\n";
	smk_buf doc = SMK_BUF_INIT;
	policy *p = NULL;
	smk_err e;

	ck_assert_msg(
	    policy_parse("release-apk.yaml", (const uint8_t *)text, strlen(text), &p, &e) == 0,
	    "%s", e.msg);
	ck_assert_ptr_nonnull(strstr(p->canonical, "\\u001f"));
	ck_assert_ptr_null(strstr(p->canonical, "\\u001F"));
	ck_assert_ptr_nonnull(strstr(p->canonical, "a/b"));
	keep(p->canonical, p->canonical_len);
	ck_assert_int_eq(archive_key_policy(&doc, &e), 0);
	keep(doc.data, doc.len);
	ck_assert_int_eq(python_agrees(), 0);
	smk_buf_free(&doc);
	policy_free(p);
}
END_TEST

/* The check itself can fail: the encoding written before JCS (\u001F) is
 * refused, so a pass above means something. */
START_TEST(python_refuses_upper_case_escapes)
{
	json_t *v = json_pack("{s:s}", "d", "unit\x1fsep");
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(smk_json_canonical_legacy(v, &b, &e), 0);
	keep(b.data, b.len);
	ck_assert_int_eq(python_agrees(), 1);
	smk_buf_free(&b);
	json_decref(v);
}
END_TEST

/* A reader takes the JCS form and the one written before it (\u001F), and
 * nothing else: not a mix of the two, not another layout. */
START_TEST(reader_accepts_jcs_and_the_older_form_only)
{
	static const char *const good[] = {
	    "{\"a\":\"x\\u001fy\\u000b\",\"b\":1}",
	    "{\"a\":\"x\\u001Fy\\u000B\",\"b\":1}",
	};
	static const char *const bad[] = {
	    "{\"a\":\"x\\u001Fy\\u000b\",\"b\":1}",
	    "{\"a\":\"x\\u001fy\\u000b\", \"b\":1}",
	    "{\"b\":1,\"a\":\"x\\u001fy\\u000b\"}",
	};
	json_t *o;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		ck_assert_msg(archive_json_load_canonical((const uint8_t *)good[i], strlen(good[i]),
							  &o, "doc", &e) == 0,
			      "%s: %s", good[i], e.msg);
		ck_assert_str_eq(json_string_value(json_object_get(o, "a")), "x\x1fy\x0b");
		json_decref(o);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(archive_json_load_canonical((const uint8_t *)bad[i], strlen(bad[i]),
							  &o, "doc", &e) == -1,
			      "%s accepted", bad[i]);
		ck_assert_str_eq(e.msg, "doc: not in canonical form (sorted keys, compact)");
	}
}
END_TEST

/* What jansson reads from p, when p is in canonical form by the reader's
 * own test: read, then encoded again (JCS or the older form) to the same
 * bytes. NULL otherwise. */
static json_t *read_and_compare(const uint8_t *p, size_t n)
{
	json_t *v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
	smk_buf b = SMK_BUF_INIT, l = SMK_BUF_INIT;
	smk_err e;
	int same;

	if (!v || !json_is_object(v)) {
		json_decref(v);
		return NULL;
	}
	ck_assert_int_eq(smk_json_canonical(v, &b, &e), 0);
	ck_assert_int_eq(smk_json_canonical_legacy(v, &l, &e), 0);
	same =
	    (b.len == n && memcmp(b.data, p, n) == 0) || (l.len == n && memcmp(l.data, p, n) == 0);
	smk_buf_free(&b);
	smk_buf_free(&l);
	if (!same) {
		json_decref(v);
		return NULL;
	}
	return v;
}

/* smk_json_read_canonical on p: a value only where reading and encoding
 * again gives the same bytes, and then the same value; returns whether it
 * gave one. */
static int subset_agrees(const uint8_t *p, size_t n)
{
	json_t *fast = smk_json_read_canonical(p, n), *slow;

	if (!fast)
		return 0;
	slow = read_and_compare(p, n);
	ck_assert_msg(slow != NULL, "subset reader took non-canonical %.*s", (int)n, p);
	ck_assert_msg(json_equal(fast, slow), "subset reader read another value from %.*s", (int)n,
		      p);
	json_decref(fast);
	json_decref(slow);
	return 1;
}

/* The reader that builds a record's value straight from its bytes takes
 * nothing that jansson's reader and the canonical encoder would not: every
 * one-byte change, insertion and deletion of a canonical document, and the
 * forms it leaves to them (escapes, non-ASCII, reals, "-0", long integers,
 * keys out of order or twice, white space, deep nesting). */
START_TEST(subset_reader_takes_only_canonical_documents)
{
	static const char *const outside[] = {
	    "{\"a\":-0}",
	    "{\"a\":01}",
	    "{\"a\":1.0}",
	    "{\"a\":1e5}",
	    "{\"a\":1E5}",
	    "{\"a\":1234567890123456789}",
	    "{\"a\":\"x\\ty\"}",
	    "{\"a\":\"x\\u001fy\"}",
	    "{\"a\":\"\xc3\xa9\"}",
	    "{\"a\":1,\"a\":2}",
	    "{\"b\":1,\"a\":2}",
	    "{\"ab\":1,\"a\":2}",
	    "{\"a\": 1}",
	    "{\"a\":1}\n",
	    " {\"a\":1}",
	    "[1,2]",
	    "{\"a\":[1,]}",
	    "{\"a\":{,}}",
	    "{\"a\":tru}",
	    "{\"a\":nul}",
	    "{\"a\":\"x\x01\"}",
	    "{\"a\":1,}",
	    "{\"a\"}",
	    "{\"a\":1",
	    "",
	    "{\"a\":-}",
	    "{\"a\":+1}",
	};
	json_t *doc = json_pack("{s:s, s:I, s:I, s:I, s:b, s:b, s:n, s:[], s:{}, s:[I, s, {s:s}], "
				"s:{s:{s:I}}, s:s, s:s}",
				"a", "AQID/+==", "b", (json_int_t)0, "c", (json_int_t)-42, "d",
				(json_int_t)999999999999999999, "e", 1, "f", 0, "g", "h", "i", "j",
				(json_int_t)7, "x y~\x7f", "k", "z", "w", "l", "m", (json_int_t)-1,
				"", "empty key", "ab", "prefix");
	char deep[2 * 70 + 16];
	smk_buf b = SMK_BUF_INIT;
	uint8_t *m;
	size_t i, k, n;
	smk_err e;
	int c, taken = 0;

	ck_assert_ptr_nonnull(doc);
	ck_assert_int_eq(smk_json_canonical(doc, &b, &e), 0);
	json_decref(doc);
	n = b.len;
	/* the document itself is in the subset: the fast way is taken */
	ck_assert_int_eq(subset_agrees(b.data, n), 1);
	m = malloc(n + 1);
	ck_assert_ptr_nonnull(m);
	for (i = 0; i < n; i++) {
		for (c = 0; c < 256; c++) {
			memcpy(m, b.data, n);
			m[i] = (uint8_t)c;
			taken += subset_agrees(m, n);
			memcpy(m, b.data, i);
			m[i] = (uint8_t)c;
			memcpy(m + i + 1, b.data + i, n - i);
			taken += subset_agrees(m, n + 1);
		}
		memcpy(m, b.data, i);
		memcpy(m + i, b.data + i + 1, n - i - 1);
		taken += subset_agrees(m, n - 1);
	}
	/* some changes are canonical too (another letter in a string) */
	ck_assert_int_gt(taken, 0);
	free(m);
	smk_buf_free(&b);
	for (i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		ck_assert_msg(smk_json_read_canonical((const uint8_t *)outside[i],
						      strlen(outside[i])) == NULL,
			      "subset reader took %s", outside[i]);
	/* 64 levels are read, 65 left to jansson */
	for (k = 64; k <= 65; k++) {
		json_t *v;

		n = 0;
		deep[n++] = '{';
		deep[n++] = '"';
		deep[n++] = 'a';
		deep[n++] = '"';
		deep[n++] = ':';
		for (i = 1; i < k; i++)
			deep[n++] = '[';
		deep[n++] = '1';
		for (i = 1; i < k; i++)
			deep[n++] = ']';
		deep[n++] = '}';
		v = smk_json_read_canonical((const uint8_t *)deep, n);
		ck_assert_int_eq(v != NULL, k == 64);
		json_decref(v);
		ck_assert_int_eq(subset_agrees((const uint8_t *)deep, n), k == 64);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("jcs");
	TCase *tc = tcase_create("python cross-check");

	tcase_set_timeout(tc, 120);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_string_byte_as_python_writes_it);
	tcase_add_test(tc, policy_documents_as_python_writes_them);
	tcase_add_test(tc, python_refuses_upper_case_escapes);
	tcase_add_test(tc, reader_accepts_jcs_and_the_older_form_only);
	tcase_add_test(tc, subset_reader_takes_only_canonical_documents);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
