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

/* A rule naming users and groups (allow:, sign:) at node: a mapping with
 * the known keys, naming somebody; numeric: an entry of digits is an id. */
static int load_rule(const char *file, const pnode *node, const char *section,
		     const char *const *known, const char *nobody, int numeric,
		     policy_principal **users, size_t *nu, policy_principal **groups, size_t *ng,
		     smk_err *e)
{
	const pnode *u, *g;
	char where[32];

	if (node->kind != PNODE_MAP)
		return policy_fail_at(e, file, node,
				      "%s must be a mapping with users and/or groups, e.g. "
				      "%s: {groups: [release]}",
				      section, section);
	snprintf(where, sizeof(where), "in %s", section);
	if (pval_known_keys(file, node, known, where, e) < 0)
		return -1;
	u = pval_get(node, "users");
	g = pval_get(node, "groups");
	if (u == NULL && g == NULL)
		return policy_fail_at(e, file, node, "%s names nobody; list users and/or groups%s",
				      section, nobody);
	if (u && load_principals(file, u, 0, section, numeric, users, nu, e) < 0)
		return -1;
	if (g && load_principals(file, g, 1, section, numeric, groups, ng, e) < 0)
		return -1;
	return 0;
}

int policy_load_allow(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *allow = pval_get(root, "allow");

	if (allow == NULL)
		return policy_fail_at(e, file, root,
				      "missing \"allow\"; say who may use the policy: allow: "
				      "{users: [...], groups: [...]}");
	return load_rule(file, allow, "allow", allow_keys, "", 0, &p->users, &p->user_count,
			 &p->groups, &p->group_count, e);
}

int policy_load_sign(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *sign = pval_get(root, "sign"), *n;
	uint64_t v;

	if (sign == NULL)
		return 0;
	if (load_rule(file, sign, "sign", sign_keys, " (leave sign: out to let nobody sign)", 1,
		      &p->sign_users, &p->sign_user_count, &p->sign_groups, &p->sign_group_count,
		      e) < 0)
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

/* 0 when the peer is in users or groups; otherwise SMK_E_DENIED naming the
 * peer, what it may not do and who may ("use it", "allowed users"). */
static int admit(const policy *p, const policy_peer *peer, const policy_principal *users, size_t nu,
		 const policy_principal *groups, size_t ng, const char *action,
		 const char *users_list, smk_err *e)
{
	char user_names[160], group_names[160];

	if (peer_listed(users, nu, groups, ng, peer))
		return 0;
	names(user_names, sizeof(user_names), users, nu);
	names(group_names, sizeof(group_names), groups, ng);
	return smk_fail(e, SMK_E_DENIED,
			"policy %s: peer uid %u (gid %u, %zu supplementary groups) may not %s; "
			"%s: %s; groups: %s",
			p->name, (unsigned)peer->uid, (unsigned)peer->gid, peer->group_count,
			action, users_list, user_names, group_names);
}

int policy_authorize_sign(const policy *p, const policy_peer *peer, smk_err *e)
{
	if (!p->has_sign)
		return smk_fail(e, SMK_E_DENIED,
				"policy %s has no sign: section; nobody may sign with its keys",
				p->name);
	return admit(p, peer, p->sign_users, p->sign_user_count, p->sign_groups,
		     p->sign_group_count, "sign with its keys", "sign: users", e);
}

int policy_authorize(const policy *p, const policy_peer *peer, smk_err *e)
{
	return admit(p, peer, p->users, p->user_count, p->groups, p->group_count, "use it",
		     "allowed users", e);
}
