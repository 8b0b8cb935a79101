/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reply cache: what was put comes back byte for byte, the least
 * recently used entries go first when the byte bound is reached, a key put
 * again replaces its entry, and a reply larger than the bound is not kept.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/reply_cache.h"
#include "tests/lib/testutil.h"

static void put(reply_cache *c, uint64_t key, const char *text)
{
	ck_assert_int_eq(reply_cache_put(c, key, text, strlen(text)), 0);
}

/* The text held under key, or NULL. */
static const char *get(reply_cache *c, uint64_t key)
{
	static char out[256];
	const char *text;
	size_t len;

	if (!reply_cache_get(c, key, &text, &len))
		return NULL;
	ck_assert_uint_lt(len, sizeof(out));
	memcpy(out, text, len);
	out[len] = '\0';
	return out;
}

START_TEST(put_then_get)
{
	reply_cache *c = reply_cache_new(1024);
	reply_cache_stats st;

	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(get(c, 1));
	put(c, 1, "{\"record\":1}");
	put(c, 2, "{\"record\":2}");
	ck_assert_str_eq(get(c, 1), "{\"record\":1}");
	ck_assert_str_eq(get(c, 2), "{\"record\":2}");
	ck_assert_ptr_null(get(c, 3));
	reply_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.entries, 2);
	ck_assert_uint_eq(st.bytes, 2 * strlen("{\"record\":1}"));
	ck_assert_uint_eq(st.hits, 2);
	ck_assert_uint_eq(st.misses, 2);
	reply_cache_free(c);
}
END_TEST

START_TEST(least_recently_used_goes_first)
{
	reply_cache *c = reply_cache_new(30); /* three 10-byte texts */

	put(c, 1, "aaaaaaaaaa");
	put(c, 2, "bbbbbbbbbb");
	put(c, 3, "cccccccccc");
	ck_assert_ptr_nonnull(get(c, 1)); /* 1 is now the most recent, 2 the least */
	put(c, 4, "dddddddddd");
	ck_assert_ptr_null(get(c, 2));
	ck_assert_str_eq(get(c, 1), "aaaaaaaaaa");
	ck_assert_str_eq(get(c, 3), "cccccccccc");
	ck_assert_str_eq(get(c, 4), "dddddddddd");
	/* a longer text pushes out as many as it needs */
	put(c, 5, "eeeeeeeeeeeeeeeeeeee");
	ck_assert_str_eq(get(c, 5), "eeeeeeeeeeeeeeeeeeee");
	ck_assert_str_eq(get(c, 4), "dddddddddd");
	ck_assert_ptr_null(get(c, 1));
	ck_assert_ptr_null(get(c, 3));
	reply_cache_free(c);
}
END_TEST

START_TEST(replace_and_oversize)
{
	reply_cache *c = reply_cache_new(16);
	reply_cache_stats st;

	put(c, 7, "old");
	put(c, 7, "new text");
	ck_assert_str_eq(get(c, 7), "new text");
	reply_cache_get_stats(c, &st);
	ck_assert_uint_eq(st.entries, 1);
	ck_assert_uint_eq(st.bytes, 8);
	put(c, 8, "seventeen bytes!!"); /* over the bound: not kept, 7 stays */
	ck_assert_ptr_null(get(c, 8));
	ck_assert_str_eq(get(c, 7), "new text");
	reply_cache_free(c);
}
END_TEST

START_TEST(many_keys_in_one_bucket_chain)
{
	reply_cache *c = reply_cache_new(1 << 20);
	char text[32];
	uint64_t k;

	/* more keys than buckets: chains must hold every one */
	for (k = 0; k < 5000; k++) {
		snprintf(text, sizeof(text), "r%llu", (unsigned long long)k);
		put(c, k * 1024, text);
	}
	for (k = 0; k < 5000; k++) {
		snprintf(text, sizeof(text), "r%llu", (unsigned long long)k);
		ck_assert_str_eq(get(c, k * 1024), text);
	}
	reply_cache_free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reply_cache");
	TCase *tc = tcase_create("reply_cache");

	tcase_add_test(tc, put_then_get);
	tcase_add_test(tc, least_recently_used_goes_first);
	tcase_add_test(tc, replace_and_oversize);
	tcase_add_test(tc, many_keys_in_one_bucket_chain);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
