/* SPDX-License-Identifier: BSD-3-Clause */
/* Which connection gives its slot to a newcomer (slots.h). */
#include "slots.h"

#include <stdlib.h>

static int uid_cmp(const void *a, const void *b)
{
	uid_t x = *(const uid_t *)a, y = *(const uid_t *)b;

	return x < y ? -1 : x > y;
}

/* How often uid occurs in the sorted uids[0..n). */
static size_t sorted_count(const uid_t *uids, size_t n, uid_t uid)
{
	size_t lo = 0, hi = n, first;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	first = lo;
	hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (uids[mid] <= uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo - first;
}

long slots_pick(const slot_info *s, size_t n, uid_t uid, int named)
{
	size_t i, mine, count, best_count = 0;
	int unnamed, best_unnamed = 0;
	long best = -1;
	uid_t *uids;

	/* connections per uid from one sorted list: a full table of thousands
	 * costs n log n here, not n * n */
	uids = malloc((n + 1) * sizeof(*uids));
	if (uids == NULL)
		return -1;
	for (i = 0; i < n; i++)
		uids[i] = s[i].uid;
	qsort(uids, n, sizeof(*uids), uid_cmp);
	mine = sorted_count(uids, n, uid);
	for (i = 0; i < n; i++) {
		if (!s[i].evictable || s[i].uid == uid)
			continue;
		unnamed = named && !s[i].named;
		count = sorted_count(uids, n, s[i].uid);
		if (!unnamed && count < mine + 2)
			continue;
		if (best < 0 || unnamed > best_unnamed ||
		    (unnamed == best_unnamed && count > best_count) ||
		    (unnamed == best_unnamed && count == best_count && s[i].pending &&
		     !s[best].pending)) {
			best = (long)i;
			best_count = count;
			best_unnamed = unnamed;
		}
	}
	free(uids);
	return best;
}
