/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The policies of one directory, loaded all or nothing. A set never changes
 * after loading; reload builds a new one and swaps it in only when every
 * file is good, so a typo on reload cannot take a working policy away. The
 * reference count is atomic because worker threads drop their references.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct policy_set {
	atomic_long refs;
	policy **items; /* sorted by name */
	size_t count;
};

static int policy_file_name(const char *name)
{
	size_t len = strlen(name);

	/* hidden files are editor swap files and the like */
	if (name[0] == '.')
		return 0;
	return (len > 5 && strcmp(name + len - 5, ".yaml") == 0) ||
	       (len > 4 && strcmp(name + len - 4, ".yml") == 0);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_policy(const void *a, const void *b)
{
	return strcmp((*(policy *const *)a)->name, (*(policy *const *)b)->name);
}

static void free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* The policy file names in dir, sorted, so errors come in a stable order. */
static int list_dir(const char *dir, char ***out, size_t *count, smk_err *e)
{
	char **names = NULL, **grown;
	struct dirent *d;
	size_t n = 0;
	DIR *dp;

	*out = NULL;
	*count = 0;
	dp = opendir(dir);
	if (dp == NULL)
		return smk_fail(e, SMK_E_IO, "policies %s: cannot open: %s", dir, strerror(errno));
	while ((d = readdir(dp)) != NULL) {
		if (!policy_file_name(d->d_name))
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL)
			goto nomem;
		names = grown;
		if (asprintf(&names[n], "%s/%s", dir, d->d_name) < 0)
			goto nomem;
		n++;
	}
	closedir(dp);
	if (n > 1)
		qsort(names, n, sizeof(*names), cmp_str);
	*out = names;
	*count = n;
	return 0;
nomem:
	closedir(dp);
	free_names(names, n);
	return smk_fail(e, SMK_E_NOMEM, "out of memory");
}

static void set_free(policy_set *s)
{
	size_t i;

	for (i = 0; i < s->count; i++)
		policy_free(s->items[i]);
	free(s->items);
	free(s);
}

int policy_set_load(const char *dir, policy_set **out, policy_report_fn report, void *ctx,
		    smk_err *e)
{
	policy_set *s;
	char **files;
	size_t n, i;
	smk_err one;
	int failed = 0;

	*out = NULL;
	smk_err_clear(&one);
	if (list_dir(dir, &files, &n, &one) == 0 && n == 0) {
		free_names(files, n);
		smk_fail(&one, SMK_E_POLICY,
			 "policies %s: no *.yaml files; without a policy no key can be made", dir);
	}
	if (one.code != SMK_OK) {
		if (report)
			report(ctx, &one);
		if (e)
			*e = one;
		return -1;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL || (s->items = calloc(n, sizeof(*s->items))) == NULL) {
		free(s);
		free_names(files, n);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	atomic_init(&s->refs, 1);
	for (i = 0; i < n; i++) {
		smk_err_clear(&one);
		if (policy_load_file(files[i], &s->items[s->count], &one) < 0) {
			if (report)
				report(ctx, &one);
			if (!failed++ && e)
				*e = one;
			continue;
		}
		s->count++;
	}
	qsort(s->items, s->count, sizeof(*s->items), cmp_policy);
	/* name equals file name, so only x.yaml next to x.yml can clash */
	for (i = 1; i < s->count; i++) {
		if (strcmp(s->items[i - 1]->name, s->items[i]->name) != 0)
			continue;
		smk_fail(&one, SMK_E_POLICY,
			 "%s: policy \"%s\" is also defined in %s; keep one file",
			 s->items[i]->file, s->items[i]->name, s->items[i - 1]->file);
		if (report)
			report(ctx, &one);
		if (!failed++ && e)
			*e = one;
	}
	free_names(files, n);
	if (failed) {
		set_free(s);
		if (failed > 1)
			smk_context(e, "policies %s: %d errors, the first", dir, failed);
		return -1;
	}
	*out = s;
	return 0;
}

policy_set *policy_set_ref(policy_set *s)
{
	if (s)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void policy_set_unref(policy_set *s)
{
	if (s && atomic_fetch_sub(&s->refs, 1) == 1)
		set_free(s);
}

size_t policy_set_count(const policy_set *s)
{
	return s ? s->count : 0;
}

const policy *policy_set_at(const policy_set *s, size_t i)
{
	return s && i < s->count ? s->items[i] : NULL;
}

const policy *policy_set_find(const policy_set *s, const char *name)
{
	size_t lo = 0, hi = policy_set_count(s), mid;
	int c;

	if (name == NULL)
		return NULL;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(name, s->items[mid]->name);
		if (c == 0)
			return s->items[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int policy_set_reload(policy_set **current, const char *dir, smk_err *e)
{
	policy_set *fresh;

	if (policy_set_load(dir, &fresh, NULL, NULL, e) < 0)
		return smk_context(e, "reload refused, the %zu loaded policies stay in force",
				   policy_set_count(*current));
	policy_set_unref(*current);
	*current = fresh;
	return 0;
}
