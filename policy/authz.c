/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Who may use a policy. Names are resolved to ids when the policy is loaded
 * (and again on every reload), so a request is decided on the numbers that
 * SO_PEERCRED gives, and the ids a decision used are the ones in the
 * canonical document the archive keeps.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/user.h"

#define PRINCIPAL_NAME_MAX 256

static const char *const allow_keys[] = {"users", "groups", NULL};
static const char *const sign_keys[] = {"users", "groups", "max-per-day", "log", NULL};

static int cmp_principal(const void *a, const void *b)
{
	return strcmp(((const policy_principal *)a)->name, ((const policy_principal *)b)->name);
}

/* A numeric uid or gid ("1000"): 1 and *id, 0 when s is a name. */
static int numeric_id(const char *s, uint32_t *id)
{
	unsigned long v;
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return 0;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0' || errno != 0 || v > UINT32_MAX - 1)
		return 0;
	*id = (uint32_t)v;
	return 1;
}

/* section: "allow" or "sign"; numeric: ids are taken as given (sign:). */
static int load_principals(const char *file, const pnode *list, int group, const char *section,
			   int numeric, policy_principal **out, size_t *count, smk_err *e)
{
	char where[32];
	const char *what = group ? "group" : "user";
	const char *s;
	size_t i, j;
	int err = 0, found;

	snprintf(where, sizeof(where), "%s.%s", section, group ? "groups" : "users");
	if (pval_list(file, list, where, e) < 0)
		return -1;
	*out = calloc(list->n, sizeof(**out));
	if (*out == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	for (i = 0; i < list->n; i++) {
		const pnode *item = list->items[i];
		policy_principal *pr = &(*out)[i];

		if (pval_string(file, item, group ? "a group" : "a user", &s, e) < 0)
			return -1;
		if (strlen(s) > PRINCIPAL_NAME_MAX)
			return policy_fail_at(e, file, item, "%s name is too long", what);
		for (j = 0; j < i; j++)
			if (strcmp(list->items[j]->text, s) == 0)
				return policy_fail_at(e, file, item,
						      "%s \"%s\" is listed twice (first at "
						      "%u:%u); list it once",
						      what, s, list->items[j]->line,
						      list->items[j]->col);
		if (numeric && numeric_id(s, &pr->id))
			found = 1;
		else
			found = group ? smk_group_gid(s, &pr->id, &err)
				      : smk_user_uid(s, &pr->id, &err);
		if (found < 0)
			return policy_fail_at(e, file, item, "cannot look up %s \"%s\": %s", what,
					      s, strerror(err));
		if (found == 0)
			return policy_fail_at(e, file, item,
					      "unknown %s \"%s\"; name one that exists on this "
					      "host (getent %s %s)",
					      what, s, group ? "group" : "passwd", s);
		pr->name = strdup(s);
		if (pr->name == NULL)
			return smk_fail(e, SMK_E_NOMEM, "out of memory");
		(*count)++;
	}
	qsort(*out, *count, sizeof(**out), cmp_principal);
	return 0;
}

int policy_load_allow(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *allow = pval_get(root, "allow"), *users, *groups;

	if (allow == NULL)
		return policy_fail_at(e, file, root,
				      "missing \"allow\"; say who may use the policy: allow: "
				      "{users: [...], groups: [...]}");
	if (allow->kind != PNODE_MAP)
		return policy_fail_at(e, file, allow,
				      "allow must be a mapping with users and/or groups, e.g. "
				      "allow: {groups: [release]}");
	if (pval_known_keys(file, allow, allow_keys, "in allow", e) < 0)
		return -1;
	users = pval_get(allow, "users");
	groups = pval_get(allow, "groups");
	if (users == NULL && groups == NULL)
		return policy_fail_at(e, file, allow,
				      "allow names nobody; list users and/or groups");
	if (users && load_principals(file, users, 0, "allow", 0, &p->users, &p->user_count, e) < 0)
		return -1;
	if (groups &&
	    load_principals(file, groups, 1, "allow", 0, &p->groups, &p->group_count, e) < 0)
		return -1;
	return 0;
}

int policy_load_sign(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *sign = pval_get(root, "sign"), *users, *groups, *n;
	uint64_t v;

	if (sign == NULL)
		return 0;
	if (sign->kind != PNODE_MAP)
		return policy_fail_at(e, file, sign,
				      "sign must be a mapping with users and/or groups, e.g. "
				      "sign: {groups: [release]}");
	if (pval_known_keys(file, sign, sign_keys, "in sign", e) < 0)
		return -1;
	users = pval_get(sign, "users");
	groups = pval_get(sign, "groups");
	if (users == NULL && groups == NULL)
		return policy_fail_at(e, file, sign,
				      "sign names nobody; list users and/or groups (leave sign: "
				      "out to let nobody sign)");
	if (users &&
	    load_principals(file, users, 0, "sign", 1, &p->sign_users, &p->sign_user_count, e) < 0)
		return -1;
	if (groups && load_principals(file, groups, 1, "sign", 1, &p->sign_groups,
				      &p->sign_group_count, e) < 0)
		return -1;
	if ((n = pval_get(sign, "max-per-day")) != NULL) {
		if (pval_uint(file, n, "sign.max-per-day", 1, UINT32_MAX, &v, e) < 0)
			return -1;
		p->sign_max_per_day = (uint32_t)v;
	}
	p->sign_log = 1;
	if ((n = pval_get(sign, "log")) != NULL &&
	    pval_bool(file, n, "sign.log", &p->sign_log, e) < 0)
		return -1;
	p->has_sign = 1;
	return 0;
}

static int has_id(const policy_principal *list, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i].id == id)
			return 1;
	return 0;
}

