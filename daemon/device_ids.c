/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key-id bitmaps: the ids with a key on the card (as last listed) and the
 * ids promised to jobs in flight, one bit per id 0..255.
 */
#include <string.h>

#include "daemon.h"

int device_id_used(const uint8_t map[32], unsigned id)
{
	return (map[id / 8] >> (id % 8)) & 1;
}

void device_id_set(uint8_t map[32], unsigned id, int on)
{
	if (on)
		map[id / 8] |= (uint8_t)(1u << (id % 8));
	else
		map[id / 8] &= (uint8_t) ~(1u << (id % 8));
}

int device_id_refresh(device *d, smk_err *e)
{
	uint8_t ids[255];
	uint8_t map[32] = {0};
	size_t n, i;

	if (session_list_keys(d->session, ids, &n, e) < 0)
		return -1;
	for (i = 0; i < n; i++)
		device_id_set(map, ids[i], 1);
	pthread_mutex_lock(&d->eng->lock);
	memcpy(d->used_ids, map, sizeof(map));
	pthread_mutex_unlock(&d->eng->lock);
	return 0;
}
