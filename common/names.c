/* SPDX-License-Identifier: BSD-3-Clause */
/* The one lookup every enum-to-name table is read through (names.h). */
#include "names.h"

const char *smk_enum_name(const char *const *names, size_t count, int value, const char *fallback)
{
	if (value < 0 || (size_t)value >= count || names[value] == NULL)
		return fallback;
	return names[value];
}