static void names(char *out, size_t len, const policy_principal *list, size_t n)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < n; i++)
		snprintf(out + strlen(out), len - strlen(out), "%s%s", i ? "," : "", list[i].name);
	if (n == 0)
		snprintf(out, len, "none");
}

/* Is the peer's uid in users, or its gid or a supplementary gid in groups? */
static int peer_listed(const policy_principal *users, size_t nu, const policy_principal *groups,
		       size_t ng, const policy_peer *peer)
{
	size_t i;

	if (has_id(users, nu, (uint32_t)peer->uid) || has_id(groups, ng, (uint32_t)peer->gid))
		return 1;
	for (i = 0; i < peer->group_count; i++)
		if (has_id(groups, ng, (uint32_t)peer->groups[i]))
			return 1;
	return 0;
}

int policy_authorize_sign(const policy *p, const policy_peer *peer, smk_err *e)
{
	char users[160], groups[160];

	if (!p->has_sign)
		return smk_fail(e, SMK_E_DENIED,
				"policy %s has no sign: section; nobody may sign with its keys",
				p->name);
	if (peer_listed(p->sign_users, p->sign_user_count, p->sign_groups, p->sign_group_count,
			peer))
		return 0;
	names(users, sizeof(users), p->sign_users, p->sign_user_count);
	names(groups, sizeof(groups), p->sign_groups, p->sign_group_count);
	return smk_fail(e, SMK_E_DENIED,
			"policy %s: peer uid %u (gid %u, %zu supplementary groups) may not sign "
			"with its keys; sign: users: %s; groups: %s",
			p->name, (unsigned)peer->uid, (unsigned)peer->gid, peer->group_count, users,
			groups);
}

int policy_authorize(const policy *p, const policy_peer *peer, smk_err *e)
{
	char users[160], groups[160];

	if (peer_listed(p->users, p->user_count, p->groups, p->group_count, peer))
		return 0;
	names(users, sizeof(users), p->users, p->user_count);
	names(groups, sizeof(groups), p->groups, p->group_count);
	return smk_fail(e, SMK_E_DENIED,
			"policy %s: peer uid %u (gid %u, %zu supplementary groups) may not use "
			"it; allowed users: %s; groups: %s",
			p->name, (unsigned)peer->uid, (unsigned)peer->gid, peer->group_count, users,
			groups);
}
